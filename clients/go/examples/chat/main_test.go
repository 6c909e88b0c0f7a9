package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// TestRun runs the example against the live server named by
// MOCHI_GRPC_TARGET, which must be set.
func TestRun(t *testing.T) {
	target := os.Getenv("MOCHI_GRPC_TARGET")
	if target == "" {
		t.Fatal("MOCHI_GRPC_TARGET is not set; run against a live server " +
			"(`.venv/bin/python clients/live_server.py -- bash clients/go/test.sh`)")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var out strings.Builder
	if err := run(ctx, target, "llama3.2:latest", "Hello there", &out, &strings.Builder{}); err != nil {
		t.Fatalf("run: %v", err)
	}
	if got, want := out.String(), "You said: Hello there\n"; got != want {
		t.Errorf("output = %q, want %q", got, want)
	}
}

// Without a model the example takes one the server lists and says which.
func TestRunPicksAListedModel(t *testing.T) {
	target := os.Getenv("MOCHI_GRPC_TARGET")
	if target == "" {
		t.Fatal("MOCHI_GRPC_TARGET is not set")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var out, notes strings.Builder
	if err := run(ctx, target, "", "Hi", &out, &notes); err != nil {
		t.Fatalf("run: %v", err)
	}
	if got, want := out.String(), "You said: Hi\n"; got != want {
		t.Errorf("output = %q, want %q", got, want)
	}
	if got, want := notes.String(), "model llama3.2:latest (set MOCHI_MODEL to choose another)\n"; got != want {
		t.Errorf("notes = %q, want %q", got, want)
	}
}

func TestRunReportsReason(t *testing.T) {
	target := os.Getenv("MOCHI_GRPC_TARGET")
	if target == "" {
		t.Fatal("MOCHI_GRPC_TARGET is not set")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	err := run(ctx, target, "no-such-model:latest", "Hello", &strings.Builder{}, &strings.Builder{})
	if err == nil || !strings.HasPrefix(err.Error(), "MODEL_NOT_FOUND: ") {
		t.Errorf("run with an unknown model: %v, want an error starting with MODEL_NOT_FOUND", err)
	}
}

// Against a server that requires keys (`live_server.py --secure`, which sets
// MOCHI_API_KEY), the example without the key is told why it was refused.
func TestRunWithoutKey(t *testing.T) {
	target := os.Getenv("MOCHI_GRPC_TARGET")
	if target == "" {
		t.Fatal("MOCHI_GRPC_TARGET is not set")
	}
	if os.Getenv("MOCHI_API_KEY") == "" {
		t.Skip("MOCHI_API_KEY is not set: the server does not require keys")
	}
	t.Setenv("MOCHI_API_KEY", "")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	err := run(ctx, target, "llama3.2:latest", "Hello", &strings.Builder{}, &strings.Builder{})
	if err == nil || !strings.HasPrefix(err.Error(), "UNAUTHENTICATED: ") {
		t.Errorf("run without the key: %v, want an error starting with UNAUTHENTICATED", err)
	}
}

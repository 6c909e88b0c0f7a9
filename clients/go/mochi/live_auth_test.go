package mochi_test

// A server that requires API keys and mutual TLS, as
// `live_server.py --secure` starts it: MOCHI_API_KEY (an admin key) and
// MOCHI_GRPC_TLS_CA_FILE, _CERT_FILE and _KEY_FILE are then set. Without
// MOCHI_API_KEY these tests are skipped: the server is plaintext and keyless.

import (
	"context"
	"iter"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mochi-grpc/mochi-grpc/clients/go/mochi"
	"github.com/mochi-grpc/mochi-grpc/clients/go/mochiv1"
)

// refusalTimeout bounds a call that must fail: a refused connection is an
// error well before it, and a hang fails the test with DEADLINE_EXCEEDED.
const refusalTimeout = 10 * time.Second

// secure skips the test unless the server requires keys and mutual TLS,
// and returns the admin key.
func secure(t *testing.T) string {
	t.Helper()
	key := os.Getenv(mochi.EnvAPIKey)
	if key == "" {
		t.Skip("MOCHI_API_KEY is not set: the server is not secure " +
			"(`.venv/bin/python clients/live_server.py --secure -- bash clients/go/test.sh`)")
	}
	for _, name := range []string{mochi.EnvTLSCAFile, mochi.EnvTLSCertFile, mochi.EnvTLSKeyFile} {
		if os.Getenv(name) == "" {
			t.Fatalf("MOCHI_API_KEY is set but %s is not; run under live_server.py --secure", name)
		}
	}
	return key
}

// unauthenticated checks that err is the refusal of a call without a valid
// key.
func unauthenticated(t *testing.T, call string, err error) {
	t.Helper()
	if status.Code(err) != codes.Unauthenticated || mochi.ErrorReason(err) != "UNAUTHENTICATED" {
		t.Errorf("%s: %v (reason %q), want UNAUTHENTICATED with reason UNAUTHENTICATED",
			call, err, mochi.ErrorReason(err))
	}
}

// firstError is the error a sequence ends with, failing the test on an
// event before it.
func firstError(t *testing.T, events iter.Seq2[*mochiv1.ChatEvent, error]) error {
	t.Helper()
	for event, err := range events {
		if err != nil {
			return err
		}
		t.Errorf("got event %v, want an error", event)
	}
	return nil
}

func TestSecureWithoutKeyIsUnauthenticated(t *testing.T) {
	admin := secure(t)
	ctx, client := dial(t)
	id := newSession(ctx, t, client) // with the key from the environment

	for name, token := range map[string]string{"no key": "", "unknown key": "mochi-not-a-key", "a wrong key": admin + "x"} {
		t.Run(name, func(t *testing.T) {
			// TLS from the environment, then the key replaced.
			keyless := connect(t, "MOCHI_GRPC_TARGET", mochi.WithAPIKey(token))
			_, err := keyless.CreateSession(ctx, model())
			unauthenticated(t, "CreateSession", err)
			_, err = keyless.ListMessages(ctx, id)
			unauthenticated(t, "ListMessages", err)
			_, err = keyless.CancelTurn(ctx, id, "")
			unauthenticated(t, "CancelTurn", err)
			unauthenticated(t, "ChatStream", firstError(t, keyless.ChatStream(ctx, say(id, "Hello"))))
			unauthenticated(t, "WatchTurn", firstError(t, keyless.WatchTurn(ctx, id, "", "")))
		})
	}

	// Nothing reached the session.
	if got := contents(ctx, t, client, id); len(got) != 0 {
		t.Errorf("messages after the refused calls = %q, want none", got)
	}

}

func TestSecureNeedsTheCAAndACertificate(t *testing.T) {
	admin := secure(t)
	target := liveTarget(t, "MOCHI_GRPC_TARGET")
	cert, key := os.Getenv(mochi.EnvTLSCertFile), os.Getenv(mochi.EnvTLSKeyFile)
	tests := []struct {
		name string
		opts []grpc.DialOption
		want string // in the error's message
	}{
		{"plaintext", nil, ""},
		{"the system's roots, not the CA", []grpc.DialOption{mochi.WithTLS("", cert, key)}, "certificate"},
		{"no client certificate", []grpc.DialOption{mochi.WithTLS(os.Getenv(mochi.EnvTLSCAFile), "", "")}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, err := mochi.Dial(target, append(tt.opts, mochi.WithAPIKey(admin))...)
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			ctx, cancel := context.WithTimeout(t.Context(), refusalTimeout)
			defer cancel()
			_, err = client.CreateSession(ctx, model())
			t.Logf("CreateSession: %v", err)
			if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("CreateSession: %v, want UNAVAILABLE (mentioning %q) before %s", err, tt.want, refusalTimeout)
			}
			err = firstError(t, client.WatchTurn(ctx, "0123456789", "", ""))
			if status.Code(err) != codes.Unavailable {
				t.Errorf("WatchTurn: %v, want UNAVAILABLE before %s", err, refusalTimeout)
			}
		})
	}
}

// With the key and the TLS files given one by one, rather than by FromEnv,
// unary and streaming calls work.
func TestSecureWithKeyAndCA(t *testing.T) {
	admin := secure(t)
	client, err := mochi.Dial(liveTarget(t, "MOCHI_GRPC_TARGET"),
		mochi.WithAPIKey(admin),
		mochi.WithTLS(os.Getenv(mochi.EnvTLSCAFile), os.Getenv(mochi.EnvTLSCertFile), os.Getenv(mochi.EnvTLSKeyFile)),
		mochi.WithTLSServerName("localhost")) // the certificate names 127.0.0.1 and localhost
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() }) // after newSession's cleanup
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()

	id := newSession(ctx, t, client)
	var turnID string
	var text strings.Builder
	for event, err := range client.ChatStream(ctx, say(id, "Hello there"), mochi.TurnID(&turnID)) {
		if err != nil {
			t.Fatalf("ChatStream: %v", err)
		}
		text.WriteString(event.GetContentDelta().GetContent())
	}
	if got := text.String(); got != echo("Hello there") {
		t.Errorf("reply = %q, want %q", got, echo("Hello there"))
	}
	var watched strings.Builder
	for event, err := range client.WatchTurn(ctx, id, turnID, "") {
		if err != nil {
			t.Fatalf("WatchTurn: %v", err)
		}
		watched.WriteString(event.GetContentDelta().GetContent())
	}
	if got := watched.String(); got != text.String() {
		t.Errorf("watched %q, want %q", got, text.String())
	}
	if got := contents(ctx, t, client, id); len(got) != 2 || got[1] != echo("Hello there") {
		t.Errorf("messages = %q, want the message and its reply", got)
	}
}

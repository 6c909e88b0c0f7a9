package mochi_test

import (
	"errors"
	"fmt"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mochi-grpc/mochi-grpc/clients/go/mochi"
)

func statusWith(t *testing.T, details ...*errdetails.ErrorInfo) error {
	t.Helper()
	st := status.New(codes.NotFound, "Session not found")
	for _, d := range details {
		var err error
		if st, err = st.WithDetails(d); err != nil {
			t.Fatal(err)
		}
	}
	return st.Err()
}

func TestErrorReason(t *testing.T) {
	notFound := &errdetails.ErrorInfo{Reason: "SESSION_NOT_FOUND", Domain: mochi.ErrorDomain}
	foreign := &errdetails.ErrorInfo{Reason: "OTHER", Domain: "example.com"}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"plain error", errors.New("boom"), ""},
		{"status without details", status.Error(codes.Unavailable, "down"), ""},
		{"status with ErrorInfo", statusWith(t, notFound), "SESSION_NOT_FOUND"},
		{"wrapped status", fmt.Errorf("loading: %w", statusWith(t, notFound)), "SESSION_NOT_FOUND"},
		{"other domain only", statusWith(t, foreign), ""},
		{"other domain first", statusWith(t, foreign, notFound), "SESSION_NOT_FOUND"},
		{"stream error", &mochi.StreamError{Code: "OLLAMA_ERROR", Message: "model crashed"}, "OLLAMA_ERROR"},
		{"wrapped stream error", fmt.Errorf("turn: %w", &mochi.StreamError{Code: "OLLAMA_ERROR"}), "OLLAMA_ERROR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mochi.ErrorReason(tt.err); got != tt.want {
				t.Errorf("ErrorReason(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

func TestErrorInfoMetadata(t *testing.T) {
	err := statusWith(t, &errdetails.ErrorInfo{
		Reason:   "SESSION_NOT_FOUND",
		Domain:   mochi.ErrorDomain,
		Metadata: map[string]string{"session_id": "abc"},
	})
	info := mochi.ErrorInfo(err)
	if info == nil || info.GetMetadata()["session_id"] != "abc" {
		t.Fatalf("ErrorInfo = %v, want metadata session_id=abc", info)
	}
}

// Command chat sends one message to a new mochi-grpc session and prints the
// reply as it streams in.
//
//	go run ./examples/chat "Hello"
//
// MOCHI_GRPC_TARGET is the server (default localhost:50051), MOCHI_MODEL the
// model (default: the first chat model the server lists, named on stderr).
// For a server that requires API keys or speaks TLS, MOCHI_API_KEY is the
// key and MOCHI_GRPC_TLS_CA_FILE the CA (PEM) that makes the connection TLS,
// with MOCHI_GRPC_TLS_CERT_FILE and MOCHI_GRPC_TLS_KEY_FILE the client
// certificate and key for mutual TLS (mochi.FromEnv).
// Ctrl-C stops the reply; the server keeps the part already written.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/mochi-grpc/mochi-grpc/clients/go/mochi"
	"github.com/mochi-grpc/mochi-grpc/clients/go/mochiv1"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: chat MESSAGE...")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	target := getenv("MOCHI_GRPC_TARGET", mochi.DefaultTarget)
	model := os.Getenv("MOCHI_MODEL")
	if err := run(ctx, target, model, strings.Join(os.Args[1:], " "), os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "chat:", err)
		os.Exit(1)
	}
}

// run creates a session for model (empty: the first chat model the server
// lists, named on notes) on the server at target, with the key and TLS
// settings of the environment, sends message and writes the reply to w as
// it arrives, then a newline.
func run(ctx context.Context, target, model, message string, w, notes io.Writer) error {
	client, err := mochi.Dial(target, mochi.FromEnv())
	if err != nil {
		return err
	}
	defer client.Close()

	if model == "" {
		if model, err = firstModel(ctx, client); err != nil {
			return err
		}
		fmt.Fprintf(notes, "model %s (set MOCHI_MODEL to choose another)\n", model)
	}
	session, err := client.CreateSession(ctx, model)
	if err != nil {
		return describe(err)
	}
	req := &mochiv1.ChatStreamRequest{SessionId: session.GetSessionId(), Message: proto.String(message)}
	for event, err := range client.ChatStream(ctx, req) {
		if err != nil {
			fmt.Fprintln(w)
			if ctx.Err() != nil {
				return errors.New("interrupted; the server keeps the partial reply")
			}
			return describe(err)
		}
		if delta := event.GetContentDelta(); delta != nil {
			if _, err := io.WriteString(w, delta.GetContent()); err != nil {
				return err
			}
		}
	}
	_, err = fmt.Fprintln(w)
	return err
}

// firstModel is the first chat model the server lists.
func firstModel(ctx context.Context, client *mochi.Client) (string, error) {
	resp, err := client.Models.ListModels(ctx, &mochiv1.ListModelsRequest{})
	if err != nil {
		return "", describe(err)
	}
	if len(resp.GetModels()) == 0 {
		return "", errors.New("the server lists no chat model; set MOCHI_MODEL")
	}
	return resp.GetModels()[0].GetName(), nil
}

// describe puts the server's reason, when there is one, in front of err.
func describe(err error) error {
	if reason := mochi.ErrorReason(err); reason != "" {
		return fmt.Errorf("%s: %w", reason, err)
	}
	return err
}

func getenv(name, fallback string) string {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return fallback
}

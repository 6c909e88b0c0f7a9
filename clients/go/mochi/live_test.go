package mochi_test

// These tests need a running mochi-grpc server: MOCHI_GRPC_TARGET names it
// (clients/live_server.py starts one backed by the fake Ollama, which answers
// "You said: <message>" a word at a time). MOCHI_MODEL picks the model.
// The resume tests also need MOCHI_DROPPABLE_TARGET, a proxy to the same
// server, and MOCHI_DROPPABLE_PID, whose SIGUSR1 cuts its connections.
// Every client takes MOCHI_API_KEY and MOCHI_GRPC_TLS_* from the environment
// (live_server.py --secure sets them); live_auth_test.go runs only then.

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/mochi-grpc/mochi-grpc/clients/go/mochi"
	"github.com/mochi-grpc/mochi-grpc/clients/go/mochiv1"
)

// testTimeout bounds every test, so that a server that never answers fails
// the test instead of hanging it; no assertion depends on it.
const testTimeout = 30 * time.Second

func model() string {
	if m := os.Getenv("MOCHI_MODEL"); m != "" {
		return m
	}
	return "llama3.2:latest"
}

func echo(message string) string { return "You said: " + message }

// dial connects to the live server and returns a context bounded by
// testTimeout. A missing MOCHI_GRPC_TARGET fails the test: a run that
// cannot reach a server must not pass.
func dial(t *testing.T) (context.Context, *mochi.Client) {
	t.Helper()
	client := connect(t, "MOCHI_GRPC_TARGET")
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx, client
}

// connect returns a client of the server the environment variable names,
// closed when the test ends. It takes the API key and TLS settings from the
// environment (mochi.FromEnv; set under `live_server.py --secure`), then opts.
func connect(t *testing.T, variable string, opts ...grpc.DialOption) *mochi.Client {
	t.Helper()
	client, err := mochi.Dial(liveTarget(t, variable), append([]grpc.DialOption{mochi.FromEnv()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return client
}

// liveTarget is the address the environment variable names; unset, it
// fails the test.
func liveTarget(t *testing.T, variable string) string {
	t.Helper()
	target := os.Getenv(variable)
	if target == "" {
		t.Fatal(variable + " is not set; run these tests against a live server, e.g. " +
			"`.venv/bin/python clients/live_server.py -- bash clients/go/test.sh`")
	}
	return target
}

// newSession creates a session that is deleted when the test ends.
func newSession(ctx context.Context, t *testing.T, client *mochi.Client) string {
	t.Helper()
	session, err := client.CreateSession(ctx, model())
	if err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	id := session.GetSessionId()
	if id == "" || session.GetModel() != model() {
		t.Fatalf("CreateSession returned %v", session)
	}
	t.Cleanup(func() {
		// Best effort: the test's context is gone by now.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := client.DeleteSession(ctx, id); err != nil {
			t.Logf("deleting session %s: %v", id, err)
		}
	})
	return id
}

func say(sessionID, message string) *mochiv1.ChatStreamRequest {
	return &mochiv1.ChatStreamRequest{SessionId: sessionID, Message: proto.String(message)}
}

// turn streams a whole turn and returns the reply's text.
func turn(ctx context.Context, t *testing.T, client *mochi.Client, req *mochiv1.ChatStreamRequest) string {
	t.Helper()
	var text strings.Builder
	for event, err := range client.ChatStream(ctx, req) {
		if err != nil {
			t.Fatalf("ChatStream: %v", err)
		}
		text.WriteString(event.GetContentDelta().GetContent())
	}
	return text.String()
}

func kind(event *mochiv1.ChatEvent) string {
	switch event.GetEvent().(type) {
	case *mochiv1.ChatEvent_ContentDelta:
		return "content_delta"
	case *mochiv1.ChatEvent_MessageComplete:
		return "message_complete"
	case *mochiv1.ChatEvent_Done:
		return "done"
	default:
		return "other"
	}
}

func TestChatStream(t *testing.T) {
	ctx, client := dial(t)
	id := newSession(ctx, t, client)

	var events []*mochiv1.ChatEvent
	for event, err := range client.ChatStream(ctx, say(id, "Hello there")) {
		if err != nil {
			t.Fatalf("ChatStream: %v", err)
		}
		events = append(events, event)
	}

	// content_delta+, message_complete, done: nothing else, in that order.
	var kinds []string
	var text strings.Builder
	for _, event := range events {
		kinds = append(kinds, kind(event))
		if delta := event.GetContentDelta(); delta != nil {
			if delta.GetRole() != "assistant" {
				t.Errorf("content_delta role = %q, want assistant", delta.GetRole())
			}
			text.WriteString(delta.GetContent())
		}
	}
	n := len(kinds)
	if n < 3 || kinds[n-2] != "message_complete" || kinds[n-1] != "done" {
		t.Fatalf("event kinds = %v, want content_delta..., message_complete, done", kinds)
	}
	for i, k := range kinds[:n-2] {
		if k != "content_delta" {
			t.Fatalf("event %d is %s, want content_delta (kinds %v)", i, k, kinds)
		}
	}
	if got, want := text.String(), echo("Hello there"); got != want {
		t.Errorf("streamed text = %q, want %q", got, want)
	}
	complete := events[n-2].GetMessageComplete()
	if complete.GetModel() != model() || complete.GetMessageId() == "" {
		t.Errorf("message_complete = %v, want model %s and a message id", complete, model())
	}
	if got := events[n-1].GetDone().GetSessionId(); got != id {
		t.Errorf("done.session_id = %q, want %q", got, id)
	}

	// The turn is stored once: the user message and the whole reply.
	messages, err := client.ListMessages(ctx, id)
	if err != nil {
		t.Fatalf("ListMessages: %v", err)
	}
	if len(messages) != 2 {
		t.Fatalf("ListMessages returned %d messages, want 2: %v", len(messages), messages)
	}
	user, reply := messages[0], messages[1]
	if user.GetRole() != mochiv1.Role_ROLE_USER || user.GetContent() != "Hello there" {
		t.Errorf("message 0 = %v, want the user's message", user)
	}
	if reply.GetRole() != mochiv1.Role_ROLE_ASSISTANT || reply.GetContent() != echo("Hello there") ||
		reply.GetMessageId() != complete.GetMessageId() || reply.PartialReason != nil {
		t.Errorf("message 1 = %v, want the whole reply %q with id %s", reply, echo("Hello there"), complete.GetMessageId())
	}
}

// eventually calls check until it reports done, failing the test with
// check's last description when ctx ends first.
func eventually(ctx context.Context, t *testing.T, check func() (done bool, state string)) {
	t.Helper()
	for {
		done, state := check()
		if done {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("gave up waiting (%v); last state: %s", ctx.Err(), state)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestChatStreamCancel stops a turn after its first delta, by cancelling the
// context or by leaving the loop, and checks that the server stops it.
func TestChatStreamCancel(t *testing.T) {
	t.Run("cancel context", func(t *testing.T) { testStop(t, false) })
	t.Run("leave loop", func(t *testing.T) { testStop(t, true) })
}

func testStop(t *testing.T, leaveLoop bool) {
	ctx, client := dial(t)
	id := newSession(ctx, t, client)
	// Long enough that the reply cannot be over by the time the
	// cancellation reaches the server.
	message := strings.TrimSpace(strings.Repeat("word ", 500))

	streamCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var first string
	var after []string
	var streamErr error
	for event, err := range client.ChatStream(streamCtx, say(id, message)) {
		if err != nil {
			streamErr = err
			break
		}
		if first != "" {
			after = append(after, kind(event))
			continue
		}
		if first = event.GetContentDelta().GetContent(); first == "" {
			t.Fatalf("first event = %v, want a non-empty content_delta", event)
		}
		if leaveLoop {
			break
		}
		cancel()
	}
	if !leaveLoop && status.Code(streamErr) != codes.Canceled {
		t.Fatalf("stream ended with %v, want status CANCELLED", streamErr)
	}
	for _, k := range after {
		if k != "content_delta" {
			t.Fatalf("events after cancelling = %v, want no message_complete or done", after)
		}
	}

	// The server stops the turn and stores the reply so far, marked.
	var messages []*mochiv1.Message
	eventually(ctx, t, func() (bool, string) {
		var err error
		messages, err = client.ListMessages(ctx, id)
		if err != nil {
			t.Fatalf("ListMessages: %v", err)
		}
		if len(messages) == 2 && messages[1].PartialReason == nil {
			t.Fatalf("the whole reply was stored, not stopped: %s", describe(messages))
		}
		return len(messages) == 2, describe(messages)
	})
	partial := messages[1]
	full := echo(message)
	if partial.GetRole() != mochiv1.Role_ROLE_ASSISTANT || partial.GetPartialReason() != "cancelled" {
		t.Errorf("message 1 = %v, want an assistant message with partial_reason cancelled", partial)
	}
	if got := partial.GetContent(); !strings.HasPrefix(got, first) || !strings.HasPrefix(full, got) || len(got) >= len(full) {
		t.Errorf("stored partial reply = %q, want a proper prefix of the full reply starting with %q", got, first)
	}
	if messages[0].GetContent() != message {
		t.Errorf("message 0 = %v, want the user's message", messages[0])
	}

	// The session is free again: the next turn runs to the end. (Refusals
	// with SESSION_BUSY are retried: the server may still be releasing it.)
	eventually(ctx, t, func() (bool, string) {
		var text strings.Builder
		for event, err := range client.ChatStream(ctx, say(id, "again")) {
			if mochi.ErrorReason(err) == "SESSION_BUSY" {
				return false, err.Error()
			}
			if err != nil {
				t.Fatalf("ChatStream after cancelling: %v", err)
			}
			text.WriteString(event.GetContentDelta().GetContent())
		}
		if got := text.String(); got != echo("again") {
			t.Fatalf("reply after cancelling = %q, want %q", got, echo("again"))
		}
		return true, ""
	})
}

// describe shows messages in a failure message.
func describe(messages []*mochiv1.Message) string {
	var parts []string
	for _, m := range messages {
		parts = append(parts, m.String())
	}
	return "[" + strings.Join(parts, "; ") + "]"
}

func TestSessionNotFound(t *testing.T) {
	ctx, client := dial(t)
	session, err := client.CreateSession(ctx, model())
	if err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	id := session.GetSessionId()
	if err := client.DeleteSession(ctx, id); err != nil {
		t.Fatalf("DeleteSession: %v", err)
	}

	check := func(call string, err error) {
		t.Helper()
		if status.Code(err) != codes.NotFound || mochi.ErrorReason(err) != "SESSION_NOT_FOUND" {
			t.Errorf("%s: error %v (reason %q), want NOT_FOUND with reason SESSION_NOT_FOUND",
				call, err, mochi.ErrorReason(err))
		}
	}
	_, err = client.ListMessages(ctx, id)
	check("ListMessages", err)
	_, _, err = client.EditMessage(ctx, id, 0, "x")
	check("EditMessage", err)
	check("DeleteSession", client.DeleteSession(ctx, id))

	var events int
	err = nil
	for _, e := range client.ChatStream(ctx, say(id, "Hello")) {
		if e != nil {
			err = e
			break
		}
		events++
	}
	if events != 0 {
		t.Errorf("ChatStream on a deleted session yielded %d events, want none", events)
	}
	check("ChatStream", err)

	_, err = client.CreateSession(ctx, "no-such-model:latest")
	if status.Code(err) != codes.NotFound || mochi.ErrorReason(err) != "MODEL_NOT_FOUND" {
		t.Errorf("CreateSession with an unknown model: %v, want NOT_FOUND with reason MODEL_NOT_FOUND", err)
	}
}

func TestEditMessageTruncates(t *testing.T) {
	ctx, client := dial(t)
	id := newSession(ctx, t, client)
	for _, message := range []string{"first", "second", "third"} {
		if got := turn(ctx, t, client, say(id, message)); got != echo(message) {
			t.Fatalf("reply = %q, want %q", got, echo(message))
		}
	}

	// Editing message 2 ("second") keeps messages 0-1 and drops 3-5.
	edited, count, err := client.EditMessage(ctx, id, 2, "changed")
	if err != nil {
		t.Fatalf("EditMessage: %v", err)
	}
	if edited.GetContent() != "changed" || edited.GetRole() != mochiv1.Role_ROLE_USER || count != 3 {
		t.Errorf("EditMessage = %v, %d messages; want the edited user message and 3 messages", edited, count)
	}
	want := []string{"first", echo("first"), "changed"}
	if got := contents(ctx, t, client, id); !slices.Equal(got, want) {
		t.Fatalf("messages after editing = %q, want %q", got, want)
	}

	// A turn without a message answers the edited history.
	if got := turn(ctx, t, client, &mochiv1.ChatStreamRequest{SessionId: id}); got != echo("changed") {
		t.Errorf("regenerated reply = %q, want %q", got, echo("changed"))
	}
	want = append(want, echo("changed"))
	if got := contents(ctx, t, client, id); !slices.Equal(got, want) {
		t.Errorf("messages after regenerating = %q, want %q", got, want)
	}

	// Only user messages can be edited; a refused edit changes nothing.
	_, _, err = client.EditMessage(ctx, id, 1, "not mine")
	if status.Code(err) != codes.InvalidArgument || mochi.ErrorReason(err) != "INVALID_MESSAGE_INDEX" {
		t.Errorf("editing an assistant message: %v, want INVALID_ARGUMENT with reason INVALID_MESSAGE_INDEX", err)
	}
	if got := contents(ctx, t, client, id); !slices.Equal(got, want) {
		t.Errorf("messages after a refused edit = %q, want %q", got, want)
	}
}

func contents(ctx context.Context, t *testing.T, client *mochi.Client, id string) []string {
	t.Helper()
	messages, err := client.ListMessages(ctx, id)
	if err != nil {
		t.Fatalf("ListMessages: %v", err)
	}
	var out []string
	for _, m := range messages {
		out = append(out, m.GetContent())
	}
	return out
}

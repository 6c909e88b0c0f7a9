package mochi_test

// Turns that outlive their stream: resumed after a dropped connection,
// watched from a second client, cancelled from anywhere. Against the live
// server, as live_test.go.

import (
	"context"
	"fmt"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/mochi-grpc/mochi-grpc/clients/go/mochi"
	"github.com/mochi-grpc/mochi-grpc/clients/go/mochiv1"
)

// words is a message of n distinct words: its echo streams in n+2 deltas,
// 20 ms apart, so the turn still runs after the first few.
func words(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf("w%d", i+1)
	}
	return strings.Join(parts, " ")
}

// calls records the streaming calls a client makes ("ChatStream",
// "WatchTurn"), to tell a resumed stream from one that never broke.
type calls struct {
	mu    sync.Mutex
	names []string
}

func (c *calls) intercept(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string,
	streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	c.mu.Lock()
	c.names = append(c.names, path.Base(method))
	c.mu.Unlock()
	return streamer(ctx, desc, cc, method, opts...)
}

func (c *calls) get() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.names)
}

// droppable connects through the proxy whose connections cut cuts,
// recording the client's streaming calls.
func droppable(t *testing.T) (*mochi.Client, *calls) {
	t.Helper()
	recorded := &calls{}
	return connect(t, "MOCHI_DROPPABLE_TARGET", grpc.WithChainStreamInterceptor(recorded.intercept)), recorded
}

// cut aborts every connection through MOCHI_DROPPABLE_TARGET at once, as a
// network that drops would; new connections are accepted afterwards.
func cut(t *testing.T) {
	t.Helper()
	pid, err := strconv.Atoi(os.Getenv("MOCHI_DROPPABLE_PID"))
	if err != nil {
		t.Fatalf("MOCHI_DROPPABLE_PID: %v; run these tests under clients/live_server.py", err)
	}
	if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil {
		t.Fatalf("cutting the proxy's connections: %v", err)
	}
}

// eventNumber is the position in an event id. Ids are opaque to users; the
// tests read the number after the last ':' only to check their order.
func eventNumber(t *testing.T, id string) int {
	t.Helper()
	n, err := strconv.Atoi(id[strings.LastIndex(id, ":")+1:])
	if err != nil {
		t.Fatalf("event id %q does not end in a number", id)
	}
	return n
}

// wholeTurn checks that events are the rest of a successful turn —
// content_delta*, message_complete, done, each of the last two once — with
// strictly increasing event ids, and returns the text of the deltas and the
// last two events.
func wholeTurn(t *testing.T, events []*mochiv1.ChatEvent) (text string, complete, done *mochiv1.ChatEvent) {
	t.Helper()
	var kinds []string
	var content strings.Builder
	for i, event := range events {
		kinds = append(kinds, kind(event))
		content.WriteString(event.GetContentDelta().GetContent())
		if i > 0 && eventNumber(t, event.GetEventId()) <= eventNumber(t, events[i-1].GetEventId()) {
			t.Errorf("event %d has id %q, not after %q", i, event.GetEventId(), events[i-1].GetEventId())
		}
	}
	n := len(kinds)
	if n < 2 || kinds[n-2] != "message_complete" || kinds[n-1] != "done" ||
		slices.ContainsFunc(kinds[:n-2], func(k string) bool { return k != "content_delta" }) {
		t.Fatalf("event kinds = %v, want content_delta..., message_complete, done", kinds)
	}
	return content.String(), events[n-2], events[n-1]
}

// reply returns the stored reply of a session holding one turn.
func reply(ctx context.Context, t *testing.T, client *mochi.Client, id string) *mochiv1.Message {
	t.Helper()
	messages, err := client.ListMessages(ctx, id)
	if err != nil {
		t.Fatalf("ListMessages: %v", err)
	}
	if len(messages) != 2 || messages[1].GetRole() != mochiv1.Role_ROLE_ASSISTANT {
		t.Fatalf("messages = %s, want the user's message and a reply", describe(messages))
	}
	return messages[1]
}

func TestChatStreamResumesAfterDroppedConnection(t *testing.T) {
	ctx, client := dial(t)
	through, recorded := droppable(t)
	id := newSession(ctx, t, client)
	message := words(30)

	req := say(id, message)
	req.ContinueOnDisconnect = true
	var turnID string
	var events []*mochiv1.ChatEvent
	for event, err := range through.ChatStream(ctx, req, mochi.TurnID(&turnID)) {
		if err != nil {
			t.Fatalf("ChatStream after %d events (calls %v): %v", len(events), recorded.get(), err)
		}
		events = append(events, event)
		if len(events) == 3 {
			cut(t)
		}
	}

	// The cut broke the stream, and WatchTurn picked the turn up again.
	if got := recorded.get(); len(got) < 2 || got[0] != "ChatStream" ||
		slices.ContainsFunc(got[1:], func(m string) bool { return m != "WatchTurn" }) {
		t.Fatalf("streaming calls = %v, want ChatStream then WatchTurn (was the stream cut?)", got)
	}
	if turnID == "" {
		t.Error("mochi.TurnID left the turn id empty")
	}
	text, complete, done := wholeTurn(t, events)
	if done.GetDone().GetSessionId() != id {
		t.Errorf("done = %v, want session %s", done, id)
	}
	stored := reply(ctx, t, client, id)
	if stored.GetContent() != text || text != echo(message) || stored.PartialReason != nil ||
		stored.GetMessageId() != complete.GetMessageComplete().GetMessageId() {
		t.Errorf("streamed %q (message %s); stored %v; want both the whole reply %q",
			text, complete.GetMessageComplete().GetMessageId(), stored, echo(message))
	}
}

func TestChatStreamWithoutContinueOnDisconnectIsNotResumed(t *testing.T) {
	ctx, client := dial(t)
	through, recorded := droppable(t)
	id := newSession(ctx, t, client)
	message := words(30)

	var kinds []string
	var streamErr error
	for event, err := range through.ChatStream(ctx, say(id, message)) {
		if err != nil {
			streamErr = err
			break
		}
		kinds = append(kinds, kind(event))
		if len(kinds) == 1 {
			cut(t)
		}
	}
	if status.Code(streamErr) != codes.Unavailable {
		t.Errorf("stream ended with %v, want UNAVAILABLE", streamErr)
	}
	if slices.Contains(kinds, "done") {
		t.Errorf("event kinds = %v: the turn ended before the cut", kinds)
	}
	if got := recorded.get(); !slices.Equal(got, []string{"ChatStream"}) {
		t.Errorf("streaming calls = %v, want ChatStream alone", got)
	}

	// The server saw its caller go away and stopped the turn.
	var messages []*mochiv1.Message
	eventually(ctx, t, func() (bool, string) {
		var err error
		messages, err = client.ListMessages(ctx, id)
		if err != nil {
			t.Fatalf("ListMessages: %v", err)
		}
		return len(messages) == 2 && messages[1].GetPartialReason() != "in_progress", describe(messages)
	})
	if got := messages[1]; got.GetPartialReason() != "cancelled" || !strings.HasPrefix(echo(message), got.GetContent()) {
		t.Errorf("stored reply = %v, want a prefix of %q with partial_reason cancelled", got, echo(message))
	}
}

func TestWatchTurnFromSecondClient(t *testing.T) {
	ctx, client := dial(t)
	_, watcher := dial(t)
	id := newSession(ctx, t, client)
	message := words(30)

	watch := func(turnID, after string) []*mochiv1.ChatEvent {
		t.Helper()
		var events []*mochiv1.ChatEvent
		for event, err := range watcher.WatchTurn(ctx, id, turnID, after) {
			if err != nil {
				t.Fatalf("WatchTurn(%q, %q): %v", turnID, after, err)
			}
			events = append(events, event)
		}
		return events
	}

	var turnID string
	var streamed, whole, rest []*mochiv1.ChatEvent
	for event, err := range client.ChatStream(ctx, say(id, message), mochi.TurnID(&turnID)) {
		if err != nil {
			t.Fatalf("ChatStream: %v", err)
		}
		if len(streamed) == 0 {
			// While the turn runs, the second client follows it from its
			// start, then from this event on.
			whole = watch(turnID, "")
			rest = watch("", event.GetEventId())
		}
		streamed = append(streamed, event)
	}

	stored := reply(ctx, t, client, id).GetContent()
	text, complete, done := wholeTurn(t, streamed)
	watchedText, watchedComplete, watchedDone := wholeTurn(t, whole)
	if text != echo(message) || stored != text || watchedText != text {
		t.Errorf("streamed %q, watched %q, stored %q; want %q", text, watchedText, stored, echo(message))
	}
	if watchedComplete.GetEventId() != complete.GetEventId() || watchedDone.GetEventId() != done.GetEventId() ||
		!proto.Equal(watchedComplete, complete) {
		t.Errorf("watched %v then %v, want the streamed %v then %v", watchedComplete, watchedDone, complete, done)
	}
	restText, _, _ := wholeTurn(t, rest)
	first := streamed[0]
	if got := first.GetContentDelta().GetContent() + restText; got != stored {
		t.Errorf("first delta + watched rest = %q, want %q", got, stored)
	}
	if eventNumber(t, rest[0].GetEventId()) <= eventNumber(t, first.GetEventId()) {
		t.Errorf("watching after %q began with %q", first.GetEventId(), rest[0].GetEventId())
	}

	// Once over, the session's latest turn is replayed from the store.
	var latest string
	var replayed []*mochiv1.ChatEvent
	for event, err := range watcher.WatchTurn(ctx, id, "", "", mochi.TurnID(&latest)) {
		if err != nil {
			t.Fatalf("WatchTurn of the ended turn: %v", err)
		}
		replayed = append(replayed, event)
	}
	if replayedText, _, _ := wholeTurn(t, replayed); replayedText != stored || latest != turnID {
		t.Errorf("replayed turn %s: %q, want turn %s: %q", latest, replayedText, turnID, stored)
	}

	var unknown error
	for _, err := range watcher.WatchTurn(ctx, id, "no-such-turn", "") {
		unknown = err
		break
	}
	if status.Code(unknown) != codes.NotFound || mochi.ErrorReason(unknown) != "TURN_NOT_FOUND" {
		t.Errorf("WatchTurn of an unknown turn: %v, want NOT_FOUND with reason TURN_NOT_FOUND", unknown)
	}
}

func TestCancelTurn(t *testing.T) {
	ctx, client := dial(t)
	id := newSession(ctx, t, client)
	// Long enough that the reply cannot be over by the time the
	// cancellation reaches the server.
	message := words(500)

	req := say(id, message)
	req.ContinueOnDisconnect = true
	var turnID, first string
	var streamErr error
	for event, err := range client.ChatStream(ctx, req, mochi.TurnID(&turnID)) {
		if err != nil {
			streamErr = err
			break
		}
		if first == "" {
			first = event.GetContentDelta().GetContent()
			cancelled, err := client.CancelTurn(ctx, id, turnID)
			if err != nil || cancelled != turnID {
				t.Fatalf("CancelTurn = %q, %v; want turn %q", cancelled, err, turnID)
			}
		}
	}
	// The stream, still following the turn, is told it was stopped.
	if mochi.ErrorReason(streamErr) != "TURN_STOPPED" {
		t.Errorf("stream ended with %v, want a stream error TURN_STOPPED", streamErr)
	}

	partial := reply(ctx, t, client, id)
	if got := partial.GetContent(); partial.GetPartialReason() != "cancelled" || !strings.HasPrefix(got, first) ||
		!strings.HasPrefix(echo(message), got) || len(got) >= len(echo(message)) {
		t.Errorf("stored reply = %v, want a proper prefix of the reply starting with %q, partial_reason cancelled", partial, first)
	}
	session, err := client.Sessions.GetSession(ctx, &mochiv1.GetSessionRequest{SessionId: id})
	if err != nil {
		t.Fatalf("GetSession: %v", err)
	}
	if session.GetSession().ActiveTurnId != nil {
		t.Errorf("active_turn_id = %q after CancelTurn, want it unset", session.GetSession().GetActiveTurnId())
	}

	_, err = client.CancelTurn(ctx, id, "")
	if status.Code(err) != codes.NotFound || mochi.ErrorReason(err) != "TURN_NOT_FOUND" {
		t.Errorf("CancelTurn with no turn running: %v, want NOT_FOUND with reason TURN_NOT_FOUND", err)
	}
}

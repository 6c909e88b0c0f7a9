package mochi_test

import (
	"context"
	"io"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/mochi-grpc/mochi-grpc/clients/go/mochi"
	"github.com/mochi-grpc/mochi-grpc/clients/go/mochiv1"
)

// scriptedConn answers ChatStream with its events, then ends the stream.
type scriptedConn struct {
	grpc.ClientConnInterface
	events []*mochiv1.ChatEvent
	ctx    context.Context // the context of the last stream
}

func (c *scriptedConn) NewStream(ctx context.Context, _ *grpc.StreamDesc, _ string, _ ...grpc.CallOption) (grpc.ClientStream, error) {
	c.ctx = ctx
	return &scriptedStream{events: c.events}, nil
}

// scriptedStream sends its header, then its events, then ends with end
// (io.EOF when nil).
type scriptedStream struct {
	grpc.ClientStream
	header metadata.MD
	events []*mochiv1.ChatEvent
	end    error
	sent   func(any) // called with the request
}

func (s *scriptedStream) SendMsg(m any) error {
	if s.sent != nil {
		s.sent(m)
	}
	return nil
}
func (s *scriptedStream) CloseSend() error             { return nil }
func (s *scriptedStream) Header() (metadata.MD, error) { return s.header, nil }
func (s *scriptedStream) RecvMsg(m any) error {
	if len(s.events) == 0 {
		if s.end != nil {
			return s.end
		}
		return io.EOF
	}
	proto.Merge(m.(proto.Message), s.events[0])
	s.events = s.events[1:]
	return nil
}

func delta(text string) *mochiv1.ChatEvent {
	return &mochiv1.ChatEvent{Event: &mochiv1.ChatEvent_ContentDelta{
		ContentDelta: &mochiv1.ContentDelta{Content: text, Role: "assistant"},
	}}
}

func TestChatStreamErrorEvent(t *testing.T) {
	details, err := structpb.NewStruct(map[string]any{"session_id": "s1"})
	if err != nil {
		t.Fatal(err)
	}
	conn := &scriptedConn{events: []*mochiv1.ChatEvent{
		delta("Hel"),
		{Event: &mochiv1.ChatEvent_Error{Error: &mochiv1.StreamError{
			Code: "OLLAMA_ERROR", Message: "model crashed", Details: details,
		}}},
		delta("never seen"),
	}}
	var texts []string
	var last error
	for event, err := range mochi.New(conn).ChatStream(t.Context(), &mochiv1.ChatStreamRequest{SessionId: "s1"}) {
		if err != nil {
			last = err
			continue
		}
		if last != nil {
			t.Fatalf("event %v after the error", event)
		}
		texts = append(texts, event.GetContentDelta().GetContent())
	}
	if len(texts) != 1 || texts[0] != "Hel" {
		t.Errorf("deltas = %q, want [Hel]", texts)
	}
	streamErr, ok := last.(*mochi.StreamError)
	if !ok {
		t.Fatalf("last error = %v, want a *mochi.StreamError", last)
	}
	if streamErr.Code != "OLLAMA_ERROR" || streamErr.Message != "model crashed" ||
		streamErr.Details["session_id"] != "s1" || mochi.ErrorReason(last) != "OLLAMA_ERROR" {
		t.Errorf("stream error = %+v, want OLLAMA_ERROR, model crashed, session_id s1", streamErr)
	}
}

func TestChatStreamLeavingLoopCancelsCall(t *testing.T) {
	conn := &scriptedConn{events: []*mochiv1.ChatEvent{delta("a"), delta("b")}}
	for range mochi.New(conn).ChatStream(t.Context(), &mochiv1.ChatStreamRequest{SessionId: "s1"}) {
		break
	}
	if conn.ctx == nil || conn.ctx.Err() == nil {
		t.Error("the call's context is still live after leaving the loop")
	}
}

// droppingConn answers the first ChatStream with two events and then a
// dropped connection, and every WatchTurn with the streams in watches (the
// last one again once they run out). It records the WatchTurn requests.
type droppingConn struct {
	grpc.ClientConnInterface
	watches  []*scriptedStream
	requests []*mochiv1.WatchTurnRequest
}

var errDropped = status.Error(codes.Unavailable, "connection reset by peer")

func withID(event *mochiv1.ChatEvent, id string) *mochiv1.ChatEvent {
	event.EventId = id
	return event
}

func (c *droppingConn) NewStream(_ context.Context, _ *grpc.StreamDesc, method string, _ ...grpc.CallOption) (grpc.ClientStream, error) {
	if method == mochiv1.ChatService_ChatStream_FullMethodName {
		return &scriptedStream{
			header: metadata.Pairs(mochi.TurnIDHeader, "t1"),
			events: []*mochiv1.ChatEvent{withID(delta("a"), "t1:1"), withID(delta("b"), "t1:2")},
			end:    errDropped,
		}, nil
	}
	watch := *c.watches[min(len(c.requests), len(c.watches)-1)]
	watch.sent = func(m any) { c.requests = append(c.requests, m.(*mochiv1.WatchTurnRequest)) }
	return &watch, nil
}

func TestChatStreamResumesAfterTheLastEvent(t *testing.T) {
	done := withID(&mochiv1.ChatEvent{Event: &mochiv1.ChatEvent_Done{Done: &mochiv1.Done{SessionId: "s1"}}}, "t1:4")
	conn := &droppingConn{watches: []*scriptedStream{
		{end: errDropped}, // the server is not back yet
		{events: []*mochiv1.ChatEvent{withID(delta("c"), "t1:3")}, end: errDropped},
		{events: []*mochiv1.ChatEvent{done}},
	}}
	var turnID, text string
	var kinds []string
	req := &mochiv1.ChatStreamRequest{SessionId: "s1", ContinueOnDisconnect: true}
	for event, err := range mochi.New(conn).ChatStream(t.Context(), req, mochi.TurnID(&turnID)) {
		if err != nil {
			t.Fatalf("ChatStream: %v", err)
		}
		kinds = append(kinds, kind(event))
		text += event.GetContentDelta().GetContent()
	}
	if text != "abc" || len(kinds) != 4 || kinds[3] != "done" || turnID != "t1" {
		t.Errorf("got text %q, kinds %v, turn %q; want abc, three deltas then done, turn t1", text, kinds, turnID)
	}
	var after []string
	for _, r := range conn.requests {
		if r.GetSessionId() != "s1" || r.GetTurnId() != "t1" {
			t.Errorf("WatchTurn request %v, want session s1 and turn t1", r)
		}
		after = append(after, r.GetAfterEventId())
	}
	if want := []string{"t1:2", "t1:2", "t1:3"}; !slices.Equal(after, want) {
		t.Errorf("WatchTurn after_event_ids = %q, want %q", after, want)
	}
}

func TestChatStreamGivesUpWhenTheServerStaysAway(t *testing.T) {
	conn := &droppingConn{watches: []*scriptedStream{{end: errDropped}}}
	req := &mochiv1.ChatStreamRequest{SessionId: "s1", ContinueOnDisconnect: true}
	// Retrying forever would end with DEADLINE_EXCEEDED instead.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var last error
	for _, err := range mochi.New(conn).ChatStream(ctx, req) {
		last = err
	}
	if status.Code(last) != codes.Unavailable {
		t.Errorf("stream ended with %v, want UNAVAILABLE", last)
	}
	if n := len(conn.requests); n < 1 || n > 10 {
		t.Errorf("WatchTurn was called %d times, want a few", n)
	}
}

func TestChatStreamWithoutContinueOnDisconnectDoesNotWatch(t *testing.T) {
	conn := &droppingConn{watches: []*scriptedStream{{}}}
	var last error
	for _, err := range mochi.New(conn).ChatStream(t.Context(), &mochiv1.ChatStreamRequest{SessionId: "s1"}) {
		last = err
	}
	if status.Code(last) != codes.Unavailable || len(conn.requests) != 0 {
		t.Errorf("stream ended with %v after %d WatchTurn calls, want UNAVAILABLE and none", last, len(conn.requests))
	}
}

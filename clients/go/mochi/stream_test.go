package mochi_test

import (
	"context"
	"io"
	"testing"

	"google.golang.org/grpc"
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

type scriptedStream struct {
	grpc.ClientStream
	events []*mochiv1.ChatEvent
}

func (s *scriptedStream) SendMsg(any) error { return nil }
func (s *scriptedStream) CloseSend() error  { return nil }
func (s *scriptedStream) RecvMsg(m any) error {
	if len(s.events) == 0 {
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

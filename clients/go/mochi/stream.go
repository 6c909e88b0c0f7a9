package mochi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"

	"github.com/mochi-grpc/mochi-grpc/clients/go/mochiv1"
)

// ChatStream runs a turn and yields its events as they arrive: content_delta
// (and thinking_delta, tool and agent events), then message_complete, then
// done. Set req.Message (proto.String) to send a user message; leave it nil
// to answer the existing history again.
//
// The sequence ends after done, or with one non-nil error: the RPC status
// when the turn is refused (ErrorReason tells why, e.g. SESSION_NOT_FOUND or
// SESSION_BUSY) or the stream breaks, and a *StreamError when the server
// reports an `error` event. Cancelling ctx, or leaving the loop early,
// cancels the call: the server stops the model and stores the partial reply
// with partial_reason "cancelled". The sequence can be ranged over once.
func (c *Client) ChatStream(ctx context.Context, req *mochiv1.ChatStreamRequest) iter.Seq2[*mochiv1.ChatEvent, error] {
	return func(yield func(*mochiv1.ChatEvent, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stream, err := c.Chats.ChatStream(ctx, req)
		if err != nil {
			yield(nil, err)
			return
		}
		for {
			event, err := stream.Recv()
			switch {
			case errors.Is(err, io.EOF):
				return
			case err != nil:
				yield(nil, err)
				return
			case event.GetError() != nil:
				yield(nil, newStreamError(event.GetError()))
				return
			case !yield(event, nil):
				return
			}
		}
	}
}

// StreamError is a turn that failed after its stream started (an `error`
// event), e.g. Code "OLLAMA_ERROR".
type StreamError struct {
	Code    string
	Message string
	Details map[string]any
}

func newStreamError(e *mochiv1.StreamError) *StreamError {
	return &StreamError{Code: e.GetCode(), Message: e.GetMessage(), Details: e.GetDetails().AsMap()}
}

func (e *StreamError) Error() string {
	return fmt.Sprintf("mochi: turn failed: %s: %s", e.Code, e.Message)
}

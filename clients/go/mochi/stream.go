package mochi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/mochi-grpc/mochi-grpc/clients/go/mochiv1"
)

// TurnIDHeader is the initial metadata in which ChatStream and WatchTurn
// name the turn they stream.
const TurnIDHeader = "mochi-turn-id"

// A dropped stream is resumed up to resumeAttempts times in a row (the count
// starts again once events arrive), after resumeBackoff, then twice as long
// each time: about 1.5 s in all, after which the server counts as
// unreachable and the stream ends with the error.
const (
	resumeAttempts = 5
	resumeBackoff  = 50 * time.Millisecond
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
//
// With req.ContinueOnDisconnect set, the turn runs on without the caller:
// cancelling ctx or leaving the loop only stops following it (CancelTurn
// stops it), and a dropped connection (UNAVAILABLE) is resumed with
// WatchTurn after the last event received, so the loop sees every event
// once and the deltas make exactly the stored reply. A turn stopped before
// its end then ends with a *StreamError of code TURN_STOPPED.
func (c *Client) ChatStream(ctx context.Context, req *mochiv1.ChatStreamRequest, opts ...StreamOption) iter.Seq2[*mochiv1.ChatEvent, error] {
	return func(yield func(*mochiv1.ChatEvent, error) bool) {
		s := c.newTurnStream(req.GetSessionId(), "", "", req.GetContinueOnDisconnect(), opts)
		s.run(ctx, func(ctx context.Context) (grpc.ServerStreamingClient[mochiv1.ChatEvent], error) {
			return c.Chats.ChatStream(ctx, req)
		}, yield)
	}
}

// WatchTurn yields the events of a turn after afterEventID (an EventId of
// that turn; "" = from its first event): those already sent, then the live
// ones until the turn ends, with the same event ids. turnID "" means the
// turn afterEventID belongs to, else the running turn, else the session's
// latest. Unknown turns are refused with reason TURN_NOT_FOUND.
//
// The sequence ends as ChatStream's does. Watching never stops the turn, so
// a dropped connection is always resumed, as with ContinueOnDisconnect.
func (c *Client) WatchTurn(ctx context.Context, sessionID, turnID, afterEventID string, opts ...StreamOption) iter.Seq2[*mochiv1.ChatEvent, error] {
	return func(yield func(*mochiv1.ChatEvent, error) bool) {
		s := c.newTurnStream(sessionID, turnID, afterEventID, true, opts)
		s.run(ctx, s.watch, yield)
	}
}

// CancelTurn stops the running turn of a session (turnID "" = whichever
// runs) as a hang-up does, and returns its id once its partial reply is
// stored with partial_reason "cancelled". With no such turn running it fails
// with reason TURN_NOT_FOUND.
func (c *Client) CancelTurn(ctx context.Context, sessionID, turnID string) (string, error) {
	resp, err := c.Chats.CancelTurn(ctx, &mochiv1.CancelTurnRequest{SessionId: sessionID, TurnId: turnID})
	if err != nil {
		return "", err
	}
	return resp.GetTurnId(), nil
}

// A StreamOption changes how ChatStream or WatchTurn streams a turn.
type StreamOption func(*turnStream)

// TurnID stores the streamed turn's id in *id as soon as the server names it
// (TurnIDHeader, sent when it accepts the turn), before the first event is
// yielded: the id for CancelTurn, or for WatchTurn elsewhere. A sequence
// has no fields, so the id is delivered the way grpc.Header delivers a
// call's metadata: write it on the goroutine that ranges, read it there.
func TurnID(id *string) StreamOption {
	return func(s *turnStream) { s.turnIDOut = id }
}

// opener starts a call that streams a turn's events.
type opener = func(context.Context) (grpc.ServerStreamingClient[mochiv1.ChatEvent], error)

// turnStream follows one turn's events across the calls that carry them.
type turnStream struct {
	client      *Client
	sessionID   string
	turnID      string // once known
	lastEventID string // of the last event received
	resumable   bool
	turnIDOut   *string
}

func (c *Client) newTurnStream(sessionID, turnID, afterEventID string, resumable bool, opts []StreamOption) *turnStream {
	s := &turnStream{client: c, sessionID: sessionID, turnID: turnID, lastEventID: afterEventID, resumable: resumable}
	for _, opt := range opts {
		opt(s)
	}
	return s
}

// run yields the events of the stream open starts, then, while it is
// resumable, of the WatchTurn calls that resume it after a drop.
func (s *turnStream) run(ctx context.Context, open opener, yield func(*mochiv1.ChatEvent, error) bool) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for failures := 0; ; {
		before := s.lastEventID
		err := s.receive(ctx, open, yield)
		if err == nil {
			return
		}
		if s.lastEventID != before {
			failures = 0
		}
		if !s.canResume(ctx, err) || failures == resumeAttempts {
			yield(nil, err)
			return
		}
		if err := sleep(ctx, resumeBackoff<<failures); err != nil {
			yield(nil, err)
			return
		}
		failures++
		open = s.watch
	}
}

// receive opens a stream and yields its events. It returns nil once the
// sequence is over (the turn ended or failed, or the caller left the loop),
// else the error that broke the stream.
func (s *turnStream) receive(ctx context.Context, open opener, yield func(*mochiv1.ChatEvent, error) bool) error {
	stream, err := open(ctx)
	if err != nil {
		return err
	}
	if header, err := stream.Header(); err == nil { // errors come from Recv
		s.learnTurnID(header)
	}
	for {
		event, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if id := event.GetEventId(); id != "" {
			s.lastEventID = id
		}
		if event.GetError() != nil {
			yield(nil, newStreamError(event.GetError()))
			return nil
		}
		if !yield(event, nil) {
			return nil
		}
	}
}

func (s *turnStream) learnTurnID(header metadata.MD) {
	if ids := header.Get(TurnIDHeader); len(ids) > 0 && ids[0] != "" {
		s.turnID = ids[0]
		if s.turnIDOut != nil {
			*s.turnIDOut = s.turnID
		}
	}
}

// canResume tells a dropped connection, on a turn that runs on without us
// and that WatchTurn can find, from every other end of a stream.
func (s *turnStream) canResume(ctx context.Context, err error) bool {
	return s.resumable && ctx.Err() == nil && status.Code(err) == codes.Unavailable &&
		(s.turnID != "" || s.lastEventID != "")
}

func (s *turnStream) watch(ctx context.Context) (grpc.ServerStreamingClient[mochiv1.ChatEvent], error) {
	return s.client.Chats.WatchTurn(ctx, &mochiv1.WatchTurnRequest{
		SessionId:    s.sessionID,
		TurnId:       s.turnID,
		AfterEventId: s.lastEventID,
	})
}

// sleep waits for d, or returns ctx's end as a status (CANCELLED or
// DEADLINE_EXCEEDED, as a call would).
func sleep(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	case <-timer.C:
		return nil
	}
}

// StreamError is a turn that failed after its stream started (an `error`
// event), e.g. Code "OLLAMA_ERROR", or "TURN_STOPPED" for a turn stopped
// before its end while it was followed.
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

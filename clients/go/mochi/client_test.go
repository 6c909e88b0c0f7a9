package mochi_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/mochi-grpc/mochi-grpc/clients/go/mochi"
	"github.com/mochi-grpc/mochi-grpc/clients/go/mochiv1"
)

// pagedConn answers ListMessages with pages of its messages, one a call.
type pagedConn struct {
	grpc.ClientConnInterface
	pages [][]string
	calls []string // the page tokens asked for
}

func (c *pagedConn) Invoke(_ context.Context, method string, args, reply any, _ ...grpc.CallOption) error {
	if method != mochiv1.SessionService_ListMessages_FullMethodName {
		return fmt.Errorf("unexpected call %s", method)
	}
	token := args.(*mochiv1.ListMessagesRequest).GetPageToken()
	c.calls = append(c.calls, token)
	page := len(c.calls) - 1
	resp := &mochiv1.ListMessagesResponse{}
	for _, content := range c.pages[page] {
		resp.Messages = append(resp.Messages, &mochiv1.Message{Content: content})
	}
	if page+1 < len(c.pages) {
		resp.NextPageToken = fmt.Sprintf("page-%d", page+1)
	}
	proto.Merge(reply.(proto.Message), resp)
	return nil
}

func TestListMessagesReadsEveryPage(t *testing.T) {
	conn := &pagedConn{pages: [][]string{{"a", "b"}, {"c"}, {"d"}}}
	messages, err := mochi.New(conn).ListMessages(t.Context(), "s1")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range messages {
		got = append(got, m.GetContent())
	}
	if want := []string{"a", "b", "c", "d"}; !slices.Equal(got, want) {
		t.Errorf("messages = %q, want %q", got, want)
	}
	if want := []string{"", "page-1", "page-2"}; !slices.Equal(conn.calls, want) {
		t.Errorf("page tokens asked for = %q, want %q", conn.calls, want)
	}
}

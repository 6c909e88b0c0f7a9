// Package mochi is a small Go client for mochi-grpc, the gRPC chat-session
// service for local LLMs (package mochi.v1).
//
// Dial connects (FromEnv, WithAPIKey and WithTLS for a server that requires
// API keys or speaks TLS); the Client's methods cover the common calls (sessions,
// messages, streamed turns) and its exported stubs reach every other RPC.
// The messages are the generated types of package mochiv1.
package mochi

import (
	"context"
	"fmt"

	"google.golang.org/grpc"

	"github.com/mochi-grpc/mochi-grpc/clients/go/mochiv1"
)

// DefaultTarget is the address the server listens on by default.
const DefaultTarget = "localhost:50051"

// Client talks to one mochi-grpc server. It is safe for concurrent use.
type Client struct {
	conn *grpc.ClientConn

	// The generated stubs, for the calls the methods below do not cover.
	Sessions      mochiv1.SessionServiceClient
	Chats         mochiv1.ChatServiceClient
	Models        mochiv1.ModelServiceClient
	Server        mochiv1.ServerServiceClient
	SystemPrompts mochiv1.SystemPromptServiceClient
	Tools         mochiv1.ToolServiceClient
	Agents        mochiv1.AgentServiceClient
	Summaries     mochiv1.SummaryServiceClient
}

// Dial creates a client for the server at target ("host:port", or any
// grpc-go target such as "dns:///host:port"). Calls are balanced
// round-robin over every address the target resolves to, so the replicas
// behind one name share them and one that is down is skipped. Without
// options the connection is plaintext and sends no API key, as the server
// serves it by default.
// WithAPIKey, WithTLS and WithTLSServerName, or FromEnv for all three from
// the environment, set up a server that requires keys or speaks TLS:
//
//	client, err := mochi.Dial(target, mochi.FromEnv())
//
// The other options are passed to grpc.NewClient after those settings, so
// they can replace them (for example with other transport credentials). No
// connection is made until the first call; a TLS file that cannot be read,
// or half a TLS setting, is Dial's error.
func Dial(target string, opts ...grpc.DialOption) (*Client, error) {
	all, err := splitOptions(opts)
	if err != nil {
		return nil, fmt.Errorf("mochi: dial %s: %w", target, err)
	}
	conn, err := grpc.NewClient(target, all...)
	if err != nil {
		return nil, fmt.Errorf("mochi: dial %s: %w", target, err)
	}
	c := New(conn)
	c.conn = conn
	return c, nil
}

// New wraps an existing connection; Close then leaves it open.
func New(conn grpc.ClientConnInterface) *Client {
	return &Client{
		Sessions:      mochiv1.NewSessionServiceClient(conn),
		Chats:         mochiv1.NewChatServiceClient(conn),
		Models:        mochiv1.NewModelServiceClient(conn),
		Server:        mochiv1.NewServerServiceClient(conn),
		SystemPrompts: mochiv1.NewSystemPromptServiceClient(conn),
		Tools:         mochiv1.NewToolServiceClient(conn),
		Agents:        mochiv1.NewAgentServiceClient(conn),
		Summaries:     mochiv1.NewSummaryServiceClient(conn),
	}
}

// Close closes the connection Dial opened.
func (c *Client) Close() error {
	if c.conn == nil {
		return nil
	}
	return c.conn.Close()
}

// CreateSession creates a session answered by model ("llama3.2" or
// "llama3.2:latest": the session keeps the name as listed). Use c.Sessions.CreateSession for a system prompt,
// tools or agents.
func (c *Client) CreateSession(ctx context.Context, model string) (*mochiv1.Session, error) {
	resp, err := c.Sessions.CreateSession(ctx, &mochiv1.CreateSessionRequest{Model: model})
	if err != nil {
		return nil, err
	}
	return resp.GetSession(), nil
}

// DeleteSession deletes a session and its messages.
func (c *Client) DeleteSession(ctx context.Context, sessionID string) error {
	_, err := c.Sessions.DeleteSession(ctx, &mochiv1.DeleteSessionRequest{SessionId: sessionID})
	return err
}

// ListMessages returns the whole history of a session, in order, reading
// every page.
func (c *Client) ListMessages(ctx context.Context, sessionID string) ([]*mochiv1.Message, error) {
	var all []*mochiv1.Message
	req := &mochiv1.ListMessagesRequest{SessionId: sessionID}
	for {
		resp, err := c.Sessions.ListMessages(ctx, req)
		if err != nil {
			return nil, err
		}
		all = append(all, resp.GetMessages()...)
		if resp.GetNextPageToken() == "" {
			return all, nil
		}
		req.PageToken = resp.GetNextPageToken()
	}
}

// EditMessage replaces the text of the user message at index (0-based over
// all messages, the system prompt included) and removes every later
// message. It returns the edited message and the number of messages left.
func (c *Client) EditMessage(ctx context.Context, sessionID string, index int32, content string) (*mochiv1.Message, int32, error) {
	resp, err := c.Sessions.EditMessage(ctx, &mochiv1.EditMessageRequest{
		SessionId:    sessionID,
		MessageIndex: index,
		Content:      content,
	})
	if err != nil {
		return nil, 0, err
	}
	return resp.GetMessage(), resp.GetMessageCount(), nil
}

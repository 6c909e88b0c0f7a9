package mochi_test

import (
	"slices"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mochi-grpc/mochi-grpc/clients/go/mochi"
	"github.com/mochi-grpc/mochi-grpc/clients/go/mochiv1"
)

// live_server.py points the server at tests/fixtures/agents: a valid agent,
// wordsmith (tool count_words), and broken, which cannot run.
func TestListAgentsShowsTheValidAndTheInvalidAgent(t *testing.T) {
	ctx, client := dial(t)

	listed, err := client.Agents.ListAgents(ctx, &mochiv1.ListAgentsRequest{})
	if err != nil {
		t.Fatalf("ListAgents: %v", err)
	}

	agents := map[string]*mochiv1.Agent{}
	for _, agent := range listed.GetAgents() {
		agents[agent.GetName()] = agent
	}
	wordsmith, broken := agents["wordsmith"], agents["broken"]
	if wordsmith == nil || broken == nil {
		t.Fatalf("ListAgents returned %v, want wordsmith and broken", listed.GetAgents())
	}
	if !wordsmith.GetValid() || wordsmith.GetDescription() == "" || wordsmith.ErrorMessage != nil {
		t.Errorf("wordsmith: %v, want a valid agent with a description", wordsmith)
	}
	if tools := wordsmith.GetTools(); len(tools) != int(wordsmith.GetToolCount()) || !slices.Contains(tools, "count_words") {
		t.Errorf("wordsmith's tools: %v (count %d), want count_words among them", tools, wordsmith.GetToolCount())
	}
	if broken.GetValid() || broken.GetErrorMessage() == "" {
		t.Errorf("broken: %v, want an invalid agent with its reason", broken)
	}
}

func TestAFreshSessionHasNoSummary(t *testing.T) {
	ctx, client := dial(t)
	id := newSession(ctx, t, client)

	_, err := client.Summaries.GetSessionSummary(ctx, &mochiv1.GetSessionSummaryRequest{SessionId: id})

	if status.Code(err) != codes.NotFound || mochi.ErrorReason(err) != "SUMMARY_NOT_FOUND" {
		t.Fatalf("GetSessionSummary: error %v (reason %q), want NOT_FOUND with reason SUMMARY_NOT_FOUND",
			err, mochi.ErrorReason(err))
	}
}

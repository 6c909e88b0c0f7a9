package mochi_test

// Dial balances calls round-robin over every address its target resolves
// to: two in-process servers behind one target both answer calls.

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"

	"github.com/mochi-grpc/mochi-grpc/clients/go/mochi"
)

// maxSpreadCalls bounds the calls it may take until both replicas have
// answered one: round-robin reaches the second as soon as it is connected,
// pick_first never would.
const maxSpreadCalls = 1000

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

func TestDialSpreadsCallsOverEveryAddressOfTheTarget(t *testing.T) {
	first, firstSeen := serve(t, nil)
	second, secondSeen := serve(t, nil)
	replicas := manual.NewBuilderWithScheme("mochi-replicas")
	replicas.InitialState(resolver.State{Addresses: []resolver.Address{{Addr: first}, {Addr: second}}})

	client, err := mochi.Dial(replicas.Scheme()+":///mochi", grpc.WithResolvers(replicas))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	calls := 0
	for ; calls < maxSpreadCalls && (firstSeen.count() == 0 || secondSeen.count() == 0); calls++ {
		if _, err := client.CreateSession(ctx, "m"); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
	}

	if firstSeen.count() == 0 || secondSeen.count() == 0 {
		t.Errorf("after %d calls the replicas answered %d and %d, want both some",
			calls, firstSeen.count(), secondSeen.count())
	}
}

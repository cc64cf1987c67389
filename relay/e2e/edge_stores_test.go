package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay"
)

// TestEdgeStorePartitions: with three store objects, one-to-one
// conversations and groups whose ids hash to every partition are written
// and synced: a new device of the user syncs every one at its last
// message, before and after the workerd process is killed.
// Restarted with another PARLEY_STORES, the relay refuses to run (its
// conversations would be looked for in the wrong objects) and says why;
// with the count it was created with, it serves everything again.
func TestEdgeStorePartitions(t *testing.T) {
	edgeOnly(t)
	const parts = 3
	relayP := startRelay(t, "--edge-env", fmt.Sprint("PARLEY_STORES=", parts))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	alice := newDevice(t, relayP.wsURL(), "alice", "alice-laptop", 1, nil)
	if err := alice.c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	// One-to-one conversations until every partition holds one, and a
	// group in each partition too (group ids are random: created until
	// every partition has one).
	want := map[string]int{} // conversation → messages sent
	hit := map[int]bool{}
	for i := 0; len(hit) < parts; i++ {
		peer := fmt.Sprint("peer", i)
		conv := proto.P2PID("alice", peer)
		hit[relay.ConvPartition(conv, parts)] = true
		want[conv] = 0
	}
	hit = map[int]bool{}
	for i := 0; len(hit) < parts && i < 40; i++ {
		g, err := alice.c.CreateGroup(ctx, "", fmt.Sprint("g", i), []string{"bob"})
		if err != nil {
			t.Fatal(err)
		}
		if !hit[relay.ConvPartition(g.ID, parts)] {
			hit[relay.ConvPartition(g.ID, parts)] = true
			want[g.ID] = 0
		}
	}
	if len(hit) < parts {
		t.Fatalf("40 groups in %d of %d partitions", len(hit), parts)
	}
	send := func(round int) {
		t.Helper()
		for conv := range want {
			for k := range 3 {
				if _, err := alice.c.Send(ctx, conv, proto.MsgText, fmt.Sprintf("round %d #%d", round, k), nil); err != nil {
					t.Fatal(err)
				}
				want[conv]++
			}
		}
	}
	check := func(what string) {
		t.Helper()
		bob := newDevice(t, relayP.wsURL(), "alice", fmt.Sprint("alice-", what), 2, nil)
		if err := bob.c.Connect(ctx); err != nil {
			t.Fatal(err)
		}
		if err := bob.c.WaitSynced(ctx); err != nil {
			t.Fatal(err)
		}
		for conv, n := range want {
			got, found := bob.c.Conversation(conv)
			if !found {
				t.Fatalf("%s: %s (partition %d) not synced", what, conv, relay.ConvPartition(conv, parts))
			}
			// A group's creation is its first message.
			if int(got.LastSeq) < n || got.LastMessage == nil || !strings.HasPrefix(got.LastMessage.Text, "round") {
				t.Fatalf("%s: %s (partition %d) synced at seq %d, last %+v; %d sent", what, conv, relay.ConvPartition(conv, parts), got.LastSeq, got.LastMessage, n)
			}
		}
		bob.c.Close()
	}
	send(1)
	check("first")
	relayP.kill9()
	relayP.start()
	send(2)
	check("after-restart")

	relayP.stop()
	relayP.extra = []string{"--edge-env", "PARLEY_STORES=2"}
	relayP.noWait = true
	relayP.start()
	const refusal = "PARLEY_STORES is 2 but this deployment's data is in 3 store partitions"
	deadline := time.Now().Add(3 * time.Minute)
	for !strings.Contains(edgeLog(relayP), refusal) {
		if resp, err := http.Get(relayP.httpURL() + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.Fatalf("the relay runs with 2 store objects over data in 3\n%s", edgeLog(relayP))
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no refusal naming the store count in the relay's log:\n%s", edgeLog(relayP))
		}
		time.Sleep(200 * time.Millisecond)
	}
	relayP.stop()
	relayP.extra = []string{"--edge-env", fmt.Sprint("PARLEY_STORES=", parts)}
	relayP.noWait = false
	relayP.start()
	check("same-count-again")
}

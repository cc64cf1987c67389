package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay"
)

// TestStorePartitions: with the store in three partitions (the Workers
// relay's store objects, PARLEY_STORES; the native relay's SQLite
// databases, --store-partitions), one-to-one conversations and groups whose
// ids hash to every partition are written and synced: a new device of the
// user syncs every one at its last message, before and after the relay is
// killed. Restarted with another count, the relay refuses to run (its
// conversations would be looked for in the wrong places) and says why;
// with the count it was created with, it serves everything again.
func TestStorePartitions(t *testing.T) {
	const parts = 3
	partsFlag := func(n int) []string {
		if edgeTarget() {
			return []string{"--edge-env", fmt.Sprint("PARLEY_STORES=", n)}
		}
		return []string{"--store-partitions", fmt.Sprint(n)}
	}
	relayP := startRelay(t, partsFlag(parts)...)
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
	refuseOtherCount(t, relayP, partsFlag(2), parts)
	relayP.extra = partsFlag(parts)
	relayP.start()
	check("same-count-again")
}

// refuseOtherCount starts the relay of p with flags naming another partition
// count than the parts its data was created with, and checks that it
// refuses to run, saying why.
func refuseOtherCount(t *testing.T, p *relayProc, flags []string, parts int) {
	t.Helper()
	if !edgeTarget() {
		args := append([]string{"serve", "--addr", p.addr, "--admin-addr", p.admin, "--data", p.data, "--secret", testSecret}, flags...)
		out, err := exec.Command(relayBin, args...).CombinedOutput()
		want := fmt.Sprintf("--store-partitions is 2 but the data in %s is in %d store partitions", p.data, parts)
		if err == nil || !strings.Contains(string(out), want) {
			t.Fatalf("relay with another partition count: %v\n%s", err, out)
		}
		return
	}
	p.extra, p.noWait = flags, true
	defer func() { p.noWait = false }()
	p.start()
	defer p.stop()
	refusal := fmt.Sprintf("PARLEY_STORES is 2 but this deployment's data is in %d store partitions", parts)
	deadline := time.Now().Add(3 * time.Minute)
	for !strings.Contains(edgeLog(p), refusal) {
		if resp, err := http.Get(p.httpURL() + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.Fatalf("the relay runs with 2 store objects over data in %d\n%s", parts, edgeLog(p))
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no refusal naming the store count in the relay's log:\n%s", edgeLog(p))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

package client

import (
	"context"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// Offline, History pages what the cache holds, and HasMore stays true
// while the relay holds older messages this user can read that the cache
// lacks (evicted under a size limit): a page that comes back empty offline
// does not end the paging, and the same call once connected returns the
// messages. Below the seqs a group member may not read (from before they
// joined), HasMore is false offline too.
func TestHistoryOfflineHasMoreWhileTheRelayHoldsOlder(t *testing.T) {
	t.Parallel()
	url, stop, restart := restartableRelay(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store := &evictingStore{MemoryStore: NewMemoryStore(), written: map[uint64]int{}}
	alice := open(t, url, "alice", "a1", store)
	bob := open(t, url, "bob", "b1", nil)
	for _, c := range []*Client{alice, bob} {
		if err := c.Connect(ctx); err != nil {
			t.Fatal(err)
		}
	}
	conv := bob.P2P("alice")
	const n = 30
	for i := 1; i <= n; i++ {
		if _, err := bob.SendText(ctx, conv, "m"); err != nil {
			t.Fatal(err)
		}
	}
	// A group alice is added to after its first messages: she may not read them.
	g, err := bob.CreateGroup(ctx, "", "team", []string{"carol"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := bob.SendText(ctx, g.ID, "before alice"); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := bob.GroupOp(ctx, proto.GroupOp{ConvID: g.ID, Op: proto.OpAdd, Users: []string{"alice"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.SendText(ctx, g.ID, "welcome"); err != nil {
		t.Fatal(err)
	}
	bg, _ := bob.Conversation(g.ID)
	gLast := bg.LastSeq
	if err := alice.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	for {
		cv, ok := alice.Conversation(g.ID)
		if pc, pok := alice.Conversation(conv); ok && pok && pc.SyncedSeq == n && cv.SyncedSeq == gLast {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("alice did not get the messages")
		}
		time.Sleep(10 * time.Millisecond)
	}
	gcv, _ := alice.Conversation(g.ID)
	if len(gcv.Skipped) == 0 || gcv.Skipped[0].From != 1 {
		t.Fatalf("the group's seqs from before alice joined are not skipped: %v", gcv.Skipped)
	}
	firstReadable := gcv.Skipped[0].To + 1
	store.evict(conv, 1, 18)

	stop()
	for alice.State() == core.StateConnected {
		if ctx.Err() != nil {
			t.Fatal("alice stayed connected")
		}
		time.Sleep(10 * time.Millisecond)
	}
	type page struct {
		from, to uint64 // seqs of the page, 0 0 when empty
		more     bool
	}
	read := func(conv string, before uint64, limit int) page {
		t.Helper()
		p, err := alice.History(ctx, conv, before, limit)
		if err != nil {
			t.Fatalf("History(%s, %d, %d): %v", conv, before, limit, err)
		}
		for i, m := range p.Messages {
			if i > 0 && m.Seq != p.Messages[i-1].Seq+1 {
				t.Fatalf("History(%s, %d, %d) not contiguous: seq %d after %d", conv, before, limit, m.Seq, p.Messages[i-1].Seq)
			}
		}
		if len(p.Messages) == 0 {
			return page{more: p.HasMore}
		}
		return page{p.Messages[0].Seq, p.Messages[len(p.Messages)-1].Seq, p.HasMore}
	}
	for _, tc := range []struct {
		name   string
		conv   string
		before uint64
		limit  int
		want   page
	}{
		{"offline/cached page/more", conv, 0, 10, page{21, 30, true}},
		{"offline/short of the evicted/more", conv, 21, 10, page{19, 20, true}},
		{"offline/all evicted/more", conv, 19, 10, page{0, 0, true}},
		{"offline/group down to its first readable seq/more", g.ID, 0, 50, page{firstReadable, gLast, true}},
		{"offline/group below its first readable seq/none", g.ID, firstReadable, 10, page{0, 0, false}},
	} {
		if got := read(tc.conv, tc.before, tc.limit); got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}

	restart()
	for alice.State() != core.StateConnected {
		if ctx.Err() != nil {
			t.Fatal("alice did not reconnect")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got, want := read(conv, 19, 10), (page{9, 18, true}); got != want {
		t.Errorf("online/evicted page from the relay: got %+v, want %+v", got, want)
	}
	if got, want := read(conv, 9, 10), (page{1, 8, false}); got != want {
		t.Errorf("online/down to seq 1: got %+v, want %+v", got, want)
	}
}

package relay

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
)

// This file holds the parts of the store conformance suite (testStore) that
// prove the change-position design: what a message writes, and that sync
// pages never skip a change nor a member list.

// rowWrites returns a function that reports how many rows (records, for the
// memory store) of conversation state the store wrote since the previous
// call, counted the way each store can observe it.
func rowWrites(t *testing.T, s Store, conv string) func() int {
	t.Helper()
	ctx := context.Background()
	s = servedFor(s, conv)
	switch s := s.(type) {
	case *SQLiteStore:
		// total_changes() counts every row an INSERT, UPDATE or DELETE
		// changed on the writer connection.
		total := func() int {
			s.wmu.Lock()
			defer s.wmu.Unlock()
			var n int
			ok(t, s.wc.QueryRowContext(ctx, `SELECT total_changes()`).Scan(&n))
			return n
		}
		last := total()
		return func() int {
			n := total()
			d := n - last
			last = n
			return d
		}
	case *MemoryStore:
		type snap struct {
			msgs, pos uint64
			counter   uint64
			members   map[string]memMember
		}
		take := func() snap {
			s.mu.RLock()
			defer s.mu.RUnlock()
			c := s.convs[conv]
			sn := snap{msgs: uint64(len(c.msgs)), pos: c.pos, counter: s.counter, members: make(map[string]memMember)}
			for u, m := range c.members {
				sn.members[u] = *m
			}
			return sn
		}
		last := take()
		return func() int {
			now := take()
			n := int(now.msgs - last.msgs)
			if now.pos != last.pos {
				n++
			}
			if now.counter != last.counter {
				n++
			}
			for u, m := range now.members {
				if !reflect.DeepEqual(m, last.members[u]) {
					n++
				}
			}
			last = now
			return n
		}
	}
	if f := postgresRowWrites(t, s, conv); f != nil {
		return f
	}
	t.Fatalf("no way to count the row writes of %T", s)
	return nil
}

// testStoreRowWrites: a message writes the same few rows in a group of 10
// and in one of 1,000 — its own, its conversation's, the sender's read
// cursor and the change counter — not one per member.
func testStoreRowWrites(t *testing.T, open func(t *testing.T) Store) {
	ctx := context.Background()
	s := open(t)
	writes := make(map[int]int)
	for _, size := range []int{10, proto.MaxGroupMembers} {
		id := fmt.Sprintf("g:size%d", size)
		_, _, err := s.CreateGroup(ctx, GroupSpec{ID: id, Creator: "alice", CreatedAt: 1, Members: benchMembers("alice", size, size)})
		ok(t, err)
		count := rowWrites(t, s, id)
		for k := range 2 {
			res, err := s.Append(ctx, []AppendRequest{textReq("alice", id, fmt.Sprintf("%d-%d", size, k))})
			ok(t, err)
			equal(t, len(res[0].Members), size, "members for fan-out")
			writes[size] = count()
		}
	}
	if writes[10] > 4 || writes[proto.MaxGroupMembers] != writes[10] {
		t.Fatalf("row writes of one message: %d in a group of 10, %d in one of 1,000; want the same, at most 4",
			writes[10], writes[proto.MaxGroupMembers])
	}
}

// syncDevice is a client's view, kept by the rules the protocol gives
// clients: apply a conversation whose Version is above the stored one,
// keep the stored member list when one arrives without it.
type syncDevice struct {
	user   string
	cursor uint64
	convs  map[string]proto.Conversation
}

// push applies a conv-update push: the whole state, member list included.
func (d *syncDevice) push(c proto.Conversation) {
	if old, known := d.convs[c.ID]; !known || c.Version > old.Version {
		d.convs[c.ID] = c
	}
}

// syncAll syncs d until More is false, in pages of random size, checking
// what every page promises.
func (d *syncDevice) syncAll(t *testing.T, s Store, rng *rand.Rand) (pages int) {
	t.Helper()
	for {
		limit := 1 + rng.IntN(7)
		if rng.IntN(4) == 0 {
			limit = proto.MaxPageLimit
		}
		page, more, err := s.Sync(context.Background(), d.user, d.cursor, limit)
		ok(t, err)
		pages++
		if len(page) > limit || (len(page) == 0 && more) {
			t.Fatalf("%s: %d conversations for limit %d, more %v", d.user, len(page), limit, more)
		}
		seen := make(map[string]bool)
		for _, c := range page {
			if c.Version <= d.cursor {
				t.Fatalf("%s: %s at version %d, not after cursor %d", d.user, c.ID, c.Version, d.cursor)
			}
			if seen[c.ID] {
				t.Fatalf("%s: %s twice in one page", d.user, c.ID)
			}
			seen[c.ID] = true
			d.cursor = c.Version
			old, known := d.convs[c.ID]
			if known && c.Version <= old.Version {
				continue
			}
			if c.Kind == proto.KindGroup && len(c.Members) == 0 {
				if !known {
					t.Fatalf("%s: group %s arrives without its member list and was never seen", d.user, c.ID)
				}
				c.Members = old.Members
			}
			d.convs[c.ID] = c
		}
		if !more {
			return pages
		}
		if pages > 10000 {
			t.Fatalf("%s: sync does not end", d.user)
		}
	}
}

// sameState compares two views of a user's conversations, versions aside.
func sameState(t *testing.T, who string, got, want map[string]proto.Conversation) {
	t.Helper()
	for id, w := range want {
		g, seen := got[id]
		if !seen {
			t.Errorf("%s: never synced %s (a skipped change)", who, id)
			continue
		}
		g.Version, w.Version = 0, 0
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s: synced %s as\n%+v\nthe store holds\n%+v", who, id, g, w)
		}
	}
	equal(t, len(got), len(want), who+"'s conversations")
}

// testStoreSyncFollowers: devices that sync at random moments in pages of
// random size, while messages, reads and new groups (some of 1,000
// members, more than one page's member budget) keep coming, end with the
// state the store holds — no change and no member list skipped — and a
// sync from a recent cursor lists each changed conversation once, with its
// newest state.
func testStoreSyncFollowers(t *testing.T, open func(t *testing.T) Store) {
	seed := uint64(time.Now().UnixNano())
	if v, err := strconv.ParseUint(os.Getenv("PARLEY_TEST_SEED"), 10, 64); err == nil {
		seed = v
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed %d (PARLEY_TEST_SEED=%d reruns it)", seed, seed)
		}
	})
	rng := rand.New(rand.NewPCG(seed, 3))
	ctx := context.Background()
	s := open(t)

	users := make([]string, 12)
	for i := range users {
		users[i] = fmt.Sprintf("u%02d", i)
	}
	type conv struct {
		id      string
		members []string // the ones who send and read
	}
	var convs []conv
	groups := 0
	newGroup := func(size int) {
		perm := rng.Perm(len(users))[:2+rng.IntN(5)]
		spec := GroupSpec{ID: fmt.Sprintf("g:f%02d", groups), Name: fmt.Sprint("group ", groups), Creator: users[perm[0]], CreatedAt: 1}
		set := make(map[string]bool)
		for _, k := range perm {
			set[users[k]] = true
		}
		for f := 0; len(set) < size; f++ {
			set[fmt.Sprintf("filler%04d", f)] = true
		}
		for u := range set {
			spec.Members = append(spec.Members, u)
		}
		slices.Sort(spec.Members)
		_, _, err := s.CreateGroup(ctx, spec)
		ok(t, err)
		var talkers []string
		for _, k := range perm {
			talkers = append(talkers, users[k])
		}
		convs = append(convs, conv{spec.ID, talkers})
		groups++
	}
	for i, a := range users {
		for _, b := range users[i+1:] {
			if rng.IntN(3) == 0 {
				convs = append(convs, conv{proto.P2PID(a, b), []string{a, b}})
			}
		}
	}
	for range 3 {
		newGroup(proto.MaxGroupMembers)
	}
	newGroup(5)

	devices := make([]*syncDevice, 0, 2*len(users))
	for _, u := range users {
		for range 2 {
			devices = append(devices, &syncDevice{user: u, convs: make(map[string]proto.Conversation)})
		}
	}
	sent := 0
	for round := range 40 {
		var batch []AppendRequest
		for range 1 + rng.IntN(12) {
			c := convs[rng.IntN(len(convs))]
			batch = append(batch, textReq(c.members[rng.IntN(len(c.members))], c.id, fmt.Sprint("m", sent)))
			sent++
		}
		res, err := s.Append(ctx, batch)
		ok(t, err)
		for i, r := range res {
			if r.Err != nil {
				t.Fatalf("%+v refused: %v", batch[i], r.Err)
			}
		}
		for range rng.IntN(3) {
			c := convs[rng.IntN(len(convs))]
			u := rng.IntN(len(c.members))
			view, moved, err := markRead(ctx, s, c.members[u], c.id, uint64(rng.IntN(10)))
			ok(t, err)
			if moved { // pushed to one of the user's devices
				devices[2*slices.Index(users, c.members[u])+rng.IntN(2)].push(view)
			}
		}
		if round%10 == 5 {
			newGroup([]int{4, proto.MaxGroupMembers}[rng.IntN(2)])
		}
		for range 3 {
			devices[rng.IntN(len(devices))].syncAll(t, s, rng)
		}
	}

	// Every device ends where a new device starts: at the store's state.
	for _, d := range devices {
		d.syncAll(t, s, rng)
		fresh := &syncDevice{user: d.user, convs: make(map[string]proto.Conversation)}
		fresh.syncAll(t, s, rng)
		sameState(t, d.user, d.convs, fresh.convs)
	}
	if t.Failed() {
		t.FailNow()
	}

	// From a recent cursor: each changed conversation once, newest state.
	d := devices[0]
	var mine []conv
	for _, c := range convs {
		if slices.Contains(c.members, d.user) {
			mine = append(mine, c)
		}
	}
	want := make(map[string]uint64)
	for range 3 * len(mine) {
		c := mine[rng.IntN(len(mine))]
		res, err := s.Append(ctx, []AppendRequest{textReq(c.members[rng.IntN(len(c.members))], c.id, fmt.Sprint("m", sent))})
		ok(t, err)
		sent++
		want[c.id] = res[0].Message.Seq
	}
	page, more, err := s.Sync(ctx, d.user, d.cursor, proto.MaxPageLimit)
	ok(t, err)
	equal(t, more, false, "more after a recent cursor")
	got := make(map[string]uint64)
	for _, c := range page {
		if _, twice := got[c.ID]; twice {
			t.Fatalf("%s listed twice", c.ID)
		}
		got[c.ID] = c.LastSeq
		if c.LastMessage == nil || c.LastMessage.Seq != c.LastSeq {
			t.Fatalf("%s: last message %+v for last seq %d", c.ID, c.LastMessage, c.LastSeq)
		}
		if c.Members != nil {
			t.Fatalf("%s carries its unchanged member list", c.ID)
		}
	}
	equal(t, got, want, "changed conversations and their last seqs")
}

// testStoreSyncListedAgain: a group listed early in a page, at the change
// of its member list, is listed again at its newest change — also for a
// device that already holds a newer state from a push and so ignores the
// early listing.
func testStoreSyncListedAgain(t *testing.T, open func(t *testing.T) Store) {
	ctx := context.Background()
	s := open(t)
	rng := rand.New(rand.NewPCG(1, 2))
	d := &syncDevice{user: "bob", convs: make(map[string]proto.Conversation)}
	_, err := s.Append(ctx, []AppendRequest{textReq("alice", proto.P2PID("alice", "bob"), "1")})
	ok(t, err)
	d.syncAll(t, s, rng)
	_, _, err = s.CreateGroup(ctx, GroupSpec{ID: "g:late", Creator: "alice", CreatedAt: 1, Members: []string{"alice", "bob"}})
	ok(t, err)
	_, err = s.Append(ctx, []AppendRequest{textReq("alice", "g:late", "2")})
	ok(t, err)
	view, moved, err := markRead(ctx, s, "bob", "g:late", 1) // from bob's other device
	ok(t, err)
	equal(t, moved, true, "read moved")
	d.push(view)
	_, err = s.Append(ctx, []AppendRequest{textReq("alice", "g:late", "3")})
	ok(t, err)
	d.syncAll(t, s, rng)
	g := d.convs["g:late"]
	equal(t, [3]any{g.LastSeq, g.ReadSeq, g.Members}, [3]any{uint64(2), uint64(1), []string{"alice", "bob"}}, "bob's device's view")
}

// textReq is a text message whose client id is also its text.
func textReq(sender, conv, cid string) AppendRequest {
	return AppendRequest{Sender: sender, Device: "dev", CreatedAt: 1,
		Send: proto.Send{ConvID: conv, ClientID: cid, MsgType: proto.MsgText, Text: cid}}
}

// benchMembers returns a sorted member list of n users including first,
// the others drawn from a pool of 5,000 users (seeded by k).
func benchMembers(first string, n, k int) []string {
	rng := rand.New(rand.NewPCG(uint64(k), 7))
	set := map[string]bool{first: true}
	for len(set) < n {
		set[fmt.Sprintf("m%04d", rng.IntN(5000))] = true
	}
	out := make([]string, 0, n)
	for u := range set {
		out = append(out, u)
	}
	slices.Sort(out)
	return out
}

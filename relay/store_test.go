package relay

import (
	"context"
	"fmt"
	"testing"

	"github.com/parley-im/parley/proto"
)

// testStore is the conformance suite every Store passes: the memory store
// must be a faithful stand-in for SQLite (and, later, PostgreSQL).
func testStore(t *testing.T, open func(t *testing.T) Store) {
	ctx := context.Background()
	ab := proto.P2PID("alice", "bob")
	text := func(sender, conv, cid string) AppendRequest {
		return AppendRequest{Sender: sender, Device: "dev", CreatedAt: 1000,
			Send: proto.Send{ConvID: conv, ClientID: cid, MsgType: proto.MsgText, Text: cid}}
	}
	appendOK := func(t *testing.T, s Store, batch ...AppendRequest) []AppendResult {
		t.Helper()
		res, err := s.Append(ctx, batch)
		ok(t, err)
		equal(t, len(res), len(batch), "results")
		return res
	}
	codeOf := func(err error) proto.Code {
		if pe, isPE := err.(*proto.Error); isPE {
			return pe.Code
		}
		return 0
	}

	t.Run("append/p2p created on first send, contiguous seqs", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		res := appendOK(t, s, text("alice", ab, "1"), text("bob", ab, "1"), text("alice", ab, "2"))
		for i, r := range res {
			if r.Err != nil {
				t.Fatalf("item %d: %v", i, r.Err)
			}
			equal(t, r.Message.Seq, uint64(i+1), "seq")
			equal(t, r.Members, []string{"alice", "bob"}, "members")
			equal(t, r.Duplicate, false, "duplicate")
		}
		equal(t, res[1].Message, proto.Message{ConvID: ab, Seq: 2, Sender: "bob", ClientID: "1", MsgType: proto.MsgText,
			Text: "1", CreatedAt: 1000, Device: "dev"}, "stored message")
		res = appendOK(t, s, text("bob", ab, "2"))
		equal(t, res[0].Message.Seq, uint64(4), "seq across batches")
	})

	t.Run("append/dedup within and across batches", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		first := appendOK(t, s, text("alice", ab, "x"))[0]
		retry := text("alice", ab, "x")
		retry.CreatedAt = 2000
		retry.Send.Text = "changed"
		res := appendOK(t, s, retry, text("alice", ab, "y"), retry, text("alice", ab, "y"))
		equal(t, res[0], AppendResult{Message: first.Message, Duplicate: true}, "retry across batches")
		equal(t, res[1].Message.Seq, uint64(2), "new message")
		equal(t, res[2].Duplicate, true, "retry again")
		equal(t, res[3], AppendResult{Message: res[1].Message, Duplicate: true}, "racing duplicate within a batch")
		other := text("alice", proto.P2PID("alice", "carol"), "x")
		if samePartition(s, ab, other.Send.ConvID) {
			equal(t, appendOK(t, s, other)[0].Err.Code, proto.CodeConflict, "client id used for another conversation")
		} else {
			// A client id is deduplicated within its conversation's
			// partition: there, it is a new message.
			r := appendOK(t, s, other)[0]
			equal(t, [3]any{r.Err, r.Duplicate, r.Message.Seq}, [3]any{(*proto.Error)(nil), false, uint64(1)}, "client id used for a conversation of another partition")
			equal(t, appendOK(t, s, other)[0].Duplicate, true, "and again, in that conversation")
		}
		p, err := s.History(ctx, "alice", proto.History{ConvID: ab, Limit: 10})
		ok(t, err)
		equal(t, len(p.Messages), 2, "stored once each")
	})

	t.Run("append/authorisation", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		_, _, err := s.CreateGroup(ctx, GroupSpec{ID: "g:team", Creator: "alice", Members: []string{"alice", "bob"}, CreatedAt: 5})
		ok(t, err)
		res := appendOK(t, s,
			text("carol", ab, "1"),       // not a party
			text("carol", "g:team", "2"), // not a member
			text("alice", "g:none", "3"), // no such group
			text("bob", "g:team", "4"),   // fine
		)
		equal(t, res[0].Err.Code, proto.CodeForbidden, "p2p of others")
		equal(t, res[1].Err.Code, proto.CodeForbidden, "group non-member")
		equal(t, res[2].Err.Code, proto.CodeForbidden, "unknown group")
		if res[3].Err != nil {
			t.Fatal(res[3].Err)
		}
		equal(t, res[3].Message.Seq, uint64(1), "first group seq")
		equal(t, res[3].Members, []string{"alice", "bob"}, "group members")
		// A refused client id is not spent.
		equal(t, appendOK(t, s, text("carol", proto.P2PID("bob", "carol"), "1"))[0].Message.Seq, uint64(1), "refused id reusable")
	})

	t.Run("sync/changed conversations in change order", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ac := proto.P2PID("alice", "carol")
		appendOK(t, s, text("alice", ab, "1"), text("alice", ac, "2"), text("alice", ab, "3"))
		convs, more, err := s.Sync(ctx, "alice", 0, 10)
		ok(t, err)
		equal(t, more, false, "more")
		equal(t, len(convs), 2, "conversations")
		cursor := convs[1].Version
		if !samePartition(s, ab, ac) && convs[0].ID == ab {
			// Conversations of different partitions are listed in the
			// order of their positions, which follows the order of
			// commits only within a partition.
			convs[0], convs[1] = convs[1], convs[0]
		}
		equal(t, [2]string{convs[0].ID, convs[1].ID}, [2]string{ac, ab}, "change order: ab changed last")
		equal(t, convs[1].LastSeq, uint64(2), "last seq")
		equal(t, convs[1].LastMessage.ClientID, "3", "last message")
		equal(t, convs[1].Members, []string(nil), "p2p carries no member list")
		if convs[0].Version == convs[1].Version || max(convs[0].Version, convs[1].Version) != cursor {
			t.Fatalf("versions %d, %d: not distinct, or the cursor %d not the last", convs[0].Version, convs[1].Version, cursor)
		}

		none, _, err := s.Sync(ctx, "alice", cursor, 10)
		ok(t, err)
		equal(t, len(none), 0, "nothing after cursor")

		// bob's read changes bob's state, and in a p2p conversation
		// alice's view of bob's cursor (peerReadSeq), nothing else of hers.
		c, moved, err := markRead(ctx, s, "bob", ab, 1)
		ok(t, err)
		equal(t, [2]any{moved, c.ReadSeq}, [2]any{true, uint64(1)}, "bob read")
		peer, _, err := s.Sync(ctx, "alice", cursor, 10)
		ok(t, err)
		equal(t, len(peer), 1, "bob's read is alice's peer cursor")
		equal(t, [3]uint64{peer[0].PeerReadSeq, peer[0].ReadSeq, peer[0].LastSeq}, [3]uint64{1, 2, 2}, "alice's view after bob read")
		bobs, _, err := s.Sync(ctx, "bob", 0, 10)
		ok(t, err)
		equal(t, len(bobs), 1, "bob's conversations")
		equal(t, bobs[0].ReadSeq, uint64(1), "bob's read seq")

		// Limit and more.
		page, more, err := s.Sync(ctx, "alice", 0, 1)
		ok(t, err)
		equal(t, [2]any{len(page), more}, [2]any{1, true}, "capped page")
		_, _, err = s.Sync(ctx, "nobody", 0, 10)
		ok(t, err)
	})

	t.Run("sync/group members and creation", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		spec := GroupSpec{ID: "g:g1", Name: "G", Creator: "alice", Members: []string{"alice", "bob", "carol"}, CreatedAt: 7}
		g, created, err := s.CreateGroup(ctx, spec)
		ok(t, err)
		equal(t, created, true, "created")
		equal(t, g, proto.Conversation{ID: "g:g1", Kind: proto.KindGroup, Name: "G", Members: spec.Members, Version: g.Version, CreatedAt: 7,
			Role: proto.RoleOwner, JoinPolicy: proto.JoinInvite}, "view")
		convs, _, err := s.Sync(ctx, "carol", 0, 10)
		ok(t, err)
		carols := g
		carols.Role = proto.RoleMember
		equal(t, convs, []proto.Conversation{carols}, "member sees the new group")
		again, created, err := s.CreateGroup(ctx, spec)
		ok(t, err)
		equal(t, [2]any{again, created}, [2]any{g, false}, "idempotent")
		bad := spec
		bad.Members = []string{"alice", "bob"}
		_, _, err = s.CreateGroup(ctx, bad)
		equal(t, codeOf(err), proto.CodeConflict, "other members")
		bad = spec
		bad.Creator = "bob"
		_, _, err = s.CreateGroup(ctx, bad)
		equal(t, codeOf(err), proto.CodeConflict, "other creator")
	})

	t.Run("read/cursor never moves back or past the end", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		appendOK(t, s, text("alice", ab, "1"), text("alice", ab, "2"), text("alice", ab, "3"))
		steps := []struct {
			seq   uint64
			want  uint64
			moved bool
		}{{2, 2, true}, {1, 2, false}, {9, 3, true}, {3, 3, false}}
		for _, st := range steps {
			c, moved, err := markRead(ctx, s, "bob", ab, st.seq)
			ok(t, err)
			equal(t, [2]any{c.ReadSeq, moved}, [2]any{st.want, st.moved}, fmt.Sprintf("read %d", st.seq))
		}
		_, _, err := markRead(ctx, s, "carol", ab, 1)
		equal(t, codeOf(err), proto.CodeForbidden, "not a party")
		_, _, err = markRead(ctx, s, "alice", "g:none", 1)
		equal(t, codeOf(err), proto.CodeForbidden, "unknown group")
		_, moved, err := markRead(ctx, s, "alice", proto.P2PID("alice", "zed"), 1)
		ok(t, err)
		equal(t, moved, false, "p2p without messages")
	})

	t.Run("read/a batch of marks in one call", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		appendOK(t, s, text("alice", ab, "1"), text("alice", ab, "2"), text("alice", ab, "3"))
		before, _, err := s.Sync(ctx, "alice", 0, 10)
		ok(t, err)
		res, err := s.MarkReads(ctx, []ReadMark{
			{User: "bob", Conv: ab, Seq: 1},
			{User: "carol", Conv: ab, Seq: 1},
			{User: "bob", Conv: ab, Seq: 2}, // moves on from the first mark
			{User: "bob", Conv: ab, Seq: 1}, // never back
			{User: "alice", Conv: proto.P2PID("alice", "zed"), Seq: 1},
			{User: "alice", Conv: ab, Seq: 3}, // her own messages: read already
		})
		ok(t, err)
		equal(t, len(res), 6, "one result per mark")
		equal(t, codeOf(res[1].Err), proto.CodeForbidden, "carol is no party")
		// A mark's view may show a later mark of the same cursor.
		equal(t, [3]any{res[0].Err == nil, res[0].Moved, res[0].Conv.ReadSeq >= 1}, [3]any{true, true, true}, "mark 0")
		for i, want := range map[int]struct {
			moved bool
			read  uint64
		}{2: {true, 2}, 3: {false, 2}, 5: {false, 3}} {
			equal(t, [3]any{res[i].Err == nil, res[i].Moved, res[i].Conv.ReadSeq}, [3]any{true, want.moved, want.read}, fmt.Sprintf("mark %d", i))
		}
		equal(t, [2]any{res[4].Err == nil, res[4].Moved}, [2]any{true, false}, "p2p without messages")
		for _, u := range []string{"alice", "bob"} {
			convs, _, err := s.Sync(ctx, u, before[0].Version, 10)
			ok(t, err)
			equal(t, len(convs), 1, u+" syncs the change")
		}
		convs, _, err := s.Sync(ctx, "alice", 0, 10)
		ok(t, err)
		equal(t, [2]any{convs[0].ReadSeq, convs[0].PeerReadSeq}, [2]any{uint64(3), uint64(2)}, "alice's cursor, and bob's as alice sees it")
		res, err = s.MarkReads(ctx, nil)
		ok(t, err)
		equal(t, len(res), 0, "an empty batch")
	})

	t.Run("read/own messages advance the sender's cursor", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		appendOK(t, s, text("bob", ab, "1"), text("alice", ab, "2"), text("bob", ab, "3"))
		for _, tc := range []struct {
			user string
			read uint64
		}{{"alice", 2}, {"bob", 3}} {
			convs, _, err := s.Sync(ctx, tc.user, 0, 10)
			ok(t, err)
			equal(t, len(convs), 1, "conversations")
			equal(t, convs[0].ReadSeq, tc.read, tc.user+"'s read cursor")
		}
		// Each side's cursor, as the other sees it and as receipts and
		// reads find it.
		for _, tc := range []struct {
			user       string
			read, peer uint64
		}{{"alice", 2, 3}, {"bob", 3, 2}} {
			convs, _, err := s.Sync(ctx, tc.user, 0, 10)
			ok(t, err)
			equal(t, [2]uint64{convs[0].ReadSeq, convs[0].PeerReadSeq}, [2]uint64{tc.read, tc.peer}, tc.user+"'s view")
			c, moved, err := markRead(ctx, s, tc.user, ab, 1)
			ok(t, err)
			equal(t, [3]any{moved, c.ReadSeq, c.PeerReadSeq}, [3]any{false, tc.read, tc.peer}, tc.user+" reads back")
		}
		if rr, isRR := s.(ReceiptReader); isRR {
			read, unread, err := rr.Receipts(ctx, "bob", ab, 3)
			ok(t, err)
			equal(t, [2][]string{read, unread}, [2][]string{{}, {"alice"}}, "receipts of 3")
			read, unread, err = rr.Receipts(ctx, "bob", ab, 2)
			ok(t, err)
			equal(t, [2][]string{read, unread}, [2][]string{{"alice"}, {}}, "receipts of 2")
		}
		// A cursor marked past a member's own messages stays, and the
		// next own message moves it on.
		c, moved, err := markRead(ctx, s, "alice", ab, 3)
		ok(t, err)
		equal(t, [2]any{moved, c.ReadSeq}, [2]any{true, uint64(3)}, "alice reads 3")
		appendOK(t, s, text("bob", ab, "4"))
		appendOK(t, s, text("alice", ab, "5"), text("alice", ab, "6"))
		for _, tc := range []struct {
			user       string
			read, peer uint64
		}{{"alice", 6, 4}, {"bob", 4, 6}} {
			convs, _, err := s.Sync(ctx, tc.user, 0, 10)
			ok(t, err)
			equal(t, [2]uint64{convs[0].ReadSeq, convs[0].PeerReadSeq}, [2]uint64{tc.read, tc.peer}, tc.user+"'s view at 6")
		}
	})

	t.Run("history/pages and authorisation", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		var batch []AppendRequest
		for k := range 7 {
			batch = append(batch, text("alice", ab, fmt.Sprint(k)))
		}
		appendOK(t, s, batch...)
		seqs := func(p proto.HistoryPage) []uint64 {
			out := []uint64{}
			for _, m := range p.Messages {
				out = append(out, m.Seq)
			}
			return out
		}
		for _, c := range []struct {
			q    proto.History
			want []uint64
			more bool
		}{
			{proto.History{After: 0, Limit: 3}, []uint64{1, 2, 3}, true},
			{proto.History{After: 5, Limit: 3}, []uint64{6, 7}, false},
			{proto.History{Before: 8, Limit: 3}, []uint64{5, 6, 7}, true},
			{proto.History{Before: 3, Limit: 3}, []uint64{1, 2}, false},
			{proto.History{After: 2, Before: 6, Limit: 2}, []uint64{4, 5}, true},
			{proto.History{After: 7, Limit: 3}, []uint64{}, false},
		} {
			c.q.ConvID = ab
			p, err := s.History(ctx, "bob", c.q)
			ok(t, err)
			equal(t, [2]any{seqs(p), p.More}, [2]any{c.want, c.more}, fmt.Sprintf("%+v", c.q))
			equal(t, p.LastSeq, uint64(7), "last seq")
		}
		_, err := s.History(ctx, "carol", proto.History{ConvID: ab, Limit: 3})
		equal(t, codeOf(err), proto.CodeForbidden, "not a party")
		_, err = s.History(ctx, "carol", proto.History{ConvID: "g:none", Limit: 3})
		equal(t, codeOf(err), proto.CodeForbidden, "unknown group")
		p, err := s.History(ctx, "carol", proto.History{ConvID: proto.P2PID("carol", "dave"), Limit: 3})
		ok(t, err)
		equal(t, len(p.Messages), 0, "p2p without messages")
	})

	t.Run("custom body round trips", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		req := AppendRequest{Sender: "alice", CreatedAt: 3, Send: proto.Send{ConvID: ab, ClientID: "b", MsgType: proto.MsgCustom, Body: []byte{0, 1, 2}}}
		appendOK(t, s, req)
		p, err := s.History(ctx, "alice", proto.History{ConvID: ab, Limit: 1})
		ok(t, err)
		equal(t, p.Messages[0].Body, []byte{0, 1, 2}, "body")
		equal(t, appendOK(t, s, req)[0].Message.Body, []byte{0, 1, 2}, "duplicate's body")
	})

	t.Run("append/a message writes the same few rows whatever the group size", func(t *testing.T) {
		t.Parallel()
		testStoreRowWrites(t, open)
	})

	t.Run("sync/devices paging at random never skip a change or a member list", func(t *testing.T) {
		t.Parallel()
		testStoreSyncFollowers(t, open)
	})

	t.Run("sync/a group listed early for its member list is listed again", func(t *testing.T) {
		t.Parallel()
		testStoreSyncListedAgain(t, open)
	})

	t.Run("lifecycle", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		if s.Epoch() == "" {
			t.Fatal("empty epoch")
		}
		ok(t, s.Ping(ctx))
		ok(t, s.Close())
		if err := s.Ping(ctx); err == nil {
			t.Fatal("ping after close")
		}
		if _, err := s.Append(ctx, []AppendRequest{text("alice", ab, "1")}); err == nil {
			t.Fatal("append after close")
		}
	})

	testStoreLongConversation(t, open) // store_suite_test.go
	testStoreByteBudget(t, open)       // store_suite_test.go
	testStoreHugeCursors(t, open)      // store_suite_test.go
	testStoreNonMembers(t, open)
	testStoreKeyedCreate(t, open)  // store_groupkey_test.go
	testStoreLifecycle(t, open)    // store_lifecycle_test.go
	testStoreGroups(t, open)       // store_group_test.go
	testStoreGroupCreated(t, open) // store_group_created_test.go
	testStoreGroupFeed(t, open)    // store_group_feed_test.go
	testStoreBlobReleases(t, open) // store_blob_release_test.go
	testStoreSpans(t, open)        // store_spans_test.go
	testStorePresence(t, open)     // store_presence_test.go
	testStoreFeed(t, open)         // contacts_test.go
	testStoreRevocations(t, open)  // sessions_test.go
	testStoreBans(t, open)         // store_ban_test.go
	testStoreUploads(t, open)      // store_uploads_test.go
}

func TestMemoryStore(t *testing.T) {
	t.Parallel()
	testStore(t, func(t *testing.T) Store {
		s := NewMemoryStore()
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestSQLiteStore(t *testing.T) {
	t.Parallel()
	testStore(t, openSuiteSQLite) // a file natively, a Durable Object's storage under js/wasm
}

// TestSQLiteReopen: data, epoch and the change counter survive a restart.
// Natively the database is a file reopened at its path; under js/wasm it is
// a Durable Object's storage opened again, as the Workers relay reopens it
// after an eviction.
func TestSQLiteReopen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	open := sqliteReopener(t)
	s := open()
	ab := proto.P2PID("alice", "bob")
	res, err := s.Append(ctx, []AppendRequest{{Sender: "alice", CreatedAt: 1, Send: proto.Send{ConvID: ab, ClientID: "1", MsgType: proto.MsgText, Text: "x"}}})
	ok(t, err)
	convs, _, err := s.Sync(ctx, "alice", 0, 10)
	ok(t, err)
	cursor, epoch := convs[0].Version, s.Epoch()
	ok(t, s.Close())

	s = open()
	equal(t, s.Epoch(), epoch, "epoch kept")
	again, err := s.Append(ctx, []AppendRequest{{Sender: "alice", CreatedAt: 2, Send: proto.Send{ConvID: ab, ClientID: "1", MsgType: proto.MsgText, Text: "x"}}})
	ok(t, err)
	equal(t, again[0], AppendResult{Message: res[0].Message, Duplicate: true}, "dedup across restarts")
	_, err = s.Append(ctx, []AppendRequest{{Sender: "bob", CreatedAt: 3, Send: proto.Send{ConvID: ab, ClientID: "1", MsgType: proto.MsgText, Text: "y"}}})
	ok(t, err)
	convs, _, err = s.Sync(ctx, "alice", cursor, 10)
	ok(t, err)
	equal(t, len(convs), 1, "change after restart is after the old cursor")
	ok(t, s.Close())

	other := sqliteReopener(t)()
	if other.Epoch() == epoch {
		t.Fatal("a new database has the same epoch")
	}
}

// markRead moves one read cursor, alone in a batch, as MarkRead did before
// the stores took batches: the user's view, whether it moved, or the
// refusal.
func markRead(ctx context.Context, s ConvWriter, user, conv string, seq uint64) (proto.Conversation, bool, error) {
	res, err := s.MarkReads(ctx, []ReadMark{{User: user, Conv: conv, Seq: seq}})
	if err != nil {
		return proto.Conversation{}, false, err
	}
	if res[0].Err != nil {
		return proto.Conversation{}, false, res[0].Err
	}
	return res[0].Conv, res[0].Moved, nil
}

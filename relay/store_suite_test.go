package relay

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/parley-im/parley/proto"
)

// This file adds to the conformance suite of store_test.go, run against the
// memory store, SQLite and PostgreSQL: conversations far longer than a batch
// or a page, and users who are not members of a group.

// storeCode returns the code of a *proto.Error, 0 for anything else.
func storeCode(err error) proto.Code {
	var pe *proto.Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	return 0
}

// testStoreLongConversation writes 300 messages into one p2p conversation
// (and 100 into a group, interleaved) in batches of uneven sizes whose
// boundaries fall on both sides of 64 and 128, then checks that the seqs are
// 1..n without a gap, that history pages forwards and backwards give back
// exactly what was sent, and that sync reports the last seq and message.
func testStoreLongConversation(t *testing.T, open func(t *testing.T) Store) {
	t.Run("append/300 messages in one conversation, seqs 1..n", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		s := open(t)
		ab, group := proto.P2PID("alice", "bob"), "g:long"
		_, _, err := s.CreateGroup(ctx, GroupSpec{ID: group, Name: "long", Creator: "alice", Members: []string{"alice", "bob", "carol"}, CreatedAt: 1})
		ok(t, err)
		type sent struct{ sender, text string }
		want := map[string][]sent{}
		senders := []string{"alice", "bob", "carol"}
		next := map[string]uint64{}
		i := 0
		for _, size := range []int{1, 62, 1, 1, 64, 65, 100, 6} { // 300 in all
			var batch []AppendRequest
			for range size {
				sender := senders[i%2]
				batch = append(batch, AppendRequest{Sender: sender, Device: "d", CreatedAt: int64(1000 + i),
					Send: proto.Send{ConvID: ab, ClientID: fmt.Sprintf("ab%d", i), MsgType: proto.MsgText, Text: fmt.Sprintf("ab #%d", i)}})
				want[ab] = append(want[ab], sent{sender, fmt.Sprintf("ab #%d", i)})
				if i%3 == 0 {
					sender := senders[i/3%3] // alice, bob and carol take turns
					batch = append(batch, AppendRequest{Sender: sender, Device: "d", CreatedAt: int64(1000 + i),
						Send: proto.Send{ConvID: group, ClientID: fmt.Sprintf("g%d", i), MsgType: proto.MsgText, Text: fmt.Sprintf("g #%d", i)}})
					want[group] = append(want[group], sent{sender, fmt.Sprintf("g #%d", i)})
				}
				i++
			}
			res, err := s.Append(ctx, batch)
			ok(t, err)
			equal(t, len(res), len(batch), "results")
			for k, r := range res {
				if r.Err != nil || r.Duplicate {
					t.Fatalf("item %d of a batch of %d: %+v", k, len(batch), r)
				}
				conv := batch[k].Send.ConvID
				next[conv]++
				if r.Message.Seq != next[conv] {
					t.Fatalf("%s: message %d got seq %d: the seqs skip or repeat (batch of %d)", conv, next[conv], r.Message.Seq, len(batch))
				}
			}
		}
		equal(t, [2]int{len(want[ab]), len(want[group])}, [2]int{300, 100}, "messages sent")

		for conv, sentTo := range want {
			check := func(what string, msgs []proto.Message) {
				t.Helper()
				equal(t, len(msgs), len(sentTo), what+": messages")
				for k, m := range msgs {
					if m.Seq != uint64(k+1) || m.ConvID != conv || m.Sender != sentTo[k].sender || m.Text != sentTo[k].text {
						t.Fatalf("%s %s: message %d is {seq %d %s %q}, want {seq %d %s %q}", what, conv, k, m.Seq, m.Sender, m.Text, k+1, sentTo[k].sender, sentTo[k].text)
					}
				}
			}
			// Forwards, 64 at a time.
			var fwd []proto.Message
			for after := uint64(0); ; {
				p, err := s.History(ctx, "bob", proto.History{ConvID: conv, After: after, Limit: 64})
				ok(t, err)
				equal(t, p.LastSeq, uint64(len(sentTo)), conv+" page's last seq")
				fwd = append(fwd, p.Messages...)
				if !p.More {
					break
				}
				if len(p.Messages) != 64 || len(fwd) > len(sentTo) {
					t.Fatalf("%s: a page of %d with more after %d", conv, len(p.Messages), after)
				}
				after = p.Messages[len(p.Messages)-1].Seq
			}
			check("history forwards", fwd)
			// Backwards from the end, 100 at a time.
			var back []proto.Message
			for before := uint64(len(sentTo) + 1); ; {
				p, err := s.History(ctx, "bob", proto.History{ConvID: conv, Before: before, Limit: 100})
				ok(t, err)
				back = append(slices.Clone(p.Messages), back...)
				if !p.More {
					break
				}
				if len(p.Messages) != 100 || len(back) > len(sentTo) {
					t.Fatalf("%s: a page of %d with more before %d", conv, len(p.Messages), before)
				}
				before = p.Messages[0].Seq
			}
			check("history backwards", back)
		}

		for _, user := range []string{"alice", "bob", "carol"} {
			// A sync may list a group early (where its member list
			// changed) and again at its latest change: page to the end and
			// keep each conversation's latest listing.
			latest := map[string]proto.Conversation{}
			for cursor, more := uint64(0), true; more; {
				var convs []proto.Conversation
				var err error
				convs, more, err = s.Sync(ctx, user, cursor, 10)
				ok(t, err)
				for _, c := range convs {
					latest[c.ID] = c
					cursor = max(cursor, c.Version)
				}
			}
			last := map[string]uint64{}
			for _, c := range latest {
				last[c.ID] = c.LastSeq
				if c.LastMessage == nil || c.LastMessage.Seq != c.LastSeq || c.LastMessage.Text != want[c.ID][len(want[c.ID])-1].text {
					t.Fatalf("%s's sync: %s last seq %d, last message %+v", user, c.ID, c.LastSeq, c.LastMessage)
				}
			}
			wantLast := map[string]uint64{ab: 300, group: 100}
			if user == "carol" {
				delete(wantLast, ab)
			}
			equal(t, last, wantLast, user+"'s sync: last seqs")
		}
		c, moved, err := markRead(ctx, s, "alice", ab, 1000) // bob sent the last one
		ok(t, err)
		equal(t, [2]any{c.ReadSeq, moved}, [2]any{uint64(300), true}, "read to the end")
		res, err := s.Append(ctx, []AppendRequest{textRequest("alice", ab, "after")})
		ok(t, err)
		equal(t, res[0].Message.Seq, uint64(301), "the next seq")
	})
}

func textRequest(sender, conv, clientID string) AppendRequest {
	return AppendRequest{Sender: sender, Device: "dev", CreatedAt: 1000,
		Send: proto.Send{ConvID: conv, ClientID: clientID, MsgType: proto.MsgText, Text: clientID}}
}

// testStoreNonMembers checks that a user outside a group can neither read,
// mark read, write nor even see it, and that trying changes nothing anyone
// else can observe.
func testStoreNonMembers(t *testing.T, open func(t *testing.T) Store) {
	t.Run("authorisation/a group non-member reads, marks and writes nothing", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		s := open(t)
		group := "g:team"
		_, _, err := s.CreateGroup(ctx, GroupSpec{ID: group, Name: "team", Creator: "alice", Members: []string{"alice", "bob"}, CreatedAt: 5})
		ok(t, err)
		members, err := s.Members(ctx, group)
		ok(t, err)
		equal(t, members, []string{"alice", "bob"}, "members of the group")
		members, err = s.Members(ctx, "g:nothing")
		ok(t, err)
		equal(t, members, []string(nil), "members of no group")
		var batch []AppendRequest
		for k := range 5 {
			batch = append(batch, textRequest([]string{"alice", "bob"}[k%2], group, fmt.Sprint("m", k)))
		}
		batch = append(batch, textRequest("alice", proto.P2PID("alice", "carol"), "to carol"))
		_, err = s.Append(ctx, batch)
		ok(t, err)
		_, _, err = markRead(ctx, s, "bob", group, 2)
		ok(t, err)
		// What the members see before carol tries anything.
		state := func() map[string][]proto.Conversation {
			out := map[string][]proto.Conversation{}
			for _, u := range []string{"alice", "bob"} {
				convs, _, err := s.Sync(ctx, u, 0, 100)
				ok(t, err)
				out[u] = convs
			}
			return out
		}
		before := state()

		for _, q := range []proto.History{
			{ConvID: group, Limit: 10},
			{ConvID: group, After: 2, Limit: 10},
			{ConvID: group, Before: 4, Limit: 10},
			{ConvID: group, Before: ^uint64(0), Limit: 10},
		} {
			p, err := s.History(ctx, "carol", q)
			equal(t, storeCode(err), proto.CodeForbidden, fmt.Sprintf("history %+v by a non-member", q))
			equal(t, len(p.Messages), 0, "messages handed to a non-member")
		}
		for _, seq := range []uint64{0, 3, 5, 99} {
			_, moved, err := markRead(ctx, s, "carol", group, seq)
			equal(t, storeCode(err), proto.CodeForbidden, fmt.Sprintf("mark read %d by a non-member", seq))
			equal(t, moved, false, "a non-member's cursor moved")
		}
		res, err := s.Append(ctx, []AppendRequest{textRequest("carol", group, "intrude"), textRequest("carol", group, "intrude again")})
		ok(t, err)
		for _, r := range res {
			if r.Err == nil || r.Err.Code != proto.CodeForbidden || r.Message.Seq != 0 || r.Members != nil {
				t.Fatalf("append by a non-member: %+v", r)
			}
		}
		convs, _, err := s.Sync(ctx, "carol", 0, 100)
		ok(t, err)
		for _, c := range convs {
			if c.ID == group {
				t.Fatalf("a non-member's sync shows the group: %+v", c)
			}
		}
		equal(t, len(convs), 1, "carol's conversations (her p2p with alice)")

		equal(t, state(), before, "the members' view after a non-member's attempts")
		p, err := s.History(ctx, "alice", proto.History{ConvID: group, Limit: 10})
		ok(t, err)
		equal(t, [2]any{len(p.Messages), p.LastSeq}, [2]any{5, uint64(5)}, "the group's messages")
		// The refused client id is not spent: carol may use it elsewhere.
		res, err = s.Append(ctx, []AppendRequest{textRequest("carol", proto.P2PID("alice", "carol"), "intrude")})
		ok(t, err)
		equal(t, [3]any{res[0].Err == nil, res[0].Duplicate, res[0].Message.Seq}, [3]any{true, false, uint64(2)}, "carol's refused client id reused")
	})
}

// messageCounter is what every store counts for testStoreByteBudget: the
// messages whose contents History read.
type messageCounter interface{ messagesRead() uint64 }

// testStoreByteBudget pages through large messages: every History and Sync
// page stops at pageByteBudget (one item at least), paging visits every
// message exactly once, and the messages History reads in all are the ones
// it returns plus at most one a page — linear, where reading a whole page
// of limit rows and cutting it afterwards was quadratic.
func testStoreByteBudget(t *testing.T, open func(t *testing.T) Store) {
	t.Run("paging/large messages cost linear reads, pages within the byte budget", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		s := open(t)
		const n = 60
		big := make([]byte, 20<<10)
		conv := proto.P2PID("alice", "bob")
		var batch []AppendRequest
		for i := range n {
			batch = append(batch, AppendRequest{Sender: "alice", Device: "d", CreatedAt: int64(i),
				Send: proto.Send{ConvID: conv, ClientID: fmt.Sprint("m", i), MsgType: proto.MsgCustom, Body: big}})
		}
		// Thirty more conversations, each with a large last message.
		for i := range 30 {
			batch = append(batch, AppendRequest{Sender: "alice", Device: "d", CreatedAt: int64(n + i),
				Send: proto.Send{ConvID: proto.P2PID("alice", fmt.Sprint("u", i)), ClientID: fmt.Sprint("o", i), MsgType: proto.MsgCustom, Body: big}})
		}
		_, err := s.Append(ctx, batch)
		ok(t, err)
		counter, isCounter := s.(messageCounter)
		if !isCounter {
			t.Fatalf("%T does not count the messages History reads", s)
		}
		pageBytes := func(msgs []proto.Message) int {
			b := 0
			for _, m := range msgs {
				b += messageCost(len(m.Text), len(m.Body))
			}
			return b
		}
		for _, backwards := range []bool{false, true} {
			before := counter.messagesRead()
			var seen []uint64
			pages := 0
			q := proto.History{ConvID: conv, Limit: proto.MaxPageLimit}
			if backwards {
				q.Before = n + 1
			}
			for {
				page, err := s.History(ctx, "bob", q)
				ok(t, err)
				pages++
				if len(page.Messages) == 0 {
					t.Fatalf("backwards %v: an empty page %d", backwards, pages)
				}
				if len(page.Messages) > 1 && pageBytes(page.Messages) > pageByteBudget {
					t.Fatalf("backwards %v: page of %d bytes above the budget %d", backwards, pageBytes(page.Messages), pageByteBudget)
				}
				for _, m := range page.Messages {
					seen = append(seen, m.Seq)
				}
				if !page.More {
					break
				}
				if backwards {
					q.Before = page.Messages[0].Seq
				} else {
					q.After = page.Messages[len(page.Messages)-1].Seq
				}
			}
			slices.Sort(seen) // a duplicate or a gap still shows
			want := make([]uint64, n)
			for i := range want {
				want[i] = uint64(i + 1)
			}
			equal(t, seen, want, fmt.Sprintf("backwards %v: seqs paged", backwards))
			if pages < n/4 {
				t.Fatalf("backwards %v: %d pages for %d messages of 20 KiB: the budget did not cut them", backwards, pages, n)
			}
			read := counter.messagesRead() - before
			if read > uint64(n+pages) {
				t.Fatalf("backwards %v: read %d messages to return %d in %d pages", backwards, read, n, pages)
			}
			t.Logf("backwards %v: %d messages of 20 KiB in %d pages, %d read", backwards, n, pages, read)
		}

		// Sync: alice's 31 conversations, each with a large last message.
		var cursor uint64
		listed := map[string]bool{}
		for pages := 0; ; pages++ {
			if pages > 100 {
				t.Fatal("sync never ended")
			}
			convs, more, err := s.Sync(ctx, "alice", cursor, proto.MaxPageLimit)
			ok(t, err)
			var msgs []proto.Message
			for _, c := range convs {
				listed[c.ID] = true
				if c.LastMessage == nil || len(c.LastMessage.Body) != len(big) {
					t.Fatalf("sync: %s without its last message", c.ID)
				}
				msgs = append(msgs, *c.LastMessage)
			}
			if len(convs) > 1 && pageBytes(msgs) > pageByteBudget {
				t.Fatalf("sync page of %d bytes of last messages above the budget", pageBytes(msgs))
			}
			if len(convs) > 0 {
				cursor = convs[len(convs)-1].Version
			}
			if !more {
				break
			}
		}
		equal(t, len(listed), 31, "conversations synced")
	})
}

// testStoreHugeCursors: cursors and seqs from the wire are uint64; a store
// whose integers are signed clamps them instead of wrapping to negative
// numbers (which made "after 2^63" read from the start).
func testStoreHugeCursors(t *testing.T, open func(t *testing.T) Store) {
	t.Run("cursors/at and above 2^63 are clamped, not wrapped", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		s := open(t)
		conv := proto.P2PID("alice", "bob")
		var batch []AppendRequest
		for i := range 3 {
			batch = append(batch, AppendRequest{Sender: "alice", Device: "d", CreatedAt: int64(i),
				Send: proto.Send{ConvID: conv, ClientID: fmt.Sprint(i), MsgType: proto.MsgText, Text: "x"}})
		}
		_, err := s.Append(ctx, batch)
		ok(t, err)
		for _, huge := range []uint64{1 << 63, 1<<64 - 1} {
			page, err := s.History(ctx, "bob", proto.History{ConvID: conv, After: huge, Limit: 10})
			ok(t, err)
			equal(t, len(page.Messages), 0, fmt.Sprintf("history after %d", huge))
			page, err = s.History(ctx, "bob", proto.History{ConvID: conv, Before: huge, Limit: 10})
			ok(t, err)
			equal(t, len(page.Messages), 3, fmt.Sprintf("history before %d", huge))
			convs, more, err := s.Sync(ctx, "bob", huge, 10)
			ok(t, err)
			equal(t, [2]any{len(convs), more}, [2]any{0, false}, fmt.Sprintf("sync after %d", huge))
			c, _, err := markRead(ctx, s, "bob", conv, huge)
			ok(t, err)
			equal(t, c.ReadSeq, uint64(3), fmt.Sprintf("read up to %d", huge))
		}
	})
}

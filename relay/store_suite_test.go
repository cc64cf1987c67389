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
		c, moved, err := s.MarkRead(ctx, "alice", ab, 1000) // bob sent the last one
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
		_, _, err = s.MarkRead(ctx, "bob", group, 2)
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
			_, moved, err := s.MarkRead(ctx, "carol", group, seq)
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

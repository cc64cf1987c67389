package relay

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
)

// testStoreLifecycle is the conformance suite of the message lifecycle, run
// against every store: replies and mentions, recall, delete, edit,
// reactions and hide as ordered events that change their target, the
// refusals that change nothing, read receipts and the p2p peer's cursor.
func testStoreLifecycle(t *testing.T, open func(t *testing.T) Store) {
	const window = 2 * time.Minute
	ctx := context.Background()
	amend := func(sender, conv, clientID, op string, target uint64, text string, at int64) AppendRequest {
		return AppendRequest{Sender: sender, Device: "dev", CreatedAt: at, Target: target, RecallWindow: window,
			Send: proto.Send{ConvID: conv, ClientID: clientID, MsgType: op, Text: text}}
	}
	msg := func(sender, conv, clientID, text string, at int64) AppendRequest {
		return AppendRequest{Sender: sender, Device: "dev", CreatedAt: at, RecallWindow: window,
			Send: proto.Send{ConvID: conv, ClientID: clientID, MsgType: proto.MsgText, Text: text}}
	}
	appendOne := func(t *testing.T, s Store, r AppendRequest) AppendResult {
		t.Helper()
		res, err := s.Append(ctx, []AppendRequest{r})
		ok(t, err)
		return res[0]
	}
	history := func(t *testing.T, s Store, user, conv string) []proto.Message {
		t.Helper()
		p, err := s.History(ctx, user, proto.History{ConvID: conv, Limit: 100})
		ok(t, err)
		return p.Messages
	}
	// refused checks that r is refused with code and that conv's history,
	// as user sees it, is what it was.
	refused := func(t *testing.T, s Store, user, conv string, r AppendRequest, code proto.Code) {
		t.Helper()
		before := history(t, s, user, conv)
		res := appendOne(t, s, r)
		if res.Err == nil || res.Err.Code != code {
			t.Fatalf("%s %s on %d: %+v, want code %d", r.Sender, r.Send.MsgType, r.Target, res.Err, code)
		}
		if after := history(t, s, user, conv); !reflect.DeepEqual(after, before) {
			t.Fatalf("a refused %s changed the store:\n got %+v\nwant %+v", r.Send.MsgType, after, before)
		}
	}
	group := func(t *testing.T, s Store, id string) {
		_, _, err := s.CreateGroup(ctx, GroupSpec{ID: id, Name: "team", Creator: "alice",
			Members: []string{"alice", "bob", "carol"}, CreatedAt: 1})
		ok(t, err)
	}

	t.Run("lifecycle/replies and mentions are stored; a reply to no message is refused", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		g := "g:replies"
		group(t, s, g)
		appendOne(t, s, msg("alice", g, "a1", "first", 1000))
		r := msg("bob", g, "b1", "@alice yes", 2000)
		r.Send.ReplyTo, r.Send.Mentions = 1, []string{"alice", proto.MentionAll}
		res := appendOne(t, s, r)
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		h := history(t, s, "carol", g)
		equal(t, len(h), 2, "messages")
		equal(t, h[1].ReplyTo, uint64(1), "replyTo")
		equal(t, h[1].Mentions, []string{"alice", proto.MentionAll}, "mentions")
		bad := msg("bob", g, "b2", "to the future", 3000)
		bad.Send.ReplyTo = 3
		refused(t, s, "bob", g, bad, proto.CodeNoSuchMessage)
	})

	t.Run("lifecycle/recall erases the target and its edits; after the window it is refused", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ab := proto.P2PID("alice", "bob")
		appendOne(t, s, msg("alice", ab, "a1", "secret", 1000))
		appendOne(t, s, msg("alice", ab, "a2", "old", 1000))
		// bob cannot recall alice's message; alice cannot after the window
		refused(t, s, "bob", ab, amend("bob", ab, "b1", proto.MsgRecall, 1, "", 2000), proto.CodeNotSender)
		refused(t, s, "alice", ab, amend("alice", ab, "a3", proto.MsgRecall, 2, "", 1000+window.Milliseconds()+1), proto.CodeRecallWindow)
		// an edit, then a recall: the edit's text goes too
		ed := appendOne(t, s, amend("alice", ab, "a4", proto.MsgEdit, 1, "secret, edited", 5000))
		if ed.Err != nil {
			t.Fatal(ed.Err)
		}
		rc := appendOne(t, s, amend("alice", ab, "a5", proto.MsgRecall, 1, "", 1000+window.Milliseconds()))
		if rc.Err != nil {
			t.Fatal(rc.Err)
		}
		equal(t, rc.Message.Seq, uint64(4), "the recall's seq")
		equal(t, rc.Message.Target, uint64(1), "the recall's target")
		equal(t, rc.Message.MsgType, proto.MsgRecall, "the recall's type")
		h := history(t, s, "bob", ab)
		equal(t, len(h), 4, "messages")
		if !h[0].Recalled || h[0].Text != "" || h[0].EditedAt != 0 && h[0].Text != "" {
			t.Fatalf("recalled target: %+v", h[0])
		}
		if h[2].MsgType != proto.MsgEdit || h[2].Text != "" || h[2].Target != 1 {
			t.Fatalf("the edit of a recalled message keeps its text: %+v", h[2])
		}
		// nothing more happens to a recalled message
		refused(t, s, "alice", ab, amend("alice", ab, "a6", proto.MsgEdit, 1, "again", 6000), proto.CodeRecalled)
		refused(t, s, "bob", ab, amend("bob", ab, "b2", proto.MsgReact, 1, "👍", 6000), proto.CodeRecalled)
		refused(t, s, "alice", ab, amend("alice", ab, "a7", proto.MsgRecall, 1, "", 6000), proto.CodeRecalled)
		// an event is no target
		refused(t, s, "alice", ab, amend("alice", ab, "a8", proto.MsgRecall, 4, "", 6000), proto.CodeNoSuchMessage)
		// a retried recall is the same event, applied once
		dup := appendOne(t, s, amend("alice", ab, "a5", proto.MsgRecall, 1, "", 9_999_999))
		if !dup.Duplicate || dup.Message.Seq != 4 {
			t.Fatalf("retried recall: %+v", dup)
		}
		// the conversation's last message is the event
		convs, _, err := s.Sync(ctx, "bob", 0, 10)
		ok(t, err)
		equal(t, convs[0].LastSeq, uint64(4), "last seq")
	})

	t.Run("lifecycle/edit: the sender's text messages only", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		g := "g:edits"
		group(t, s, g)
		appendOne(t, s, msg("bob", g, "b1", "typo", 1000))
		appendOne(t, s, AppendRequest{Sender: "bob", Device: "dev", CreatedAt: 1000,
			Send: proto.Send{ConvID: g, ClientID: "b2", MsgType: proto.MsgCustom, Body: []byte("{}")}})
		refused(t, s, "bob", g, amend("alice", g, "a1", proto.MsgEdit, 1, "owner's words", 2000), proto.CodeNotSender)
		refused(t, s, "bob", g, amend("bob", g, "b3", proto.MsgEdit, 2, "text", 2000), proto.CodeNotEditable)
		refused(t, s, "bob", g, amend("bob", g, "b4", proto.MsgEdit, 9, "text", 2000), proto.CodeNoSuchMessage)
		res := appendOne(t, s, amend("bob", g, "b5", proto.MsgEdit, 1, "fixed", 99_000_000))
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		h := history(t, s, "carol", g)
		equal(t, h[0].Text, "fixed", "edited text")
		equal(t, h[0].EditedAt, int64(99_000_000), "editedAt")
		equal(t, h[0].Seq, uint64(1), "the seq stays")
		equal(t, h[2].Text, "fixed", "the edit event carries the text")
	})

	t.Run("lifecycle/reactions: add, repeat, withdraw; none on another conversation's message", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		g, ab := "g:reactions", proto.P2PID("alice", "bob")
		group(t, s, g)
		appendOne(t, s, msg("alice", g, "a1", "ship it?", 1000))
		appendOne(t, s, msg("alice", ab, "a2", "p1", 1000))
		appendOne(t, s, msg("alice", ab, "a3", "p2", 1000))
		// send and react in one batch: the target is stored by then
		res, err := s.Append(ctx, []AppendRequest{
			msg("carol", g, "c1", "second", 2000),
			amend("bob", g, "b1", proto.MsgReact, 2, "👍", 2001),
			amend("carol", g, "c2", proto.MsgReact, 1, "👍", 2002),
			amend("bob", g, "b2", proto.MsgReact, 1, "👍", 2003),
			amend("bob", g, "b3", proto.MsgReact, 1, "👍", 2004), // again: no change
			amend("bob", g, "b4", proto.MsgReact, 1, "🎉", 2005),
			amend("carol", g, "c3", proto.MsgUnreact, 1, "👍", 2006),
		})
		ok(t, err)
		for i, r := range res {
			if r.Err != nil {
				t.Fatalf("item %d: %v", i, r.Err)
			}
		}
		h := history(t, s, "alice", g)
		equal(t, h[0].Reactions, []proto.Reaction{{Emoji: "👍", Users: []string{"bob"}}, {Emoji: "🎉", Users: []string{"bob"}}}, "reactions on 1")
		equal(t, h[1].Reactions, []proto.Reaction{{Emoji: "👍", Users: []string{"bob"}}}, "reactions on 2")
		// g has 8 messages; seq 3 of the p2p conversation is no message of g's... but seq 9 is none at all
		refused(t, s, "alice", g, amend("bob", g, "b5", proto.MsgReact, 9, "👍", 3000), proto.CodeNoSuchMessage)
		// a p2p seq named in a group it is not a member of: refused as not a member
		refused(t, s, "alice", ab, amend("carol", ab, "c4", proto.MsgReact, 2, "👍", 3000), proto.CodeForbidden)
		// the limit of distinct emoji
		var batch []AppendRequest
		for i := range proto.MaxReactionKeys - 2 {
			batch = append(batch, amend("bob", g, "e"+string(rune('a'+i)), proto.MsgReact, 1, string(rune('a'+i)), 4000))
		}
		res, err = s.Append(ctx, batch)
		ok(t, err)
		for i, r := range res {
			if r.Err != nil {
				t.Fatalf("emoji %d: %v", i, r.Err)
			}
		}
		refused(t, s, "alice", g, amend("carol", g, "c5", proto.MsgReact, 1, "🚀", 5000), proto.CodeTooManyReactions)
		if r := appendOne(t, s, amend("carol", g, "c6", proto.MsgReact, 1, "🎉", 5000)); r.Err != nil {
			t.Fatalf("an emoji already there: %v", r.Err)
		}
	})

	t.Run("lifecycle/group roles: the owner recalls anyone's at any time, a member nobody else's", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		g := "g:roles"
		group(t, s, g)
		appendOne(t, s, msg("alice", g, "a1", "owner", 1000))
		appendOne(t, s, msg("bob", g, "b1", "member", 1000))
		refused(t, s, "alice", g, amend("bob", g, "b2", proto.MsgRecall, 1, "", 2000), proto.CodeNotSender)
		refused(t, s, "alice", g, amend("carol", g, "c1", proto.MsgDelete, 2, "", 2000), proto.CodeNotSender)
		if r := appendOne(t, s, amend("alice", g, "a2", proto.MsgDelete, 2, "", 1_000_000_000)); r.Err != nil {
			t.Fatalf("owner deletes a member's message for everyone long after: %v", r.Err)
		}
		if r := appendOne(t, s, amend("alice", g, "a3", proto.MsgRecall, 1, "", 1_000_000_000)); r.Err != nil {
			t.Fatalf("owner recalls their own message long after: %v", r.Err)
		}
		h := history(t, s, "carol", g)
		if !h[0].Recalled || !h[1].Recalled || h[1].Text != "" {
			t.Fatalf("after the owner's recalls: %+v", h[:2])
		}
		// delete for me is no event of the log: the store refuses it
		refused(t, s, "carol", g, amend("carol", g, "c2", proto.MsgHide, 1, "", 2000), proto.CodeBadRequest)
	})

	t.Run("lifecycle/delete for me is an entry of the owner's feed, nobody else's", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		g := "g:hide"
		group(t, s, g)
		appendOne(t, s, msg("bob", g, "b1", "hello", 1000))
		before := history(t, s, "bob", g)
		hide := func(user string, seq uint64) []*proto.UserEntry {
			t.Helper()
			keys := []FeedKey{{user, rules.FeedHidden, proto.MessageID(g, seq)}}
			out, err := s.UpdateFeed(ctx, keys, func(cur []proto.UserEntry) ([]*proto.UserEntry, error) {
				return []*proto.UserEntry{rules.PlanHide(cur[0], g, seq)}, nil
			})
			ok(t, err)
			return out
		}
		out := hide("alice", 1)
		if out[0] == nil || out[0].Hidden == nil || *out[0].Hidden != (proto.HideMessage{ConvID: g, Seq: 1}) || out[0].Pos == 0 {
			t.Fatalf("alice's hide wrote %+v", out[0])
		}
		if again := hide("alice", 1); again[0] != nil {
			t.Fatalf("hiding twice wrote %+v", again[0])
		}
		feed, _, err := s.Feed(ctx, "alice", 0, 100)
		ok(t, err)
		if len(feed) != 1 || !reflect.DeepEqual(feed[0], *out[0]) {
			t.Fatalf("alice's feed %+v, want her one hide", feed)
		}
		for _, other := range []string{"bob", "carol"} {
			f, _, err := s.Feed(ctx, other, 0, 100)
			ok(t, err)
			if len(f) != 0 {
				t.Fatalf("%s's feed holds %+v after alice's delete for me", other, f)
			}
			if h := history(t, s, other, g); !reflect.DeepEqual(h, before) {
				t.Fatalf("%s's history changed: %+v", other, h)
			}
		}
		got, err := s.FeedEntries(ctx, []FeedKey{{"alice", rules.FeedHidden, proto.MessageID(g, 1)}, {"bob", rules.FeedHidden, proto.MessageID(g, 1)}})
		ok(t, err)
		equal(t, got[0], *out[0], "alice's entry read back")
		equal(t, got[1], proto.UserEntry{}, "bob's: none")
	})

	t.Run("lifecycle/an attachment is in use while a message that is not recalled carries it", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		au, isAU := s.(AttachmentUser)
		if !isAU {
			t.Fatal("store cannot tell whether an attachment is in use")
		}
		g, ab := "g:attach", proto.P2PID("alice", "bob")
		group(t, s, g)
		const id, other = "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"
		img := func(conv, clientID, att string) AppendRequest {
			r := msg("alice", conv, clientID, "", 1000)
			r.Send.MsgType = proto.MsgImage
			r.Send.Body = proto.MarshalAttachment(&proto.Attachment{ID: att, Name: "named " + id + ".png", Size: 1, Mime: "image/png"})
			return r
		}
		inUse := func(att string) bool {
			t.Helper()
			used, err := au.AttachmentInUse(ctx, att)
			ok(t, err)
			return used
		}
		equal(t, inUse(id), false, "never sent")
		appendOne(t, s, img(ab, "i1", id))
		appendOne(t, s, img(g, "i2", id))
		appendOne(t, s, img(g, "i3", other)) // its name holds id's bytes: no match
		equal(t, inUse(id), true, "sent twice")
		if r := appendOne(t, s, amend("alice", ab, "r1", proto.MsgRecall, 1, "", 2000)); r.Err != nil {
			t.Fatal(r.Err)
		}
		equal(t, inUse(id), true, "one of two recalled")
		if r := appendOne(t, s, amend("alice", g, "r2", proto.MsgDelete, 1, "", 2000)); r.Err != nil {
			t.Fatal(r.Err)
		}
		equal(t, inUse(id), false, "both recalled")
		equal(t, inUse(other), true, "the other attachment")
	})

	t.Run("lifecycle/read receipts and the p2p peer's cursor", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		rr, isRR := s.(ReceiptReader)
		if !isRR {
			t.Fatal("store keeps no receipts")
		}
		g, ab := "g:receipts", proto.P2PID("alice", "bob")
		group(t, s, g)
		for i, id := range []string{"1", "2", "3"} {
			appendOne(t, s, msg("alice", g, "g"+id, id, int64(1000+i)))
			appendOne(t, s, msg("alice", ab, "p"+id, id, int64(1000+i)))
		}
		_, _, err := markRead(ctx, s, "bob", g, 3)
		ok(t, err)
		_, _, err = markRead(ctx, s, "carol", g, 2)
		ok(t, err)
		read, unread, err := rr.Receipts(ctx, "alice", g, 3)
		ok(t, err)
		equal(t, [2][]string{read, unread}, [2][]string{{"bob"}, {"carol"}}, "receipts of 3")
		read, unread, err = rr.Receipts(ctx, "alice", g, 2)
		ok(t, err)
		equal(t, [2][]string{read, unread}, [2][]string{{"bob", "carol"}, {}}, "receipts of 2")
		if _, _, err := rr.Receipts(ctx, "dave", g, 2); storeCode(err) != proto.CodeForbidden {
			t.Fatalf("a stranger's receipts: %v", err)
		}

		var cursor uint64
		for more := true; more; {
			var convs []proto.Conversation
			convs, more, err = s.Sync(ctx, "alice", cursor, 10)
			ok(t, err)
			for _, c := range convs {
				cursor = max(cursor, c.Version)
				if c.ID == ab {
					equal(t, c.PeerReadSeq, uint64(0), "peer read before")
				}
			}
		}
		conv, moved, err := markRead(ctx, s, "bob", ab, 2)
		ok(t, err)
		equal(t, moved, true, "moved")
		equal(t, conv.PeerReadSeq, uint64(3), "bob's peer (alice) read all she sent")
		convs, _, err := s.Sync(ctx, "alice", cursor, 10)
		ok(t, err)
		equal(t, len(convs), 1, "alice's sync after bob read")
		equal(t, convs[0].ID, ab, "conversation")
		equal(t, convs[0].PeerReadSeq, uint64(2), "alice sees bob's cursor")
		equal(t, convs[0].ReadSeq, uint64(3), "alice's own cursor")
	})
}

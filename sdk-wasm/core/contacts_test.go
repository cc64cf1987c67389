package core_test

import (
	"testing"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// events returns the events of kind in acts.
func events(acts []core.Action, kind core.EventKind) []core.Event {
	var out []core.Event
	for _, a := range acts {
		if a.Kind == core.ActEvent && a.Event.Kind == kind {
			out = append(out, a.Event)
		}
	}
	return out
}

// persistedAccount returns the account of the last persisted meta in acts.
func persistedAccount(t *testing.T, acts []core.Action) *core.Account {
	t.Helper()
	var a *core.Account
	for _, x := range acts {
		if x.Kind == core.ActPersist && x.Batch.Meta != nil {
			a = x.Batch.Meta.Account
		}
	}
	if a == nil {
		t.Fatal("no account persisted")
	}
	return a
}

// TestUserFeed: after the welcome the core syncs the user feed from its
// cursor, applies pages and pushes (with their events), persists what it
// learnt, moves the cursor only on pages, decorates conversations with the
// settings, and leaves muted and hidden conversations out of the total —
// until a newer message shows a hidden one again.
func TestUserFeed(t *testing.T) {
	t.Parallel()
	s := newScripted(t, core.Config{})
	ab, ac := proto.P2PID("alice", "bob"), proto.P2PID("alice", "carol")
	hello := s.open()
	acts := s.frame(proto.TypeWelcome, hello.ID, &proto.Welcome{Version: proto.Version, UserID: "alice", Epoch: "e1", HeartbeatMs: 25000})
	sync := s.one(acts, proto.TypeSync)
	feed := s.one(acts, proto.TypeUserSync)
	if c := feed.Body.(*proto.UserSync).Cursor; c != 0 {
		t.Fatalf("first feed sync from %d", c)
	}
	s.frame(proto.TypeSyncResult, sync.ID, &proto.SyncResult{Cursor: 3, Conversations: []proto.Conversation{
		{ID: ab, Kind: proto.KindP2P, LastSeq: 4, ReadSeq: 1, Version: 2},
		{ID: ac, Kind: proto.KindP2P, LastSeq: 2, Version: 3},
	}})
	if n := s.c.TotalUnread(); n != 5 {
		t.Fatalf("total unread %d, want 5", n)
	}

	// A first page, with more to come.
	acts = s.frame(proto.TypeUserState, feed.ID, &proto.UserState{More: true, Cursor: 7, Entries: []proto.UserEntry{
		{Pos: 5, Relation: &proto.Relation{User: "bob", State: proto.RelContact}},
		{Pos: 7, Setting: &proto.ConvSetting{ConvID: ab, Pinned: true, Muted: true}},
	}})
	if got := events(acts, core.EventContact); len(got) != 1 || got[0].Relation.User != "bob" {
		t.Fatalf("contact events %+v", got)
	}
	if got := events(acts, core.EventTotalUnread); len(got) != 1 || got[0].Total != 2 {
		t.Fatalf("totalUnread events %+v, want one with 2", got)
	}
	cv, _ := s.c.Conversation(ab)
	if !cv.Pinned || !cv.Muted || cv.Hidden {
		t.Fatalf("settings on the conversation: %+v", cv)
	}
	if list := s.c.Conversations(); list[0].ID != ab {
		t.Fatalf("pinned conversation not first: %v", list[0].ID)
	}
	if a := persistedAccount(t, acts); a.Cursor != 7 || len(a.Relations) != 1 || len(a.Settings) != 1 {
		t.Fatalf("persisted account %+v", a)
	}
	next := s.one(acts, proto.TypeUserSync)
	if c := next.Body.(*proto.UserSync).Cursor; c != 7 {
		t.Fatalf("next page from %d, want 7", c)
	}

	// The last page: a request from dave, a hidden conversation.
	acts = s.frame(proto.TypeUserState, next.ID, &proto.UserState{Cursor: 9, Entries: []proto.UserEntry{
		{Pos: 8, Relation: &proto.Relation{User: "dave", State: proto.RelPending, Note: "hi"}},
		{Pos: 9, Setting: &proto.ConvSetting{ConvID: ac, Hidden: true, HiddenSeq: 2}},
	}})
	if got := events(acts, core.EventContactRequest); len(got) != 1 || *got[0].Relation != (core.Relation{User: "dave", State: proto.RelPending, Note: "hi"}) {
		t.Fatalf("request events %+v", got)
	}
	if n := s.c.TotalUnread(); n != 0 {
		t.Fatalf("total unread %d with one muted and one hidden conversation", n)
	}
	for _, c := range s.c.Conversations() {
		if c.ID == ac {
			t.Fatal("a hidden conversation is listed")
		}
	}

	// A push: applied, the cursor kept.
	acts = s.frame(proto.TypeUserUpdate, 0, &proto.UserUpdate{Entry: proto.UserEntry{Pos: 12,
		Relation: &proto.Relation{User: "dave", Blocked: true}}})
	if a := persistedAccount(t, acts); a.Cursor != 9 {
		t.Fatalf("a push moved the cursor to %d", a.Cursor)
	}
	if rs := s.c.Relations(); len(rs) != 2 || !rs[1].Blocked || rs[1].State != "" {
		t.Fatalf("relations %+v", rs)
	}

	// A reaction to an older message is no newer message: still hidden.
	// The store holds 1..2 first, so the event is stored in order.
	s.frame(proto.TypeDeliver, 0, &proto.Deliver{Message: proto.Message{ConvID: ac, Seq: 1, Sender: "carol",
		ClientID: "w1", MsgType: proto.MsgText, Text: "one", CreatedAt: 7}})
	s.frame(proto.TypeDeliver, 0, &proto.Deliver{Message: proto.Message{ConvID: ac, Seq: 2, Sender: "carol",
		ClientID: "w2", MsgType: proto.MsgText, Text: "two", CreatedAt: 8}})
	acts = s.frame(proto.TypeDeliver, 0, &proto.Deliver{Message: proto.Message{ConvID: ac, Seq: 3, Sender: "carol",
		ClientID: "r", MsgType: proto.MsgReact, Target: 1, Text: "👍", CreatedAt: 9}})
	if cv, _ := s.c.Conversation(ac); !cv.Hidden || cv.LastSeq != 3 {
		t.Fatalf("shown again by a reaction: %+v", cv)
	}
	if n := s.c.TotalUnread(); n != 0 {
		t.Fatalf("total unread %d with a reaction in a hidden conversation", n)
	}
	for _, c := range s.c.Conversations() {
		if c.ID == ac {
			t.Fatal("a hidden conversation is listed after a reaction")
		}
	}

	// A newer message shows the hidden conversation again.
	acts = s.frame(proto.TypeDeliver, 0, &proto.Deliver{Message: proto.Message{ConvID: ac, Seq: 4, Sender: "carol",
		ClientID: "x", MsgType: proto.MsgText, Text: "back", CreatedAt: 10}})
	if cv, _ := s.c.Conversation(ac); cv.Hidden {
		t.Fatal("still hidden after a newer message")
	}
	if got := events(acts, core.EventTotalUnread); len(got) != 1 || got[0].Total != 3 {
		t.Fatalf("totalUnread events %+v, want one with 3", got)
	}

	// A draft: persisted with the account, on the conversation, never written.
	if err := s.c.SetDraft(s.now, ab, "half"); err != nil {
		t.Fatal(err)
	}
	acts = s.poll()
	if len(s.wrote(acts)) != 0 {
		t.Fatal("a draft went to the relay")
	}
	if a := persistedAccount(t, acts); len(a.Drafts) != 1 || a.Drafts[0].Text != "half" {
		t.Fatalf("drafts %+v", a.Drafts)
	}
	if cv, _ := s.c.Conversation(ab); cv.Draft != "half" {
		t.Fatalf("draft %q", cv.Draft)
	}

	// A restart from what was persisted keeps it all.
	var meta core.Meta
	for _, x := range s.acts {
		if x.Kind == core.ActPersist && x.Batch.Meta != nil {
			meta = *x.Batch.Meta
		}
	}
	c2, err := core.New(core.Config{DeviceID: "dev1", Rand: func() uint64 { return 1 }}, core.Snapshot{Meta: meta,
		Conversations: []core.Conversation{{ID: ab, Kind: proto.KindP2P, LastSeq: 4, ReadSeq: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	if cv, _ := c2.Conversation(ab); !cv.Muted || !cv.Pinned || cv.Draft != "half" {
		t.Fatalf("after a restart: %+v", cv)
	}
	if len(c2.Relations()) != 2 {
		t.Fatalf("relations after a restart: %+v", c2.Relations())
	}
}

// TestUserFeedChanges: a change needs a connection; its reply resolves the
// operation and applies the caller's entries; a refusal resolves it with
// the relay's code.
func TestUserFeedChanges(t *testing.T) {
	t.Parallel()
	s := newScripted(t, core.Config{})
	if _, err := s.c.Contact(s.now, proto.ContactBlock, "bob", ""); err == nil {
		t.Fatal("a contact operation without a connection")
	}
	s.connect("alice")
	if _, err := s.c.Contact(s.now, proto.ContactRequest, "alice", ""); err == nil {
		t.Fatal("a request to oneself")
	}
	if _, err := s.c.Contact(s.now, "befriend", "bob", ""); err == nil {
		t.Fatal("an unknown operation")
	}
	op, err := s.c.Contact(s.now, proto.ContactBlock, "bob", "")
	if err != nil {
		t.Fatal(err)
	}
	req := s.one(s.poll(), proto.TypeContact)
	acts := s.frame(proto.TypeUserState, req.ID, &proto.UserState{Entries: []proto.UserEntry{
		{Pos: 4, Relation: &proto.Relation{User: "bob", Blocked: true}}}})
	resolved := false
	for _, a := range acts {
		if a.Kind == core.ActResolve && a.Op == op && a.Result.Err == nil {
			resolved = true
		}
	}
	if !resolved || len(s.c.Relations()) != 1 {
		t.Fatalf("block not resolved or applied: %v %+v", kinds(acts), s.c.Relations())
	}
	yes := true
	op, err = s.c.SetConversation(s.now, "g:x", &yes, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	req = s.one(s.poll(), proto.TypeSetConv)
	acts = s.frame(proto.TypeError, req.ID, &proto.ErrorBody{Code: proto.CodeForbidden})
	for _, a := range acts {
		if a.Kind == core.ActResolve && a.Op == op {
			var pe *proto.Error
			if e, ok := a.Result.Err.(*proto.Error); ok {
				pe = e
			}
			if pe == nil || pe.Code != proto.CodeForbidden {
				t.Fatalf("refusal resolved with %v", a.Result.Err)
			}
			return
		}
	}
	t.Fatal("the refused setting was not resolved")
}

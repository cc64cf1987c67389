package core_test

import (
	"testing"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// Invitations and join requests come from the user feed: each is announced
// once when first seen pending, once more with Done when it ends, never for
// an entry this device never saw pending, and the pending ones are kept in
// the persisted account so a restart does not announce them again.
func TestFeedNotices(t *testing.T) {
	t.Parallel()
	s := newScripted(t, core.Config{})
	hello := s.open()
	acts := s.frame(proto.TypeWelcome, hello.ID, &proto.Welcome{Version: proto.Version, UserID: "bob", Epoch: "e1", HeartbeatMs: 25000})
	feed := s.one(acts, proto.TypeUserSync)
	invite := proto.GroupNotice{Kind: proto.PendingInvite, ConvID: "g:alice.trip", Name: "Trip", User: "bob", By: "alice", At: 5}
	request := proto.GroupNotice{Kind: proto.PendingRequest, ConvID: "g:bob.club", Name: "Club", User: "carol", Note: "hi", At: 6}
	old := proto.GroupNotice{Kind: proto.PendingInvite, ConvID: "g:alice.old", User: "bob", By: "alice", At: 1, Done: true}
	acts = s.frame(proto.TypeUserState, feed.ID, &proto.UserState{Cursor: 3, Entries: []proto.UserEntry{
		{Pos: 1, Notice: &old}, {Pos: 2, Notice: &invite}, {Pos: 3, Notice: &request},
	}})
	inv, req := events(acts, core.EventInvitation), events(acts, core.EventJoinRequest)
	if len(inv) != 1 || inv[0].Notice.ConvID != invite.ConvID || inv[0].Notice.Done || len(req) != 1 || req[0].Notice.User != "carol" {
		t.Fatalf("first sync: invitations %+v, requests %+v", inv, req)
	}
	if a := persistedAccount(t, acts); len(a.Notices) != 2 {
		t.Fatalf("persisted notices %+v", a.Notices)
	}
	// The same entry pushed again changes nothing.
	if acts := s.frame(proto.TypeUserUpdate, 0, &proto.UserUpdate{Entry: proto.UserEntry{Pos: 2, Notice: &invite}}); len(events(acts, core.EventInvitation)) != 0 {
		t.Fatal("an invitation announced twice")
	}
	// Answered elsewhere: announced once with Done, then forgotten.
	done := invite
	done.Done = true
	acts = s.frame(proto.TypeUserUpdate, 0, &proto.UserUpdate{Entry: proto.UserEntry{Pos: 4, Notice: &done}})
	if got := events(acts, core.EventInvitation); len(got) != 1 || !got[0].Notice.Done {
		t.Fatalf("the answer: %+v", got)
	}
	if a := persistedAccount(t, acts); len(a.Notices) != 1 || a.Notices[0].Kind != proto.PendingRequest {
		t.Fatalf("persisted after the answer %+v", a.Notices)
	}
	if acts := s.frame(proto.TypeUserUpdate, 0, &proto.UserUpdate{Entry: proto.UserEntry{Pos: 4, Notice: &done}}); len(events(acts, core.EventInvitation)) != 0 {
		t.Fatal("an ended invitation announced twice")
	}
	// The older group-notice push folds into the same state.
	if acts := s.frame(proto.TypeGroupNotice, 0, &request); len(events(acts, core.EventJoinRequest)) != 0 {
		t.Fatal("a pushed request the feed already had was announced again")
	}
}

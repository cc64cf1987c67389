package core_test

import (
	"testing"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// resultOf returns the result of operation op in acts, nil when it did not
// resolve.
func resultOf(acts []core.Action, op uint64) *core.Result {
	for _, a := range acts {
		if a.Kind == core.ActResolve && a.Op == op {
			return a.Result
		}
	}
	return nil
}

// TestCreateGroupKey: a group without an id is asked for with no id and an
// idempotency key. A connection lost before the reply does not fail the
// operation: the next connection writes the same request, key included,
// once it is welcomed, and the relay's answer resolves it. A group asked for
// offline waits for the connection the same way, and a caller's own id is
// sent as it is, without a key.
func TestCreateGroupKey(t *testing.T) {
	t.Parallel()
	s := newScripted(t, core.Config{})
	offline, err := s.c.CreateGroup(s.now, "", "Offline", []string{"carol"})
	if err != nil {
		t.Fatal(err)
	}
	s.connect("alice")
	queued := s.wrote(s.acts)
	var offKey string
	for _, f := range queued {
		if b, ok := f.Body.(*proto.CreateGroup); ok && b.Name == "Offline" {
			offKey = b.Key
		}
	}
	if !proto.ValidName(offKey) {
		t.Fatalf("the group asked for offline was written with key %q", offKey)
	}

	op, err := s.c.CreateGroup(s.now, "", "Team", []string{"bob"})
	if err != nil {
		t.Fatal(err)
	}
	first := s.one(s.poll(), proto.TypeCreateGroup)
	b := first.Body.(*proto.CreateGroup)
	if b.ConvID != "" || !proto.ValidName(b.Key) || b.Key == offKey {
		t.Fatalf("create written with id %q and key %q, want no id and a fresh key", b.ConvID, b.Key)
	}
	// The reply is lost with the connection.
	s.c.HandleClosed(s.now, s.c.Conn(), proto.CodeUnavailable, "cut")
	if r := resultOf(s.poll(), op); r != nil {
		t.Fatalf("the lost create resolved with %+v, want it kept for the next connection", r)
	}
	s.advance() // the backoff: dial
	s.c.HandleOpen(s.now, s.c.Conn(), "token")
	hello := s.one(s.poll(), proto.TypeHello)
	var again []proto.Frame
	for _, f := range s.wrote(s.frame(proto.TypeWelcome, hello.ID, &proto.Welcome{Version: proto.Version, UserID: "alice", Epoch: "e1", HeartbeatMs: 25000})) {
		if f.Type == proto.TypeCreateGroup {
			again = append(again, f)
		}
	}
	// The offline group's reply was never given either: both are written
	// again, in the order they were asked for.
	if len(again) != 2 || again[0].Body.(*proto.CreateGroup).Key != offKey || again[1].Body.(*proto.CreateGroup).Key != b.Key {
		t.Fatalf("after the reconnect the core wrote %v, want the two creates with their keys", again)
	}
	acts := s.frame(proto.TypeConvResult, again[1].ID, &proto.ConvResult{Conversation: proto.Conversation{
		ID: "g:relay-named", Kind: proto.KindGroup, Name: "Team", Members: []string{"alice", "bob"}, Version: 2}})
	if r := resultOf(acts, op); r == nil || r.Err != nil || r.Conversation == nil || r.Conversation.ID != "g:relay-named" {
		t.Fatalf("resolved with %+v, want the relay's group", r)
	}
	if r := resultOf(s.acts, offline); r != nil {
		t.Fatalf("the offline create resolved with %+v before its reply", r)
	}

	op, err = s.c.CreateGroup(s.now, "g:alice.mine", "Mine", []string{"bob"})
	if err != nil {
		t.Fatal(err)
	}
	req := s.one(s.poll(), proto.TypeCreateGroup)
	if b := req.Body.(*proto.CreateGroup); b.ConvID != "g:alice.mine" || b.Key != "" {
		t.Fatalf("a chosen id written as %q with key %q", b.ConvID, b.Key)
	}
	acts = s.frame(proto.TypeError, req.ID, &proto.ErrorBody{Code: proto.CodeGroupID})
	if len(s.wrote(acts)) != 0 {
		t.Fatal("a refused chosen id was sent again")
	}
	if r := resultOf(acts, op); r == nil || r.Err == nil {
		t.Fatal("the refused chosen id did not fail its operation")
	}
}

// TestCreatedGroupIsFilled: the relay's answer to a create names the group's
// first message (its created message, which the asking session is not
// delivered): the core fetches it, and is not synced until it has it.
func TestCreatedGroupIsFilled(t *testing.T) {
	t.Parallel()
	s := newScripted(t, core.Config{})
	s.connect("alice")
	op, err := s.c.CreateGroup(s.now, "", "Team", []string{"bob"})
	if err != nil {
		t.Fatal(err)
	}
	req := s.one(s.poll(), proto.TypeCreateGroup)
	created := proto.Message{ConvID: "g:relay-named", Seq: 1, Sender: "alice", MsgType: proto.MsgSystem, ClientID: "sys-created-1"}
	acts := s.frame(proto.TypeConvResult, req.ID, &proto.ConvResult{Conversation: proto.Conversation{
		ID: "g:relay-named", Kind: proto.KindGroup, Name: "Team", Members: []string{"alice", "bob"}, Version: 2,
		LastSeq: 1, LastMessage: &created}})
	if r := resultOf(acts, op); r == nil || r.Err != nil {
		t.Fatalf("resolved with %+v", r)
	}
	var fill *proto.History
	for _, f := range s.wrote(acts) {
		if h, ok := f.Body.(*proto.History); ok && h.ConvID == "g:relay-named" {
			fill = h
		}
	}
	if fill == nil {
		t.Fatal("the created group's first message was not fetched")
	}
	if s.c.Synced() {
		t.Fatal("synced before the group's first message is here")
	}
}

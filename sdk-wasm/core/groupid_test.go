package core_test

import (
	"strings"
	"testing"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// TestCreateGroupIDs: the id the core picks is in the user's namespace
// (g:<user>.<random>), which a relay accepts by default; a relay that names
// every group itself refuses it (4258) and is asked again with no id, and
// the operation resolves with the relay's id. A caller's own id is never
// dropped that way: its 4258 fails the operation.
func TestCreateGroupIDs(t *testing.T) {
	t.Parallel()
	s := newScripted(t, core.Config{})
	s.connect("alice")
	op, err := s.c.CreateGroup(s.now, "", "Team", []string{"bob"})
	if err != nil {
		t.Fatal(err)
	}
	first := s.one(s.poll(), proto.TypeCreateGroup)
	if id := first.Body.(*proto.CreateGroup).ConvID; !strings.HasPrefix(id, "g:alice.") || !proto.ValidGroupID(id) {
		t.Fatalf("picked id %q, want g:alice.<random>", id)
	}
	again := s.one(s.frame(proto.TypeError, first.ID, &proto.ErrorBody{Code: proto.CodeGroupID}), proto.TypeCreateGroup)
	if b := again.Body.(*proto.CreateGroup); b.ConvID != "" || b.Name != "Team" || len(b.Members) != 1 {
		t.Fatalf("asked again with %+v, want the same request without an id", b)
	}
	acts := s.frame(proto.TypeConvResult, again.ID, &proto.ConvResult{Conversation: proto.Conversation{
		ID: "g:relay-named", Kind: proto.KindGroup, Name: "Team", Members: []string{"alice", "bob"}, Version: 2}})
	var got *core.Conversation
	for _, a := range acts {
		if a.Kind == core.ActResolve && a.Op == op {
			if a.Result.Err != nil {
				t.Fatal(a.Result.Err)
			}
			got = a.Result.Conversation
		}
	}
	if got == nil || got.ID != "g:relay-named" {
		t.Fatalf("resolved with %+v, want the relay's group", got)
	}

	op, err = s.c.CreateGroup(s.now, "g:alice.mine", "Mine", []string{"bob"})
	if err != nil {
		t.Fatal(err)
	}
	req := s.one(s.poll(), proto.TypeCreateGroup)
	acts = s.frame(proto.TypeError, req.ID, &proto.ErrorBody{Code: proto.CodeGroupID})
	if len(s.wrote(acts)) != 0 {
		t.Fatal("a caller's own id was dropped and the request sent again")
	}
	var failed bool
	for _, a := range acts {
		failed = failed || (a.Kind == core.ActResolve && a.Op == op && a.Result.Err != nil)
	}
	if !failed {
		t.Fatal("the refused chosen id did not fail its operation")
	}
}

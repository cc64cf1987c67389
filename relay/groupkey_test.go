//go:build !js

package relay

import (
	"testing"

	"github.com/parley-im/parley/proto"
)

// TestSessionGroupKey: under the default policy a create without an id and
// with a key is answered with the keyed id, a resend (on another device,
// as after a reconnect) with the same group, and a chosen id with 4258.
func TestSessionGroupKey(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(o *Options) { o.GroupIDs = "" })
	var ids []string
	for _, dev := range []string{"d1", "d2"} {
		f, _ := hello(t, srv, "alice", dev)
		f.send(proto.Frame{Type: proto.TypeCreateGroup, ID: 2, Body: &proto.CreateGroup{Name: "trip", Members: []string{"bob"}, Key: "trip-key"}})
		r := f.next()
		if r.Type != proto.TypeConvResult {
			t.Fatalf("%s: keyed create answered %s", dev, r.Type)
		}
		ids = append(ids, r.Body.(*proto.ConvResult).Conversation.ID)
	}
	if ids[0] != KeyedGroupID("alice", "trip-key") || ids[1] != ids[0] {
		t.Fatalf("keyed creates named %v, want %s twice", ids, KeyedGroupID("alice", "trip-key"))
	}
	f, _ := hello(t, srv, "alice", "d3")
	f.send(proto.Frame{Type: proto.TypeCreateGroup, ID: 2, Body: &proto.CreateGroup{ConvID: "g:alice.mine", Members: []string{"bob"}}})
	if r := f.next(); r.Type != proto.TypeError || r.Body.(*proto.ErrorBody).Code != proto.CodeGroupID {
		t.Fatalf("a chosen id under the default policy: %s", r.Type)
	}
	f.send(proto.Frame{Type: proto.TypeCreateGroup, ID: 3, Body: &proto.CreateGroup{Members: []string{"bob"}, Key: "bad key!"}})
	if r := f.next(); r.Type != proto.TypeError || r.Body.(*proto.ErrorBody).Code != proto.CodeBadRequest {
		t.Fatalf("an invalid key: %s", r.Type)
	}
}

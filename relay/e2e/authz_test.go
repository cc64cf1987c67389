package e2e

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/testsvc"
	"github.com/parley-im/parley/proto"
)

// TestGroupAuthorisation runs a relay process on each store a deployment can
// choose, SQLite and PostgreSQL: a user outside a group asks for its
// history, moves its read cursor and sends into it, and each request is
// refused with 4203 forbidden; the group stays out of that user's sync and
// pushes, and its members see nothing changed.
func TestGroupAuthorisation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		store func(t *testing.T) []string
	}{
		{"sqlite", func(*testing.T) []string { return nil }},
		{"postgres", func(t *testing.T) []string {
			return []string{"--store", testsvc.FreshSchema(t, testsvc.PostgresURL(t))}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			relay := startRelay(t, tc.store(t)...)
			checkGroupAuthorisation(t, relay.wsURL())
		})
	}
}

func checkGroupAuthorisation(t *testing.T, url string) {
	owner := dialRaw(t, url)
	owner.hello("owner", "o1")
	owner.send(proto.TypeCreateGroup, 2, &proto.CreateGroup{Key: "private", Name: "private", Members: []string{"carol"}})
	f := owner.reply(2)
	if f.Type != proto.TypeConvResult {
		t.Fatalf("create group: %s %+v", f.Type, f.Body)
	}
	group := f.Body.(*proto.ConvResult).Conversation.ID // the relay names groups
	for i, text := range []string{"one", "two", "three"} {
		id := uint64(10 + i)
		owner.send(proto.TypeSend, id, &proto.Send{ConvID: group, ClientID: text, MsgType: proto.MsgText, Text: text})
		if f := owner.reply(id); f.Type != proto.TypeAck {
			t.Fatalf("send %q: %s %+v", text, f.Type, f.Body)
		}
	}
	carol := dialRaw(t, url)
	carol.hello("carol", "c1")
	carol.send(proto.TypeRead, 2, &proto.Read{ConvID: group, Seq: 1})
	if f := carol.reply(2); f.Type != proto.TypeOK {
		t.Fatalf("carol's read: %s %+v", f.Type, f.Body)
	}
	membersView := func() map[string]proto.Conversation {
		out := map[string]proto.Conversation{}
		for name, r := range map[string]*rawConn{"owner": owner, "carol": carol} {
			r.send(proto.TypeSync, 50, &proto.Sync{})
			res, ok := r.reply(50).Body.(*proto.SyncResult)
			if !ok {
				t.Fatalf("%s's sync was not answered with a result", name)
			}
			for _, c := range res.Conversations {
				if c.ID == group {
					out[name] = c
				}
			}
		}
		return out
	}
	before := membersView()
	if before["owner"].LastSeq != 4 || before["carol"].ReadSeq != 1 { // created, one, two, three
		t.Fatalf("members' view before: %+v", before)
	}

	mallory := dialRaw(t, url)
	mallory.hello("mallory", "m1")
	for i, q := range []struct {
		typ  proto.Type
		body any
	}{
		{proto.TypeHistory, &proto.History{ConvID: group, Limit: 10}},
		{proto.TypeHistory, &proto.History{ConvID: group, After: 1, Limit: 10}},
		{proto.TypeHistory, &proto.History{ConvID: group, Before: 3, Limit: 10}},
		{proto.TypeRead, &proto.Read{ConvID: group, Seq: 3}},
		{proto.TypeRead, &proto.Read{ConvID: group, Seq: 0}},
		{proto.TypeSend, &proto.Send{ConvID: group, ClientID: "m-1", MsgType: proto.MsgText, Text: "let me in"}},
	} {
		id := uint64(100 + i)
		mallory.send(q.typ, id, q.body)
		f := mallory.reply(id)
		if e, ok := f.Body.(*proto.ErrorBody); !ok || e.Code != proto.CodeForbidden {
			t.Fatalf("%s %+v by a non-member answered %s %+v, want error %d", q.typ, q.body, f.Type, f.Body, proto.CodeForbidden)
		}
	}
	mallory.send(proto.TypeSync, 200, &proto.Sync{})
	res, ok := mallory.reply(200).Body.(*proto.SyncResult)
	if !ok {
		t.Fatal("mallory's sync was not answered with a result")
	}
	for _, c := range res.Conversations {
		if c.ID == group {
			t.Fatalf("a non-member's sync shows the group: %+v", c)
		}
	}
	if after := membersView(); !sameConv(after["owner"], before["owner"]) || !sameConv(after["carol"], before["carol"]) {
		t.Fatalf("a non-member's requests changed the members' view:\nbefore %+v\nafter  %+v", before, after)
	}

	// A new message reaches carol and never mallory.
	owner.send(proto.TypeSend, 20, &proto.Send{ConvID: group, ClientID: "four", MsgType: proto.MsgText, Text: "four"})
	if f := owner.reply(20); f.Type != proto.TypeAck {
		t.Fatalf("send four: %s", f.Type)
	}
	for {
		f, err := carol.recv(10 * time.Second)
		if err != nil {
			t.Fatalf("carol never got message four: %v", err)
		}
		if d, ok := f.Body.(*proto.Deliver); ok && d.Message.Text == "four" {
			break
		}
	}
	for {
		f, err := mallory.recv(500 * time.Millisecond)
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatalf("mallory's connection: %v", err)
		}
		if d, ok := f.Body.(*proto.Deliver); ok {
			t.Fatalf("a non-member got a push of %s: %+v", d.Message.ConvID, d.Message)
		}
		if u, ok := f.Body.(*proto.ConvUpdate); ok && u.Conversation.ID == group {
			t.Fatalf("a non-member got an update of the group: %+v", u.Conversation)
		}
	}
}

// sameConv compares two views of a conversation field by field.
func sameConv(a, b proto.Conversation) bool {
	if a.ID != b.ID || a.LastSeq != b.LastSeq || a.ReadSeq != b.ReadSeq || a.Version != b.Version || len(a.Members) != len(b.Members) {
		return false
	}
	for i := range a.Members {
		if a.Members[i] != b.Members[i] {
			return false
		}
	}
	return true
}

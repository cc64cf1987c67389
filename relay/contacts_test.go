//go:build !js

package relay

import (
	"testing"

	"github.com/parley-im/parley/proto"
)

// feedStores are the stores the relay tests of contacts run on.
func feedStores() map[string]func(t *testing.T) Store {
	return map[string]func(t *testing.T) Store{
		"memory": func(t *testing.T) Store { return NewMemoryStore() },
		"sqlite": func(t *testing.T) Store {
			s, err := OpenSQLite(t.TempDir(), SQLiteOptions{Synchronous: "NORMAL"})
			ok(t, err)
			return s
		},
		"postgres": func(t *testing.T) Store { return openPostgres(t, postgresDSN(t), PostgresOptions{MaxConns: 4}) },
	}
}

// TestContacts: contact requests and answers reach both users' sessions;
// the block list refuses the blocked user's one-to-one messages and
// contact requests with 4275 and nothing else; "contacts only" refuses
// non-contacts' messages with 4276; settings and relations reach a device
// that was offline through the feed — on every store.
func TestContacts(t *testing.T) {
	t.Parallel()
	for name, open := range feedStores() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := startRelay(t, func(o *Options) { o.Store = open(t) })
			alice1, _ := login(t, r, "alice", "one")
			alice2, _ := login(t, r, "alice", "two")
			bob, _ := login(t, r, "bob", "d")
			carol, _ := login(t, r, "carol", "d")
			dave, _ := login(t, r, "dave", "d")
			state := func(f proto.Frame) *proto.UserState {
				t.Helper()
				if f.Type != proto.TypeUserState {
					t.Fatalf("got %s %+v, want user-state", f.Type, f.Body)
				}
				return f.Body.(*proto.UserState)
			}
			update := func(c *client) proto.UserEntry {
				t.Helper()
				return c.push(proto.TypeUserUpdate).Body.(*proto.UserUpdate).Entry
			}
			code := func(f proto.Frame) proto.Code {
				t.Helper()
				if f.Type != proto.TypeError {
					t.Fatalf("got %s %+v, want an error", f.Type, f.Body)
				}
				return f.Body.(*proto.ErrorBody).Code
			}
			send := func(c *client, conv, id string) proto.Frame {
				return c.call(proto.TypeSend, &proto.Send{ConvID: conv, ClientID: id, MsgType: proto.MsgText, Text: "hello"})
			}

			// A request: alice's devices see "requested", bob "pending" with the note.
			st := state(alice1.call(proto.TypeContact, &proto.Contact{Op: proto.ContactRequest, User: "bob", Note: "from the team"}))
			equal(t, st.Entries[0].Relation.State, proto.RelRequested, "alice's reply")
			equal(t, update(alice2).Relation.State, proto.RelRequested, "alice's other device")
			got := update(bob).Relation
			equal(t, [3]string{got.User, got.State, got.Note}, [3]string{"alice", proto.RelPending, "from the team"}, "bob's push")
			equal(t, code(carol.call(proto.TypeContact, &proto.Contact{Op: proto.ContactAccept, User: "alice"})), proto.CodeNoRequest, "an answer to no request")
			st = state(bob.call(proto.TypeContact, &proto.Contact{Op: proto.ContactAccept, User: "alice"}))
			equal(t, st.Entries[0].Relation.State, proto.RelContact, "bob's reply")
			equal(t, update(alice1).Relation.State, proto.RelContact, "alice learns the answer")
			equal(t, update(alice2).Relation.State, proto.RelContact, "on both devices")

			// The block list: carol's messages and requests to bob are refused,
			// her messages to others and alice's to bob are not.
			state(bob.call(proto.TypeContact, &proto.Contact{Op: proto.ContactBlock, User: "carol"}))
			bc, cd := proto.P2PID("bob", "carol"), proto.P2PID("carol", "dave")
			equal(t, code(send(carol, bc, "c1")), proto.CodeBlocked, "carol's message to bob")
			equal(t, code(carol.call(proto.TypeContact, &proto.Contact{Op: proto.ContactRequest, User: "bob"})), proto.CodeBlocked, "carol's request to bob")
			equal(t, send(carol, cd, "c2").Type, proto.TypeAck, "carol's message to dave")
			equal(t, send(alice1, proto.P2PID("alice", "bob"), "a1").Type, proto.TypeAck, "alice's message to bob")
			bob.push(proto.TypeDeliver)
			equal(t, send(bob, bc, "b1").Type, proto.TypeAck, "bob may still write to carol")
			carol.push(proto.TypeDeliver)
			// Blocked only while the block lasts.
			state(bob.call(proto.TypeContact, &proto.Contact{Op: proto.ContactUnblock, User: "carol"}))
			equal(t, send(carol, bc, "c3").Type, proto.TypeAck, "carol's message after the unblock")
			bob.push(proto.TypeDeliver)

			// Contacts only: dave is refused, alice (a contact) is not.
			st = state(bob.call(proto.TypeSetPrefs, &proto.Prefs{ContactsOnly: true}))
			equal(t, *st.Entries[0].Prefs, proto.Prefs{ContactsOnly: true}, "bob's prefs")
			equal(t, code(send(dave, proto.P2PID("bob", "dave"), "d1")), proto.CodeContactsOnly, "dave's message")
			equal(t, send(alice1, proto.P2PID("alice", "bob"), "a2").Type, proto.TypeAck, "alice's message")
			equal(t, dave.call(proto.TypeContact, &proto.Contact{Op: proto.ContactRequest, User: "bob"}).Type, proto.TypeUserState, "dave may still ask")

			// Settings: a member's, synced to the other device; a stranger's refused.
			yes := true
			g := alice1.call(proto.TypeCreateGroup, &proto.CreateGroup{Name: "trip", Members: []string{"bob"}}).Body.(*proto.ConvResult).Conversation
			st = state(alice1.call(proto.TypeSetConv, &proto.SetConv{ConvID: g.ID, Pinned: &yes, Muted: &yes}))
			equal(t, *st.Entries[0].Setting, proto.ConvSetting{ConvID: g.ID, Pinned: true, Muted: true}, "alice's setting")
			for {
				if e := update(alice2); e.Setting != nil {
					equal(t, *e.Setting, *st.Entries[0].Setting, "on alice's other device")
					break
				}
			}
			equal(t, code(carol.call(proto.TypeSetConv, &proto.SetConv{ConvID: g.ID, Pinned: &yes})), proto.CodeForbidden, "a non-member's setting")
			equal(t, code(carol.call(proto.TypeSetConv, &proto.SetConv{ConvID: proto.P2PID("alice", "bob"), Pinned: &yes})), proto.CodeForbidden, "a stranger's p2p")

			// A device that was offline finds it all in the feed, in order.
			alice3, _ := login(t, r, "alice", "three")
			all := state(alice3.call(proto.TypeUserSync, &proto.UserSync{}))
			equal(t, len(all.Entries), 2, "alice's entries")
			equal(t, all.Entries[0].Relation.State, proto.RelContact, "alice's contact with bob")
			equal(t, all.Entries[1].Setting.Pinned, true, "the pinned group")
			equal(t, all.Cursor, all.Entries[1].Pos, "cursor")
			next := state(alice3.call(proto.TypeUserSync, &proto.UserSync{Cursor: all.Cursor}))
			equal(t, len(next.Entries), 0, "nothing after the cursor")
			bobs := state(bob.call(proto.TypeUserSync, &proto.UserSync{Limit: 2}))
			equal(t, len(bobs.Entries) == 2 && bobs.More, true, "a page of bob's feed")
		})
	}
}

// TestContactsOnlyInvitations: under the "direct" invitation policy, a user
// who takes messages from contacts only is invited — not added — by users
// who are not contacts, at creation and by a later add, and so is a user
// who blocked the inviter; contacts still add them at once.
func TestContactsOnlyInvitations(t *testing.T) {
	t.Parallel()
	for name, open := range feedStores() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := startRelay(t, func(o *Options) { o.Store = open(t) })
			alice, _ := login(t, r, "alice", "d")
			bob, _ := login(t, r, "bob", "d")
			carol, _ := login(t, r, "carol", "d")
			dave, _ := login(t, r, "dave", "d")
			// bob: contacts only, with carol as his contact; dave blocked alice.
			bob.call(proto.TypeContact, &proto.Contact{Op: proto.ContactRequest, User: "carol"})
			equal(t, carol.call(proto.TypeContact, &proto.Contact{Op: proto.ContactAccept, User: "bob"}).Type, proto.TypeUserState, "carol accepts")
			bob.call(proto.TypeSetPrefs, &proto.Prefs{ContactsOnly: true})
			dave.call(proto.TypeContact, &proto.Contact{Op: proto.ContactBlock, User: "alice"})

			g := alice.call(proto.TypeCreateGroup, &proto.CreateGroup{Name: "trip", Members: []string{"bob", "carol", "dave"}}).Body.(*proto.ConvResult).Conversation
			equal(t, g.Members, []string{"alice", "carol"}, "alice's group: bob and dave only invited")
			n := noticePush(bob)
			equal(t, [2]string{n.ConvID, n.By}, [2]string{g.ID, "alice"}, "bob's invitation")
			n = noticePush(dave)
			equal(t, n.ConvID, g.ID, "dave's invitation")
			e := bob.call(proto.TypeSend, &proto.Send{ConvID: g.ID, ClientID: "b1", MsgType: proto.MsgText, Text: "hi"})
			equal(t, e.Body.(*proto.ErrorBody).Code, proto.CodeForbidden, "bob is not a member before accepting")

			// carol, bob's contact, adds him at once.
			h := carol.call(proto.TypeCreateGroup, &proto.CreateGroup{Name: "friends", Members: []string{"bob"}}).Body.(*proto.ConvResult).Conversation
			equal(t, h.Members, []string{"bob", "carol"}, "carol's group: bob added")

			// A later add by a non-contact is an invitation too.
			k := alice.call(proto.TypeCreateGroup, &proto.CreateGroup{Name: "third", Members: []string{"carol"}}).Body.(*proto.ConvResult).Conversation
			f := alice.call(proto.TypeGroupOp, &proto.GroupOp{ConvID: k.ID, Op: proto.OpAdd, Users: []string{"bob"}})
			if f.Type == proto.TypeError {
				t.Fatalf("alice's add: %+v", f.Body)
			}
			for {
				n = noticePush(bob)
				if n.ConvID == k.ID {
					break
				}
			}
			page := alice.call(proto.TypeMembers, &proto.Members{ConvID: k.ID}).Body.(*proto.MemberPage)
			equal(t, len(page.Members), 2, "members of the third group: bob only invited")

			// With contacts only off, alice adds bob at once.
			bob.call(proto.TypeSetPrefs, &proto.Prefs{})
			m := alice.call(proto.TypeCreateGroup, &proto.CreateGroup{Name: "open", Members: []string{"bob"}}).Body.(*proto.ConvResult).Conversation
			equal(t, m.Members, []string{"alice", "bob"}, "bob added once contacts only is off")
		})
	}
}

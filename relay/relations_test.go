//go:build !js

package relay

import (
	"context"
	"testing"

	"github.com/parley-im/parley/proto"
)

// TestRelationCap: on every store, with a cap of two relation entries per
// user, a request or block that would make a third entry for either user
// is refused with 4259 and writes nothing, while changing an existing
// entry (remove, unblock, block a user one already has an entry for) is
// never refused; the store's count includes ended relations.
func TestRelationCap(t *testing.T) {
	t.Parallel()
	for name, open := range feedStores() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			st := open(t)
			r := startRelay(t, func(o *Options) { o.Store = st; o.MaxRelations = 2 })
			alice, _ := login(t, r, "alice", "d")
			zed, _ := login(t, r, "zed", "d")
			yan, _ := login(t, r, "yan", "d")
			contact := func(c *client, op, user string) proto.Code {
				t.Helper()
				f := c.call(proto.TypeContact, &proto.Contact{Op: op, User: user})
				switch f.Type {
				case proto.TypeUserState:
					return 0
				case proto.TypeError:
					return f.Body.(*proto.ErrorBody).Code
				}
				t.Fatalf("%s %s: got %s", op, user, f.Type)
				return 0
			}
			count := func(user string) int {
				t.Helper()
				n, err := st.(RelationCounter).Relations(context.Background(), user)
				ok(t, err)
				return n
			}
			equal(t, contact(alice, proto.ContactRequest, "bob"), proto.Code(0), "alice asks bob")
			equal(t, contact(alice, proto.ContactBlock, "carol"), proto.Code(0), "alice blocks carol")
			equal(t, count("alice"), 2, "alice's relations")
			equal(t, contact(alice, proto.ContactRequest, "dave"), proto.CodeRelationLimit, "a third: a request")
			equal(t, contact(alice, proto.ContactBlock, "erin"), proto.CodeRelationLimit, "a third: a block")
			equal(t, count("dave")+count("erin"), 0, "the refused ones wrote nothing")
			equal(t, contact(alice, proto.ContactRemove, "bob"), proto.Code(0), "removing is never refused")
			equal(t, contact(alice, proto.ContactUnblock, "carol"), proto.Code(0), "unblocking is never refused")
			equal(t, contact(alice, proto.ContactBlock, "bob"), proto.Code(0), "blocking someone with an entry")
			equal(t, count("alice"), 2, "ended relations still count")
			// The other side's cap: bob holds alice's (ended) entry; zed's
			// request makes his second; yan's would make a third.
			equal(t, contact(zed, proto.ContactRequest, "bob"), proto.Code(0), "zed asks bob")
			equal(t, contact(yan, proto.ContactRequest, "bob"), proto.CodeRelationLimit, "yan asks bob, who is at the cap")
			equal(t, count("yan"), 0, "yan's refused request wrote nothing")
		})
	}
}

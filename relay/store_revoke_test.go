package relay

import (
	"context"
	"testing"

	"github.com/parley-im/parley/proto"
)

// testStoreRevocations is part of the store conformance suite: revocations
// are kept per user and for everyone, never move back, and survive as the
// latest of the two; the admin API's system sender writes into any
// conversation that exists, and into none that does not.
func testStoreRevocations(t *testing.T, open func(t *testing.T) Store) {
	t.Run("system sender", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		s := open(t)
		_, _, err := s.CreateGroup(ctx, GroupSpec{ID: "g:sys", Name: "sys", Creator: "alice", Members: []string{"alice", "bob"}, CreatedAt: 1})
		ok(t, err)
		ab := proto.P2PID("alice", "bob")
		res, err := s.Append(ctx, []AppendRequest{textRequest("alice", ab, "hi")})
		ok(t, err)
		res, err = s.Append(ctx, []AppendRequest{
			textRequest(proto.SystemUser, "g:sys", "s1"),
			textRequest(proto.SystemUser, ab, "s2"),
			textRequest(proto.SystemUser, "g:none", "s3"),
			textRequest(proto.SystemUser, proto.P2PID("carol", "dave"), "s4"),
		})
		ok(t, err)
		equal(t, res[0].Err == nil && res[0].Message.Seq == 1 && res[0].Message.Sender == proto.SystemUser, true, "into the group")
		equal(t, res[0].Members, []string{"alice", "bob"}, "for the group's members")
		equal(t, res[1].Err == nil && res[1].Message.Seq == 2, true, "into the chat")
		equal(t, storeCode(res[2].Err), proto.CodeForbidden, "into no group")
		equal(t, storeCode(res[3].Err), proto.CodeForbidden, "into a chat that does not exist")
		convs, _, err := s.Sync(ctx, "bob", 0, 10)
		ok(t, err)
		for _, c := range convs {
			if c.ReadSeq == c.LastSeq && c.LastSeq > 0 && c.ID == "g:sys" {
				t.Errorf("bob has read the system message in %s", c.ID)
			}
		}
		convs, _, err = s.Sync(ctx, proto.SystemUser, 0, 10)
		ok(t, err)
		equal(t, len(convs), 0, "system is a member of nothing")
	})
	t.Run("revocations", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		rv, isRevoker := open(t).(Revoker)
		if !isRevoker {
			t.Fatal("the store keeps no revocations")
		}
		revokedBefore := func(user string) (int64, error) {
			in, err := rv.SignInOf(ctx, user)
			return in.RevokedBefore, err
		}
		at, err := revokedBefore("alice")
		ok(t, err)
		equal(t, at, int64(0), "nothing revoked")
		ok(t, rv.RevokeTokens(ctx, "alice", 1000))
		ok(t, rv.RevokeTokens(ctx, "alice", 900)) // never moves back
		at, err = revokedBefore("alice")
		ok(t, err)
		equal(t, at, int64(1000), "alice's")
		at, err = revokedBefore("bob")
		ok(t, err)
		equal(t, at, int64(0), "bob's untouched")
		ok(t, rv.RevokeTokens(ctx, "", 1500))
		for _, u := range []string{"alice", "bob"} {
			at, err = revokedBefore(u)
			ok(t, err)
			equal(t, at, int64(1500), u+" after everyone's")
		}
		ok(t, rv.RevokeTokens(ctx, "alice", 2000))
		at, err = revokedBefore("alice")
		ok(t, err)
		equal(t, at, int64(2000), "alice's later than everyone's")
		ok(t, rv.RevokeTokens(ctx, "alice.b@c", 3000)) // any user id is a key
		at, err = revokedBefore("alice.b@c")
		ok(t, err)
		equal(t, at, int64(3000), "an id with dots")
	})
	t.Run("deletions", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		rv, isRevoker := open(t).(Revoker)
		if !isRevoker {
			t.Fatal("the store keeps no revocations")
		}
		signIn := func(user string) SignIn {
			t.Helper()
			in, err := rv.SignInOf(ctx, user)
			ok(t, err)
			return in
		}
		equal(t, signIn("alice").DeletedBefore, int64(0), "nobody deleted")
		ok(t, rv.RecordDeletion(ctx, "alice", 1000))
		ok(t, rv.RecordDeletion(ctx, "alice", 900)) // never moves back
		equal(t, signIn("alice"), SignIn{DeletedBefore: 1000}, "alice deleted, nothing revoked")
		equal(t, signIn("bob").DeletedBefore, int64(0), "bob untouched")
		ok(t, rv.RevokeTokens(ctx, "alice", 1200))
		ok(t, rv.RevokeTokens(ctx, "", 1500)) // everyone's revocation is not a deletion
		equal(t, signIn("alice"), SignIn{DeletedBefore: 1000, RevokedBefore: 1500}, "alice's deletion beside the revocations")
		equal(t, signIn("bob"), SignIn{RevokedBefore: 1500}, "bob revoked, not deleted")
		ok(t, rv.RecordDeletion(ctx, "alice", 2000)) // deleted again, a later account of the same id
		equal(t, signIn("alice").DeletedBefore, int64(2000), "the later deletion")
	})
}

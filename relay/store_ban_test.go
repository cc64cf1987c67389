package relay

import (
	"context"
	"testing"
	"time"
)

// testStoreBans is part of the store conformance suite: a ban is kept per
// user with its end and reason, a new one replaces the old, lifting removes
// it (and lifting none is no error), and an ended ban is still read back:
// whether it holds is the relay's decision, by its clock.
func testStoreBans(t *testing.T, open func(t *testing.T) Store) {
	t.Run("bans", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		bn, isBanner := open(t).(Banner)
		if !isBanner {
			t.Fatal("the store keeps no bans")
		}
		_, found, err := bn.BanOf(ctx, "alice")
		ok(t, err)
		equal(t, found, false, "no ban yet")
		ok(t, bn.LiftBan(ctx, "alice")) // lifting none

		ok(t, bn.SetBan(ctx, "alice", Ban{At: 100, Reason: "spam, 広告"}))
		b, found, err := bn.BanOf(ctx, "alice")
		ok(t, err)
		equal(t, [2]any{found, b}, [2]any{true, Ban{At: 100, Reason: "spam, 広告"}}, "alice's ban, until lifted")
		_, found, err = bn.BanOf(ctx, "bob")
		ok(t, err)
		equal(t, found, false, "bob untouched")

		ok(t, bn.SetBan(ctx, "alice", Ban{At: 200, Until: 300}))
		b, found, err = bn.BanOf(ctx, "alice")
		ok(t, err)
		equal(t, [2]any{found, b}, [2]any{true, Ban{At: 200, Until: 300}}, "replaced, reason and all")
		equal(t, [2]bool{b.Holds(time.Unix(299, 0)), b.Holds(time.Unix(300, 0))}, [2]bool{true, false}, "holds until 300")

		ok(t, bn.SetBan(ctx, "alice.b@c", Ban{At: 1}))
		ok(t, bn.LiftBan(ctx, "alice"))
		_, found, err = bn.BanOf(ctx, "alice")
		ok(t, err)
		equal(t, found, false, "lifted")
		_, found, err = bn.BanOf(ctx, "alice.b@c")
		ok(t, err)
		equal(t, found, true, "another user's ban stays")
	})
	t.Run("sign-in", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		s := open(t)
		bn, rv := s.(Banner), s.(Revoker)
		in, err := rv.SignInOf(ctx, "alice")
		ok(t, err)
		equal(t, in, SignIn{}, "nothing kept")
		ok(t, bn.SetBan(ctx, "alice", Ban{At: 100, Until: 300, Reason: "spam"}))
		ok(t, rv.RevokeTokens(ctx, "alice", 1000))
		ok(t, bn.SetBan(ctx, "alice.b", Ban{At: 1}))
		ok(t, rv.RevokeTokens(ctx, "alice.b", 5000))
		in, err = rv.SignInOf(ctx, "alice")
		ok(t, err)
		equal(t, in, SignIn{Ban: Ban{At: 100, Until: 300, Reason: "spam"}, Banned: true, RevokedBefore: 1000}, "ban and revocation at once")
		ok(t, rv.RevokeTokens(ctx, "", 2000))
		in, err = rv.SignInOf(ctx, "alice")
		ok(t, err)
		equal(t, in.RevokedBefore, int64(2000), "everyone's, later than alice's own")
		in, err = rv.SignInOf(ctx, "bob")
		ok(t, err)
		equal(t, in, SignIn{RevokedBefore: 2000}, "bob: everyone's revocation, no ban")
		ok(t, bn.LiftBan(ctx, "alice"))
		in, err = rv.SignInOf(ctx, "alice")
		ok(t, err)
		equal(t, in, SignIn{RevokedBefore: 2000}, "lifted")
	})
}

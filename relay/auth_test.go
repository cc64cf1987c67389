package relay

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
)

func TestVerifyToken(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	tok, err := MintToken("k", "alice", time.Hour, now)
	ok(t, err)
	user, exp, perr := verifyToken([]byte("k"), tok, now.Add(time.Minute))
	if perr != nil {
		t.Fatal(perr)
	}
	equal(t, user, "alice", "user")
	equal(t, exp.Unix(), now.Add(time.Hour).Unix(), "exp")
	_, _, perr = verifyToken([]byte("k"), tok, now.Add(2*time.Hour))
	equal(t, perr.Code, proto.CodeTokenExpired, "expired")
	_, _, perr = verifyToken([]byte("other"), tok, now)
	equal(t, perr.Code, proto.CodeUnauthorized, "other key")
	for _, bad := range []struct{ user string }{{""}, {"a b"}} {
		if _, err := MintToken("k", bad.user, time.Hour, now); err == nil {
			t.Errorf("minted a token for %q", bad.user)
		}
	}
}

// TestResolveSecret is not parallel: it sets PARLEY_SECRET.
func TestResolveSecret(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	t.Setenv("PARLEY_SECRET", "")
	s1, err := ResolveSecret("", dir)
	ok(t, err)
	equal(t, len(s1), 64, "generated secret length")
	fi, err := os.Stat(filepath.Join(dir, "secret"))
	ok(t, err)
	equal(t, fi.Mode().Perm(), os.FileMode(0o600), "secret file mode")
	s2, err := ResolveSecret("", dir)
	ok(t, err)
	equal(t, s2, s1, "reused")
	t.Setenv("PARLEY_SECRET", "from-env")
	s3, err := ResolveSecret("", dir)
	ok(t, err)
	equal(t, s3, "from-env", "env over file")
	s4, err := ResolveSecret("explicit", dir)
	ok(t, err)
	equal(t, s4, "explicit", "explicit over env")
}

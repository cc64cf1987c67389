//go:build !js

package relay

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/parley-im/parley/proto"
)

func TestVerifyToken(t *testing.T) {
	t.Parallel()
	key := []byte(testSecret)
	now := time.Unix(1_800_000_000, 0)
	sign := func(c jwt.MapClaims) string {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(key)
		ok(t, err)
		return tok
	}
	at := func(d time.Duration) int64 { return now.Add(d).Unix() }
	strict := tokenPolicy{key: key, audience: "parley", issuer: "https://app.example", maxTTL: time.Hour, leeway: 30 * time.Second}
	loose := tokenPolicy{key: key, leeway: 30 * time.Second}
	good := jwt.MapClaims{"sub": "alice", "iat": at(-time.Minute), "exp": at(30 * time.Minute), "aud": "parley", "iss": "https://app.example"}
	with := func(k string, v any) jwt.MapClaims {
		c := jwt.MapClaims{}
		for kk, vv := range good {
			c[kk] = vv
		}
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	cases := []struct {
		name   string
		policy tokenPolicy
		token  string
		code   proto.Code // 0: accepted
	}{
		{"strict/good", strict, sign(good), 0},
		{"strict/aud in a list", strict, sign(with("aud", []string{"other", "parley"})), 0},
		{"strict/wrong aud/4001", strict, sign(with("aud", "other")), proto.CodeUnauthorized},
		{"strict/no aud/4001", strict, sign(with("aud", nil)), proto.CodeUnauthorized},
		{"loose/wrong aud", loose, sign(with("aud", "other")), 0},
		{"strict/wrong iss/4001", strict, sign(with("iss", "https://evil.example")), proto.CodeUnauthorized},
		{"strict/no iss/4001", strict, sign(with("iss", nil)), proto.CodeUnauthorized},
		{"strict/lifetime at max", strict, sign(with("exp", at(59*time.Minute))), 0},
		{"strict/lifetime above max/4001", strict, sign(with("exp", at(60*time.Minute))), proto.CodeUnauthorized},
		{"strict/no iat, rest above max/4001", strict, sign(jwt.MapClaims{"sub": "alice", "exp": at(2 * time.Hour), "aud": "parley", "iss": "https://app.example"}), proto.CodeUnauthorized},
		{"strict/no iat, rest below max", strict, sign(with("iat", nil)), 0},
		{"loose/long lifetime", loose, sign(with("exp", at(1000*time.Hour))), 0},
		{"leeway/exp 20s ago", loose, sign(with("exp", at(-20*time.Second))), 0},
		{"leeway/exp 40s ago/4002", loose, sign(with("exp", at(-40*time.Second))), proto.CodeTokenExpired},
		{"leeway/nbf 20s ahead", loose, sign(with("nbf", at(20*time.Second))), 0},
		{"leeway/nbf 40s ahead/4001", loose, sign(with("nbf", at(40*time.Second))), proto.CodeUnauthorized},
		{"leeway/iat 20s ahead", loose, sign(with("iat", at(20*time.Second))), 0},
		{"leeway/iat 40s ahead/4001", loose, sign(with("iat", at(40*time.Second))), proto.CodeUnauthorized},
		{"no leeway/exp 1s ago/4002", tokenPolicy{key: key}, sign(with("exp", at(-time.Second))), proto.CodeTokenExpired},
		{"other key/4001", loose, func() string {
			tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, good).SignedString([]byte("another-key-0123456789abcdef01234567"))
			ok(t, err)
			return tok
		}(), proto.CodeUnauthorized},
		{"no exp/4001", loose, sign(with("exp", nil)), proto.CodeUnauthorized},
		{"bad subject/4001", loose, sign(with("sub", "a b")), proto.CodeUnauthorized},
	}
	for _, tc := range cases {
		user, exp, perr := tc.policy.verify(tc.token, now)
		switch {
		case tc.code == 0 && perr != nil:
			t.Errorf("%s: refused: %v", tc.name, perr)
		case tc.code == 0 && (user != "alice" || exp.IsZero()):
			t.Errorf("%s: user %q exp %v", tc.name, user, exp)
		case tc.code != 0 && (perr == nil || perr.Code != tc.code):
			t.Errorf("%s: got %v, want %d", tc.name, perr, tc.code)
		}
	}
}

func TestMintToken(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	tok, err := MintToken(testSecret, "alice", time.Hour, now)
	ok(t, err)
	user, exp, perr := verifyToken([]byte(testSecret), tok, now.Add(time.Minute))
	if perr != nil {
		t.Fatal(perr)
	}
	equal(t, user, "alice", "user")
	equal(t, exp.Unix(), now.Add(time.Hour).Unix(), "exp")
	for _, bad := range []struct{ secret, user string }{{testSecret, ""}, {testSecret, "a b"}, {"short-secret", "alice"}, {strings.Repeat("k", MinSecretBytes-1), "alice"}} {
		if _, err := MintToken(bad.secret, bad.user, time.Hour, now); err == nil {
			t.Errorf("minted a token for %q with a %d-byte secret", bad.user, len(bad.secret))
		}
	}
	_, err = MintToken(strings.Repeat("k", MinSecretBytes), "alice", time.Hour, now)
	ok(t, err)
}

// TestShortSecretRefused: a relay does not start with a secret HS256 cannot
// be safe with.
func TestShortSecretRefused(t *testing.T) {
	t.Parallel()
	_, err := New(Options{Data: t.TempDir(), Secret: strings.Repeat("k", MinSecretBytes-1), Logger: testLogger(), Store: NewMemoryStore()})
	if err == nil || !strings.Contains(err.Error(), "shorter than 32") {
		t.Fatalf("New with a 31-byte secret: %v", err)
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

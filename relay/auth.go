package relay

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/parley-im/parley/proto"
)

// Tokens are JWTs (RFC 7519) signed with HS256 and a shared secret: the
// application's server mints them, the relay only verifies. The algorithm is
// pinned so that a token cannot choose how it is checked ("alg": "none", or
// an RS256 header verified with the HMAC secret as a public key), and exp is
// required so that no token is valid forever.

// verifyToken checks token at now and returns its subject and expiry. The
// error is the close code: 4002 for an expired token, 4001 for anything else
// wrong (malformed, forged, other algorithm, no exp, invalid subject).
func verifyToken(key []byte, token string, now time.Time) (user string, exp time.Time, perr *proto.Error) {
	var claims jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "", time.Time{}, proto.Errorf(proto.CodeTokenExpired, "token expired")
	case err != nil:
		return "", time.Time{}, proto.Errorf(proto.CodeUnauthorized, "invalid token")
	case !proto.ValidName(claims.Subject):
		return "", time.Time{}, proto.Errorf(proto.CodeUnauthorized, "token subject is not a valid user id")
	}
	return claims.Subject, claims.ExpiresAt.Time, nil
}

// MintToken returns an HS256 token for user, issued at now and valid for ttl.
func MintToken(secret, user string, ttl time.Duration, now time.Time) (string, error) {
	if secret == "" {
		return "", errors.New("relay: mint token: empty secret")
	}
	if !proto.ValidName(user) {
		return "", fmt.Errorf("relay: mint token: invalid user id %q", user)
	}
	if ttl <= 0 {
		return "", fmt.Errorf("relay: mint token: ttl %s is not positive", ttl)
	}
	claims := jwt.RegisteredClaims{
		Subject:   user,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
}

// ResolveSecret returns the token secret: explicit when not empty, else
// $PARLEY_SECRET, else the contents of dataDir/secret — created on first use
// with 32 random bytes in hex, mode 0600, and reused after.
func ResolveSecret(explicit, dataDir string) (string, error) {
	if explicit != "" {
		return explicit, nil
	}
	if env := os.Getenv("PARLEY_SECRET"); env != "" {
		return env, nil
	}
	path := filepath.Join(dataDir, "secret")
	if secret, err := readSecret(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return secret, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", fmt.Errorf("relay: secret: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return readSecret(path) // another process created it first
	}
	if err != nil {
		return "", fmt.Errorf("relay: secret: %w", err)
	}
	secret := randomHex(32)
	_, err = f.WriteString(secret + "\n")
	if err = errors.Join(err, f.Sync(), f.Close()); err != nil {
		return "", fmt.Errorf("relay: secret: %w", err)
	}
	return secret, nil
}

func readSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("relay: secret: %w", err)
	}
	secret := strings.TrimSpace(string(b))
	if secret == "" {
		return "", fmt.Errorf("relay: secret file %s is empty", path)
	}
	return secret, nil
}

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

// MinSecretBytes is the shortest token secret the relay accepts: HS256 wants
// a key at least as long as its 256-bit output (RFC 7518 §3.2).
const MinSecretBytes = 32

// DefaultTokenLeeway is the clock skew allowed on exp, nbf and iat.
const DefaultTokenLeeway = 30 * time.Second

// tokenPolicy is how the relay checks tokens: the key, the claims it
// requires when configured, the longest lifetime it accepts and the clock
// skew it forgives.
type tokenPolicy struct {
	key      []byte
	audience string        // "": aud not checked
	issuer   string        // "": iss not checked
	maxTTL   time.Duration // 0: any lifetime
	leeway   time.Duration
}

// newTokenPolicy is the token check of a relay configured by o, whose
// defaults are applied: the one New gives its sessions and its upload
// endpoints.
func newTokenPolicy(o Options) (*tokenPolicy, error) {
	secret, err := ResolveSecret(o.Secret, o.Data)
	if err != nil {
		return nil, err
	}
	if err := checkSecret(secret); err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	return &tokenPolicy{key: []byte(secret), audience: o.TokenAudience, issuer: o.TokenIssuer,
		maxTTL: o.MaxTokenTTL, leeway: o.TokenLeeway}, nil
}

// TokenVerifier returns the token check a relay configured by opts applies
// to a WebSocket Hello and to the upload endpoints, for
// UploadOptions.Verify where the upload endpoints are served apart from
// the relay (on Cloudflare Workers, by a stateless front end): the same
// secret, audience, issuer, lifetime limit and leeway.
func TokenVerifier(opts Options) (func(token string, now time.Time) (user string, exp time.Time, perr *proto.Error), error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	p, err := newTokenPolicy(o)
	if err != nil {
		return nil, err
	}
	return p.verify, nil
}

// verify checks token at now and returns its subject and expiry. The error
// is the close code: 4002 for an expired token, 4001 for anything else wrong
// (malformed, forged, other algorithm, no exp, invalid subject, wrong aud or
// iss, a lifetime above maxTTL).
func (p *tokenPolicy) verify(token string, now time.Time) (user string, exp time.Time, perr *proto.Error) {
	var claims jwt.RegisteredClaims
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(p.leeway),
		jwt.WithTimeFunc(func() time.Time { return now }),
	}
	if p.audience != "" {
		opts = append(opts, jwt.WithAudience(p.audience))
	}
	if p.issuer != "" {
		opts = append(opts, jwt.WithIssuer(p.issuer))
	}
	_, err := jwt.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return p.key, nil }, opts...)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "", time.Time{}, proto.Errorf(proto.CodeTokenExpired, "token expired")
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "", time.Time{}, proto.Errorf(proto.CodeUnauthorized, "token audience is not this relay's")
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "", time.Time{}, proto.Errorf(proto.CodeUnauthorized, "token issuer is not trusted")
	case err != nil:
		return "", time.Time{}, proto.Errorf(proto.CodeUnauthorized, "invalid token")
	case !proto.ValidName(claims.Subject):
		return "", time.Time{}, proto.Errorf(proto.CodeUnauthorized, "token subject is not a valid user id")
	}
	exp = claims.ExpiresAt.Time
	if p.maxTTL > 0 {
		// Without iat, what is left of the token's life is what counts.
		from := now
		if claims.IssuedAt != nil {
			from = claims.IssuedAt.Time
		}
		if exp.Sub(from) > p.maxTTL {
			return "", time.Time{}, proto.Errorf(proto.CodeUnauthorized, "token lifetime above the relay's maximum of %s", p.maxTTL)
		}
	}
	return claims.Subject, exp, nil
}

// verifyToken checks token with key alone: no aud, iss or lifetime checks,
// the default leeway.
func verifyToken(key []byte, token string, now time.Time) (string, time.Time, *proto.Error) {
	p := tokenPolicy{key: key, leeway: DefaultTokenLeeway}
	return p.verify(token, now)
}

// MintToken returns an HS256 token for user, issued at now and valid for ttl.
func MintToken(secret, user string, ttl time.Duration, now time.Time) (string, error) {
	if err := checkSecret(secret); err != nil {
		return "", fmt.Errorf("relay: mint token: %w", err)
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

// checkSecret refuses a secret shorter than MinSecretBytes.
func checkSecret(secret string) error {
	if len(secret) < MinSecretBytes {
		return fmt.Errorf("secret of %d bytes is shorter than %d: HS256 needs a key of at least 256 bits", len(secret), MinSecretBytes)
	}
	return nil
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

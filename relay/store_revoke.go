package relay

import (
	"context"
)

// Revoker keeps token revocations: the relay refuses a token issued before
// the latest revocation that covers its user. Every store implements it;
// revocations are rows of the store's meta table, so they survive restarts
// and hold for every relay on the same database.
type Revoker interface {
	// RevokeTokens revokes user's tokens issued before before (unix
	// seconds); user "" revokes every user's. A revocation never moves
	// back: an earlier time than the one kept is ignored.
	RevokeTokens(ctx context.Context, user string, before int64) error
	// RevokedBefore returns the time before which tokens of user are
	// revoked: the later of user's own revocation and everyone's, 0 for
	// none.
	RevokedBefore(ctx context.Context, user string) (int64, error)
}

var _ Revoker = (*MemoryStore)(nil)

// revokeKey is the meta key of user's revocation; "" is everyone's.
func revokeKey(user string) string { return "revoked:" + user }

// RevokeTokens implements Revoker.
func (s *MemoryStore) RevokeTokens(_ context.Context, user string, before int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.revoked == nil {
		s.revoked = make(map[string]int64)
	}
	s.revoked[user] = max(s.revoked[user], before)
	return nil
}

// RevokedBefore implements Revoker.
func (s *MemoryStore) RevokedBefore(_ context.Context, user string) (int64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, ErrClosed
	}
	return max(s.revoked[user], s.revoked[""]), nil
}

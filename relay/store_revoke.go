package relay

import (
	"context"
	"fmt"
	"strconv"
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
	// RecordDeletion records that user's account was deleted: their
	// tokens issued before before (unix seconds) are refused as a deleted
	// user's (4014) rather than as revoked ones. Like a revocation it never
	// moves back; a token issued later (the id given to a new account) is
	// let in.
	RecordDeletion(ctx context.Context, user string, before int64) error
	// SignInOf reads, in one store call, what decides whether user may
	// sign in: their ban, their revocations and their deletion (SignIn).
	SignInOf(ctx context.Context, user string) (SignIn, error)
}

// SignIn is what the store keeps that decides whether a user may sign in,
// read at once for each hello (gate.check).
type SignIn struct {
	// Ban is the user's ban, ended or not, when Banned.
	Ban    Ban
	Banned bool
	// RevokedBefore is the time before which the user's tokens are
	// revoked, unix seconds: the later of the user's own revocation and
	// everyone's, 0 for none.
	RevokedBefore int64
	// DeletedBefore is the time before which the user's tokens were
	// issued to an account since deleted, unix seconds, 0 for none.
	DeletedBefore int64
}

var _ Revoker = (*MemoryStore)(nil)

// revokeKey is the meta key of user's revocation; "" is everyone's.
func revokeKey(user string) string { return "revoked:" + user }

// deletedKey is the meta key of user's deletion.
func deletedKey(user string) string { return "deleted:" + user }

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

// RecordDeletion implements Revoker.
func (s *MemoryStore) RecordDeletion(_ context.Context, user string, before int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.deleted == nil {
		s.deleted = make(map[string]int64)
	}
	s.deleted[user] = max(s.deleted[user], before)
	return nil
}

// SignInOf implements Revoker.
func (s *MemoryStore) SignInOf(_ context.Context, user string) (SignIn, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return SignIn{}, ErrClosed
	}
	b, banned := s.bans[user]
	return SignIn{Ban: b, Banned: banned, RevokedBefore: max(s.revoked[user], s.revoked[""]), DeletedBefore: s.deleted[user]}, nil
}

// signInRow reads one meta row of SignInOf's query (a ban, user's
// revocation or everyone's, user's deletion) into in.
func (in *SignIn) signInRow(user, key, value string) error {
	if key == banKey(user) {
		b, err := decodeBan(value)
		if err != nil {
			return err
		}
		in.Ban, in.Banned = b, true
		return nil
	}
	at, err := strconv.ParseInt(value, 10, 64)
	if err != nil {
		return fmt.Errorf("relay: stored %s %q: %w", key, value, err)
	}
	if key == deletedKey(user) {
		in.DeletedBefore = at
		return nil
	}
	in.RevokedBefore = max(in.RevokedBefore, at)
	return nil
}

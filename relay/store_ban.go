package relay

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Ban is a user's ban: while it holds, the relay refuses every hello of
// the user (4004), whatever the token and the device.
type Ban struct {
	At     int64  `json:"at"`              // unix seconds it was made
	Until  int64  `json:"until,omitempty"` // unix seconds it ends; 0: until lifted
	Reason string `json:"reason,omitempty"`
}

// Holds reports whether the ban is still in force at now: an ended ban
// no longer applies, and nothing has to sweep it away.
func (b Ban) Holds(now time.Time) bool { return b.Until == 0 || now.Unix() < b.Until }

// Banner keeps the users' bans. Every store implements it; a ban is a row
// of the store's meta table, so it survives restarts and holds for every
// relay on the same database.
type Banner interface {
	// SetBan bans user, replacing an earlier ban of theirs.
	SetBan(ctx context.Context, user string, b Ban) error
	// LiftBan lifts user's ban; lifting none is no error.
	LiftBan(ctx context.Context, user string) error
	// BanOf returns user's ban, ended or not; found is false when there is
	// none.
	BanOf(ctx context.Context, user string) (b Ban, found bool, err error)
}

var _ Banner = (*MemoryStore)(nil)

// banKey is the meta key of user's ban. No other meta key starts with
// "ban:".
func banKey(user string) string { return "ban:" + user }

// encodeBan and decodeBan are a ban as the SQL stores keep it: a meta
// value, JSON.
func encodeBan(b Ban) string {
	v, _ := json.Marshal(b) // a struct of ints and a string: never fails
	return string(v)
}

func decodeBan(v string) (Ban, error) {
	var b Ban
	if err := json.Unmarshal([]byte(v), &b); err != nil {
		return Ban{}, fmt.Errorf("relay: stored ban %q: %w", v, err)
	}
	return b, nil
}

// SetBan implements Banner.
func (s *MemoryStore) SetBan(_ context.Context, user string, b Ban) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.bans == nil {
		s.bans = make(map[string]Ban)
	}
	s.bans[user] = b
	return nil
}

// LiftBan implements Banner.
func (s *MemoryStore) LiftBan(_ context.Context, user string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	delete(s.bans, user)
	return nil
}

// BanOf implements Banner.
func (s *MemoryStore) BanOf(_ context.Context, user string) (Ban, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return Ban{}, false, ErrClosed
	}
	b, found := s.bans[user]
	return b, found, nil
}

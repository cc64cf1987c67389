package relay

import (
	"context"
	"slices"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
)

// UserEraser removes what a store keeps of one user, for the admin API's
// deletion of a user (admin_users.go). Messages are not its business: those
// the user sent stay in the conversations they were sent to.
type UserEraser interface {
	// RelationsTo returns the users whose feed holds a relation entry
	// about user (a contact, a request, a block), sorted.
	RelationsTo(ctx context.Context, user string) ([]string, error)
	// EraseUser removes, in one transaction, user's status, last-seen time
	// and session counts, the presence subscriptions user holds and those
	// held to user, and user's own feed (contacts, block list, settings,
	// preferences); it replaces user's profile with a tombstone (Deleted,
	// the other fields empty, UpdatedAt moved on) and returns it. Erasing
	// a user erased before changes nothing but UpdatedAt.
	EraseUser(ctx context.Context, user string, now int64) (proto.Profile, error)
}

var _ UserEraser = (*MemoryStore)(nil)

// deletedProfile returns the tombstone of a user whose profile was old.
func deletedProfile(old proto.Profile, now int64) proto.Profile {
	return proto.Profile{User: old.User, UpdatedAt: max(now, old.UpdatedAt+1), Deleted: true}
}

// RelationsTo implements UserEraser.
func (s *MemoryStore) RelationsTo(ctx context.Context, user string) ([]string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	var out []string
	for owner, entries := range s.feed {
		if _, ok := entries[[2]string{rules.FeedRelation, user}]; ok {
			out = append(out, owner)
		}
	}
	slices.Sort(out)
	return out, nil
}

// EraseUser implements UserEraser.
func (s *MemoryStore) EraseUser(ctx context.Context, user string, now int64) (proto.Profile, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return proto.Profile{}, ErrClosed
	}
	delete(s.feed, user)
	s.mu.Unlock()
	m, err := s.lockPresence()
	if err != nil {
		return proto.Profile{}, err
	}
	defer m.mu.Unlock()
	delete(m.sessions, user)
	delete(m.status, user)
	delete(m.lastSeen, user)
	delete(m.subs, user)
	for _, targets := range m.subs {
		delete(targets, user)
	}
	old := m.profiles[user]
	old.User = user
	p := deletedProfile(old, now)
	m.profiles[user] = p
	return p, nil
}

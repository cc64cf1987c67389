package relay

import (
	"cmp"
	"context"
	"slices"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
)

// memFeed is the MemoryStore's part of the user feed: every user's entries
// by kind and key.
type memFeed map[string]map[[2]string]proto.UserEntry

// Feed implements UserFeed.
func (s *MemoryStore) Feed(ctx context.Context, user string, cursor uint64, limit int) ([]proto.UserEntry, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, false, ErrClosed
	}
	var out []proto.UserEntry
	for _, e := range s.feed[user] {
		if e.Pos > cursor {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b proto.UserEntry) int { return cmp.Compare(a.Pos, b.Pos) })
	if len(out) > limit {
		return out[:limit], true, nil
	}
	return out, false, nil
}

var _ RelationCounter = (*MemoryStore)(nil)

// Relations implements RelationCounter.
func (s *MemoryStore) Relations(ctx context.Context, user string) (int, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, ErrClosed
	}
	n := 0
	for k := range s.feed[user] {
		if k[0] == rules.FeedRelation {
			n++
		}
	}
	return n, nil
}

// FeedEntries implements UserFeed.
func (s *MemoryStore) FeedEntries(ctx context.Context, keys []FeedKey) ([]proto.UserEntry, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	out := make([]proto.UserEntry, len(keys))
	for i, k := range keys {
		out[i] = s.feed[k.User][[2]string{k.Kind, k.Key}]
	}
	return out, nil
}

// UpdateFeed implements UserFeed.
func (s *MemoryStore) UpdateFeed(ctx context.Context, keys []FeedKey, plan func([]proto.UserEntry) ([]*proto.UserEntry, error)) ([]*proto.UserEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	return s.updateFeed(keys, plan)
}

// updateFeed is UpdateFeed with the store's lock held.
func (s *MemoryStore) updateFeed(keys []FeedKey, plan func([]proto.UserEntry) ([]*proto.UserEntry, error)) ([]*proto.UserEntry, error) {
	cur := make([]proto.UserEntry, len(keys))
	for i, k := range keys {
		cur[i] = s.feed[k.User][[2]string{k.Kind, k.Key}]
	}
	out, err := plan(cur)
	if err != nil {
		return nil, err
	}
	if s.feed == nil {
		s.feed = make(memFeed)
	}
	for i, e := range out {
		if e == nil {
			continue
		}
		e.Pos = s.nextPos()
		k := keys[i]
		m := s.feed[k.User]
		if m == nil {
			m = make(map[[2]string]proto.UserEntry)
			s.feed[k.User] = m
		}
		m[[2]string{k.Kind, k.Key}] = *e
	}
	return out, nil
}

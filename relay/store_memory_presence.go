package relay

import (
	"context"
	"slices"
	"sync"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
)

// memPresence is the MemoryStore's presence, subscriptions and profiles,
// under a lock of their own: they never change with conversations.
type memPresence struct {
	mu       sync.Mutex
	sessions map[string]map[string]int // user → node → sessions
	status   map[string]string
	lastSeen map[string]int64
	subs     map[string]map[string]int64 // subscriber → target → expires
	profiles map[string]proto.Profile
	leases   map[string]int64 // node → lease expiry (store_lease.go)
}

func (m *memPresence) init() {
	if m.sessions == nil {
		m.sessions = make(map[string]map[string]int)
		m.status = make(map[string]string)
		m.lastSeen = make(map[string]int64)
		m.subs = make(map[string]map[string]int64)
		m.profiles = make(map[string]proto.Profile)
	}
}

// lock takes the presence lock, or fails once the store is closed.
func (s *MemoryStore) lockPresence() (*memPresence, error) {
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return nil, ErrClosed
	}
	m := &s.presence
	m.mu.Lock()
	m.init()
	return m, nil
}

func (m *memPresence) get(user string) proto.Presence {
	p := proto.Presence{User: user, Status: m.status[user]}
	for _, n := range m.sessions[user] {
		if n > 0 {
			p.Online = true
		}
	}
	if !p.Online {
		p.LastSeen = m.lastSeen[user]
	}
	return p
}

// SetSessions implements PresenceWriter.
func (s *MemoryStore) SetSessions(ctx context.Context, node string, counts []SessionCount, now int64) ([]proto.Presence, error) {
	m, err := s.lockPresence()
	if err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	var changed []proto.Presence
	for _, c := range counts {
		was := m.get(c.User).Online
		nodes := m.sessions[c.User]
		if nodes == nil {
			nodes = make(map[string]int)
			m.sessions[c.User] = nodes
		}
		if c.Sessions > 0 {
			nodes[node] = c.Sessions
		} else {
			delete(nodes, node)
		}
		p := m.get(c.User)
		if was && !p.Online {
			m.lastSeen[c.User] = now
			p.LastSeen = now
		}
		if was != p.Online {
			changed = append(changed, p)
		}
	}
	return changed, nil
}

// SetStatus implements PresenceWriter.
func (s *MemoryStore) SetStatus(ctx context.Context, user, status string) (proto.Presence, error) {
	m, err := s.lockPresence()
	if err != nil {
		return proto.Presence{}, err
	}
	defer m.mu.Unlock()
	if status == "" {
		delete(m.status, user)
	} else {
		m.status[user] = status
	}
	return m.get(user), nil
}

// Presence implements PresenceWriter.
func (s *MemoryStore) Presence(ctx context.Context, users []string) ([]proto.Presence, error) {
	m, err := s.lockPresence()
	if err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	out := make([]proto.Presence, len(users))
	for i, u := range users {
		out[i] = m.get(u)
	}
	return out, nil
}

// Subscribe implements PresenceSubs.
func (s *MemoryStore) Subscribe(ctx context.Context, batch []PresenceSub, max int) ([]*proto.Error, error) {
	m, err := s.lockPresence()
	if err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	var refused []*proto.Error
	for i, b := range batch {
		subs := m.subs[b.Subscriber]
		if subs == nil {
			subs = make(map[string]int64)
			m.subs[b.Subscriber] = subs
		}
		for t, exp := range subs {
			if exp <= b.Now {
				delete(subs, t)
			}
		}
		fresh := 0
		for _, t := range b.Targets {
			if _, had := subs[t]; !had {
				fresh++
			}
		}
		if perr := rules.AdmitPresenceSubs(len(subs), fresh, max); perr != nil {
			refused = refusedAt(refused, len(batch), i, perr)
			continue
		}
		for _, t := range b.Targets {
			subs[t] = b.Expires
		}
	}
	return refused, nil
}

// refusedAt sets refused[i] to perr, making refused n long if it is nil.
func refusedAt(refused []*proto.Error, n, i int, perr *proto.Error) []*proto.Error {
	if refused == nil {
		refused = make([]*proto.Error, n)
	}
	refused[i] = perr
	return refused
}

// Unsubscribe implements PresenceSubs.
func (s *MemoryStore) Unsubscribe(ctx context.Context, subscriber string, targets []string) error {
	m, err := s.lockPresence()
	if err != nil {
		return err
	}
	defer m.mu.Unlock()
	for _, t := range targets {
		delete(m.subs[subscriber], t)
	}
	return nil
}

// Watchers implements PresenceSubs. It walks every subscriber: the memory
// store is for tests and small relays.
func (s *MemoryStore) Watchers(ctx context.Context, target string, now int64) ([]string, error) {
	m, err := s.lockPresence()
	if err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	var out []string
	for sub, targets := range m.subs {
		if exp, ok := targets[target]; ok && exp > now {
			out = append(out, sub)
		}
	}
	slices.Sort(out)
	return out, nil
}

// SetProfile implements ProfileStore.
func (s *MemoryStore) SetProfile(ctx context.Context, user string, set proto.SetProfile, now int64) (proto.Profile, error) {
	m, err := s.lockPresence()
	if err != nil {
		return proto.Profile{}, err
	}
	defer m.mu.Unlock()
	p := m.profiles[user]
	p.User = user
	p = rules.MergeProfile(p, set, now)
	m.profiles[user] = p
	return p, nil
}

// Profiles implements ProfileStore.
func (s *MemoryStore) Profiles(ctx context.Context, users []string) ([]proto.Profile, error) {
	m, err := s.lockPresence()
	if err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	out := make([]proto.Profile, len(users))
	for i, u := range users {
		p, ok := m.profiles[u]
		if !ok {
			p = proto.Profile{User: u}
		}
		out[i] = p
	}
	return out, nil
}

package relay

import (
	"context"
	"slices"
	"strings"

	"github.com/parley-im/parley/proto"
)

// NodeLeases keeps the liveness leases of relay nodes. A node counts its
// sessions per user in the store (PresenceWriter.SetSessions); a node that
// dies without a word (SIGKILL, a lost machine) never takes its counts
// back, so each node renews a lease while it lives, and any node reclaims
// the counts of a node whose lease expired. A store with presence but
// without NodeLeases keeps a dead node's users online.
type NodeLeases interface {
	// RenewLease records that node lives until expires (unix ms) and
	// reports whether it held a lease still live at now. False means the
	// lease is new or had expired, so ReclaimNodes may have taken the
	// node's counts: the node writes them again.
	RenewLease(ctx context.Context, node string, expires, now int64) (held bool, err error)
	// ReclaimNodes removes the session counts of every node without a
	// lease live at now, and those of self (a node starting again under
	// its old id; "" for none), with the expired leases and self's. It
	// returns the presence of each user who went offline by it, LastSeen
	// now, sorted by user: the caller tells their watchers. Of several
	// nodes reclaiming at once, each user is reported by one.
	ReclaimNodes(ctx context.Context, self string, now int64) ([]proto.Presence, error)
	// DropLease removes node's lease: a node that stopped cleanly and
	// wrote its counts back to zero.
	DropLease(ctx context.Context, node string) error
}

var _ NodeLeases = (*MemoryStore)(nil)

// NodeRestarter is what a node that holds no lease needs from the store
// instead: the Workers relay, where each Durable Object is the only node of
// its own store and hibernates (a lease cannot be renewed while asleep).
// When such a node starts again — woken from hibernation with the
// WebSockets it kept, or after its process died — it knows exactly which
// sessions it holds, and its earlier run's counts are replaced by those.
type NodeRestarter interface {
	// RestartNode makes counts (user → sessions above zero) node's session
	// counts, and removes those of every other node without a live lease
	// (a node id an earlier version gave the same object), in one
	// transaction. A live lease of node's own stays: the Workers relay's
	// shards, several lease-less nodes of one store, each hold one that
	// does not run out, so that one shard's restart leaves the others'
	// counts alone. It returns the presence of each user who went offline by
	// it, LastSeen now, sorted by user: the caller tells their watchers. A
	// user of counts who was online stays online without a change.
	RestartNode(ctx context.Context, node string, counts map[string]int, now int64) ([]proto.Presence, error)
}

var (
	_ NodeRestarter = (*MemoryStore)(nil)
	_ NodeRestarter = (*SQLiteStore)(nil)
)

// RenewLease implements NodeLeases.
func (s *MemoryStore) RenewLease(ctx context.Context, node string, expires, now int64) (bool, error) {
	m, err := s.lockPresence()
	if err != nil {
		return false, err
	}
	defer m.mu.Unlock()
	if m.leases == nil {
		m.leases = make(map[string]int64)
	}
	held := m.leases[node] > now
	m.leases[node] = expires
	return held, nil
}

// ReclaimNodes implements NodeLeases.
func (s *MemoryStore) ReclaimNodes(ctx context.Context, self string, now int64) ([]proto.Presence, error) {
	return s.reclaimNodes(self, nil, false, now)
}

// RestartNode implements NodeRestarter.
func (s *MemoryStore) RestartNode(ctx context.Context, node string, counts map[string]int, now int64) ([]proto.Presence, error) {
	return s.reclaimNodes(node, counts, true, now)
}

// reclaimNodes removes the counts of self and of the nodes without a live
// lease, then gives self the counts of keep, all under one lock.
func (s *MemoryStore) reclaimNodes(self string, keep map[string]int, restart bool, now int64) ([]proto.Presence, error) {
	m, err := s.lockPresence()
	if err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	dead := func(node string) bool { return node == self || m.leases[node] <= now }
	was := make(map[string]bool, len(m.sessions))
	for user, nodes := range m.sessions {
		was[user] = m.get(user).Online
		for node := range nodes {
			if dead(node) {
				delete(nodes, node)
			}
		}
	}
	for user, n := range keep {
		if n <= 0 {
			continue
		}
		if m.sessions[user] == nil {
			m.sessions[user] = make(map[string]int)
		}
		m.sessions[user][self] = n
	}
	var out []proto.Presence
	for user := range m.sessions {
		if p := m.get(user); was[user] && !p.Online {
			m.lastSeen[user] = now
			p.LastSeen = now
			out = append(out, p)
		}
	}
	for node, expires := range m.leases {
		if expires <= now || (node == self && !restart) {
			delete(m.leases, node) // expired, or self's when reclaiming: see RestartNode
		}
	}
	slices.SortFunc(out, func(a, b proto.Presence) int { return strings.Compare(a.User, b.User) })
	return out, nil
}

// DropLease implements NodeLeases.
func (s *MemoryStore) DropLease(ctx context.Context, node string) error {
	m, err := s.lockPresence()
	if err != nil {
		return err
	}
	defer m.mu.Unlock()
	delete(m.leases, node)
	return nil
}

package core

import (
	"sort"
	"sync"
)

// Store is the device's local cache, written only through Batches the core
// produces. Drivers call it; the core never does. Implementations apply a
// Batch atomically.
type Store interface {
	// Load returns what the core needs at start.
	Load() (Snapshot, error)
	// Apply writes one batch atomically.
	Apply(b *Batch) error
	// Messages returns up to limit sent messages of conv with seq < before
	// (before 0: the newest), ascending by seq.
	Messages(conv string, before uint64, limit int) ([]Message, error)
	// Close releases the store.
	Close() error
}

// MemoryStore is a Store that keeps everything in memory: for tests, bots
// and Node, where nothing needs to survive the process.
type MemoryStore struct {
	mu       sync.Mutex
	meta     Meta
	convs    map[string]Conversation
	messages map[string]map[uint64]Message
	outbox   map[string]OutboxEntry
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{
		convs:    make(map[string]Conversation),
		messages: make(map[string]map[uint64]Message),
		outbox:   make(map[string]OutboxEntry),
	}
}

// Load implements Store.
func (s *MemoryStore) Load() (Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := Snapshot{Meta: s.meta}
	for _, cv := range s.convs {
		snap.Conversations = append(snap.Conversations, cv)
	}
	for _, e := range s.outbox {
		snap.Outbox = append(snap.Outbox, e)
	}
	sort.Slice(snap.Outbox, func(i, j int) bool { return snap.Outbox[i].Order < snap.Outbox[j].Order })
	return snap, nil
}

// Apply implements Store.
func (s *MemoryStore) Apply(b *Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b.Reset {
		clear(s.convs)
		clear(s.messages)
	}
	if b.Meta != nil {
		s.meta = *b.Meta
	}
	for _, cv := range b.Conversation {
		s.convs[cv.ID] = cv
	}
	for _, m := range b.Messages {
		mm := s.messages[m.ConvID]
		if mm == nil {
			mm = make(map[uint64]Message)
			s.messages[m.ConvID] = mm
		}
		mm[m.Seq] = m
	}
	for _, e := range b.OutboxPut {
		s.outbox[e.Message.ClientID] = e
	}
	for _, id := range b.OutboxDelete {
		delete(s.outbox, id)
	}
	return nil
}

// Messages implements Store.
func (s *MemoryStore) Messages(conv string, before uint64, limit int) ([]Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for seq, m := range s.messages[conv] {
		if before == 0 || seq < before {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	if limit > 0 && len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out, nil
}

// Close implements Store.
func (s *MemoryStore) Close() error { return nil }

package client

import (
	"sort"
	"sync"

	"github.com/parley-im/parley/sdk-wasm/core"
)

// Store is the device's local cache, written only through the Batches the
// core produces; the client's loop is its one writer. Implementations apply
// a Batch atomically. The stores here: MemoryStore, SQLiteStore (native) and
// the JavaScript storage adapter (js/wasm).
type Store interface {
	// Load returns what the core needs at start.
	Load() (core.Snapshot, error)
	// Apply writes one batch atomically.
	Apply(b *core.Batch) error
	// Messages returns up to limit sent messages of conv with seq < before
	// (before 0: the newest), ascending by seq.
	Messages(conv string, before uint64, limit int) ([]core.Message, error)
	// Close releases the store.
	Close() error
}

// Searcher is a Store that can search the messages it holds. Search returns
// up to q.Limit stored messages that q matches (core.SearchQuery.Match),
// newest first (core.SortResults). The client adds the outbox
// (core.SearchQuery.Merge).
type Searcher interface {
	Search(q *core.SearchQuery) ([]core.Message, error)
}

// MemoryStore is a Store that keeps everything in memory: for tests, bots
// and Node, where nothing needs to survive the process.
type MemoryStore struct {
	mu       sync.Mutex
	meta     core.Meta
	convs    map[string]core.Conversation
	messages map[string]map[uint64]memMessage
	outbox   map[string]core.OutboxEntry
}

// memMessage is a stored message with its text folded for search.
type memMessage struct {
	m    core.Message
	fold string
}

var (
	_ Store    = (*MemoryStore)(nil)
	_ Searcher = (*MemoryStore)(nil)
)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{
		convs:    make(map[string]core.Conversation),
		messages: make(map[string]map[uint64]memMessage),
		outbox:   make(map[string]core.OutboxEntry),
	}
}

// Load implements Store.
func (s *MemoryStore) Load() (core.Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := core.Snapshot{Meta: s.meta}
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
func (s *MemoryStore) Apply(b *core.Batch) error {
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
			mm = make(map[uint64]memMessage)
			s.messages[m.ConvID] = mm
		}
		mm[m.Seq] = memMessage{m, core.Fold(m.Text)}
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
func (s *MemoryStore) Messages(conv string, before uint64, limit int) ([]core.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []core.Message
	for seq, sm := range s.messages[conv] {
		if before == 0 || seq < before {
			out = append(out, sm.m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	if limit > 0 && len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out, nil
}

// Search implements Searcher by looking at every message: a MemoryStore
// holds what one process needed, and folds each text once, when it is
// written.
func (s *MemoryStore) Search(q *core.SearchQuery) ([]core.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []core.Message
	match := func(mm map[uint64]memMessage) {
		for _, sm := range mm {
			if q.Match(&sm.m, sm.fold) {
				out = append(out, sm.m)
			}
		}
	}
	if q.ConvID != "" {
		match(s.messages[q.ConvID])
	} else {
		for _, mm := range s.messages {
			match(mm)
		}
	}
	core.SortResults(out)
	if len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

// Close implements Store.
func (s *MemoryStore) Close() error { return nil }

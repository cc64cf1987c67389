package relay

import (
	"context"
	"sync"
)

var _ Bus = (*MemoryBus)(nil)

// MemoryBus is a Bus inside one process: Publish calls every receiver
// synchronously, in the publisher's goroutine, so order is the publish order.
// It hands every envelope to every receiver, watched or not: receivers
// ignore users they hold no session of, and one node needs no filtering.
type MemoryBus struct {
	mu   sync.RWMutex
	subs map[*memorySub]struct{}
}

// NewMemoryBus returns a MemoryBus without subscribers.
func NewMemoryBus() *MemoryBus {
	return &MemoryBus{subs: make(map[*memorySub]struct{})}
}

// Publish implements Bus.
func (b *MemoryBus) Publish(_ context.Context, e Envelope) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for s := range b.subs {
		s.r.Deliver(e)
	}
	return nil
}

// Subscribe implements Bus.
func (b *MemoryBus) Subscribe(r Receiver) (Subscription, error) {
	s := &memorySub{bus: b, r: r}
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	return s, nil
}

type memorySub struct {
	bus *MemoryBus
	r   Receiver
}

func (s *memorySub) Watch(context.Context, string) error { return nil }
func (s *memorySub) Unwatch(string)                      {}

func (s *memorySub) Close() {
	s.bus.mu.Lock()
	delete(s.bus.subs, s)
	s.bus.mu.Unlock()
}

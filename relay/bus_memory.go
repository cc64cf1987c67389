package relay

import (
	"context"
	"sync"
)

var _ Bus = (*MemoryBus)(nil)

// MemoryBus is a Bus inside one process: Publish calls every subscriber
// synchronously, in the publisher's goroutine, so order is the publish order.
type MemoryBus struct {
	mu   sync.RWMutex
	next int
	subs map[int]func(Envelope)
}

// NewMemoryBus returns a MemoryBus without subscribers.
func NewMemoryBus() *MemoryBus {
	return &MemoryBus{subs: make(map[int]func(Envelope))}
}

// Publish implements Bus.
func (b *MemoryBus) Publish(_ context.Context, e Envelope) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, deliver := range b.subs {
		deliver(e)
	}
	return nil
}

// Subscribe implements Bus.
func (b *MemoryBus) Subscribe(deliver func(Envelope)) (func(), error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	id := b.next
	b.next++
	b.subs[id] = deliver
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			delete(b.subs, id)
			b.mu.Unlock()
		})
	}, nil
}

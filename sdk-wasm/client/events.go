package client

import (
	"sync"

	"github.com/parley-im/parley/sdk-wasm/core"
)

// dispatcher hands events to handlers in order on one goroutine, so a slow
// handler never stalls the core's loop.
type dispatcher struct {
	mu       sync.Mutex
	cond     *sync.Cond
	queue    []core.Event
	handlers map[int]func(core.Event)
	next     int
	closed   bool
	done     chan struct{}
}

func newDispatcher() *dispatcher {
	d := &dispatcher{handlers: make(map[int]func(core.Event)), done: make(chan struct{})}
	d.cond = sync.NewCond(&d.mu)
	go d.run()
	return d
}

func (d *dispatcher) on(h func(core.Event)) func() {
	d.mu.Lock()
	defer d.mu.Unlock()
	id := d.next
	d.next++
	d.handlers[id] = h
	return func() {
		d.mu.Lock()
		delete(d.handlers, id)
		d.mu.Unlock()
	}
}

func (d *dispatcher) push(e core.Event) {
	d.mu.Lock()
	d.queue = append(d.queue, e)
	d.mu.Unlock()
	d.cond.Signal()
}

func (d *dispatcher) close() {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.cond.Signal()
	<-d.done
}

func (d *dispatcher) run() {
	defer close(d.done)
	for {
		d.mu.Lock()
		for len(d.queue) == 0 && !d.closed {
			d.cond.Wait()
		}
		if len(d.queue) == 0 && d.closed {
			d.mu.Unlock()
			return
		}
		e := d.queue[0]
		d.queue[0] = core.Event{}
		d.queue = d.queue[1:]
		hs := make([]func(core.Event), 0, len(d.handlers))
		for i := 0; i < d.next; i++ {
			if h, ok := d.handlers[i]; ok {
				hs = append(hs, h)
			}
		}
		d.mu.Unlock()
		for _, h := range hs {
			h(e)
		}
	}
}

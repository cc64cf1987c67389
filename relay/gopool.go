package relay

import "time"

// goPool runs functions on goroutines it keeps for a while between uses.
// The relay starts a goroutine for every burst of frames a connection
// writes — one per recipient of a fan-out — and for every frame it reads (so
// that a reader's stack stays small); each new goroutine then grew its stack
// again, in coder/websocket's writer and in the CBOR decoder, which cost the
// relay a tenth of its CPU under fan-out load. A pooled goroutine keeps the
// stack it grew.
//
// run never waits for a goroutine: when none is idle it starts one, exactly
// as `go f()` would. An idle goroutine exits after idleFor, so an idle relay
// holds none and the pool cannot grow past the concurrency the load had.
type goPool struct {
	work    chan func() // unbuffered: a send succeeds only when a goroutine waits
	idleFor time.Duration
}

// workers runs the relay's connection writers and frame handlers.
var workers = &goPool{work: make(chan func()), idleFor: time.Second}

// run runs f on an idle pooled goroutine, or on a new one.
func (p *goPool) run(f func()) {
	select {
	case p.work <- f:
	default:
		go p.serve(f)
	}
}

func (p *goPool) serve(f func()) {
	f()
	idle := time.NewTimer(p.idleFor)
	defer idle.Stop()
	for {
		select {
		case f := <-p.work:
			f()
			idle.Reset(p.idleFor)
		case <-idle.C:
			return
		}
	}
}

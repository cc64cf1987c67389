package e2e

import (
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"
)

// faultProxy sits between clients and the relay and cuts connections on
// demand. With several targets it is a load balancer without stickiness:
// each new connection goes to the next target that accepts it, so clients of
// a dead relay land on another one. When every target is down, new
// connections fail at once, as they would against a dead host.
type faultProxy struct {
	ln      net.Listener
	targets []string

	mu     sync.Mutex
	refuse time.Time // new connections are refused until then
	pairs  map[int][2]net.Conn
	next   int
	cuts   int
	wg     sync.WaitGroup
}

func newFaultProxy(t testing.TB, targets ...string) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{ln: ln, targets: targets, pairs: make(map[int][2]net.Conn)}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *faultProxy) wsURL() string { return "ws://" + p.ln.Addr().String() + "/v1/ws" }

func (p *faultProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		id := p.next
		p.next++
		refusing := time.Now().Before(p.refuse)
		p.mu.Unlock()
		if refusing {
			c.Close()
			continue
		}
		var up net.Conn
		for i := range p.targets {
			if up, err = net.Dial("tcp", p.targets[(id+i)%len(p.targets)]); err == nil {
				break
			}
		}
		if up == nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.pairs[id] = [2]net.Conn{c, up}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(id, c, up)
		go p.pipe(id, up, c)
	}
}

func (p *faultProxy) pipe(id int, dst, src net.Conn) {
	defer p.wg.Done()
	_, _ = io.Copy(dst, src)
	p.drop(id)
}

func (p *faultProxy) drop(id int) bool {
	p.mu.Lock()
	pair, ok := p.pairs[id]
	delete(p.pairs, id)
	p.mu.Unlock()
	if ok {
		pair[0].Close()
		pair[1].Close()
	}
	return ok
}

// cutRandom abruptly closes one live connection, chosen by rng.
func (p *faultProxy) cutRandom(rng *rand.Rand) bool {
	p.mu.Lock()
	ids := make([]int, 0, len(p.pairs))
	for id := range p.pairs {
		ids = append(ids, id)
	}
	p.mu.Unlock()
	if len(ids) == 0 {
		return false
	}
	// map order is random; sort for a replayable choice
	for i := 1; i < len(ids); i++ {
		for j := i; j > 0 && ids[j] < ids[j-1]; j-- {
			ids[j], ids[j-1] = ids[j-1], ids[j]
		}
	}
	if p.drop(ids[rng.IntN(len(ids))]) {
		p.mu.Lock()
		p.cuts++
		p.mu.Unlock()
		return true
	}
	return false
}

// cutAll abruptly closes every live connection.
func (p *faultProxy) cutAll() int {
	p.mu.Lock()
	ids := make([]int, 0, len(p.pairs))
	for id := range p.pairs {
		ids = append(ids, id)
	}
	p.mu.Unlock()
	n := 0
	for _, id := range ids {
		if p.drop(id) {
			n++
		}
	}
	return n
}

// outage cuts every live connection and refuses new ones for d: the
// target looks down for a while.
func (p *faultProxy) outage(d time.Duration) int {
	p.mu.Lock()
	p.refuse = time.Now().Add(d)
	p.mu.Unlock()
	return p.cutAll()
}

// addr is the proxy's TCP address.
func (p *faultProxy) addr() string { return p.ln.Addr().String() }

func (p *faultProxy) cutCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cuts
}

func (p *faultProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	ids := make([]int, 0, len(p.pairs))
	for id := range p.pairs {
		ids = append(ids, id)
	}
	p.mu.Unlock()
	for _, id := range ids {
		p.drop(id)
	}
	p.wg.Wait()
}

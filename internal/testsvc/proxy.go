package testsvc

import (
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"testing"
	"time"
)

// Proxy is a TCP proxy that injects faults: it cuts connections on demand and
// can refuse new ones for a while, as a dead host would. With several targets
// it is a load balancer without stickiness: each new connection goes to the
// next target that accepts it, so clients of a dead relay land on another.
type Proxy struct {
	ln      net.Listener
	targets []string

	mu     sync.Mutex
	down   bool      // refusing until Up
	refuse time.Time // refusing until then
	pairs  map[int][2]net.Conn
	next   int
	cuts   int
	wg     sync.WaitGroup
}

// NewProxy listens on a free loopback port and forwards to targets; it is
// closed when t ends.
func NewProxy(t testing.TB, targets ...string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, targets: targets, pairs: make(map[int][2]net.Conn)}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		id := p.next
		p.next++
		refusing := p.down || time.Now().Before(p.refuse)
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

func (p *Proxy) pipe(id int, dst, src net.Conn) {
	defer p.wg.Done()
	_, _ = io.Copy(dst, src)
	p.drop(id)
}

func (p *Proxy) drop(id int) bool {
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

func (p *Proxy) ids() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := make([]int, 0, len(p.pairs))
	for id := range p.pairs {
		ids = append(ids, id)
	}
	slices.Sort(ids) // map order is random: sorted, a seeded choice replays
	return ids
}

// CutRandom abruptly closes one live connection, chosen by rng.
func (p *Proxy) CutRandom(rng *rand.Rand) bool {
	ids := p.ids()
	if len(ids) == 0 || !p.drop(ids[rng.IntN(len(ids))]) {
		return false
	}
	p.mu.Lock()
	p.cuts++
	p.mu.Unlock()
	return true
}

// CutAll abruptly closes every live connection and returns how many.
func (p *Proxy) CutAll() int {
	n := 0
	for _, id := range p.ids() {
		if p.drop(id) {
			n++
		}
	}
	return n
}

// Outage cuts every live connection and refuses new ones for d.
func (p *Proxy) Outage(d time.Duration) int {
	p.mu.Lock()
	p.refuse = time.Now().Add(d)
	p.mu.Unlock()
	return p.CutAll()
}

// Down cuts every live connection and refuses new ones until Up.
func (p *Proxy) Down() {
	p.mu.Lock()
	p.down = true
	p.mu.Unlock()
	p.CutAll()
}

// Up accepts connections again after Down.
func (p *Proxy) Up() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

// CutCount is how many connections CutRandom closed.
func (p *Proxy) CutCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cuts
}

func (p *Proxy) close() {
	p.ln.Close()
	p.CutAll()
	p.wg.Wait()
}

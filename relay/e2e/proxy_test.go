package e2e

import (
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
)

// faultProxy sits between clients and the relay and cuts connections on
// demand. When the relay is down, new connections fail at once, as they
// would against a dead host.
type faultProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	pairs map[int][2]net.Conn
	next  int
	cuts  int
	wg    sync.WaitGroup
}

func newFaultProxy(t testing.TB, target string) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{ln: ln, target: target, pairs: make(map[int][2]net.Conn)}
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
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		id := p.next
		p.next++
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

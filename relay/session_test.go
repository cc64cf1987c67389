package relay

import (
	"bytes"
	"net"
	"sync"
	"testing"
)

// writeLog is a net.Conn that records each Write as one write(2).
type writeLog struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
}

func (w *writeLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes = append(w.writes, bytes.Clone(p))
	return len(p), nil
}

func TestCoalescer(t *testing.T) {
	t.Parallel()
	log := &writeLog{}
	c := &coalescer{conn: log}
	// Not held: every write goes straight through.
	c.Write([]byte("a"))
	c.Write([]byte("b"))
	equal(t, len(log.writes), 2, "writes while not held")
	// Held: the frames of a batch leave together, in order.
	c.hold()
	for _, f := range []string{"1", "22", "333"} {
		n, err := c.Write([]byte(f))
		ok(t, err)
		equal(t, n, len(f), "bytes taken")
	}
	equal(t, len(log.writes), 2, "writes while held")
	ok(t, c.release())
	equal(t, len(log.writes), 3, "writes after release")
	equal(t, string(log.writes[2]), "122333", "the coalesced write")
	if c.buf != nil || c.held {
		t.Errorf("a released coalescer keeps a buffer")
	}
	// An empty hold writes nothing.
	c.hold()
	ok(t, c.release())
	equal(t, len(log.writes), 3, "writes after an empty hold")
	// A held coalescer keeps back at most coalesceMax bytes.
	c.hold()
	big := bytes.Repeat([]byte("x"), coalesceMax/2+1)
	c.Write(big)
	c.Write(big) // would pass the bound: the first goes out
	equal(t, len(log.writes), 4, "writes at the bound")
	c.Write(bytes.Repeat([]byte("y"), coalesceMax+1)) // larger than the bound: straight through after the waiting bytes
	equal(t, len(log.writes), 6, "writes of an oversize frame")
	ok(t, c.release())
	equal(t, len(log.writes), 6, "nothing left to release")
}

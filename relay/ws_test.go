//go:build !js

package relay

import (
	"bytes"
	"net"
	"sync"
	"sync/atomic"
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

// TestSendQueue: pushes past max fail without blocking (the session then
// closes with 4102, see TestSlowConsumer); exactly one writer owns the queue
// at a time, and it may only exit when nothing is queued and the session is
// not closing.
func TestSendQueue(t *testing.T) {
	t.Parallel()
	var total atomic.Int64
	q := sendQueue{max: 3, maxBytes: 1 << 20, drained: make(chan struct{}, 1), total: &total}
	var closing atomic.Bool
	okPush, start, _ := q.push([]byte{1})
	equal(t, [2]bool{okPush, start}, [2]bool{true, true}, "first push starts a writer")
	for range 2 {
		okPush, start, _ = q.push([]byte{2})
		equal(t, [2]bool{okPush, start}, [2]bool{true, false}, "later pushes join the running writer")
	}
	okPush, _, byBytes := q.push([]byte{3})
	equal(t, [2]bool{okPush, byBytes}, [2]bool{false, false}, "push past max frames")
	equal(t, q.claim(), false, "claim while a writer runs")
	equal(t, q.release(&closing), false, "writer keeps running while frames wait")
	equal(t, total.Load(), int64(3), "frames counted for admission")
	equal(t, len(q.take(nil)), 3, "take")
	equal(t, total.Load(), int64(0), "frames taken are no longer counted")
	closing.Store(true)
	equal(t, q.release(&closing), false, "writer stays to finish a closing session")
	closing.Store(false)
	equal(t, q.release(&closing), true, "idle writer exits")
	equal(t, q.claim(), true, "claim when no writer runs")
	q.push([]byte{4})
	q.push([]byte{5})
	q.drop()
	equal(t, total.Load(), int64(0), "a dropped queue counts nothing")
	okPush, _, _ = q.push([]byte{6})
	equal(t, [2]any{okPush, total.Load()}, [2]any{true, int64(0)}, "a push after drop is dropped")
}

// TestSendQueueBytes: the queue is bounded in bytes as well as frames; an
// empty queue takes any one frame, however large.
func TestSendQueueBytes(t *testing.T) {
	t.Parallel()
	q := sendQueue{max: 100, maxBytes: 1000, drained: make(chan struct{}, 1), total: new(atomic.Int64)}
	okPush, _, _ := q.push(make([]byte, 5000))
	equal(t, okPush, true, "one oversize frame into an empty queue")
	okPush, _, byBytes := q.push([]byte{1})
	equal(t, [2]bool{okPush, byBytes}, [2]bool{false, true}, "anything after it")
	q.take(nil)
	for range 2 {
		okPush, _, _ = q.push(make([]byte, 400))
		equal(t, okPush, true, "within the bytes")
	}
	equal(t, q.halfFull(), true, "800 of 1000 bytes is past half")
	okPush, _, byBytes = q.push(make([]byte, 400))
	equal(t, [2]bool{okPush, byBytes}, [2]bool{false, true}, "past the bytes")
}

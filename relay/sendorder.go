package relay

import "sync"

// sendOrder keeps one connection's sends in the order they were read when
// the store refuses one for a while (4300). A client pipelines its sends, so
// when one is refused, later ones may already be queued for the committer;
// stored, they would take seqs before the refused one, which the client only
// retries after a backoff. So once a send is refused, every later send of
// the connection already read is refused too, until the client retries a
// refused one: the client retries its outbox in order, so that retry starts
// a new generation of sends, stored as usual.
//
// read runs on the session's reader; refuse and stale on the committer
// goroutine, which completes one batch before it assembles the next, so a
// refusal is recorded before any later send of the connection is stored.
type sendOrder struct {
	mu       sync.Mutex
	gen      uint64          // the generation sends read now belong to
	poisoned bool            // a send of gen was refused: the rest of gen is too
	refused  map[string]bool // client ids refused in gen, while poisoned
}

// read returns the generation of a send of clientID just read.
func (o *sendOrder) read(clientID string) uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.poisoned && o.refused[clientID] {
		o.gen++
		o.poisoned, o.refused = false, nil
	}
	return o.gen
}

// refuse records that the store refused a send of generation gen.
func (o *sendOrder) refuse(gen uint64, clientID string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if gen != o.gen {
		return // its generation is over already
	}
	if !o.poisoned {
		o.poisoned, o.refused = true, make(map[string]bool)
	}
	o.refused[clientID] = true
}

// stale reports whether a send of generation gen, about to be stored, must
// be refused instead because an earlier send of its generation was.
func (o *sendOrder) stale(gen uint64, clientID string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if gen < o.gen {
		return true
	}
	if o.poisoned {
		o.refused[clientID] = true
	}
	return o.poisoned
}

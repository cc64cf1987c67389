package relay

import "context"

// Envelope is one fan-out: deliver Frame, already encoded, to every connected
// session of Users except the session whose id is Except (the one that caused
// it, which gets its own reply instead).
type Envelope struct {
	Users  []string
	Except string // a session id; session ids are unique across relay nodes
	Frame  []byte // shared by every recipient: never modified
}

// Bus carries envelopes to every relay node, including the publishing one.
// Each node subscribes once and hands what it receives to its local hub, so
// the routing is identical with one node or many. An implementation must
// deliver the envelopes published by one goroutine in publish order: that is
// what keeps every member's view of a conversation in sequence order.
type Bus interface {
	// Publish sends e to every subscriber.
	Publish(ctx context.Context, e Envelope) error
	// Subscribe calls deliver for every envelope published from now on,
	// until the returned function is called. deliver must not block.
	Subscribe(deliver func(Envelope)) (unsubscribe func(), err error)
}

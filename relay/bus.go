package relay

import (
	"context"
	"log/slog"
)

// Envelope is one fan-out: deliver Frame, already encoded, to every connected
// session of Users except the session whose id is Except (the one that caused
// it, which gets its own reply instead).
//
// An envelope with Kick set instead closes (4003) every session of Users
// whose device is Kick and that began before KickAt: a device that connects
// to one relay node replaces its older connection on any other node. A kick
// can arrive late (NATS holds publishes while it reconnects), so it must
// never close a session newer than the one that sent it.
type Envelope struct {
	Users  []string
	Except string // a session id; session ids are unique across relay nodes
	Frame  []byte // shared by every recipient: never modified
	Kick   string // a device id; when set, Frame is unused
	KickAt int64  // with Kick: when the kicking session began, unix ns (relay clocks)
	// Control, when set, is a message between relay nodes about the
	// sessions of Users (see control.go); Frame and Kick are then unused.
	Control []byte
}

// Receiver is what a node hands the Bus: where envelopes for its users go.
type Receiver interface {
	// Deliver hands over one envelope. It must not block.
	Deliver(e Envelope)
	// Lost reports that envelopes for this node may have been dropped (the
	// bus reconnected after an outage). The node repairs through the store:
	// delivery through the bus is a notification, never the record.
	Lost()
}

// Bus carries envelopes between relay nodes, including back to the
// publishing one. Each node subscribes once and hands what it receives to its
// local hub, so the routing is identical with one node or many.
//
// A node receives the envelopes addressed to the users it watches: it watches
// a user while it holds a session of theirs. Envelopes published by one
// goroutine reach a receiver in publish order, per user: that is what keeps
// every member's view of a conversation in sequence order when senders share
// a node; across nodes, clients reorder by sequence number and fill gaps.
type Bus interface {
	// Publish sends e to every node watching one of e.Users.
	Publish(ctx context.Context, e Envelope) error
	// Subscribe starts delivering envelopes to r.
	Subscribe(r Receiver) (Subscription, error)
}

// Subscription is one node's interest in the bus.
type Subscription interface {
	// Watch adds one reference to user. When it returns without error, every
	// envelope for user published from then on reaches the receiver: a
	// session answers its client only after that, so whatever the store
	// committed before is found by the client's sync and whatever it commits
	// after is pushed.
	Watch(ctx context.Context, user string) error
	// Unwatch drops one reference to user taken by Watch.
	Unwatch(user string)
	// Close ends the subscription.
	Close()
}

// fanout publishes through the bus for this node. A publish the bus refuses
// is counted and logged, never retried: the message is in the store, and
// clients catch up by sync.
type fanout struct {
	bus     Bus
	ctx     context.Context
	metrics *metrics
	log     *slog.Logger
}

// publish fans frame out to every session of users except the session
// except (the one that caused it, which gets its own reply).
func (f *fanout) publish(users []string, except string, frame []byte) {
	if err := f.bus.Publish(f.ctx, Envelope{Users: users, Except: except, Frame: frame}); err != nil {
		f.metrics.busErrors.Add(1)
		f.log.Error("fan-out failed", "users", len(users), "err", err)
	}
}

// kick closes (4003) the sessions of user's device on every node that began
// before at, but the session except.
func (f *fanout) kick(user, except, device string, at int64) {
	if err := f.bus.Publish(f.ctx, Envelope{Users: []string{user}, Except: except, Kick: device, KickAt: at}); err != nil {
		f.metrics.busErrors.Add(1)
		f.log.Warn("bus kick failed", "user", user, "err", err)
	}
}

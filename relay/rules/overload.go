package rules

import (
	"time"

	"github.com/parley-im/parley/proto"
)

// Load is the work in flight when a send asks to enter, counting that send:
// the sends admitted and not answered yet (waiting for the committer or in
// its transaction), their bytes, and the frames waiting in the relay's
// connection send queues (fan-out not written yet).
type Load struct {
	ConnSends    int   // this connection's sends in flight
	Sends        int   // the relay's sends in flight
	Bytes        int64 // the relay's bytes of sends in flight
	QueuedFrames int64 // frames waiting to be written to clients, relay-wide
	// LastDelay is how long the send answered last waited, from read to
	// ack: the queue's sojourn time as the latest send saw it.
	LastDelay time.Duration
}

// Capacity bounds a Load. A field of zero or less is no bound.
type Capacity struct {
	ConnSends    int
	Sends        int
	Bytes        int64
	QueuedFrames int64
	// Delay bounds LastDelay while more than DelayAbove sends are in
	// flight: a count bound alone holds as many seconds of work as the
	// relay is slow, the delay bound holds the wait itself, whatever the
	// machine. Below DelayAbove (the relay uses two commit batches: one in
	// the store, a full one waiting) the committer never idles for it.
	Delay      time.Duration
	DelayAbove int
}

// The bounds a send can find full, named as the relay's metrics label them.
const (
	BoundConn   = "connection" // the connection's sends in flight
	BoundSends  = "sends"      // the relay's sends in flight
	BoundBytes  = "bytes"      // the relay's bytes in flight
	BoundQueue  = "queue"      // frames waiting to be written to clients
	BoundDelay  = "delay"      // sends wait longer than Capacity.Delay
	BoundOrder  = "order"      // an earlier send of the connection was refused (see Shed)
	BoundsCount = 6
)

// Bounds lists every bound, for metrics that start each at zero.
var Bounds = [BoundsCount]string{BoundConn, BoundSends, BoundBytes, BoundQueue, BoundDelay, BoundOrder}

// AdmitLoad reports which bound of c a send would overflow, or "" when load
// fits. A send is refused at the door, before it costs anything but its
// decoding: queueing it instead would only make every send behind it wait
// longer, until clients time out while the relay still works for them.
func AdmitLoad(load Load, c Capacity) string {
	switch {
	case c.ConnSends > 0 && load.ConnSends > c.ConnSends:
		return BoundConn
	case c.Sends > 0 && load.Sends > c.Sends:
		return BoundSends
	case c.Bytes > 0 && load.Bytes > c.Bytes:
		return BoundBytes
	case c.QueuedFrames > 0 && load.QueuedFrames > c.QueuedFrames:
		return BoundQueue
	case c.Delay > 0 && load.Sends > c.DelayAbove && load.LastDelay > c.Delay:
		return BoundDelay
	}
	return ""
}

// Busy returns the refusal of a send that found bound full, with the hint
// after which to retry (rounded up to a whole millisecond, at least 1).
func Busy(bound string, retryAfter time.Duration) *proto.ErrorBody {
	ms := (retryAfter + time.Millisecond - 1) / time.Millisecond
	ms = max(1, min(ms, 1<<31))
	msg := "relay overloaded (" + bound + "), retry later"
	if bound == BoundOrder {
		msg = "an earlier send of this connection was refused; resend in order"
	}
	return &proto.ErrorBody{Code: proto.CodeBusy, Message: msg, RetryAfter: uint32(ms)}
}

// SendBytes is what a send weighs against Capacity.Bytes: its content and
// identifiers plus a fixed allowance for the rest of the frame and the
// relay's bookkeeping.
func SendBytes(s *proto.Send) int64 {
	return int64(len(s.Text)+len(s.Body)+len(s.ConvID)+len(s.ClientID)+len(s.MsgType)) + 128
}

// ShedMaxIDs bounds the client ids a Shed remembers.
const ShedMaxIDs = 1024

// Shed keeps one connection's sends in the order they were written while
// the relay refuses some of them at the door. A client pipelines its sends:
// when one is refused, later ones are already on their way, and storing them
// would put them ahead of the refused one, which the client resends only
// after a backoff. So once a send is refused, every later send of the
// connection is refused too (BoundOrder) — until the client resends one of
// the sends it was refused. It resends its outbox oldest first, so that
// send is the first it wrote after it saw the refusals: the order is safe
// again.
//
// A Shed belongs to one connection's reader. The zero value admits.
type Shed struct {
	refused map[string]struct{} // the connection's refused client ids, while shedding
}

// Holding reports whether send clientID must be refused to keep the
// connection's order. A resend of a refused send ends the holding.
func (s *Shed) Holding(clientID string) bool {
	if s.refused == nil {
		return false
	}
	if _, ok := s.refused[clientID]; ok {
		s.refused = nil
		return false
	}
	return true
}

// Refused records that send clientID was refused: the connection holds
// every later send until the client resends one it was refused.
func (s *Shed) Refused(clientID string) {
	if s.refused == nil {
		s.refused = make(map[string]struct{})
	}
	// The oldest refusals are the ones a client resends first; a flood of
	// newer ids past the bound need not be remembered.
	if len(s.refused) < ShedMaxIDs {
		s.refused[clientID] = struct{}{}
	}
}

// Shedding reports whether the connection holds its sends.
func (s *Shed) Shedding() bool { return s.refused != nil }

package core

import (
	"time"

	"github.com/parley-im/parley/proto"
)

// The outputs: the actions an input produced, the one timer, and the rule
// that what an input stored is persisted before anything else it did.

// ActionKind tells the driver what to do.
type ActionKind uint8

// Actions.
const (
	ActDial       ActionKind = iota + 1 // open a connection, then call HandleOpen or HandleClosed with Conn
	ActWrite                            // write Bytes as one binary message on Conn
	ActCloseConn                        // close Conn with Code and Reason
	ActPersist                          // apply Batch to the store before anything after it
	ActEvent                            // hand Event to the application
	ActResolve                          // complete the operation Op with Result
	ActFetchToken                       // fetch a fresh token, then call HandleToken with Conn and it
)

// Action is one output of the core. Only the fields of its Kind are set.
type Action struct {
	Kind   ActionKind
	Conn   uint64     // ActDial, ActWrite, ActCloseConn, ActFetchToken
	Bytes  []byte     // ActWrite
	Code   proto.Code // ActCloseConn
	Reason string     // ActCloseConn
	Batch  *Batch     // ActPersist
	Event  Event      // ActEvent
	Op     uint64     // ActResolve
	Result *Result    // ActResolve; a pointer, so that the actions of a sync page, mostly events, stay small
	// Early marks an ActWrite that asks the relay for something and tells
	// it nothing the store must hold first (requestEarly: the next page of
	// a gap fill). A driver that holds actions until an earlier store write
	// has landed may write it at once, as long as it holds no frame of its
	// own before it.
	Early bool
	// Stored links an ActEvent of a message this input stores (a sync
	// page's, a pushed one's) to that message in the store write: Stored
	// is the Batch of the ActPersist ahead of the event and StoredAt the
	// index in its Messages of the message Event.Message is a copy of, as
	// the core staged it (the core only appends to a Batch's messages; a
	// driver applying Batch.Amend may change one in place, which is then
	// no longer the event's). A driver that encoded that Batch may reuse
	// the message's encoding for the event. Nil when the event has no
	// such message.
	Stored   *Batch
	StoredAt int
}

// Result is how an operation ended: Err, or on success the field of the
// operation that started it.
type Result struct {
	Err error
	// Message is the acknowledged message, for Send and Resend.
	Message *Message
	// Conversation is the new group, for CreateGroup.
	Conversation *Conversation
	// Messages is the page, for FetchHistory.
	Messages []Message
	// Receipts is the answer to ReadReceipts.
	Receipts *Receipts
	// Call is the call, for PlaceCall and AcceptCall.
	Call *Call
	// Devices is the list, for Devices.
	Devices []Device
	// Members is the page, for FetchMembers; More says more follow.
	Members []Member
	More    bool
	// Notices are the invitations or join requests, for FetchPending.
	Notices []GroupNotice
	// Presences and Profiles answer the presence and profile requests.
	Presences []Presence
	Profiles  []Profile
}

// Poll returns the actions produced since the last call, in order.
func (c *Core) Poll() []Action {
	a := c.acts
	c.acts = nil
	return a
}

// NextDeadline returns when HandleTimeout must next be called.
func (c *Core) NextDeadline() (time.Time, bool) {
	var d time.Time
	min := func(t time.Time) {
		if !t.IsZero() && (d.IsZero() || t.Before(d)) {
			d = t
		}
	}
	if c.phase == phaseIdle && (c.state == StateReconnecting || c.state == StateConnecting) {
		min(c.retryAt)
	}
	min(c.phaseDeadline)
	if c.phase == phaseReady {
		min(c.nextPing)
		min(c.lastRecv.Add(c.hbTimeout))
		min(c.tokenWarnAt)
		min(c.renewAt)
		min(c.probeBy)
		for _, t := range c.retryMsg {
			min(t)
		}
	}
	for _, r := range c.reqs {
		min(r.deadline)
	}
	return d, !d.IsZero()
}

// HandleTimeout runs every timer that is due at now.
func (c *Core) HandleTimeout(now time.Time) {
	c.begin()
	defer c.flush()
	if c.phase == phaseIdle && !c.retryAt.IsZero() && !now.Before(c.retryAt) &&
		(c.state == StateReconnecting || c.state == StateConnecting) {
		c.dial(now)
		return
	}
	if !c.phaseDeadline.IsZero() && !now.Before(c.phaseDeadline) {
		c.abort(now, proto.CodeRequestTimeout, "handshake timed out")
		return
	}
	if c.phase != phaseReady {
		return
	}
	if !c.probeBy.IsZero() {
		switch {
		case c.lastRecv.After(c.probeSent): // something arrived since: alive
			c.probeSent, c.probeBy = time.Time{}, time.Time{}
		case !now.Before(c.probeBy):
			c.abort(now, proto.CodeHeartbeatTimeout, "no answer to a probe after the network changed")
			return
		}
	}
	if !now.Before(c.lastRecv.Add(c.hbTimeout)) {
		c.abort(now, proto.CodeHeartbeatTimeout, "no frame from the relay within the heartbeat timeout")
		return
	}
	for id, r := range c.reqs {
		if r.deadline.IsZero() || now.Before(r.deadline) {
			continue
		}
		if r.op == 0 { // an internal request went unanswered: the connection is not healthy
			c.abort(now, proto.CodeRequestTimeout, "relay did not answer "+kindName(r.kind))
			return
		}
		delete(c.reqs, id)
		c.resolve(r.op, Result{Err: &proto.Error{Code: proto.CodeRequestTimeout, Message: kindName(r.kind) + " timed out"}})
	}
	if !c.nextPing.IsZero() && !now.Before(c.nextPing) {
		c.write(proto.TypePing, 0, &proto.Ping{Time: now.UnixMilli()})
		c.nextPing = now.Add(c.heartbeat)
	}
	if !c.tokenWarnAt.IsZero() && !now.Before(c.tokenWarnAt) {
		c.tokenWarnAt = time.Time{}
		c.emit(Event{Kind: EventTokenWillExpire})
	}
	if !c.renewAt.IsZero() && !now.Before(c.renewAt) {
		c.renewAt = time.Time{}
		c.act(Action{Kind: ActFetchToken, Conn: c.conn})
	}
	for id, t := range c.retryMsg {
		if !now.Before(t) {
			delete(c.retryMsg, id)
		}
	}
	c.pumpSends(now)
}

// The action constructors below are called from dozens of places. Kept out
// of line, each caller makes a call instead of holding an inlined copy of
// the Action literal: about 20 KB less code in parley.wasm.

//go:noinline
func (c *Core) write(t proto.Type, id uint64, body any) {
	c.act(Action{Kind: ActWrite, Conn: c.conn, Bytes: proto.MustEncode(proto.Frame{Type: t, ID: id, Body: body})})
}

//go:noinline
func (c *Core) act(a Action) { c.acts = append(c.acts, a) }

//go:noinline
func (c *Core) emit(e Event) { c.act(Action{Kind: ActEvent, Event: e}) }

// emitStored announces m, a copy of the message just appended to the
// input's batch, linked to it (Action.Stored).
func (c *Core) emitStored(m *Message) {
	c.act(Action{Kind: ActEvent, Event: Event{Kind: EventMessage, Message: m}, Stored: c.batch, StoredAt: len(c.batch.Messages) - 1})
}

//go:noinline
func (c *Core) resolve(op uint64, r Result) {
	if op != 0 {
		c.act(Action{Kind: ActResolve, Op: op, Result: &r})
	}
}

func (c *Core) newOp() uint64 {
	c.nextOp++
	return c.nextOp
}

// begin marks where the actions of a new input start.
func (c *Core) begin() { c.mark, c.early, c.lastFresh = len(c.acts), 0, nil }

// flush puts the writes gathered while handling one input in front of that
// input's other actions, so that nothing is announced or sent before it is
// stored; only the requests of requestEarly go ahead of it.
func (c *Core) flush() {
	c.noteTotalUnread()
	if c.batch.empty() {
		return
	}
	b := c.batch
	c.batch = new(Batch)
	at := min(c.mark+c.early, len(c.acts))
	c.acts = append(c.acts, Action{})
	copy(c.acts[at+1:], c.acts[at:])
	c.acts[at] = Action{Kind: ActPersist, Batch: b}
}

// requestEarly is request for a read that tells the relay nothing the store
// must hold first (the next page of a gap fill): its frame goes out ahead of
// the input's store write, so the relay reads the next page while the
// driver writes this one.
func (c *Core) requestEarly(now time.Time, r *request, t proto.Type, body any) {
	n := len(c.acts)
	c.request(now, r, t, body)
	if len(c.acts) != n+1 {
		return
	}
	at := min(c.mark+c.early, n)
	a := c.acts[n]
	a.Early = true
	copy(c.acts[at+1:], c.acts[at:n])
	c.acts[at] = a
	c.early++
}

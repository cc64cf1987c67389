package relay

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
)

// The relay nodes of a deployment keep, for each user with a session on
// them, a roster of that user's open sessions on every node. It answers
// devices() at once and lets every node apply the device policy the same
// way: a node closes the sessions it holds that the policy puts over the
// limit, knowing the sessions of the other nodes.
//
// A roster is kept up to date by control envelopes on the bus, addressed to
// the user: a node announces each session it opens (join) and closes
// (leave); a node that hears a join from another node answers with its own
// sessions of the user (here), so a node that starts watching a user learns
// the sessions opened before. Kicks and revocations travel the same way and
// each node closes what it holds. All of it is a notification: a bus outage
// loses some, and the next Lost rebuilds the rosters from scratch.

// everyone is the bus address of control envelopes for every node, whoever
// their sessions are of: revocations of all users' tokens. It cannot be a
// user id (proto.ValidName refuses '*').
const everyone = "*"

// Control operations.
const (
	opJoin   = 1 // a session opened; other nodes answer with opHere
	opHere   = 2 // a session that is open (an answer to opJoin)
	opLeave  = 3 // a session ended
	opClose  = 4 // close the user's sessions of Device ("" every one) with Code
	opRevoke = 5 // close the sessions whose token was issued before Before (with Code when set, else 4013)
)

// controlMsg is the body of a control envelope.
type controlMsg struct {
	Op       uint8  `cbor:"1,keyasint"`
	Node     string `cbor:"2,keyasint,omitempty"` // the node that sent it
	Session  string `cbor:"3,keyasint,omitempty"`
	Device   string `cbor:"4,keyasint,omitempty"`
	Platform string `cbor:"5,keyasint,omitempty"`
	Began    int64  `cbor:"6,keyasint,omitempty"` // unix ns
	Before   int64  `cbor:"7,keyasint,omitempty"` // opRevoke: unix seconds
	Code     uint16 `cbor:"8,keyasint,omitempty"`
	Reason   string `cbor:"9,keyasint,omitempty"`
	// The call operations (calls_bus.go).
	Call  string `cbor:"10,keyasint,omitempty"` // the call id
	User  string `cbor:"11,keyasint,omitempty"` // whose Session, on messages to a call's owner
	Frame []byte `cbor:"12,keyasint,omitempty"` // a protocol frame, encoded
}

var controlDec = func() cbor.DecMode {
	dm, err := cbor.DecOptions{MaxNestedLevels: 4, MaxArrayElements: 16, MaxMapPairs: 16, DupMapKey: cbor.DupMapKeyEnforcedAPF}.DecMode()
	if err != nil {
		panic(err)
	}
	return dm
}()

// decodeControl parses a control envelope's body; bytes from the bus are
// checked like any others.
func decodeControl(b []byte) (controlMsg, error) {
	var m controlMsg
	if err := controlDec.Unmarshal(b, &m); err != nil {
		return controlMsg{}, fmt.Errorf("relay: control message: %w", err)
	}
	if m.Op < opJoin || m.Op > opLast || len(m.Session) > 256 || len(m.Device) > 256 || len(m.Node) > 64 ||
		len(m.Platform) > proto.MaxPlatformBytes || len(m.Reason) > 1024 || len(m.Call) > proto.MaxNameBytes ||
		len(m.User) > proto.MaxNameBytes || len(m.Frame) > proto.DefaultMaxFrame {
		return controlMsg{}, fmt.Errorf("relay: control message: op %d or a field out of range", m.Op)
	}
	return m, nil
}

// control is this node's side of the rosters, kicks and revocations.
type control struct {
	node    string // this node's id, random per process
	policy  rules.DevicePolicy
	hub     *hub
	bus     Bus
	ctx     context.Context
	log     *slog.Logger
	in      chan Envelope
	dropped atomic.Uint64 // control envelopes dropped because in was full
	errors  atomic.Uint64 // control publishes the bus refused

	hooks *webhooks // user-online and user-offline; nil: none
	calls *calls    // the call operations go there; nil: dropped
	// ends are the bans and revocations heard lately, for the hellos in
	// flight (sessions.go).
	ends endLog

	mu     sync.Mutex
	roster map[string]map[string]rosterEntry // user → session id → entry
	// coming holds the users whose first session here opened less than
	// onlineSettle ago: whether they came online is decided when it ends.
	coming map[string]*time.Timer
}

// onlineSettle is how long a node waits, after a user's first session on
// it opened, for the other nodes to say which sessions of the user they
// hold: the user came online when none is older than this node's.
const onlineSettle = 300 * time.Millisecond

type rosterEntry struct {
	rules.DeviceSession
	node string
}

func newControl(ctx context.Context, policy rules.DevicePolicy, h *hub, bus Bus, log *slog.Logger, m *metrics) *control {
	c := &control{
		node: randomHex(8), policy: policy, hub: h, bus: bus, ctx: ctx, log: log,
		in: make(chan Envelope, 4096), roster: make(map[string]map[string]rosterEntry),
		coming: make(map[string]*time.Timer),
	}
	m.counterFunc("parley_control_dropped_total", "Control envelopes (session rosters, kicks, revocations) dropped because this node's queue of them was full.", &c.dropped)
	m.counterFunc("parley_control_publish_errors_total", "Control envelopes the bus refused.", &c.errors)
	return c
}

// run handles control envelopes in arrival order until ctx ends. Handling
// is off the bus's goroutine because it publishes (answers) and closes
// sessions, which must not happen under the bus's or the hub's locks.
func (c *control) run() {
	for {
		select {
		case e := <-c.in:
			c.handle(e)
		case <-c.ctx.Done():
			return
		}
	}
}

// onControl queues a control envelope for run; it never blocks.
func (h *hub) onControl(e Envelope) {
	if h.ctl == nil {
		return
	}
	select {
	case h.ctl.in <- e:
	default:
		if h.ctl.dropped.Add(1) == 1 {
			h.ctl.log.Warn("control queue full: a roster, kick or revocation was dropped")
		}
	}
}

func (c *control) publish(user string, m controlMsg) { c.publishTo([]string{user}, m) }

// publishTo sends m to every node watching one of users.
func (c *control) publishTo(users []string, m controlMsg) {
	m.Node = c.node
	b, err := cbor.Marshal(m)
	if err == nil {
		err = c.bus.Publish(c.ctx, Envelope{Users: users, Control: b})
	}
	if err != nil {
		c.errors.Add(1)
		c.log.Warn("control publish failed", "users", len(users), "op", m.Op, "err", err)
	}
}

func (c *control) handle(e Envelope) {
	m, err := decodeControl(e.Control)
	if err != nil {
		c.log.Warn("bus: dropped a malformed control envelope", "err", err)
		return
	}
	for _, user := range e.Users {
		if m.Op >= opCallRing {
			if m.Node != c.node && c.calls != nil {
				c.calls.onBus(user, m)
			}
			continue
		}
		switch m.Op {
		case opJoin, opHere:
			if m.Node == c.node {
				continue // added when it opened
			}
			if !c.add(user, rosterEntry{rules.DeviceSession{Session: m.Session, Device: m.Device, Platform: m.Platform, Began: m.Began}, m.Node}) {
				continue // a user this node holds no session of
			}
			if m.Op == opJoin {
				for _, s := range c.hub.sessionsOf(user) {
					c.publish(user, controlMsg{Op: opHere, Session: s.id, Device: s.device, Platform: s.platform, Began: s.began})
				}
			}
			c.enforce(user)
		case opLeave:
			if m.Node != c.node {
				c.remove(user, m.Session)
			}
		case opClose:
			if m.Device == "" && proto.Code(m.Code) == proto.CodeBanned {
				c.ends.record(time.Now(), user, 0)
			}
			for _, s := range c.hub.sessionsOf(user) {
				if m.Device == "" || s.device == m.Device {
					s.Close(proto.Code(m.Code), m.Reason)
				}
			}
		case opRevoke:
			c.ends.record(time.Now(), user, max(m.Before, 1))
			list := c.hub.sessionsOf(user)
			if user == everyone {
				list = c.hub.all()
			}
			code, reason := proto.CodeTokenRevoked, "token revoked"
			if m.Code != 0 {
				code, reason = proto.Code(m.Code), m.Reason
			}
			for _, s := range list {
				if s.issued.Load() < m.Before {
					s.Close(code, reason)
				}
			}
		}
	}
}

// add puts e in user's roster when this node keeps one for user, and
// forgets older sessions of the same device; it reports whether it did.
func (c *control) add(user string, e rosterEntry) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.roster[user]
	if r == nil {
		return false
	}
	for id, x := range r {
		if x.Device == e.Device && x.Session != e.Session {
			if x.Began > e.Began {
				return true // a newer session of the device is known: e is gone already
			}
			delete(r, id)
		}
	}
	r[e.Session] = e
	return true
}

func (c *control) remove(user, session string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := c.roster[user]; r != nil {
		delete(r, session)
	}
}

// joined records a session this node just opened, tells the other nodes,
// and applies the device policy.
func (c *control) joined(s *Session) {
	c.mu.Lock()
	if c.roster[s.user] == nil {
		c.roster[s.user] = make(map[string]rosterEntry)
		if c.hooks != nil && c.coming[s.user] == nil {
			user := s.user
			c.coming[user] = time.AfterFunc(onlineSettle, func() { c.settled(user) })
		}
	}
	c.mu.Unlock()
	c.add(s.user, rosterEntry{rules.DeviceSession{Session: s.id, Device: s.device, Platform: s.platform, Began: s.began}, c.node})
	c.publish(s.user, controlMsg{Op: opJoin, Session: s.id, Device: s.device, Platform: s.platform, Began: s.began})
	c.enforce(s.user)
}

// left forgets a session of this node that ended, tells the other nodes,
// and forgets the user's roster when it was the user's last session here:
// the node stops hearing about the user.
func (c *control) left(s *Session) {
	c.publish(s.user, controlMsg{Op: opLeave, Session: s.id})
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := c.roster[s.user]; r != nil {
		delete(r, s.id)
		if !c.hub.holds(s.user) {
			delete(c.roster, s.user)
			if t := c.coming[s.user]; t != nil {
				// Gone before it was said to have come: neither is said.
				t.Stop()
				delete(c.coming, s.user)
			} else if len(r) == 0 {
				c.hooks.presence(s.user, false)
			}
		}
	}
}

// settled decides whether user came online when their first session on this
// node opened: when no other node holds an older session of theirs. Of
// several nodes whose first sessions of the user opened at once, the one
// holding the oldest says it.
func (c *control) settled(user string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.coming[user] == nil {
		return
	}
	delete(c.coming, user)
	var oldest *rosterEntry
	for _, e := range c.roster[user] {
		if oldest == nil || e.Began < oldest.Began || e.Began == oldest.Began && e.Session < oldest.Session {
			oldest = &e
		}
	}
	if oldest != nil && oldest.node == c.node {
		c.hooks.presence(user, true)
	}
}

// lost rebuilds the rosters after the bus may have dropped envelopes: what
// other nodes hold is forgotten and asked again.
func (c *control) lost() {
	c.mu.Lock()
	users := make([]string, 0, len(c.roster))
	for user, r := range c.roster {
		for id, e := range r {
			if e.node != c.node {
				delete(r, id)
			}
		}
		users = append(users, user)
	}
	c.mu.Unlock()
	for _, user := range users {
		for _, s := range c.hub.sessionsOf(user) {
			c.publish(user, controlMsg{Op: opJoin, Session: s.id, Device: s.device, Platform: s.platform, Began: s.began})
		}
	}
}

// enforce closes this node's sessions of user that the device policy puts
// over its limit. Every node with the same roster picks the same ones.
func (c *control) enforce(user string) {
	if len(c.policy) == 0 {
		return
	}
	c.mu.Lock()
	var list []rules.DeviceSession
	for _, e := range c.roster[user] {
		list = append(list, e.DeviceSession)
	}
	c.mu.Unlock()
	over := rules.OverPolicy(c.policy, list)
	if len(over) == 0 {
		return
	}
	mine := map[string]*Session{}
	for _, s := range c.hub.sessionsOf(user) {
		mine[s.id] = s
	}
	for _, o := range over {
		if s := mine[o.Session]; s != nil {
			p := rules.PlatformOf(o.Platform)
			s.Close(proto.CodeDevicePolicy, fmt.Sprintf("a newer %s session of this user opened (at most %d at once)", p, c.policy[p]))
		}
	}
}

// devices lists user's open sessions, oldest first, as this node knows them.
func (c *control) devices(user, current string) []proto.Device {
	c.mu.Lock()
	list := make([]rules.DeviceSession, 0, len(c.roster[user]))
	for _, e := range c.roster[user] {
		list = append(list, e.DeviceSession)
	}
	c.mu.Unlock()
	rules.SortSessions(list)
	out := make([]proto.Device, len(list))
	for i, e := range list {
		out[i] = proto.Device{ID: e.Device, Platform: e.Platform, ConnectedAt: e.Began / 1e6, Current: e.Session == current}
	}
	return out
}

// hasDevice reports whether user's roster has a session of device.
func (c *control) hasDevice(user, device string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.roster[user] {
		if e.Device == device {
			return true
		}
	}
	return false
}

// closeUser closes user's sessions of device ("" for all of them) on every
// node with code and reason.
func (c *control) closeUser(user, device string, code proto.Code, reason string) {
	c.publish(user, controlMsg{Op: opClose, Device: device, Code: uint16(code), Reason: reason})
}

// revoke closes, on every node, the sessions of user (everyone when "")
// whose token was issued before before (unix seconds), with code and
// reason (4013, token revoked, when code is 0).
func (c *control) revoke(user string, before int64, code proto.Code, reason string) {
	if user == "" {
		user = everyone
	}
	c.publish(user, controlMsg{Op: opRevoke, Before: before, Code: uint16(code), Reason: reason})
}

// sessionsOf returns this node's sessions of user.
func (h *hub) sessionsOf(user string) []*Session {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return append([]*Session(nil), h.users[user]...)
}

// all returns every session of this node.
func (h *hub) all() []*Session {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]*Session, 0, h.n)
	for _, list := range h.users {
		out = append(out, list...)
	}
	return out
}

// holds reports whether user has a session on this node.
func (h *hub) holds(user string) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.users[user]) > 0
}

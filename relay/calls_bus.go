package relay

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/parley-im/parley/proto"
)

// Calls across relay nodes.
//
// The node a call was placed on owns it: its state, its timers, its record.
// Devices of the call on other nodes take part through control envelopes
// on the bus (control.go):
//
//	owner                                          node holding a callee's device
//	  | -- call-ring{frame} to the callee ----------> |  rings its sessions of the callee
//	  | <- call-ringing{session} to the call -------- |  one per ringing session ("busy" when
//	  |                                               |  the callee is in a call there)
//	  | <- call-req{accept|end|signal frame} -------- |  a session's request, as it came
//	  | -- call-frame{session, frame} to the user --> |  the reply, and every push for it
//	  | <- call-gone{session} ----------------------- |  the session ended
//	  | <> call-alive, every NodeTimeout/3 ---------> |  both ways, while the call lives
//
// "to the call" is the bus address callAddr(id), which only the owner
// watches; "to the user" is the user's address, which every node holding
// a session of theirs watches. A node that stays silent past NodeTimeout
// is taken for gone: the owner ends the part of its devices ("failed"),
// and a node whose owner went silent ends the call for its devices.
//
// Whether a callee is reachable at all is decided, for callees without a
// session on the owner, by the store's presence (every node writes it): an
// online callee is waited for during callReach for a ringing answer from
// the nodes, an offline one is not. Busy is known per node: a callee in a
// call owned by a third node rings.

// callReach is how long the owner waits for another node to say that a
// callee, online by the store's presence, rings there.
const callReach = 5 * time.Second

// Control operations of calls (after the session ones of control.go).
const (
	opCallRing    = 6  // owner → callee's nodes: ring Frame on the callee's sessions
	opCallRinging = 7  // node → owner: Session rings (or Reason "busy")
	opCallReq     = 8  // node → owner: Session's request Frame
	opCallFrame   = 9  // owner → node: write Frame to Session
	opCallGone    = 10 // node → owner: Session ended
	opCallAlive   = 11 // owner → nodes: the call lives
	opCallHold    = 12 // node → owner: this node still holds devices of the call
	opLast        = opCallHold
)

// callAddr is the bus address of a call's owner. It cannot be a user id
// (proto.ValidName refuses ':').
func callAddr(id string) string { return "call:" + id }

// remoteDev is a device of a call on another node, as the owner sees it.
// It is a comparable value: the same device compares equal however often
// it is made from the envelopes naming it.
type remoteDev struct {
	k             *calls
	node, session string
	user          string
}

var _ callDev = remoteDev{}

func (d remoteDev) callUser() string { return d.user }

func (d remoteDev) write(b []byte) {
	d.k.ctl.publish(d.user, controlMsg{Op: opCallFrame, Session: d.session, Frame: b})
}

func (d remoteDev) reply(f proto.Frame) { d.write(proto.MustEncode(f)) }

func (d remoteDev) replyErr(id uint64, err error) {
	var perr *proto.Error
	if !errors.As(err, &perr) {
		perr = storeFailure(err)
	}
	d.reply(proto.Frame{Type: proto.TypeError, ID: id, Body: &proto.ErrorBody{Code: perr.Code, Message: perr.Message}})
}

// remoteCall is a call another node owns, as a node holding some of its
// devices sees it.
type remoteCall struct {
	owner string
	heard time.Time
	devs  map[*Session]bool // true: in the call; false: ringing
}

// start wires the calls to the other nodes and runs the liveness ticks
// until ctx ends.
func (k *calls) start(ctl *control, sub Subscription) {
	k.ctl, k.sub = ctl, sub
	go k.run()
}

// watch makes this node receive what other nodes send to call id.
func (k *calls) watch(id string) bool {
	if k.sub == nil {
		return true
	}
	ctx, cancel := context.WithTimeout(k.ctx, 5*time.Second)
	defer cancel()
	return k.sub.Watch(ctx, callAddr(id)) == nil
}

func (k *calls) unwatch(id string) {
	if k.sub != nil {
		k.sub.Unwatch(callAddr(id))
	}
}

// unwatchLater unwatches off the caller's lock.
func (k *calls) unwatchLater(id string) {
	if k.sub != nil {
		go k.unwatch(id)
	}
}

// online returns which of users the store's presence says are online on
// some node; a store without presence says none is.
func (k *calls) online(users []string) map[string]bool {
	out := make(map[string]bool)
	pw, ok := k.store.(PresenceWriter)
	if !ok || len(users) == 0 {
		return out
	}
	var far []string
	for _, u := range users {
		if !k.hub.holds(u) {
			far = append(far, u)
		}
	}
	if len(far) == 0 {
		return out // every callee has a session here: nothing to wait for
	}
	ctx, cancel := context.WithTimeout(k.ctx, 5*time.Second)
	defer cancel()
	ps, err := pw.Presence(ctx, users)
	if err != nil {
		k.log.Warn("call: presence unreadable; callees on other nodes are not waited for", "err", err)
		return out
	}
	for _, p := range ps {
		if p.Online {
			out[p.User] = true
		}
	}
	return out
}

// userBusyLocked reports whether user is in a call this node knows of: one
// it owns, or one another node owns that a session of user here is in.
func (k *calls) userBusyLocked(user string) bool {
	if k.busy[user] > 0 {
		return true
	}
	for _, rc := range k.remote {
		for s, in := range rc.devs {
			if in && s.user == user {
				return true
			}
		}
	}
	return false
}

// forward sends the request of s about a call another node owns to that
// node, and reports whether it did; false leaves the request to this node.
func (k *calls) forward(s *Session, id uint64, t proto.Type, callID string, body any) bool {
	if k.ctl == nil {
		return false
	}
	k.mu.Lock()
	rc := k.remote[callID]
	mine := k.live[callID] == nil && rc != nil
	if mine {
		_, mine = rc.devs[s]
	}
	k.mu.Unlock()
	if !mine {
		return false
	}
	k.ctl.publish(callAddr(callID), controlMsg{Op: opCallReq, Call: callID, Session: s.id, User: s.user,
		Frame: proto.MustEncode(proto.Frame{Type: t, ID: id, Body: body})})
	return true
}

// goneRemoteLocked tells the owners of the remote calls s was part of that
// it ended.
func (k *calls) goneRemoteLocked(s *Session) {
	for id, rc := range k.remote {
		if _, ok := rc.devs[s]; !ok {
			continue
		}
		delete(rc.devs, s)
		if len(rc.devs) == 0 {
			delete(k.remote, id)
		}
		k.ctl.publish(callAddr(id), controlMsg{Op: opCallGone, Call: id, Session: s.id, User: s.user})
	}
}

// onBus handles a call control envelope from another node, addressed to
// to (a user, or a call's address).
func (k *calls) onBus(to string, m controlMsg) {
	now := k.now()
	switch m.Op {
	case opCallRing:
		k.ringHere(to, m, now)
		return
	case opCallFrame:
		k.frameHere(to, m)
		return
	case opCallAlive:
		k.mu.Lock()
		if rc := k.remote[m.Call]; rc != nil && rc.owner == m.Node {
			rc.heard = now
		}
		k.mu.Unlock()
		return
	}
	// The rest is for the owner of the call.
	if to != callAddr(m.Call) {
		return
	}
	k.mu.Lock()
	c := k.live[m.Call]
	d := remoteDev{k: k, node: m.Node, session: m.Session, user: m.User}
	if c == nil {
		k.mu.Unlock()
		switch m.Op {
		case opCallRinging:
			if m.Session != "" {
				d.write(proto.MustEncode(proto.Frame{Type: proto.TypeCallState, Body: &proto.CallState{
					CallID: m.Call, State: proto.CallStateEnded, Reason: proto.CallCancelled}}))
			}
		case opCallReq:
			if f, err := proto.Decode(m.Frame, proto.DefaultMaxFrame); err == nil && f.ID != 0 {
				d.replyErr(f.ID, proto.Errorf(proto.CodeCallNotFound, "no call %s", m.Call))
			}
		}
		return
	}
	c.heard[m.Node] = now
	var rec *record
	switch m.Op {
	case opCallHold:
	case opCallRinging:
		rec = k.ringingLocked(c, d, m.Reason == proto.CallBusy, now)
	case opCallGone:
		if slices.Contains(c.ringing[d.user], callDev(d)) || c.parts[d.user] == d {
			rec = k.leaveLocked(c, d, proto.CallFailed, now)
		}
	case opCallReq:
		k.mu.Unlock()
		k.request(d, m.Frame)
		return
	}
	k.mu.Unlock()
	k.write(rec)
}

// request runs a request forwarded by another node as if its session were
// here.
func (k *calls) request(d remoteDev, frame []byte) {
	f, err := proto.Decode(frame, proto.DefaultMaxFrame)
	if err != nil {
		k.log.Warn("call: dropped a malformed forwarded request", "err", err)
		return
	}
	switch b := f.Body.(type) {
	case *proto.CallAccept:
		k.acceptDev(d, f.ID, b)
	case *proto.CallEnd:
		k.endDev(d, f.ID, b)
	case *proto.CallSignal:
		k.signalDev(d, f.ID, b)
	}
}

// ringingLocked records that d rings for c on another node, or that its
// user is busy there.
func (k *calls) ringingLocked(c *call, d remoteDev, busy bool, now time.Time) *record {
	if busy {
		c.remoteBusy = true
		return nil
	}
	switch {
	case c.parts[d.user] != nil:
		d.write(proto.MustEncode(proto.Frame{Type: proto.TypeCallState, Body: &proto.CallState{
			CallID: c.id, State: proto.CallStateEnded, Reason: proto.CallAnsweredElsewhere}}))
	case c.pending[d.user] || len(c.ringing[d.user]) > 0:
		if !slices.Contains(c.ringing[d.user], callDev(d)) {
			c.ringing[d.user] = append(c.ringing[d.user], d)
		}
	default: // rejected, or no longer waited for
		d.write(proto.MustEncode(proto.Frame{Type: proto.TypeCallState, Body: &proto.CallState{
			CallID: c.id, State: proto.CallStateEnded, Reason: proto.CallCancelled}}))
	}
	return nil
}

// reachTimeout ends the wait for other nodes to ring the online callees of
// c: a call nobody rings for ends (busy when a node said so).
func (k *calls) reachTimeout(c *call) {
	now := k.now()
	k.mu.Lock()
	if k.live[c.id] != c || len(c.pending) == 0 {
		k.mu.Unlock()
		return
	}
	clear(c.pending)
	var rec *record
	if !c.waiting() && len(c.parts) < 2 {
		reason := proto.CallUnavailable
		if c.remoteBusy {
			reason = proto.CallBusy
		}
		rec = k.endLocked(c, reason, now)
	}
	k.mu.Unlock()
	k.write(rec)
}

// ringHere rings this node's sessions of user for a call another node
// owns, and tells the owner which ring.
func (k *calls) ringHere(user string, m controlMsg, now time.Time) {
	devs := k.hub.sessionsOf(user)
	if len(devs) == 0 || strings.HasPrefix(user, "call:") {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.live[m.Call] != nil {
		return
	}
	if k.userBusyLocked(user) {
		k.ctl.publish(callAddr(m.Call), controlMsg{Op: opCallRinging, Call: m.Call, User: user, Reason: proto.CallBusy})
		return
	}
	rc := k.remote[m.Call]
	if rc == nil {
		rc = &remoteCall{owner: m.Node, devs: make(map[*Session]bool)}
		k.remote[m.Call] = rc
	}
	rc.heard = now
	for _, s := range devs {
		if _, ok := rc.devs[s]; ok {
			continue
		}
		rc.devs[s] = false
		s.write(m.Frame)
		k.ctl.publish(callAddr(m.Call), controlMsg{Op: opCallRinging, Call: m.Call, User: user, Session: s.id, Device: s.device})
	}
}

// frameHere writes a frame the owner of a call sent to a session of this
// node, and follows the session's place in the call from it.
func (k *calls) frameHere(user string, m controlMsg) {
	var s *Session
	for _, x := range k.hub.sessionsOf(user) {
		if x.id == m.Session {
			s = x
		}
	}
	if s == nil {
		return // gone: its end was sent to the owner
	}
	f, err := proto.Decode(m.Frame, proto.DefaultMaxFrame)
	if err != nil {
		k.log.Warn("call: dropped a malformed frame from another node", "err", err)
		return
	}
	k.mu.Lock()
	switch b := f.Body.(type) {
	case *proto.CallInfo:
		if rc := k.remote[b.CallID]; rc != nil && f.ID != 0 {
			if _, ok := rc.devs[s]; ok {
				rc.devs[s] = true
			}
		}
	case *proto.CallState:
		if rc := k.remote[b.CallID]; rc != nil && b.State == proto.CallStateEnded {
			delete(rc.devs, s)
			if len(rc.devs) == 0 {
				delete(k.remote, b.CallID)
			}
		}
	}
	k.mu.Unlock()
	s.write(m.Frame)
}

// run says, every third of NodeTimeout, that this node is alive to the
// other nodes of its calls, and ends what a silent node left behind.
func (k *calls) run() {
	t := time.NewTicker(k.opts.NodeTimeout / 3)
	defer t.Stop()
	for {
		select {
		case <-k.ctx.Done():
			return
		case <-t.C:
			k.tick(k.now())
		}
	}
}

func (k *calls) tick(now time.Time) {
	k.mu.Lock()
	var recs []*record
	for _, c := range k.live {
		users := map[string]bool{}
		var silent []callDev
		each := func(d callDev) {
			r, ok := d.(remoteDev)
			if !ok {
				return
			}
			if now.Sub(c.heard[r.node]) > k.opts.NodeTimeout {
				silent = append(silent, d)
			} else {
				users[r.user] = true
			}
		}
		for _, d := range c.parts {
			each(d)
		}
		for _, devs := range c.ringing {
			for _, d := range devs {
				each(d)
			}
		}
		for _, d := range silent {
			if k.live[c.id] != c {
				break
			}
			if r := k.leaveLocked(c, d, proto.CallFailed, now); r != nil {
				recs = append(recs, r)
			}
		}
		if len(users) > 0 && k.live[c.id] == c {
			list := make([]string, 0, len(users))
			for u := range users {
				list = append(list, u)
			}
			k.ctl.publishTo(list, controlMsg{Op: opCallAlive, Call: c.id})
		}
	}
	ended := proto.CallState{State: proto.CallStateEnded, Reason: proto.CallFailed}
	for id, rc := range k.remote {
		if now.Sub(rc.heard) <= k.opts.NodeTimeout {
			k.ctl.publish(callAddr(id), controlMsg{Op: opCallHold, Call: id})
			continue
		}
		st := ended
		st.CallID = id
		b := proto.MustEncode(proto.Frame{Type: proto.TypeCallState, Body: &st})
		for s := range rc.devs {
			s.write(b)
		}
		delete(k.remote, id)
	}
	k.mu.Unlock()
	for _, r := range recs {
		k.write(r)
	}
}

package relay

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
	"golang.org/x/time/rate"
)

// CallOptions configure how the relay brokers calls. Media never passes
// through the relay: it hands each device ICE servers and carries the
// signaling between the devices in a call.
type CallOptions struct {
	// Disable refuses every call invitation (4266).
	Disable bool

	// RingTimeout ends a call nobody answered, with reason "timeout".
	// Defaults to 45 s.
	RingTimeout time.Duration

	// STUNURLs are handed to every device in a call as they are, e.g.
	// "stun:turn.example.com:3478". Defaults to none.
	STUNURLs []string

	// TURNURLs are handed to every device in a call with credentials of
	// the TURN REST API convention made with TURNSecret, e.g.
	// "turn:turn.example.com:3478?transport=udp". Both must be set for TURN.
	TURNURLs []string

	// TURNSecret is the secret shared with the TURN server (the embedded
	// one, or coturn's static-auth-secret). Defaults to none: no TURN.
	TURNSecret string

	// TURNCredentialTTL is how long handed-out TURN credentials stay valid;
	// a TURN server checks them on every allocation and refresh, so it
	// bounds how long a relayed call lasts. Defaults to 12 h.
	TURNCredentialTTL time.Duration

	// NodeTimeout is how long the relay nodes of a call that spans nodes
	// may stay silent on the bus before the other side takes them for
	// gone (crashed, or cut off): the node that owns the call ends the
	// part of the devices on the silent node, and a node holding devices
	// of a call whose owner went silent ends the call for them, both with
	// reason "failed". Nodes say they are alive every third of it.
	// Defaults to 15 s.
	NodeTimeout time.Duration
}

func (o *CallOptions) withDefaults() error {
	if o.RingTimeout < 0 {
		return fmt.Errorf("relay: CallOptions.RingTimeout %s is negative", o.RingTimeout)
	}
	if o.RingTimeout == 0 {
		o.RingTimeout = 45 * time.Second
	}
	if o.TURNCredentialTTL <= 0 {
		o.TURNCredentialTTL = 12 * time.Hour
	}
	if o.NodeTimeout < 0 {
		return fmt.Errorf("relay: CallOptions.NodeTimeout %s is negative", o.NodeTimeout)
	}
	if o.NodeTimeout == 0 {
		o.NodeTimeout = 15 * time.Second
	}
	if len(o.TURNURLs) > 0 && o.TURNSecret == "" {
		return fmt.Errorf("relay: TURN URLs given without a TURN secret")
	}
	return nil
}

// calls is this node's call broker: the live calls, which device of each
// user is in which, and who rings. Its decisions that need no state are in
// rules/calls.go.
//
// A call lives on the node its caller is connected to: that node owns its
// state and its timers. Devices of the call on other nodes are reached
// through the bus (calls_bus.go): the owner rings every node holding
// sessions of a callee, and those nodes forward their devices' accept,
// end and signal to the owner, which answers and pushes back through the
// bus. The devices of a call may so be spread over any nodes.
//
// Every method is safe for concurrent use; none blocks on the network.
// Writes to sessions only enqueue. A call record is written to the store
// by the goroutine that ended the call, after the lock is released.
type calls struct {
	opts  CallOptions
	store interface {
		Querier
		Appender
	}
	hub *hub
	fan *fanout
	ctx context.Context
	log *slog.Logger
	now func() time.Time

	ctl *control     // publishes to other nodes (nil: this node is alone)
	sub Subscription // watches the bus address of the calls this node owns

	// records appends the call records of calls ended at once (every
	// call of the sessions a network cut or a relay restart ends) in one
	// store transaction: each took a transaction, and on SQLite an fsync,
	// of its own on the store's writer, ahead of the message commits.
	records *writeBatcher[AppendRequest, AppendResult]

	mu     sync.Mutex
	live   map[string]*call
	bySess map[*Session][]*call // the calls a session is in or rings for
	busy   map[string]int       // user → live calls they are a participant of
	// remote holds the calls other nodes own that sessions of this node
	// ring for or are in.
	remote map[string]*remoteCall
}

// call is one live call.
type call struct {
	id, conv     string
	audio, video bool
	caller       string
	callerDevice string
	invited      []string             // every user, the caller included, sorted
	parts        map[string]callDev   // user → the device in the call
	ringing      map[string][]callDev // callee → their ringing devices
	// pending holds the callees rung through the bus whose nodes may still
	// answer with ringing devices, until the reach window ends.
	pending    map[string]bool
	remoteBusy bool                 // a node answered that a callee is in another call
	heard      map[string]time.Time // node → when it last said it holds devices of this call
	signals    map[callDev]*rate.Limiter
	answered   time.Time // the first accept
	timer      *time.Timer
	reach      *time.Timer
}

// waiting reports whether somebody may still answer c.
func (c *call) waiting() bool { return len(c.ringing) > 0 || len(c.pending) > 0 }

// callDev is a device in a call or ringing for one: a session of this node
// or, through the bus, of another (remoteDev). Requests are answered and
// pushes written through it the same way either way.
type callDev interface {
	callUser() string
	write(b []byte)
	reply(f proto.Frame)
	replyErr(id uint64, err error)
}

var _ callDev = (*Session)(nil)

func (s *Session) callUser() string { return s.user }

func newCalls(o CallOptions, store Store, h *hub, fan *fanout, ctx context.Context, log *slog.Logger) *calls {
	return &calls{opts: o, store: store, hub: h, fan: fan, ctx: ctx, log: log, now: time.Now,
		records: newWriteBatcher(recordBatch, store.Append),
		live:    make(map[string]*call), bySess: make(map[*Session][]*call), busy: make(map[string]int),
		remote: make(map[string]*remoteCall)}
}

// recordBatch is how many call records one store transaction appends.
const recordBatch = 64

// record is a call record to append once the lock is released.
type record struct {
	req AppendRequest
}

func (k *calls) ice(user string, now time.Time) []proto.ICEServer {
	o := &k.opts
	return iceServers(o.STUNURLs, o.TURNURLs, o.TURNSecret, user, now, o.TURNCredentialTTL)
}

// invite starts a call by s and rings every online device of the other
// invitees not already in a call.
func (k *calls) invite(s *Session, id uint64, b *proto.CallInvite) {
	if k.opts.Disable {
		s.replyErr(id, proto.Errorf(proto.CodeCallsOff, "calls are not enabled on this relay"))
		return
	}
	var members []string
	if _, _, p2p := proto.P2PMembers(b.ConvID); !p2p {
		var err error
		if members, err = k.store.Members(k.ctx, b.ConvID); err != nil {
			s.replyErr(id, err)
			return
		}
	}
	invited, perr := rules.CallInvitees(s.user, b.ConvID, members)
	if perr != nil {
		s.replyErr(id, perr)
		return
	}
	online := k.online(others(invited, s.user))
	if !k.watch(b.CallID) {
		s.replyErr(id, proto.Errorf(proto.CodeUnavailable, "the bus did not answer; retry"))
		return
	}
	now := k.now()
	k.mu.Lock()
	if _, taken := k.live[b.CallID]; taken || k.remote[b.CallID] != nil {
		k.mu.Unlock()
		k.unwatch(b.CallID)
		s.replyErr(id, proto.Errorf(proto.CodeCallExists, "call id %s is in use", b.CallID))
		return
	}
	if k.userBusyLocked(s.user) {
		k.mu.Unlock()
		k.unwatch(b.CallID)
		s.replyErr(id, proto.Errorf(proto.CodeCallState, "already in a call"))
		return
	}
	c := &call{id: b.CallID, conv: b.ConvID, audio: b.Audio, video: b.Video, caller: s.user, callerDevice: s.device,
		invited: invited, parts: map[string]callDev{s.user: s}, ringing: make(map[string][]callDev),
		pending: make(map[string]bool), heard: make(map[string]time.Time), signals: make(map[callDev]*rate.Limiter)}
	k.live[c.id] = c
	k.busy[s.user]++
	k.bySess[s] = append(k.bySess[s], c)
	s.reply(proto.Frame{Type: proto.TypeCallInfo, ID: id, Body: &proto.CallInfo{
		CallID: c.id, ICEServers: k.ice(s.user, now), Peers: others(invited, s.user)}})
	ring := proto.MustEncode(proto.Frame{Type: proto.TypeCallRing, Body: &proto.CallRing{
		CallID: c.id, ConvID: c.conv, From: s.user, Audio: c.audio, Video: c.video, Peers: invited}})
	busy := false
	var far []string // callees to ring on the other nodes
	for _, u := range invited {
		if u == s.user {
			continue
		}
		if k.userBusyLocked(u) {
			busy = true
			continue
		}
		far = append(far, u)
		if online[u] {
			c.pending[u] = true
		}
		devs := k.hub.sessionsOf(u)
		for _, d := range devs {
			k.bySess[d] = append(k.bySess[d], c)
			d.write(ring)
			c.ringing[u] = append(c.ringing[u], d)
		}
	}
	if len(far) > 0 && k.ctl != nil {
		k.ctl.publishTo(far, controlMsg{Op: opCallRing, Call: c.id, Frame: ring})
	}
	var rec *record
	switch {
	case c.waiting():
		c.timer = time.AfterFunc(k.opts.RingTimeout, func() { k.ringTimeout(c) })
		if len(c.pending) > 0 {
			c.reach = time.AfterFunc(callReach, func() { k.reachTimeout(c) })
		}
	case busy:
		rec = k.endLocked(c, proto.CallBusy, now)
	default:
		rec = k.endLocked(c, proto.CallUnavailable, now)
	}
	k.mu.Unlock()
	k.write(rec)
}

// accept joins s to a call ringing on it; the callee's other devices stop
// ringing (answeredElsewhere) and the participants already in are told to
// make s an offer.
func (k *calls) accept(s *Session, id uint64, b *proto.CallAccept) {
	if !k.forward(s, id, proto.TypeCallAccept, b.CallID, b) {
		k.acceptDev(s, id, b)
	}
}

func (k *calls) acceptDev(s callDev, id uint64, b *proto.CallAccept) {
	now := k.now()
	k.mu.Lock()
	defer k.mu.Unlock()
	c := k.live[b.CallID]
	if c == nil {
		s.replyErr(id, proto.Errorf(proto.CodeCallNotFound, "no call %s", b.CallID))
		return
	}
	user := s.callUser()
	devs := c.ringing[user]
	if !slices.Contains(devs, s) {
		if c.parts[user] == s {
			s.replyErr(id, proto.Errorf(proto.CodeCallState, "already in call %s", c.id))
		} else {
			s.replyErr(id, proto.Errorf(proto.CodeNotInCall, "call %s does not ring on this device", c.id))
		}
		return
	}
	if k.busy[user] > 0 {
		s.replyErr(id, proto.Errorf(proto.CodeCallState, "already in another call"))
		return
	}
	delete(c.ringing, user)
	delete(c.pending, user)
	elsewhere := proto.MustEncode(proto.Frame{Type: proto.TypeCallState, Body: &proto.CallState{
		CallID: c.id, State: proto.CallStateEnded, Reason: proto.CallAnsweredElsewhere}})
	for _, d := range devs {
		if d != s {
			k.forget(d, c)
			d.write(elsewhere)
		}
	}
	if c.answered.IsZero() {
		c.answered = now
	}
	peers := make([]string, 0, len(c.parts))
	joined := proto.MustEncode(proto.Frame{Type: proto.TypeCallState, Body: &proto.CallState{
		CallID: c.id, State: proto.CallStateJoined, User: user}})
	for u, p := range c.parts {
		peers = append(peers, u)
		p.write(joined)
	}
	slices.Sort(peers)
	c.parts[user] = s
	k.busy[user]++
	if !c.waiting() && c.timer != nil {
		c.timer.Stop()
	}
	s.reply(proto.Frame{Type: proto.TypeCallInfo, ID: id, Body: &proto.CallInfo{
		CallID: c.id, ICEServers: k.ice(user, now), Peers: peers}})
}

// end is CallEnd: cancel, reject or hang up, whichever fits s's place in
// the call.
func (k *calls) end(s *Session, id uint64, b *proto.CallEnd) {
	if !k.forward(s, id, proto.TypeCallEnd, b.CallID, b) {
		k.endDev(s, id, b)
	}
}

func (k *calls) endDev(s callDev, id uint64, b *proto.CallEnd) {
	now := k.now()
	k.mu.Lock()
	c := k.live[b.CallID]
	if c == nil {
		k.mu.Unlock()
		s.replyErr(id, proto.Errorf(proto.CodeCallNotFound, "no call %s", b.CallID))
		return
	}
	ringing := slices.Contains(c.ringing[s.callUser()], s)
	if !ringing && c.parts[s.callUser()] != s {
		k.mu.Unlock()
		s.replyErr(id, proto.Errorf(proto.CodeNotInCall, "this device is not in call %s", c.id))
		return
	}
	s.reply(proto.Frame{Type: proto.TypeOK, ID: id})
	reason := rules.CallLeaveReason(s.callUser() == c.caller, !c.answered.IsZero(), ringing)
	rec := k.leaveLocked(c, s, reason, now)
	k.mu.Unlock()
	k.write(rec)
}

// leaveLocked takes s out of c for reason, and ends c when it cannot go on:
// fewer than two participants and nobody left to answer, or the caller
// cancelling.
func (k *calls) leaveLocked(c *call, s callDev, reason string, now time.Time) *record {
	user := s.callUser()
	if slices.Contains(c.ringing[user], s) {
		// A rejection stops every device of the user; a ringing device
		// that vanished stops only itself.
		devs := c.ringing[user]
		if reason == proto.CallRejected {
			delete(c.ringing, user)
			delete(c.pending, user)
			st := proto.MustEncode(proto.Frame{Type: proto.TypeCallState, Body: &proto.CallState{
				CallID: c.id, State: proto.CallStateEnded, Reason: proto.CallRejected}})
			for _, d := range devs {
				k.forget(d, c)
				d.write(st)
			}
		} else {
			k.forget(s, c)
			if devs = slices.DeleteFunc(slices.Clone(devs), func(d callDev) bool { return d == s }); len(devs) == 0 {
				delete(c.ringing, user)
			} else {
				c.ringing[user] = devs
			}
		}
		if !c.waiting() && len(c.parts) < 2 {
			if reason != proto.CallRejected {
				reason = proto.CallUnavailable
			}
			return k.endLocked(c, reason, now)
		}
		return nil
	}
	if c.parts[user] != s {
		return nil // not in c (a late word from another node)
	}
	if user == c.caller && c.answered.IsZero() {
		return k.endLocked(c, reason, now) // cancelled, or failed
	}
	delete(c.parts, user)
	delete(c.signals, s)
	k.busy[user]--
	if k.busy[user] <= 0 {
		delete(k.busy, user)
	}
	k.forget(s, c)
	s.write(proto.MustEncode(proto.Frame{Type: proto.TypeCallState, Body: &proto.CallState{
		CallID: c.id, State: proto.CallStateEnded, Reason: reason, DurationMs: callMs(c.answered, now)}}))
	if len(c.parts) < 2 && (!c.waiting() || len(c.parts) == 0) {
		return k.endLocked(c, reason, now)
	}
	left := proto.MustEncode(proto.Frame{Type: proto.TypeCallState, Body: &proto.CallState{
		CallID: c.id, State: proto.CallStateLeft, User: user}})
	for _, p := range c.parts {
		p.write(left)
	}
	return nil
}

func callMs(t, now time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return now.Sub(t).Milliseconds()
}

// signal routes one SDP or candidate from s to the device of b.Peer in the
// same call, and nowhere else.
func (k *calls) signal(s *Session, id uint64, b *proto.CallSignal) {
	if !k.forward(s, id, proto.TypeCallSignal, b.CallID, b) {
		k.signalDev(s, id, b)
	}
}

func (k *calls) signalDev(s callDev, id uint64, b *proto.CallSignal) {
	k.mu.Lock()
	defer k.mu.Unlock()
	c := k.live[b.CallID]
	if c == nil {
		s.replyErr(id, proto.Errorf(proto.CodeCallNotFound, "no call %s", b.CallID))
		return
	}
	if c.parts[s.callUser()] != s {
		s.replyErr(id, proto.Errorf(proto.CodeNotInCall, "this device is not in call %s", c.id))
		return
	}
	to := c.parts[b.Peer]
	if to == nil || to == s {
		s.replyErr(id, proto.Errorf(proto.CodeCallState, "%s is not in call %s", b.Peer, c.id))
		return
	}
	lim := c.signals[s]
	if lim == nil {
		lim = rate.NewLimiter(rules.CallSignalRate, rules.CallSignalBurst)
		c.signals[s] = lim
	}
	if !lim.Allow() {
		s.replyErr(id, proto.Errorf(proto.CodeCallFlood, "too many signaling frames for call %s", c.id))
		return
	}
	to.write(proto.MustEncode(proto.Frame{Type: proto.TypeCallSignal, Body: &proto.CallSignal{
		CallID: c.id, Peer: s.callUser(), Kind: b.Kind, Data: b.Data}}))
	s.reply(proto.Frame{Type: proto.TypeOK, ID: id})
}

// gone takes a session whose connection ended out of every call: a
// participant that vanished (closed, or silent past the heartbeat timeout)
// ends a one-to-one call ("failed"), a ringing device stops ringing.
func (k *calls) gone(s *Session) {
	now := k.now()
	k.mu.Lock()
	var recs []*record
	for _, c := range slices.Clone(k.bySess[s]) {
		if k.live[c.id] != c {
			continue
		}
		if r := k.leaveLocked(c, s, proto.CallFailed, now); r != nil {
			recs = append(recs, r)
		}
	}
	delete(k.bySess, s)
	k.goneRemoteLocked(s)
	k.mu.Unlock()
	for _, r := range recs {
		k.write(r)
	}
}

// ringTimeout ends the ringing of a call nobody (else) answered in time.
func (k *calls) ringTimeout(c *call) {
	now := k.now()
	k.mu.Lock()
	if k.live[c.id] != c || !c.waiting() {
		k.mu.Unlock()
		return
	}
	clear(c.pending)
	st := proto.MustEncode(proto.Frame{Type: proto.TypeCallState, Body: &proto.CallState{
		CallID: c.id, State: proto.CallStateEnded, Reason: proto.CallTimeout}})
	for u, devs := range c.ringing {
		for _, d := range devs {
			k.forget(d, c)
			d.write(st)
		}
		delete(c.ringing, u)
	}
	var rec *record
	if len(c.parts) < 2 {
		rec = k.endLocked(c, proto.CallTimeout, now)
	}
	k.mu.Unlock()
	k.write(rec)
}

// endLocked ends c for everyone still in it or ringing for it, and returns
// the call record to write.
func (k *calls) endLocked(c *call, reason string, now time.Time) *record {
	if c.timer != nil {
		c.timer.Stop()
	}
	if c.reach != nil {
		c.reach.Stop()
	}
	delete(k.live, c.id)
	k.unwatchLater(c.id)
	dur := callMs(c.answered, now)
	st := proto.MustEncode(proto.Frame{Type: proto.TypeCallState, Body: &proto.CallState{
		CallID: c.id, State: proto.CallStateEnded, Reason: reason, DurationMs: dur}})
	for u, p := range c.parts {
		k.busy[u]--
		if k.busy[u] <= 0 {
			delete(k.busy, u)
		}
		k.forget(p, c)
		p.write(st)
	}
	ringReason := reason
	if reason == proto.CallHangup || reason == proto.CallFailed {
		ringReason = proto.CallCancelled // a group call ended before these answered
	}
	rst := st
	if ringReason != reason {
		rst = proto.MustEncode(proto.Frame{Type: proto.TypeCallState, Body: &proto.CallState{
			CallID: c.id, State: proto.CallStateEnded, Reason: ringReason}})
	}
	for _, devs := range c.ringing {
		for _, d := range devs {
			k.forget(d, c)
			d.write(rst)
		}
	}
	media := "audio"
	if c.video {
		media = "video"
	}
	body, _ := json.Marshal(proto.CallRecord{CallID: c.id, Media: media,
		Outcome: rules.CallOutcome(!c.answered.IsZero(), reason), DurationMs: dur})
	return &record{req: AppendRequest{Sender: c.caller, Device: c.callerDevice, CreatedAt: now.UnixMilli(),
		Send: proto.Send{ConvID: c.conv, ClientID: "call." + c.id, MsgType: proto.MsgCall, Body: body}}}
}

// forget drops c from the calls of d when it is a session of this node.
func (k *calls) forget(d callDev, c *call) {
	s, ok := d.(*Session)
	if !ok {
		return
	}
	list := slices.DeleteFunc(k.bySess[s], func(x *call) bool { return x == c })
	if len(list) == 0 {
		delete(k.bySess, s)
	} else {
		k.bySess[s] = list
	}
}

// write appends a call record and fans it out like any message: it is in
// every member's history and sync, so a device offline during the call
// sees it.
func (k *calls) write(r *record) {
	if r == nil {
		return
	}
	res, err := k.records.do(k.ctx, r.req)
	if err == nil && res.Err != nil {
		err = res.Err
	}
	if err != nil {
		k.log.Error("call record not stored", "conv", r.req.Send.ConvID, "call", r.req.Send.ClientID, "err", err)
		return
	}
	if !res.Duplicate {
		k.fan.publish(res.Members, "", proto.MustEncode(proto.Frame{Type: proto.TypeDeliver,
			Body: &proto.Deliver{Message: res.Message}}))
	}
}

// others returns users without u.
func others(users []string, u string) []string {
	out := make([]string, 0, len(users))
	for _, x := range users {
		if x != u {
			out = append(out, x)
		}
	}
	return out
}

// TURNCredentials returns the time-limited TURN credentials of user under
// the TURN REST API convention that coturn (use-auth-secret) and pion/turn
// (LongTermTURNRESTAuthHandler) verify: the username is "<expiry unix
// seconds>:<user>" and the password base64(HMAC-SHA1(secret, username)).
// A TURN server holding the same secret accepts them until the expiry,
// without asking the relay.
func TURNCredentials(secret, user string, now time.Time, ttl time.Duration) (username, credential string) {
	username = strconv.FormatInt(now.Add(ttl).Unix(), 10) + ":" + user
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(username))
	return username, base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// ICEServers returns the ICE servers a device of user gets for one call:
// the STUN URLs as they are, and the TURN URLs with fresh credentials (none
// when secret is empty: a TURN server without a shared secret cannot check
// them).
func iceServers(stun, turn []string, secret, user string, now time.Time, ttl time.Duration) []proto.ICEServer {
	var out []proto.ICEServer
	if len(stun) > 0 {
		out = append(out, proto.ICEServer{URLs: slices.Clone(stun)})
	}
	if len(turn) > 0 && secret != "" {
		u, c := TURNCredentials(secret, user, now, ttl)
		out = append(out, proto.ICEServer{URLs: slices.Clone(turn), Username: u, Credential: c})
	}
	return out
}

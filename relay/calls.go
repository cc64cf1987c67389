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
	if len(o.TURNURLs) > 0 && o.TURNSecret == "" {
		return fmt.Errorf("relay: TURN URLs given without a TURN secret")
	}
	return nil
}

// calls is this node's call broker: the live calls, which device of each
// user is in which, and who rings. Its decisions that need no state are in
// rules/calls.go.
//
// A call lives on the node its caller is connected to, and reaches the
// devices connected to that node: in a deployment of several relay nodes
// behind a load balancer, the users of a call must reach the same node
// (route by conversation or user), or the callee is "unavailable".
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

	mu     sync.Mutex
	live   map[string]*call
	bySess map[*Session][]*call // the calls a session is in or rings for
	busy   map[string]int       // user → live calls they are a participant of
}

// call is one live call.
type call struct {
	id, conv     string
	audio, video bool
	caller       string
	callerDevice string
	invited      []string              // every user, the caller included, sorted
	parts        map[string]*Session   // user → the device in the call
	ringing      map[string][]*Session // callee → their ringing devices
	signals      map[*Session]*rate.Limiter
	answered     time.Time // the first accept
	timer        *time.Timer
}

func newCalls(o CallOptions, store Store, h *hub, fan *fanout, ctx context.Context, log *slog.Logger) *calls {
	return &calls{opts: o, store: store, hub: h, fan: fan, ctx: ctx, log: log, now: time.Now,
		live: make(map[string]*call), bySess: make(map[*Session][]*call), busy: make(map[string]int)}
}

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
	now := k.now()
	k.mu.Lock()
	if _, taken := k.live[b.CallID]; taken {
		k.mu.Unlock()
		s.replyErr(id, proto.Errorf(proto.CodeCallExists, "call id %s is in use", b.CallID))
		return
	}
	if k.busy[s.user] > 0 {
		k.mu.Unlock()
		s.replyErr(id, proto.Errorf(proto.CodeCallState, "already in a call"))
		return
	}
	c := &call{id: b.CallID, conv: b.ConvID, audio: b.Audio, video: b.Video, caller: s.user, callerDevice: s.device,
		invited: invited, parts: map[string]*Session{s.user: s}, ringing: make(map[string][]*Session),
		signals: make(map[*Session]*rate.Limiter)}
	k.live[c.id] = c
	k.busy[s.user]++
	k.bySess[s] = append(k.bySess[s], c)
	s.reply(proto.Frame{Type: proto.TypeCallInfo, ID: id, Body: &proto.CallInfo{
		CallID: c.id, ICEServers: k.ice(s.user, now), Peers: others(invited, s.user)}})
	ring := proto.MustEncode(proto.Frame{Type: proto.TypeCallRing, Body: &proto.CallRing{
		CallID: c.id, ConvID: c.conv, From: s.user, Audio: c.audio, Video: c.video, Peers: invited}})
	busy := false
	for _, u := range invited {
		if u == s.user {
			continue
		}
		if k.busy[u] > 0 {
			busy = true
			continue
		}
		devs := k.hub.sessionsOf(u)
		for _, d := range devs {
			k.bySess[d] = append(k.bySess[d], c)
			d.write(ring)
		}
		if len(devs) > 0 {
			c.ringing[u] = devs
		}
	}
	var rec *record
	switch {
	case len(c.ringing) > 0:
		c.timer = time.AfterFunc(k.opts.RingTimeout, func() { k.ringTimeout(c) })
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
	now := k.now()
	k.mu.Lock()
	defer k.mu.Unlock()
	c := k.live[b.CallID]
	if c == nil {
		s.replyErr(id, proto.Errorf(proto.CodeCallNotFound, "no call %s", b.CallID))
		return
	}
	devs := c.ringing[s.user]
	if !slices.Contains(devs, s) {
		if c.parts[s.user] == s {
			s.replyErr(id, proto.Errorf(proto.CodeCallState, "already in call %s", c.id))
		} else {
			s.replyErr(id, proto.Errorf(proto.CodeNotInCall, "call %s does not ring on this device", c.id))
		}
		return
	}
	if k.busy[s.user] > 0 {
		s.replyErr(id, proto.Errorf(proto.CodeCallState, "already in another call"))
		return
	}
	delete(c.ringing, s.user)
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
		CallID: c.id, State: proto.CallStateJoined, User: s.user}})
	for u, p := range c.parts {
		peers = append(peers, u)
		p.write(joined)
	}
	slices.Sort(peers)
	c.parts[s.user] = s
	k.busy[s.user]++
	if len(c.ringing) == 0 && c.timer != nil {
		c.timer.Stop()
	}
	s.reply(proto.Frame{Type: proto.TypeCallInfo, ID: id, Body: &proto.CallInfo{
		CallID: c.id, ICEServers: k.ice(s.user, now), Peers: peers}})
}

// end is CallEnd: cancel, reject or hang up, whichever fits s's place in
// the call.
func (k *calls) end(s *Session, id uint64, b *proto.CallEnd) {
	now := k.now()
	k.mu.Lock()
	c := k.live[b.CallID]
	if c == nil {
		k.mu.Unlock()
		s.replyErr(id, proto.Errorf(proto.CodeCallNotFound, "no call %s", b.CallID))
		return
	}
	ringing := slices.Contains(c.ringing[s.user], s)
	if !ringing && c.parts[s.user] != s {
		k.mu.Unlock()
		s.replyErr(id, proto.Errorf(proto.CodeNotInCall, "this device is not in call %s", c.id))
		return
	}
	s.reply(proto.Frame{Type: proto.TypeOK, ID: id})
	reason := rules.CallLeaveReason(s.user == c.caller, !c.answered.IsZero(), ringing)
	rec := k.leaveLocked(c, s, reason, now)
	k.mu.Unlock()
	k.write(rec)
}

// leaveLocked takes s out of c for reason, and ends c when it cannot go on:
// fewer than two participants and nobody left to answer, or the caller
// cancelling.
func (k *calls) leaveLocked(c *call, s *Session, reason string, now time.Time) *record {
	if slices.Contains(c.ringing[s.user], s) {
		// A rejection stops every device of the user; a ringing device
		// that vanished stops only itself.
		devs := c.ringing[s.user]
		if reason == proto.CallRejected {
			delete(c.ringing, s.user)
			st := proto.MustEncode(proto.Frame{Type: proto.TypeCallState, Body: &proto.CallState{
				CallID: c.id, State: proto.CallStateEnded, Reason: proto.CallRejected}})
			for _, d := range devs {
				k.forget(d, c)
				d.write(st)
			}
		} else {
			k.forget(s, c)
			if devs = slices.DeleteFunc(slices.Clone(devs), func(d *Session) bool { return d == s }); len(devs) == 0 {
				delete(c.ringing, s.user)
			} else {
				c.ringing[s.user] = devs
			}
		}
		if len(c.ringing) == 0 && len(c.parts) < 2 {
			if reason != proto.CallRejected {
				reason = proto.CallUnavailable
			}
			return k.endLocked(c, reason, now)
		}
		return nil
	}
	if s.user == c.caller && c.answered.IsZero() {
		return k.endLocked(c, reason, now) // cancelled, or failed
	}
	delete(c.parts, s.user)
	delete(c.signals, s)
	k.busy[s.user]--
	k.forget(s, c)
	s.write(proto.MustEncode(proto.Frame{Type: proto.TypeCallState, Body: &proto.CallState{
		CallID: c.id, State: proto.CallStateEnded, Reason: reason, DurationMs: callMs(c.answered, now)}}))
	if len(c.parts) < 2 && (len(c.ringing) == 0 || len(c.parts) == 0) {
		return k.endLocked(c, reason, now)
	}
	left := proto.MustEncode(proto.Frame{Type: proto.TypeCallState, Body: &proto.CallState{
		CallID: c.id, State: proto.CallStateLeft, User: s.user}})
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
	k.mu.Lock()
	defer k.mu.Unlock()
	c := k.live[b.CallID]
	if c == nil {
		s.replyErr(id, proto.Errorf(proto.CodeCallNotFound, "no call %s", b.CallID))
		return
	}
	if c.parts[s.user] != s {
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
		CallID: c.id, Peer: s.user, Kind: b.Kind, Data: b.Data}}))
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
	k.mu.Unlock()
	for _, r := range recs {
		k.write(r)
	}
}

// ringTimeout ends the ringing of a call nobody (else) answered in time.
func (k *calls) ringTimeout(c *call) {
	now := k.now()
	k.mu.Lock()
	if k.live[c.id] != c || len(c.ringing) == 0 {
		k.mu.Unlock()
		return
	}
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
	delete(k.live, c.id)
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

// forget drops c from the calls of s.
func (k *calls) forget(s *Session, c *call) {
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
	res, err := k.store.Append(context.WithoutCancel(k.ctx), []AppendRequest{r.req})
	if err == nil && len(res) == 1 && res[0].Err != nil {
		err = res[0].Err
	}
	if err != nil {
		k.log.Error("call record not stored", "conv", r.req.Send.ConvID, "call", r.req.Send.ClientID, "err", err)
		return
	}
	if !res[0].Duplicate {
		k.fan.publish(res[0].Members, "", proto.MustEncode(proto.Frame{Type: proto.TypeDeliver,
			Body: &proto.Deliver{Message: res[0].Message}}))
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

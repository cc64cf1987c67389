//go:build !js

package relay

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
)

// callState waits for the next call-state push.
func callState(c *client) proto.CallState {
	c.t.Helper()
	return *c.push(proto.TypeCallState).Body.(*proto.CallState)
}

// callRecord waits for the call record delivered to c.
func callRecord(c *client) (proto.Message, proto.CallRecord) {
	c.t.Helper()
	f := c.await("call record", func(f proto.Frame) bool {
		d, isDeliver := f.Body.(*proto.Deliver)
		return isDeliver && d.Message.MsgType == proto.MsgCall
	})
	m := f.Body.(*proto.Deliver).Message
	var r proto.CallRecord
	ok(c.t, json.Unmarshal(m.Body, &r))
	return m, r
}

func invite(c *client, id, conv string, video bool) proto.Frame {
	c.t.Helper()
	return c.call(proto.TypeCallInvite, &proto.CallInvite{CallID: id, ConvID: conv, Audio: true, Video: video})
}

func callInfo(t *testing.T, f proto.Frame) *proto.CallInfo {
	t.Helper()
	if f.Type != proto.TypeCallInfo {
		t.Fatalf("got %s %v, want call-info", f.Type, types([]proto.Frame{f}))
	}
	return f.Body.(*proto.CallInfo)
}

func signal(c *client, call, peer, kind, data string) proto.Frame {
	c.t.Helper()
	return c.call(proto.TypeCallSignal, &proto.CallSignal{CallID: call, Peer: peer, Kind: kind, Data: data})
}

// TestCallAnswered: a call rings every device of the callee; the one that
// answers is in it, the other stops ringing (answeredElsewhere); signaling
// flows only between the two devices in the call; hang-up ends it for both
// and every device of both users gets the call record.
func TestCallAnswered(t *testing.T) {
	t.Parallel()
	r := startRelay(t, func(o *Options) {
		o.Calls.STUNURLs = []string{"stun:127.0.0.1:3478"}
		o.Calls.TURNURLs = []string{"turn:127.0.0.1:3478?transport=udp"}
		o.Calls.TURNSecret = "turn-secret"
	})
	alice, _ := login(t, r, "alice", "a1")
	bob1, _ := login(t, r, "bob", "b1")
	bob2, _ := login(t, r, "bob", "b2")
	carol, _ := login(t, r, "carol", "c1")
	p2p := proto.P2PID("alice", "bob")

	info := callInfo(t, invite(alice, "call1", p2p, true))
	equal(t, info.Peers, []string{"bob"}, "peers of the caller")
	equal(t, len(info.ICEServers), 2, "stun and turn servers")
	turn := info.ICEServers[1]
	user, cred := TURNCredentials("turn-secret", "alice", time.Now(), 12*time.Hour)
	if !strings.HasSuffix(turn.Username, ":alice") || turn.Credential == "" {
		t.Fatalf("turn credentials %+v", turn)
	}
	if turn.Username == user && turn.Credential != cred {
		t.Fatalf("credential %q for %q, want %q", turn.Credential, user, cred)
	}
	for _, b := range []*client{bob1, bob2} {
		ring := b.push(proto.TypeCallRing).Body.(*proto.CallRing)
		equal(t, *ring, proto.CallRing{CallID: "call1", ConvID: p2p, From: "alice", Audio: true, Video: true,
			Peers: []string{"alice", "bob"}}, "ring")
	}
	carol.quiet("carol is not called")
	alice.quiet("the caller's own device does not ring")

	// Before anyone answered, nobody may signal; carol may not accept.
	equal(t, errCode(t, signal(alice, "call1", "bob", proto.SignalOffer, "v=0")), proto.CodeCallState, "offer before an answer")
	equal(t, errCode(t, carol.call(proto.TypeCallAccept, &proto.CallAccept{CallID: "call1"})), proto.CodeNotInCall, "carol accepts")

	binfo := callInfo(t, bob2.call(proto.TypeCallAccept, &proto.CallAccept{CallID: "call1", Audio: true, Video: true}))
	equal(t, binfo.Peers, []string{"alice"}, "peers of the callee")
	equal(t, callState(bob1), proto.CallState{CallID: "call1", State: proto.CallStateEnded, Reason: proto.CallAnsweredElsewhere}, "bob1 stops ringing")
	equal(t, callState(alice), proto.CallState{CallID: "call1", State: proto.CallStateJoined, User: "bob"}, "alice learns bob joined")
	equal(t, errCode(t, bob1.call(proto.TypeCallAccept, &proto.CallAccept{CallID: "call1"})), proto.CodeNotInCall, "bob1 accepts too late")
	equal(t, errCode(t, bob2.call(proto.TypeCallAccept, &proto.CallAccept{CallID: "call1"})), proto.CodeCallState, "bob2 accepts twice")

	// Offer, answer, candidates: only between alice and bob2.
	equal(t, signal(alice, "call1", "bob", proto.SignalOffer, "v=0 offer").Type, proto.TypeOK, "offer")
	sig := *bob2.push(proto.TypeCallSignal).Body.(*proto.CallSignal)
	equal(t, sig, proto.CallSignal{CallID: "call1", Peer: "alice", Kind: proto.SignalOffer, Data: "v=0 offer"}, "offer at bob2")
	equal(t, signal(bob2, "call1", "alice", proto.SignalAnswer, "v=0 answer").Type, proto.TypeOK, "answer")
	sig = *alice.push(proto.TypeCallSignal).Body.(*proto.CallSignal)
	equal(t, sig, proto.CallSignal{CallID: "call1", Peer: "bob", Kind: proto.SignalAnswer, Data: "v=0 answer"}, "answer at alice")
	equal(t, signal(bob2, "call1", "alice", proto.SignalCandidate, `{"candidate":"c"}`).Type, proto.TypeOK, "candidate")
	alice.push(proto.TypeCallSignal)
	// Renegotiation: the callee offers again.
	equal(t, signal(bob2, "call1", "alice", proto.SignalOffer, "v=0 again").Type, proto.TypeOK, "renegotiation offer")
	equal(t, alice.push(proto.TypeCallSignal).Body.(*proto.CallSignal).Data, "v=0 again", "renegotiation at alice")

	// Bad input: not in the call, a foreign call id, a peer not in it.
	equal(t, errCode(t, signal(carol, "call1", "alice", proto.SignalOffer, "v=0")), proto.CodeNotInCall, "carol signals into the call")
	equal(t, errCode(t, signal(bob1, "call1", "alice", proto.SignalCandidate, "{}")), proto.CodeNotInCall, "bob's other device signals")
	equal(t, errCode(t, signal(alice, "nocall", "bob", proto.SignalOffer, "v=0")), proto.CodeCallNotFound, "SDP for a foreign call id")
	equal(t, errCode(t, signal(alice, "call1", "carol", proto.SignalOffer, "v=0")), proto.CodeCallState, "signal to a user not in the call")
	equal(t, errCode(t, carol.call(proto.TypeCallEnd, &proto.CallEnd{CallID: "call1"})), proto.CodeNotInCall, "carol hangs up their call")
	bob1.quiet("bob1 sees no signaling")
	carol.quiet("carol sees nothing")

	// Busy: carol calls bob, who is in a call: nothing rings, the call ends busy.
	cp2p := proto.P2PID("carol", "bob")
	callInfo(t, invite(carol, "call2", cp2p, false))
	equal(t, callState(carol), proto.CallState{CallID: "call2", State: proto.CallStateEnded, Reason: proto.CallBusy}, "carol gets busy")
	_, rec := callRecord(carol)
	equal(t, rec, proto.CallRecord{CallID: "call2", Media: "audio", Outcome: proto.CallBusy}, "busy record")
	callRecord(bob1)
	callRecord(bob2)

	time.Sleep(20 * time.Millisecond) // a duration above zero
	equal(t, bob2.call(proto.TypeCallEnd, &proto.CallEnd{CallID: "call1"}).Type, proto.TypeOK, "bob hangs up")
	for _, c := range []*client{alice, bob2} {
		st := callState(c)
		if st.State != proto.CallStateEnded || st.Reason != proto.CallHangup || st.DurationMs <= 0 {
			t.Fatalf("end of the call: %+v", st)
		}
	}
	for _, c := range []*client{alice, bob1, bob2} {
		m, rec := callRecord(c)
		equal(t, m.Sender, "alice", "record sender")
		equal(t, m.ConvID, p2p, "record conversation")
		if rec.Outcome != "completed" || rec.Media != "video" || rec.CallID != "call1" || rec.DurationMs <= 0 {
			t.Fatalf("record %+v", rec)
		}
	}
	// The record is in the history too: a device offline now syncs it.
	page := carol.call(proto.TypeHistory, &proto.History{ConvID: cp2p, Limit: 10}).Body.(*proto.HistoryPage)
	equal(t, len(page.Messages), 1, "busy record in carol's history")
	alice2, _ := login(t, r, "alice", "a2")
	page = alice2.call(proto.TypeHistory, &proto.History{ConvID: p2p, Limit: 10}).Body.(*proto.HistoryPage)
	equal(t, len(page.Messages), 1, "call record in the history of alice's new device")
	equal(t, page.Messages[0].MsgType, proto.MsgCall, "record type")
	equal(t, errCode(t, signal(alice, "call1", "bob", proto.SignalOffer, "v=0")), proto.CodeCallNotFound, "signal after the end")
}

// TestCallEndings: reject, cancel, timeout, unavailable, a vanished peer,
// each with its reason and its record.
func TestCallEndings(t *testing.T) {
	t.Parallel()
	r := startRelay(t, func(o *Options) { o.Calls.RingTimeout = 300 * time.Millisecond })
	alice, _ := login(t, r, "alice", "a1")
	bob1, _ := login(t, r, "bob", "b1")
	bob2, _ := login(t, r, "bob", "b2")
	p2p := proto.P2PID("alice", "bob")
	ringBoth := func() {
		bob1.push(proto.TypeCallRing)
		bob2.push(proto.TypeCallRing)
	}
	ended := func(c *client, id, reason string) {
		t.Helper()
		equal(t, callState(c), proto.CallState{CallID: id, State: proto.CallStateEnded, Reason: reason}, reason+" at "+id)
	}
	records := func(id, outcome string) {
		t.Helper()
		for _, c := range []*client{alice, bob1, bob2} {
			_, rec := callRecord(c)
			equal(t, rec, proto.CallRecord{CallID: id, Media: "audio", Outcome: outcome}, "record of "+id)
		}
	}

	// Reject: every device of bob stops, alice hears "rejected".
	callInfo(t, invite(alice, "rej", p2p, false))
	ringBoth()
	equal(t, bob1.call(proto.TypeCallEnd, &proto.CallEnd{CallID: "rej"}).Type, proto.TypeOK, "reject")
	ended(bob1, "rej", proto.CallRejected)
	ended(bob2, "rej", proto.CallRejected)
	ended(alice, "rej", proto.CallRejected)
	records("rej", proto.CallRejected)

	// Cancel: the caller gives up.
	callInfo(t, invite(alice, "can", p2p, false))
	ringBoth()
	equal(t, alice.call(proto.TypeCallEnd, &proto.CallEnd{CallID: "can"}).Type, proto.TypeOK, "cancel")
	ended(alice, "can", proto.CallCancelled)
	ended(bob1, "can", proto.CallCancelled)
	ended(bob2, "can", proto.CallCancelled)
	records("can", proto.CallCancelled)

	// Timeout: nobody answers within the ring timeout.
	callInfo(t, invite(alice, "tmo", p2p, false))
	ringBoth()
	ended(bob1, "tmo", proto.CallTimeout)
	ended(bob2, "tmo", proto.CallTimeout)
	ended(alice, "tmo", proto.CallTimeout)
	records("tmo", proto.CallTimeout)

	// Unavailable: dave has no device online.
	dp2p := proto.P2PID("alice", "dave")
	callInfo(t, invite(alice, "una", dp2p, false))
	ended(alice, "una", proto.CallUnavailable)
	_, rec := callRecord(alice)
	equal(t, rec.Outcome, proto.CallUnavailable, "unavailable record")

	// A vanished peer: bob2 answers, then its connection ends (as a silent
	// one does at the heartbeat timeout): the call ends "failed" for alice.
	callInfo(t, invite(alice, "van", p2p, false))
	ringBoth()
	callInfo(t, bob2.call(proto.TypeCallAccept, &proto.CallAccept{CallID: "van", Audio: true}))
	ended(bob1, "van", proto.CallAnsweredElsewhere)
	equal(t, callState(alice).State, proto.CallStateJoined, "joined")
	_ = bob2.c.CloseNow()
	st := callState(alice)
	equal(t, st.Reason, proto.CallFailed, "vanished peer")
	for _, c := range []*client{alice, bob1} {
		_, rec := callRecord(c)
		equal(t, rec.Outcome, "completed", "record of the vanished call")
	}
	// A duplicate id while live, and calls switched off, are refused.
	callInfo(t, invite(alice, "dup", p2p, false))
	equal(t, errCode(t, invite(alice, "dup", p2p, false)), proto.CodeCallExists, "duplicate call id")
}

// TestCallSilentPeer: a participant that stops sending anything is closed
// at the heartbeat timeout, and that ends the call on the relay's side.
func TestCallSilentPeer(t *testing.T) {
	t.Parallel()
	// Both keep pinging until bob is in the call, and alice after it: only
	// bob's silence, from then on, may run into the timeout, however slowly
	// a loaded machine gets the call set up.
	r := startRelay(t, func(o *Options) { o.Heartbeat = 100 * time.Millisecond; o.HeartbeatTimeout = time.Second })
	alice, _ := login(t, r, "alice", "a1")
	alice.keepAlive()
	bob, _ := login(t, r, "bob", "b1")
	bobSilent := bob.keepAlive()
	p2p := proto.P2PID("alice", "bob")
	callInfo(t, invite(alice, "sil", p2p, true))
	bob.push(proto.TypeCallRing)
	callInfo(t, bob.call(proto.TypeCallAccept, &proto.CallAccept{CallID: "sil"}))
	callState(alice) // joined
	bobSilent()
	st := callState(alice)
	equal(t, st.State, proto.CallStateEnded, "state")
	equal(t, st.Reason, proto.CallFailed, "reason")
	bob.expectClose(proto.CodeHeartbeatTimeout)
}

// TestCallGroup: a group call rings every member but the caller, runs as a
// mesh, goes on when one leaves, and refuses groups above the limit and
// callers outside the group.
func TestCallGroup(t *testing.T) {
	t.Parallel()
	r := startRelay(t, nil)
	alice, _ := login(t, r, "alice", "a1")
	bob, _ := login(t, r, "bob", "b1")
	carol, _ := login(t, r, "carol", "c1")
	dave, _ := login(t, r, "dave", "d1")
	g := alice.call(proto.TypeCreateGroup, &proto.CreateGroup{Name: "trip", Members: []string{"bob", "carol"}}).Body.(*proto.ConvResult).Conversation
	bob.push(proto.TypeConvUpdate)
	carol.push(proto.TypeConvUpdate)

	equal(t, errCode(t, invite(dave, "g0", g.ID, false)), proto.CodeForbidden, "a non-member calls the group")
	big := alice.call(proto.TypeCreateGroup, &proto.CreateGroup{Name: "big", Members: []string{"bob", "carol", "dave", "erin"}}).Body.(*proto.ConvResult).Conversation
	equal(t, errCode(t, invite(alice, "g1", big.ID, false)), proto.CodeCallTooLarge, "five members")

	info := callInfo(t, invite(alice, "g2", g.ID, true))
	equal(t, info.Peers, []string{"bob", "carol"}, "caller's peers")
	bob.push(proto.TypeCallRing)
	carol.push(proto.TypeCallRing)
	callInfo(t, bob.call(proto.TypeCallAccept, &proto.CallAccept{CallID: "g2"}))
	equal(t, callState(alice).User, "bob", "alice: bob joined")
	cinfo := callInfo(t, carol.call(proto.TypeCallAccept, &proto.CallAccept{CallID: "g2"}))
	equal(t, cinfo.Peers, []string{"alice", "bob"}, "carol joins alice and bob")
	equal(t, callState(alice).User, "carol", "alice: carol joined")
	equal(t, callState(bob).User, "carol", "bob: carol joined")
	// Mesh: bob offers carol, nobody else sees it.
	equal(t, signal(bob, "g2", "carol", proto.SignalOffer, "v=0 b→c").Type, proto.TypeOK, "bob→carol")
	equal(t, carol.push(proto.TypeCallSignal).Body.(*proto.CallSignal).Peer, "bob", "carol gets bob's offer")
	alice.quiet("alice does not see bob's offer to carol")
	// Carol leaves: the call goes on for alice and bob.
	equal(t, carol.call(proto.TypeCallEnd, &proto.CallEnd{CallID: "g2"}).Type, proto.TypeOK, "carol leaves")
	equal(t, callState(carol).Reason, proto.CallHangup, "carol's end")
	equal(t, callState(alice), proto.CallState{CallID: "g2", State: proto.CallStateLeft, User: "carol"}, "alice: carol left")
	equal(t, callState(bob).State, proto.CallStateLeft, "bob: carol left")
	equal(t, signal(alice, "g2", "bob", proto.SignalOffer, "v=0").Type, proto.TypeOK, "still on")
	equal(t, alice.call(proto.TypeCallEnd, &proto.CallEnd{CallID: "g2"}).Type, proto.TypeOK, "alice leaves")
	equal(t, callState(bob).Reason, proto.CallHangup, "bob: ended")
	_, rec := callRecord(carol)
	equal(t, rec.Outcome, "completed", "group record")
}

// TestCallSignalFlood: candidates above the limit are refused frame by
// frame (4265), the connection kept.
func TestCallSignalFlood(t *testing.T) {
	t.Parallel()
	r := startRelay(t, nil)
	alice, _ := login(t, r, "alice", "a1")
	bob, _ := login(t, r, "bob", "b1")
	callInfo(t, invite(alice, "fl", proto.P2PID("alice", "bob"), false))
	bob.push(proto.TypeCallRing)
	callInfo(t, bob.call(proto.TypeCallAccept, &proto.CallAccept{CallID: "fl"}))
	callState(alice)
	ids := make([]uint64, 0, 3*rules.CallSignalBurst)
	for range 3 * rules.CallSignalBurst {
		ids = append(ids, alice.request(proto.TypeCallSignal, &proto.CallSignal{CallID: "fl", Peer: "bob", Kind: proto.SignalCandidate, Data: "{}"}))
	}
	refused := 0
	for _, id := range ids {
		if f := alice.reply(id); f.Type == proto.TypeError {
			equal(t, f.Body.(*proto.ErrorBody).Code, proto.CodeCallFlood, "flood code")
			refused++
		}
	}
	if refused < rules.CallSignalBurst {
		t.Fatalf("%d of %d candidates refused", refused, len(ids))
	}
	equal(t, alice.call(proto.TypePing, &proto.Ping{}).Type, proto.TypePong, "still connected")
}

func TestCallRules(t *testing.T) {
	t.Parallel()
	// The TURN REST API convention, checked against an independent HMAC.
	u, c := TURNCredentials("turn-secret", "alice", time.Unix(1700000000, 0), time.Hour)
	equal(t, u, "1700003600:alice", "username")
	equal(t, c, "E4vPY/Y6LWBxrSVVafd9LKs2lHA=", "credential")
	equal(t, iceServers(nil, []string{"turn:x"}, "", "alice", time.Now(), time.Hour), []proto.ICEServer(nil), "no secret: no TURN")

	p2p := proto.P2PID("alice", "bob")
	inv, perr := rules.CallInvitees("alice", p2p, nil)
	equal(t, perr, (*proto.Error)(nil), "p2p")
	equal(t, inv, []string{"alice", "bob"}, "p2p invitees")
	_, perr = rules.CallInvitees("carol", p2p, []string{"carol"})
	equal(t, perr.Code, proto.CodeForbidden, "p2p non-party")
	_, perr = rules.CallInvitees("dave", "g:x", nil)
	equal(t, perr.Code, proto.CodeForbidden, "no such group")
	_, perr = rules.CallInvitees("a", "g:x", []string{"a", "b", "c", "d", "e"})
	equal(t, perr.Code, proto.CodeCallTooLarge, "five")

	equal(t, rules.CallLeaveReason(true, false, false), proto.CallCancelled, "caller before an answer")
	equal(t, rules.CallLeaveReason(false, false, true), proto.CallRejected, "ringing callee")
	equal(t, rules.CallLeaveReason(true, true, false), proto.CallHangup, "after an answer")
}

// TestCallsOff: a relay with calls disabled (--calls-off) answers an
// invitation 4266 and rings nobody.
func TestCallsOff(t *testing.T) {
	t.Parallel()
	r := startRelay(t, func(o *Options) { o.Calls.Disable = true })
	alice, _ := login(t, r, "alice", "a1")
	bob, _ := login(t, r, "bob", "b1")
	equal(t, errCode(t, invite(alice, "call1", proto.P2PID("alice", "bob"), false)), proto.CodeCallsOff, "invitation")
	bob.quiet("nothing rings")
}

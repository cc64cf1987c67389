//go:build !js

package relay

import (
	"context"
	"testing"

	"github.com/parley-im/parley/proto"
)

// TestCallAcrossNodes: two relays on one memory bus and one store, as NATS
// and PostgreSQL join relay processes. The call lives on the caller's node;
// a callee device on the other node rings, answers, signals and hangs up
// through the bus, with the same frames and codes as on one node.
func TestCallAcrossNodes(t *testing.T) {
	t.Parallel()
	nodes := cluster(t, 2, nil)
	alice, _ := login(t, nodes[0], "alice", "a1")
	bobHere, _ := login(t, nodes[0], "bob", "b1")
	bobThere, _ := login(t, nodes[1], "bob", "b2")
	p2p := proto.P2PID("alice", "bob")

	callInfo(t, invite(alice, "x1", p2p, true))
	for _, b := range []*client{bobHere, bobThere} {
		equal(t, b.push(proto.TypeCallRing).Body.(*proto.CallRing).CallID, "x1", "ring on each node")
	}
	info := callInfo(t, bobThere.call(proto.TypeCallAccept, &proto.CallAccept{CallID: "x1", Audio: true, Video: true}))
	equal(t, info.Peers, []string{"alice"}, "the remote callee's peers")
	equal(t, callState(bobHere), proto.CallState{CallID: "x1", State: proto.CallStateEnded, Reason: proto.CallAnsweredElsewhere}, "the device on the owner stops ringing")
	equal(t, callState(alice), proto.CallState{CallID: "x1", State: proto.CallStateJoined, User: "bob"}, "alice learns bob joined")
	equal(t, errCode(t, bobThere.call(proto.TypeCallAccept, &proto.CallAccept{CallID: "x1"})), proto.CodeCallState, "accepting twice, refused by the owner")

	equal(t, signal(alice, "x1", "bob", proto.SignalOffer, "v=0 offer").Type, proto.TypeOK, "offer")
	equal(t, bobThere.push(proto.TypeCallSignal).Body.(*proto.CallSignal).Data, "v=0 offer", "the offer crosses")
	equal(t, signal(bobThere, "x1", "alice", proto.SignalAnswer, "v=0 answer").Type, proto.TypeOK, "answer")
	equal(t, *alice.push(proto.TypeCallSignal).Body.(*proto.CallSignal), proto.CallSignal{CallID: "x1", Peer: "bob", Kind: proto.SignalAnswer, Data: "v=0 answer"}, "the answer crosses back")
	equal(t, errCode(t, signal(bobThere, "x1", "carol", proto.SignalCandidate, "{}")), proto.CodeCallState, "a signal to a user not in the call")
	bobHere.quiet("the device that did not answer sees no signaling")

	equal(t, bobThere.call(proto.TypeCallEnd, &proto.CallEnd{CallID: "x1"}).Type, proto.TypeOK, "the remote callee hangs up")
	equal(t, callState(bobThere).Reason, proto.CallHangup, "ended for the remote callee")
	equal(t, callState(alice).Reason, proto.CallHangup, "ended for the caller")
	for _, c := range []*client{alice, bobHere, bobThere} {
		_, rec := callRecord(c)
		equal(t, rec.Outcome, "completed", "the record on every device")
	}
	equal(t, errCode(t, signal(bobThere, "x1", "alice", proto.SignalOffer, "v=0")), proto.CodeCallNotFound, "the call is gone")
}

// TestCallAcrossNodesRejected: a callee whose only device is on another
// node is rung there (the store says they are online) and rejects; a
// callee offline everywhere is unavailable at once.
func TestCallAcrossNodesRejected(t *testing.T) {
	t.Parallel()
	nodes := cluster(t, 2, nil)
	alice, _ := login(t, nodes[0], "alice", "a1")
	bob, _ := login(t, nodes[1], "bob", "b2")
	store := nodes[0].srv.store.(PresenceWriter)
	eventually(t, "bob online in the store", func() bool {
		ps, err := store.Presence(context.Background(), []string{"bob"})
		return err == nil && len(ps) == 1 && ps[0].Online
	})
	callInfo(t, invite(alice, "x2", proto.P2PID("alice", "bob"), false))
	equal(t, bob.push(proto.TypeCallRing).Body.(*proto.CallRing).From, "alice", "ring on the other node")
	equal(t, bob.call(proto.TypeCallEnd, &proto.CallEnd{CallID: "x2"}).Type, proto.TypeOK, "reject")
	equal(t, callState(bob).Reason, proto.CallRejected, "stops ringing")
	equal(t, callState(alice).Reason, proto.CallRejected, "the caller learns it")
	_, rec := callRecord(alice)
	equal(t, rec.Outcome, proto.CallRejected, "record")

	callInfo(t, invite(alice, "x3", proto.P2PID("alice", "nobody"), false))
	equal(t, callState(alice).Reason, proto.CallUnavailable, "nobody online anywhere")
}

package core

import (
	"errors"
	"testing"

	"github.com/parley-im/parley/proto"
)

// callEvents returns the call events so far and forgets them.
func (h *harness) callEvents() []CallEvent {
	var out []CallEvent
	rest := h.events[:0]
	for _, e := range h.events {
		if e.Kind == EventCall {
			out = append(out, *e.Call)
		} else {
			rest = append(rest, e)
		}
	}
	h.events = rest
	return out
}

func TestCallOutgoing(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Snapshot{})
	conv := proto.P2PID("alice", "bob")
	if _, _, err := h.c.PlaceCall(h.now, conv, true, false); err == nil {
		t.Fatal("a call placed offline")
	}
	h.connect("e1")
	h.takeWrites()
	op, id, err := h.c.PlaceCall(h.now, conv, true, true)
	if err != nil {
		t.Fatal(err)
	}
	h.poll()
	inv := h.lastWrite(proto.TypeCallInvite)
	if b := inv.Body.(*proto.CallInvite); *b != (proto.CallInvite{CallID: id, ConvID: conv, Audio: true, Video: true}) {
		t.Fatalf("invite %+v", b)
	}
	h.relay(proto.TypeCallInfo, inv.ID, &proto.CallInfo{CallID: id, Peers: []string{"bob"},
		ICEServers: []proto.ICEServer{{URLs: []string{"turn:t"}, Username: "1:alice", Credential: "x"}}})
	res := h.done[op].Result
	if res.Err != nil || res.Call == nil || res.Call.State != CallRinging || res.Call.Direction != "outgoing" ||
		len(res.Call.ICEServers) != 1 || res.Call.ICEServers[0].Username != "1:alice" {
		t.Fatalf("placed %+v", res)
	}
	// bob answers: this device offers to him.
	h.relay(proto.TypeCallState, 0, &proto.CallState{CallID: id, State: proto.CallStateJoined, User: "bob"})
	evs := h.callEvents()
	if len(evs) != 1 || evs[0].Change != CallJoined || evs[0].Peer != "bob" || evs[0].Call.State != CallConnecting {
		t.Fatalf("events %+v", evs)
	}
	// Signaling: out as requests, in as events; only for a known call.
	sop, err := h.c.SignalCall(h.now, CallSignal{CallID: id, Peer: "bob", Kind: proto.SignalOffer, Data: "v=0"})
	if err != nil {
		t.Fatal(err)
	}
	h.poll()
	sig := h.lastWrite(proto.TypeCallSignal)
	h.relay(proto.TypeOK, sig.ID, nil)
	if h.done[sop].Result.Err != nil {
		t.Fatal(h.done[sop].Result.Err)
	}
	if _, err := h.c.SignalCall(h.now, CallSignal{CallID: "other", Peer: "bob", Kind: proto.SignalOffer, Data: "v=0"}); err == nil {
		t.Fatal("a signal for an unknown call")
	}
	h.relay(proto.TypeCallSignal, 0, &proto.CallSignal{CallID: id, Peer: "bob", Kind: proto.SignalAnswer, Data: "v=0 a"})
	h.relay(proto.TypeCallSignal, 0, &proto.CallSignal{CallID: "unknown", Peer: "bob", Kind: proto.SignalAnswer, Data: "v=0"})
	var sigs []CallSignal
	for _, e := range h.events {
		if e.Kind == EventCallSignal {
			sigs = append(sigs, *e.Signal)
		}
	}
	if len(sigs) != 1 || sigs[0] != (CallSignal{CallID: id, Peer: "bob", Kind: proto.SignalAnswer, Data: "v=0 a"}) {
		t.Fatalf("signal events %+v", sigs)
	}
	h.c.MarkCallConnected(id)
	if cl, _ := h.c.Call(id); cl.State != CallConnected {
		t.Fatalf("state %s", cl.State)
	}
	// Hang up: ended when the relay says so.
	eop, err := h.c.EndCall(h.now, id)
	if err != nil {
		t.Fatal(err)
	}
	h.poll()
	h.relay(proto.TypeOK, h.lastWrite(proto.TypeCallEnd).ID, nil)
	h.relay(proto.TypeCallState, 0, &proto.CallState{CallID: id, State: proto.CallStateEnded, Reason: proto.CallHangup, DurationMs: 42})
	evs = h.callEvents()
	if h.done[eop].Result.Err != nil || len(evs) != 1 || evs[0].Change != CallEnd || evs[0].Call.Reason != proto.CallHangup ||
		evs[0].Call.DurationMs != 42 || evs[0].Call.State != CallEnded {
		t.Fatalf("end %+v %+v", h.done[eop].Result, evs)
	}
	if _, live := h.c.Call(id); live {
		t.Fatal("an ended call is still live")
	}
}

func TestCallIncoming(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Snapshot{})
	h.connect("e1")
	conv := proto.P2PID("alice", "bob")
	ring := &proto.CallRing{CallID: "c1", ConvID: conv, From: "bob", Audio: true, Peers: []string{"alice", "bob"}}
	h.relay(proto.TypeCallRing, 0, ring)
	h.relay(proto.TypeCallRing, 0, ring) // a repeat changes nothing
	evs := h.callEvents()
	if len(evs) != 1 || evs[0].Change != CallRing || evs[0].Call.Direction != "incoming" || evs[0].Call.From != "bob" ||
		len(evs[0].Call.Peers) != 1 || evs[0].Call.Peers[0] != "bob" || evs[0].Call.State != CallRinging {
		t.Fatalf("ring %+v", evs)
	}
	op, err := h.c.AcceptCall(h.now, "c1", true, false)
	if err != nil {
		t.Fatal(err)
	}
	h.poll()
	acc := h.lastWrite(proto.TypeCallAccept)
	h.relay(proto.TypeCallInfo, acc.ID, &proto.CallInfo{CallID: "c1", Peers: []string{"bob"}})
	if r := h.done[op].Result; r.Err != nil || r.Call.State != CallConnecting || len(r.Call.Joined) != 1 {
		t.Fatalf("accepted %+v", r)
	}
	if _, err := h.c.AcceptCall(h.now, "c1", true, false); callErrCode(err) != proto.CodeCallState {
		t.Fatalf("accepted twice: %v, want 4264", err)
	}
	// The connection drops: the call ends here (the relay ends it too).
	h.c.HandleClosed(h.now, h.c.Conn(), 1006, "")
	h.poll()
	evs = h.callEvents()
	if len(evs) != 1 || evs[0].Change != CallEnd || evs[0].Call.Reason != proto.CallFailed {
		t.Fatalf("after the drop %+v", evs)
	}
	// An ended call, or one that never rang: 4260, as the relay answers.
	for _, id := range []string{"c1", "never"} {
		if _, err := h.c.AcceptCall(h.now, id, true, false); callErrCode(err) != proto.CodeCallNotFound {
			t.Fatalf("accept %s: %v, want 4260", id, err)
		}
	}

	// Answered on another device: a refused accept ends it here.
	h2 := newHarness(t, Snapshot{})
	h2.connect("e1")
	h2.relay(proto.TypeCallRing, 0, ring)
	h2.callEvents()
	op, _ = h2.c.AcceptCall(h2.now, "c1", true, false)
	h2.poll()
	h2.relay(proto.TypeError, h2.lastWrite(proto.TypeCallAccept).ID, &proto.ErrorBody{Code: proto.CodeNotInCall})
	evs = h2.callEvents()
	if h2.done[op].Result.Err == nil || len(evs) != 1 || evs[0].Call.Reason != proto.CallAnsweredElsewhere {
		t.Fatalf("refused accept %+v %+v", h2.done[op].Result, evs)
	}
	// A ring from a relay that makes no sense drops the connection.
	h2.relay(proto.TypeCallRing, 0, &proto.CallRing{CallID: "c2", ConvID: conv})
	if len(h2.closes) != 1 || h2.closes[0].Code != proto.CodeBadServerFrame {
		t.Fatalf("closes %+v", h2.closes)
	}
}

func callErrCode(err error) proto.Code {
	var pe *proto.Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	return 0
}

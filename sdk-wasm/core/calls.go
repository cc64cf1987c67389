package core

import (
	"slices"
	"time"

	"github.com/parley-im/parley/proto"
)

// Calls: the signaling half of audio/video calls. The core keeps each live
// call's state and carries its frames; the media half (RTCPeerConnection in
// a browser, pion/webrtc natively) lives in the driver, which reacts to the
// call events and hands back SDPs and candidates through SignalCall.

// CallState is where a call stands for this device.
type CallState string

// Call states, as the JavaScript API names them. The core moves a call from
// ringing to connecting (answered) and to ended; connected is the media
// layer's to report.
const (
	CallRinging    CallState = "ringing"
	CallConnecting CallState = "connecting"
	CallConnected  CallState = "connected"
	CallEnded      CallState = "ended"
)

// ICEServer is one STUN or TURN server for a call, as RTCIceServer.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// Call is one call of this device.
type Call struct {
	ID         string      `json:"id"`
	ConvID     string      `json:"conversationId"`
	Direction  string      `json:"direction"` // `outgoing` or `incoming`
	From       string      `json:"from"`      // the caller
	Peers      []string    `json:"peers"`     // the other users invited
	Joined     []string    `json:"joined"`    // the other users in the call now
	Audio      bool        `json:"audio"`
	Video      bool        `json:"video"`
	State      CallState   `json:"state"`
	Reason     string      `json:"reason,omitempty"`     // why it ended
	DurationMs int64       `json:"durationMs,omitempty"` // once ended: since the first answer
	ICEServers []ICEServer `json:"iceServers,omitempty"` // for this device, once placed or accepted
}

// CallChange says what a call event is about.
type CallChange string

// Call changes.
const (
	CallRing   CallChange = "ring"   // an incoming call rings this device
	CallJoined CallChange = "joined" // Peer answered: a device already in the call offers to them
	CallLeft   CallChange = "left"   // Peer left a call that goes on
	CallEnd    CallChange = "ended"  // the call is over for this device (Call.Reason)
)

// CallEvent is the payload of a call event.
type CallEvent struct {
	Change CallChange `json:"change"`
	Peer   string     `json:"peer,omitempty"`
	Call   Call       `json:"call"`
}

// CallSignal is one SDP or ICE candidate for, or from, a peer in a call.
type CallSignal struct {
	CallID string `json:"callId"`
	Peer   string `json:"peer"` // from the relay: the sender; to it: the recipient
	Kind   string `json:"kind"` // offer, answer or candidate
	Data   string `json:"data"` // SDP, or RTCIceCandidateInit as JSON
}

// Events of calls.
const (
	EventCall       EventKind = "call"       // Event.Call
	EventCallSignal EventKind = "callSignal" // Event.Signal
)

// The reason a call ends on this device when the connection to the relay
// drops: the relay ends it on its side too.
const callLost = proto.CallFailed

// PlaceCall starts a call in conv (a p2p conversation rings the peer, a
// group its members) and returns its operation and the call's id; the
// operation resolves with Result.Call, holding the ICE servers, once the
// relay rang the callees. It needs a connection.
func (c *Core) PlaceCall(now time.Time, conv string, audio, video bool) (uint64, string, error) {
	c.begin()
	defer c.flush()
	id := c.newID()
	req := &proto.CallInvite{CallID: id, ConvID: conv, Audio: audio, Video: video}
	if err := proto.Validate(req); err != nil {
		return 0, "", invalid(err.Message)
	}
	if c.phase != phaseReady {
		return 0, "", &proto.Error{Code: proto.CodeNotConnected, Message: "a call needs a connection"}
	}
	peers := []string{}
	if a, b, ok := proto.P2PMembers(conv); ok {
		peers = append(peers, a, b)
	} else if cv := c.convs[conv]; cv != nil {
		peers = append(peers, cv.Members...)
	}
	peers = slices.DeleteFunc(peers, func(u string) bool { return u == c.meta.UserID })
	if c.calls == nil {
		c.calls = make(map[string]*Call)
	}
	c.calls[id] = &Call{ID: id, ConvID: conv, Direction: "outgoing", From: c.meta.UserID, Peers: peers,
		Joined: []string{}, Audio: audio, Video: video, State: CallRinging}
	op := c.newOp()
	c.request(now, &request{kind: reqCallInvite, op: op, conv: id}, proto.TypeCallInvite, req)
	return op, id, nil
}

// AcceptCall answers a call ringing on this device; the operation resolves
// with Result.Call (its ICE servers) and the peers already in the call
// offer to this device.
func (c *Core) AcceptCall(now time.Time, id string, audio, video bool) (uint64, error) {
	c.begin()
	defer c.flush()
	cl := c.calls[id]
	if cl == nil {
		// Ended (the caller hung up, another device answered) or never
		// rang here: what the relay answers for a call it does not hold.
		return 0, &proto.Error{Code: proto.CodeCallNotFound, Message: "no call " + id + " on this device"}
	}
	if cl.Direction != "incoming" || cl.State != CallRinging {
		return 0, &proto.Error{Code: proto.CodeCallState, Message: "call " + id + " is not ringing on this device"}
	}
	if c.phase != phaseReady {
		return 0, &proto.Error{Code: proto.CodeNotConnected, Message: "answering needs a connection"}
	}
	cl.Audio, cl.Video = audio, video
	op := c.newOp()
	c.request(now, &request{kind: reqCallAccept, op: op, conv: id}, proto.TypeCallAccept,
		&proto.CallAccept{CallID: id, Audio: audio, Video: video})
	return op, nil
}

// EndCall cancels, rejects or hangs up call id, whichever fits; the call
// ends (EventCall, ended) when the relay confirms, or at once when there is
// no connection.
func (c *Core) EndCall(now time.Time, id string) (uint64, error) {
	c.begin()
	defer c.flush()
	cl := c.calls[id]
	if cl == nil {
		return 0, &proto.Error{Code: proto.CodeCallNotFound, Message: "no call " + id}
	}
	op := c.newOp()
	if c.phase != phaseReady {
		reason := proto.CallHangup
		if cl.State == CallRinging {
			reason = map[string]string{"outgoing": proto.CallCancelled, "incoming": proto.CallRejected}[cl.Direction]
		}
		c.callEnded(cl, reason, 0)
		c.resolve(op, Result{})
		return op, nil
	}
	c.request(now, &request{kind: reqCallEnd, op: op, conv: id}, proto.TypeCallEnd, &proto.CallEnd{CallID: id})
	return op, nil
}

// SignalCall sends an SDP or candidate to peer in call id. The operation
// resolves when the relay passed it on, or with its refusal.
func (c *Core) SignalCall(now time.Time, s CallSignal) (uint64, error) {
	c.begin()
	defer c.flush()
	req := &proto.CallSignal{CallID: s.CallID, Peer: s.Peer, Kind: s.Kind, Data: s.Data}
	if err := proto.Validate(req); err != nil {
		return 0, invalid(err.Message)
	}
	cl := c.calls[s.CallID]
	if cl == nil || cl.State == CallEnded {
		return 0, &proto.Error{Code: proto.CodeCallNotFound, Message: "no call " + s.CallID}
	}
	if c.phase != phaseReady {
		return 0, &proto.Error{Code: proto.CodeNotConnected, Message: "signaling needs a connection"}
	}
	op := c.newOp()
	c.request(now, &request{kind: reqCallSignal, op: op, conv: s.CallID}, proto.TypeCallSignal, req)
	return op, nil
}

// Call returns a copy of live call id.
func (c *Core) Call(id string) (Call, bool) {
	cl := c.calls[id]
	if cl == nil {
		return Call{}, false
	}
	return cloneCall(cl), true
}

func cloneCall(cl *Call) Call {
	out := *cl
	out.Peers = slices.Clone(cl.Peers)
	out.Joined = slices.Clone(cl.Joined)
	out.ICEServers = slices.Clone(cl.ICEServers)
	return out
}

// callInfo settles an invite or an accept.
func (c *Core) callInfo(r *request, b *proto.CallInfo) bool {
	cl := c.calls[r.conv]
	if b.CallID != r.conv {
		return false
	}
	if cl == nil { // ended meanwhile
		c.resolve(r.op, Result{Err: &proto.Error{Code: proto.CodeCallNotFound, Message: "the call ended"}})
		return true
	}
	cl.ICEServers = cl.ICEServers[:0]
	for _, s := range b.ICEServers {
		cl.ICEServers = append(cl.ICEServers, ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	if r.kind == reqCallAccept {
		cl.State = CallConnecting
		cl.Joined = slices.Clone(b.Peers)
	}
	out := cloneCall(cl)
	c.resolve(r.op, Result{Call: &out})
	return true
}

// callFailed settles a refused invite or accept: the call is over here.
func (c *Core) callFailed(r *request, err *proto.Error) {
	if cl := c.calls[r.conv]; cl != nil && (r.kind == reqCallInvite || r.kind == reqCallAccept) {
		reason := proto.CallFailed
		if r.kind == reqCallAccept && (err.Code == proto.CodeNotInCall || err.Code == proto.CodeCallNotFound) {
			reason = proto.CallAnsweredElsewhere // or it ended: either way it no longer rings here
		}
		c.callEnded(cl, reason, 0)
	}
	c.resolve(r.op, Result{Err: err})
}

// callRing handles an incoming call.
func (c *Core) callRing(now time.Time, b *proto.CallRing) {
	if !proto.ValidName(b.CallID) || !proto.ValidConvID(b.ConvID) || !proto.ValidName(b.From) {
		c.badReply(now, 0, nil, "call ring without a valid call, conversation or caller")
		return
	}
	if c.calls == nil {
		c.calls = make(map[string]*Call)
	}
	if c.calls[b.CallID] != nil {
		return
	}
	peers := slices.DeleteFunc(slices.Clone(b.Peers), func(u string) bool { return u == c.meta.UserID })
	cl := &Call{ID: b.CallID, ConvID: b.ConvID, Direction: "incoming", From: b.From, Peers: peers,
		Joined: []string{}, Audio: b.Audio, Video: b.Video, State: CallRinging}
	c.calls[cl.ID] = cl
	c.emit(Event{Kind: EventCall, Call: &CallEvent{Change: CallRing, Call: cloneCall(cl)}})
}

// callState handles a change of a call this device is in or rings for.
func (c *Core) callState(now time.Time, b *proto.CallState) {
	cl := c.calls[b.CallID]
	if cl == nil {
		return
	}
	switch b.State {
	case proto.CallStateJoined:
		if !proto.ValidName(b.User) {
			c.badReply(now, 0, nil, "call joined without a user")
			return
		}
		if !slices.Contains(cl.Joined, b.User) {
			cl.Joined = append(cl.Joined, b.User)
		}
		if cl.State == CallRinging {
			cl.State = CallConnecting
		}
		c.emit(Event{Kind: EventCall, Call: &CallEvent{Change: CallJoined, Peer: b.User, Call: cloneCall(cl)}})
	case proto.CallStateLeft:
		cl.Joined = slices.DeleteFunc(cl.Joined, func(u string) bool { return u == b.User })
		c.emit(Event{Kind: EventCall, Call: &CallEvent{Change: CallLeft, Peer: b.User, Call: cloneCall(cl)}})
	case proto.CallStateEnded:
		c.callEnded(cl, b.Reason, b.DurationMs)
	}
}

// MarkCallConnected records that the media layer connected call id; the
// core only reports it back in the call's state.
func (c *Core) MarkCallConnected(id string) {
	if cl := c.calls[id]; cl != nil && cl.State == CallConnecting {
		cl.State = CallConnected
	}
}

func (c *Core) callEnded(cl *Call, reason string, dur int64) {
	delete(c.calls, cl.ID)
	cl.State, cl.Reason, cl.DurationMs = CallEnded, reason, dur
	c.emit(Event{Kind: EventCall, Call: &CallEvent{Change: CallEnd, Call: cloneCall(cl)}})
}

// callSignal hands an SDP or candidate from a peer to the media layer.
func (c *Core) callSignal(b *proto.CallSignal) {
	if c.calls[b.CallID] == nil {
		return
	}
	c.emit(Event{Kind: EventCallSignal, Signal: &CallSignal{CallID: b.CallID, Peer: b.Peer, Kind: b.Kind, Data: b.Data}})
}

// dropCalls ends every call when the connection drops: the relay ended
// this device's part in them when it saw the connection go.
func (c *Core) dropCalls() {
	ids := make([]string, 0, len(c.calls))
	for id := range c.calls {
		ids = append(ids, id)
	}
	sortStrings(ids)
	for _, id := range ids {
		c.callEnded(c.calls[id], callLost, 0)
	}
}

package proto

// Calls: the relay brokers WebRTC signaling between the devices in a call
// and hands each of them ICE servers; media never touches it.
//
//	caller device                  relay                       callee devices
//	  | -- call-invite{id, conv} ---> |                               |
//	  | <- call-info{ice servers} --- | -- call-ring{id, from} -----> |  every online device
//	  |                               | <- call-accept{id} ---------- |  one device
//	  |                               | -- call-info{ice servers} --> |
//	  | <- call-state{joined, user} - | -- call-state{ended,          |
//	  |                               |    answeredElsewhere} ------> |  the others
//	  | -- call-signal{offer} ------> | -- call-signal{offer} ------> |  only the device in the call
//	  | <- call-signal{answer} ------ | <- call-signal{answer} ------ |
//	  | <> call-signal{candidate} ... |                               |  trickle ICE, both ways
//	  | -- call-end{id} ------------> | -- call-state{ended, hangup} >|
//	  | <- deliver{type "call"} ----- | -- deliver{type "call"} ----> |  the call record
//
// Whoever is already in a call makes the offer to a participant who joins
// (call-state "joined"), so in a one-to-one call the caller offers. Either
// side may offer again later (renegotiation: video on, ICE restart).

// MsgCall is the message type of a call record: the relay appends one to
// the conversation when a call ends. Its Body is JSON (see CallRecord);
// clients never send it.
const MsgCall = "call"

// MaxCallParticipants bounds a call: a full mesh of this many devices, the
// caller included.
const MaxCallParticipants = 4

// MaxCallSignalBytes bounds the Data of one CallSignal (an SDP or a
// candidate).
const MaxCallSignalBytes = 32 << 10

// Call end reasons, in CallState.Reason and the SDK's ended event.
const (
	CallHangup            = "hangup"            // a participant hung up after the call was answered
	CallRejected          = "rejected"          // the callee declined
	CallCancelled         = "cancelled"         // the caller gave up before an answer
	CallBusy              = "busy"              // the callee is in another call
	CallTimeout           = "timeout"           // nobody answered in time
	CallAnsweredElsewhere = "answeredElsewhere" // another device of the same user answered
	CallFailed            = "failed"            // a participant's connection to the relay was lost
	CallUnavailable       = "unavailable"       // no device of the callee is online
)

// Call states in CallState.State.
const (
	CallStateJoined = "joined" // User (on Device) accepted and is in the call: offer to them
	CallStateLeft   = "left"   // User left a call that goes on (groups)
	CallStateEnded  = "ended"  // the call is over for the recipient, for Reason
)

// Signal kinds in CallSignal.Kind.
const (
	SignalOffer     = "offer"
	SignalAnswer    = "answer"
	SignalCandidate = "candidate"
)

// CallInvite starts a call in a conversation: a p2p conversation rings the
// peer, a group rings its members (at most MaxCallParticipants with the
// caller). The client chooses CallID, unique among the relay's live calls.
// The reply is CallInfo.
type CallInvite struct {
	CallID string `cbor:"1,keyasint"`
	ConvID string `cbor:"2,keyasint"`
	Audio  bool   `cbor:"3,keyasint,omitempty"`
	Video  bool   `cbor:"4,keyasint,omitempty"`
}

// ICEServer is one STUN or TURN server for RTCPeerConnection; TURN servers
// carry time-limited credentials (the TURN REST API convention).
type ICEServer struct {
	URLs       []string `cbor:"1,keyasint"`
	Username   string   `cbor:"2,keyasint,omitempty"`
	Credential string   `cbor:"3,keyasint,omitempty"`
}

// CallInfo answers CallInvite and CallAccept: the call's participants so far
// and the ICE servers this device uses for it.
type CallInfo struct {
	CallID     string      `cbor:"1,keyasint"`
	ICEServers []ICEServer `cbor:"2,keyasint,omitempty"`
	Peers      []string    `cbor:"3,keyasint,omitempty"` // the other users invited, the caller included for a callee
}

// CallRing rings one device of a callee. It stops with a CallState "ended"
// (answered elsewhere, cancelled, timeout…).
type CallRing struct {
	CallID string   `cbor:"1,keyasint"`
	ConvID string   `cbor:"2,keyasint"`
	From   string   `cbor:"3,keyasint"` // the caller
	Audio  bool     `cbor:"4,keyasint,omitempty"`
	Video  bool     `cbor:"5,keyasint,omitempty"`
	Peers  []string `cbor:"6,keyasint,omitempty"` // every user invited, the caller included
}

// CallAccept answers a ring on this device; the reply is CallInfo.
type CallAccept struct {
	CallID string `cbor:"1,keyasint"`
	Audio  bool   `cbor:"2,keyasint,omitempty"`
	Video  bool   `cbor:"3,keyasint,omitempty"`
}

// CallEnd leaves a call: the caller cancels before an answer, a ringing
// callee rejects, a participant hangs up. The relay names the reason from
// the call's state. The reply is OK.
type CallEnd struct {
	CallID string `cbor:"1,keyasint"`
}

// CallState tells a device in a call, or ringing for it, what changed.
type CallState struct {
	CallID     string `cbor:"1,keyasint"`
	State      string `cbor:"2,keyasint"`           // CallStateJoined, CallStateLeft, CallStateEnded
	User       string `cbor:"3,keyasint,omitempty"` // who joined or left
	Reason     string `cbor:"4,keyasint,omitempty"` // with ended: one of the Call* reasons
	DurationMs int64  `cbor:"5,keyasint,omitempty"` // with ended: since the first answer, 0 if none
}

// CallSignal carries one WebRTC signaling message between two devices in a
// call. From a client, Peer names the user it is for and the frame is a
// request answered by OK; from the relay, Peer names the sender and the frame
// is a push without id.
type CallSignal struct {
	CallID string `cbor:"1,keyasint"`
	Peer   string `cbor:"2,keyasint"`
	Kind   string `cbor:"3,keyasint"` // SignalOffer, SignalAnswer, SignalCandidate
	Data   string `cbor:"4,keyasint"` // SDP, or a candidate as JSON (RTCIceCandidateInit)
}

// CallRecord is the JSON Body of a MsgCall message.
type CallRecord struct {
	CallID     string `json:"callId"`
	Media      string `json:"media"`   // "audio" or "video"
	Outcome    string `json:"outcome"` // "completed" once answered, else the end reason
	DurationMs int64  `json:"durationMs"`
}

// validateCall checks the call requests.
func validateCall(body any) *Error {
	switch b := body.(type) {
	case *CallInvite:
		if !ValidName(b.CallID) {
			return Errorf(CodeBadRequest, "call-invite: invalid call id")
		}
		if !ValidConvID(b.ConvID) {
			return Errorf(CodeBadRequest, "call-invite: invalid conversation id")
		}
		if !b.Audio && !b.Video {
			return Errorf(CodeBadRequest, "call-invite: neither audio nor video")
		}
	case *CallAccept:
		if !ValidName(b.CallID) {
			return Errorf(CodeBadRequest, "call-accept: invalid call id")
		}
	case *CallEnd:
		if !ValidName(b.CallID) {
			return Errorf(CodeBadRequest, "call-end: invalid call id")
		}
	case *CallSignal:
		if !ValidName(b.CallID) || !ValidName(b.Peer) {
			return Errorf(CodeBadRequest, "call-signal: invalid call id or peer")
		}
		switch b.Kind {
		case SignalOffer, SignalAnswer, SignalCandidate:
		default:
			return Errorf(CodeBadRequest, "call-signal: unknown kind %q", truncate(b.Kind))
		}
		if b.Data == "" {
			return Errorf(CodeBadRequest, "call-signal: empty data")
		}
		if len(b.Data) > MaxCallSignalBytes {
			return Errorf(CodeTooLarge, "call-signal: data above %d bytes", MaxCallSignalBytes)
		}
	default:
		return Errorf(CodeProtocolError, "%T is not a request", body)
	}
	return nil
}

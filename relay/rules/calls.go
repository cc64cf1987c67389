package rules

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"slices"
	"strconv"
	"time"

	"github.com/parley-im/parley/proto"
)

// Call signaling limits. A device gathers a few dozen ICE candidates per
// call (host, server-reflexive and relayed, per network interface) and
// sends a handful of SDPs; a burst of CallSignalBurst with CallSignalRate a
// second after it serves an honest client and its renegotiations, while a
// flood is refused (4265) frame by frame, the connection kept.
const (
	CallSignalBurst = 100
	CallSignalRate  = 20
)

// CallInvitees returns everyone a call by caller in conv involves, the
// caller included, sorted: the two parties of a p2p conversation, or the
// stored members of a group (members; nil when there is no such group).
// A caller outside the conversation is refused (4203), a group with more
// than proto.MaxCallParticipants members too (4263): calls are a full mesh.
func CallInvitees(caller, conv string, members []string) ([]string, *proto.Error) {
	if a, b, ok := proto.P2PMembers(conv); ok {
		members = []string{a, b}
	}
	if !slices.Contains(members, caller) {
		return nil, proto.Errorf(proto.CodeForbidden, "not a member of %s", conv)
	}
	if len(members) > proto.MaxCallParticipants {
		return nil, proto.Errorf(proto.CodeCallTooLarge, "calls have at most %d participants; %s has %d members",
			proto.MaxCallParticipants, conv, len(members))
	}
	out := slices.Clone(members)
	slices.Sort(out)
	return slices.Compact(out), nil
}

// CallLeaveReason names why a device leaves a call by CallEnd: the caller
// before any answer cancels, a ringing callee rejects, and a participant
// of an answered call hangs up.
func CallLeaveReason(isCaller, answered, ringing bool) string {
	switch {
	case ringing:
		return proto.CallRejected
	case isCaller && !answered:
		return proto.CallCancelled
	}
	return proto.CallHangup
}

// CallOutcome is the outcome a call record shows: "completed" for a call
// somebody answered, else the reason it ended.
func CallOutcome(answered bool, reason string) string {
	if answered {
		return "completed"
	}
	return reason
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
func ICEServers(stun, turn []string, secret, user string, now time.Time, ttl time.Duration) []proto.ICEServer {
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

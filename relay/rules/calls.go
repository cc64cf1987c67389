package rules

import (
	"slices"

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

package rules

import (
	"errors"

	"github.com/parley-im/parley/proto"
)

// AdmitSize refuses a message of n bytes above maxFrame with a close (4007).
// A reader needs to read at most maxFrame+1 bytes to apply it.
func AdmitSize(n, maxFrame int) *proto.Error {
	if n > maxFrame {
		return proto.Errorf(proto.CodeFrameTooLarge, "frame above %d bytes", maxFrame)
	}
	return nil
}

// DecodeFrame turns one message read from a client into a frame, or into the
// close code it earns: 4006 for a text message, for bytes that do not decode
// and for a frame out of order (AdmitFrame). authed reports whether the
// connection was welcomed.
func DecodeFrame(msg []byte, binary bool, maxFrame int, authed bool) (proto.Frame, *proto.Error) {
	if !binary {
		return proto.Frame{}, proto.Errorf(proto.CodeProtocolError, "text message; frames are binary")
	}
	f, err := proto.Decode(msg, maxFrame)
	if err != nil {
		var perr *proto.Error
		if errors.As(err, &perr) {
			return proto.Frame{}, perr
		}
		return proto.Frame{}, proto.Errorf(proto.CodeProtocolError, "%v", err)
	}
	return f, AdmitFrame(authed, f)
}

// AdmitFrame decides whether a decoded client frame is acceptable in the
// connection's phase. A non-nil result is the close code (always 4006): a
// peer that breaks the frame order is broken, not merely wrong about one
// request.
func AdmitFrame(authed bool, f proto.Frame) *proto.Error {
	if !authed {
		if f.Type != proto.TypeHello {
			return proto.Errorf(proto.CodeProtocolError, "first frame must be hello, got %s", f.Type)
		}
		return nil
	}
	switch f.Type {
	case proto.TypeHello:
		return proto.Errorf(proto.CodeProtocolError, "hello after welcome")
	case proto.TypeSend, proto.TypeSync, proto.TypeHistory, proto.TypeRead, proto.TypeCreateGroup, proto.TypeRenew,
		proto.TypeCallInvite, proto.TypeCallAccept, proto.TypeCallEnd, proto.TypeCallSignal,
		proto.TypeGroupOp, proto.TypeMembers, proto.TypePending,
		proto.TypeSubscribePresence, proto.TypeSetStatus, proto.TypeSetProfile, proto.TypeGetProfiles,
		proto.TypeContact, proto.TypeSetConv, proto.TypeSetPrefs, proto.TypeUserSync,
		proto.TypeDevices, proto.TypeKickDevice:
		if f.ID == 0 {
			return proto.Errorf(proto.CodeProtocolError, "%s request without id", f.Type)
		}
		return nil
	case proto.TypeAmend, proto.TypeReceipts, proto.TypeHideMessage:
		if f.ID == 0 {
			return proto.Errorf(proto.CodeProtocolError, "%s request without id", f.Type)
		}
		return nil
	case proto.TypePing, proto.TypePong, proto.TypeTyping:
		return nil
	}
	return proto.Errorf(proto.CodeProtocolError, "%s is not a client frame", f.Type)
}

// AdmitHello checks a Hello before its token is verified. The result is the
// close code: 4005 for a version outside [proto.MinVersion, proto.Version],
// 4001 for a missing token, 4006 for any other invalid field.
func AdmitHello(h *proto.Hello) *proto.Error {
	if h.Version < proto.MinVersion || h.Version > proto.Version {
		return proto.Errorf(proto.CodeUnsupportedVersion, "protocol version %d not in [%d, %d]",
			h.Version, proto.MinVersion, proto.Version)
	}
	if err := proto.Validate(h); err != nil {
		if err.Code == proto.CodeUnauthorized {
			return err
		}
		return &proto.Error{Code: proto.CodeProtocolError, Message: err.Message}
	}
	return nil
}

// AdmitParty rejects early what no stored state can allow: a p2p
// conversation the user is not one of the two parties of. Group membership
// needs the store and is decided by AdmitSend and AdmitRead.
func AdmitParty(user, convID string) *proto.Error {
	if a, b, ok := proto.P2PMembers(convID); ok && user != a && user != b {
		return proto.Errorf(proto.CodeForbidden, "not a member of %s", convID)
	}
	return nil
}

// AdmitSend decides whether sender may append to convID, given what the
// store holds: whether the conversation exists and whether sender is a
// member. For a p2p conversation seen for the first time it returns the two
// members to create it with.
func AdmitSend(sender, convID string, exists, isMember bool) (create []string, err *proto.Error) {
	if sender == proto.SystemUser && proto.KindOf(convID) != "" {
		// The admin API's system messages go into any conversation that
		// exists; no session is ever of this user (see AdmitHelloUser).
		if !exists {
			return nil, notYours(convID)
		}
		return nil, nil
	}
	switch proto.KindOf(convID) {
	case proto.KindP2P:
		a, b, ok := proto.P2PMembers(convID)
		if !ok {
			return nil, proto.Errorf(proto.CodeBadRequest, "invalid conversation id")
		}
		if sender != a && sender != b {
			return nil, proto.Errorf(proto.CodeForbidden, "not a member of %s", convID)
		}
		if !exists {
			return []string{a, b}, nil
		}
	case proto.KindGroup:
		if !exists {
			return nil, notYours(convID)
		}
	default:
		return nil, proto.Errorf(proto.CodeBadRequest, "invalid conversation id")
	}
	if !isMember {
		return nil, notYours(convID)
	}
	return nil, nil
}

// notYours refuses a conversation the user cannot see. A group that does
// not exist and one the user is not a member of get the same code and the
// same words, so that nobody learns which groups exist by asking.
func notYours(convID string) *proto.Error {
	return proto.Errorf(proto.CodeForbidden, "no conversation %s of yours", convID)
}

// AdmitRead decides whether user may read or mark convID. empty reports a
// p2p conversation the user is a party of that holds no message yet: reading
// it yields an empty page rather than an error, so a client can open a chat
// before anyone wrote in it.
func AdmitRead(user, convID string, exists, isMember bool) (empty bool, err *proto.Error) {
	if err := AdmitParty(user, convID); err != nil {
		return false, err
	}
	if !exists {
		if proto.KindOf(convID) == proto.KindP2P {
			return true, nil
		}
		return false, notYours(convID)
	}
	if !isMember {
		return false, notYours(convID)
	}
	return false, nil
}

// DedupOutcome decides what a send whose (sender, client id) is already
// stored in origConv gets: nil — the original ack — when it names the same
// conversation, so a retry is answered exactly like the first try; 4209 when
// the id was spent on another conversation.
func DedupOutcome(convID, origConv string) *proto.Error {
	if convID != origConv {
		return proto.Errorf(proto.CodeConflict, "client id already used in another conversation")
	}
	return nil
}

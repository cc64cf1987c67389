package proto

import "fmt"

// Validate checks the fields of a client request body beyond what decoding
// checks. It returns nil, or an *Error with CodeBadRequest or CodeTooLarge,
// CodeUnauthorized for a Hello without a token, and CodeProtocolError for a
// body that is not a client request (including a nil one).
func Validate(body any) *Error {
	switch b := body.(type) {
	case *Hello:
		if b.Token == "" {
			return Errorf(CodeUnauthorized, "hello: token missing")
		}
		if !ValidName(b.DeviceID) {
			return Errorf(CodeBadRequest, "hello: invalid device id")
		}
		if b.Platform != "" && !ValidPlatform(b.Platform) {
			return Errorf(CodeBadRequest, "hello: invalid platform")
		}
	case *Send:
		if !ValidConvID(b.ConvID) {
			return Errorf(CodeBadRequest, "send: invalid conversation id")
		}
		if !ValidName(b.ClientID) {
			return Errorf(CodeBadRequest, "send: invalid client id")
		}
		switch b.MsgType {
		case MsgText:
			if b.Text == "" {
				return Errorf(CodeBadRequest, "send: empty text")
			}
		case MsgCustom, MsgImage, MsgFile, MsgAudio, MsgVideo, MsgLocation:
		default:
			return Errorf(CodeBadRequest, "send: unknown message type %q", b.MsgType)
		}
		if len(b.Text) > MaxTextBytes {
			return Errorf(CodeTooLarge, "send: text above %d bytes", MaxTextBytes)
		}
		if len(b.Body) > MaxBodyBytes {
			return Errorf(CodeTooLarge, "send: body above %d bytes", MaxBodyBytes)
		}
		if perr := validateSendExtras(b); perr != nil {
			return perr
		}
		if perr := validateRich(b); perr != nil {
			return perr
		}
	case *History:
		if !ValidConvID(b.ConvID) {
			return Errorf(CodeBadRequest, "history: invalid conversation id")
		}
	case *Read:
		if !ValidConvID(b.ConvID) {
			return Errorf(CodeBadRequest, "read: invalid conversation id")
		}
	case *CreateGroup:
		if b.ConvID != "" && !ValidGroupID(b.ConvID) {
			return Errorf(CodeBadRequest, "create-group: invalid id")
		}
		if len(b.Name) > MaxGroupNameBytes {
			return Errorf(CodeBadRequest, "create-group: name too long")
		}
		if b.Key != "" && !ValidName(b.Key) {
			return Errorf(CodeBadRequest, "create-group: invalid key")
		}
		if len(b.Members) > MaxGroupMembers {
			return Errorf(CodeTooLarge, "create-group: more than %d members", MaxGroupMembers)
		}
		for _, m := range b.Members {
			if !ValidName(m) {
				return Errorf(CodeBadRequest, "create-group: invalid member id %q", truncate(m))
			}
		}
		if perr := validGroupInfo("create-group", b.Avatar, b.Notice, b.Custom, b.JoinPolicy); perr != nil {
			return perr
		}
	case *GroupOp:
		return validateGroupOp(b)
	case *Members:
		if !ValidGroupID(b.ConvID) {
			return Errorf(CodeBadRequest, "members: invalid group id")
		}
		if b.After != "" && !ValidName(b.After) {
			return Errorf(CodeBadRequest, "members: invalid after")
		}
	case *Pending:
		if b.ConvID != "" && !ValidGroupID(b.ConvID) {
			return Errorf(CodeBadRequest, "pending: invalid group id")
		}
	case *Renew:
		if b.Token == "" {
			return Errorf(CodeBadRequest, "renew: token missing")
		}
	case *Typing:
		if !ValidConvID(b.ConvID) {
			return Errorf(CodeBadRequest, "typing: invalid conversation id")
		}
		if b.User != "" {
			return Errorf(CodeBadRequest, "typing: the relay fills in the user")
		}
	case *Amend:
		return validateAmend(b)
	case *Receipts:
		if !ValidConvID(b.ConvID) {
			return Errorf(CodeBadRequest, "receipts: invalid conversation id")
		}
	case *CallInvite, *CallAccept, *CallEnd, *CallSignal:
		return validateCall(body)
	case presenceBody: // presence.go
		return b.validatePresence()
	case *KickDevice:
		if !ValidName(b.DeviceID) {
			return Errorf(CodeBadRequest, "kick-device: invalid device id")
		}
	case *Sync, *Ping, *Pong, *Devices:
	default:
		if perr, ok := validateContacts(body); ok {
			return perr
		}
		return Errorf(CodeProtocolError, "%T is not a request", body)
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 32 {
		return fmt.Sprintf("%s…", s[:32])
	}
	return s
}

// MaxPlatformBytes bounds Hello.Platform.
const MaxPlatformBytes = 32

// ValidPlatform reports whether p is a platform name: 1 to MaxPlatformBytes
// of lowercase ASCII letters, digits and '-'.
func ValidPlatform(p string) bool {
	if p == "" || len(p) > MaxPlatformBytes {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

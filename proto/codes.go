package proto

import "fmt"

// Code is a numeric outcome shared by error replies, server close frames and
// WebSocket close codes. Its range decides what a client does next:
//
//	4000–4099  terminal close: do not reconnect (bad token, kicked, version…)
//	4100–4199  retryable close: reconnect with backoff (shutdown, overload…)
//	4200–4299  request error, permanent: retrying the same request fails again
//	4300–4399  request error, temporary: the same request may succeed later
//	4900–4999  client-side codes, never sent on the wire
//
// The ranges live in the application band of RFC 6455 §7.4.2 (4000–4999) so
// a Code can travel as the WebSocket close code itself.
type Code uint16

// Terminal close codes (4000–4099).
const (
	CodeUnauthorized       Code = 4001 // token missing, malformed, forged or for an unknown algorithm
	CodeTokenExpired       Code = 4002 // token past its exp; fetch a new one before reconnecting
	CodeKicked             Code = 4003 // kicked by the server or replaced by another device
	CodeBanned             Code = 4004 // the user may not connect
	CodeUnsupportedVersion Code = 4005 // protocol version not spoken by this relay
	CodeProtocolError      Code = 4006 // malformed CBOR, unknown frame, frame out of order
	CodeFrameTooLarge      Code = 4007 // a frame above the negotiated size limit
	CodeOriginForbidden    Code = 4008 // Origin header not on the allow-list
	CodeDeviceKicked       Code = 4011 // closed by another of the user's devices (kick-device)
	CodeDevicePolicy       Code = 4012 // replaced by a newer session of the same platform under the relay's device policy
	CodeTokenRevoked       Code = 4013 // the token was revoked by the operator; sign in again for a new one
	CodeUserDeleted        Code = 4014 // the user's account data was deleted by the operator
	CodeWrongShard         Code = 4015 // this relay shard does not serve the token's user: the connection's URL must name the user (?user=ID)
)

// Retryable close codes (4100–4199).
const (
	CodeShutdown         Code = 4100 // relay is draining for a restart
	CodeOverloaded       Code = 4101 // relay refuses new work for now
	CodeSlowConsumer     Code = 4102 // the connection did not read fast enough
	CodeHeartbeatTimeout Code = 4103 // nothing heard within the heartbeat window
	CodeRateLimited      Code = 4104 // the connection sent frames faster than allowed
	CodeInternal         Code = 4105 // unexpected relay failure
	CodeTooManySessions  Code = 4106 // the user has too many connections open on this relay
	CodeSessionExpired   Code = 4110 // the session's token expired and was not renewed; reconnect with a fresh token
)

// Permanent request errors (4200–4299).
const (
	CodeBadRequest    Code = 4200 // a field is missing or invalid
	CodeForbidden     Code = 4203 // no such conversation, or the user is not a member of it
	CodeNotFound      Code = 4204 // no such object; a conversation the user cannot see is 4203
	CodeTooLarge      Code = 4213 // message content above the limit
	CodeConflict      Code = 4209 // the id is taken by something else
	CodeNotSupported  Code = 4215 // the request type is not supported here
	CodeRenewRefused  Code = 4255 // the renewal token is invalid, expired or for another user
	CodeBadName       Code = 4256 // a name holds control or bidirectional-override characters
	CodeGroupLimit    Code = 4257 // the user created too many groups (in all, or in the last hour)
	CodeGroupID       Code = 4258 // a client-chosen group id the relay does not take: by default any, with client ids one outside the creator's namespace
	CodeRelationLimit Code = 4259 // a user holds as many relations (contacts, requests, blocks, past ones included) as the relay allows
	CodeCallNotFound  Code = 4260 // no such call, or it has ended
	CodeNotInCall     Code = 4261 // the device is not a participant of the call (or not ringing for it)
	CodeCallExists    Code = 4262 // the call id is already in use
	CodeCallTooLarge  Code = 4263 // the call would have more than the allowed participants
	CodeCallState     Code = 4264 // the request does not fit the call's state (accept twice, signal before joining)
	CodeCallFlood     Code = 4265 // too many signaling frames for this call; slow down
	CodeCallsOff      Code = 4266 // calls are not enabled on this relay

	CodeUploadTooLarge   Code = 4240 // an upload above the relay's size limit (HTTP 413)
	CodeUploadType       Code = 4241 // an upload whose content type is not on the relay's allow-list (HTTP 415)
	CodeUploadIncomplete Code = 4242 // an upload body shorter or longer than its declared length, or with none declared (HTTP 400/411)
	CodeAttachment       Code = 4243 // a message names an attachment that does not exist or that the sender did not upload
	CodeNoSuchMessage    Code = 4230 // the target message is not in this conversation, or is itself a lifecycle event
	CodeRecallWindow     Code = 4231 // the recall window of the message has passed
	CodeNotSender        Code = 4232 // only the message's sender (or a group admin, for recall and delete) may do this
	CodeRecalled         Code = 4233 // the message was recalled or deleted for everyone
	CodeNotEditable      Code = 4234 // only text messages can be edited
	CodeTooManyReactions Code = 4235 // the message has the most distinct reactions it may have
	CodeAttachmentGone   Code = 4236 // the attachment was deleted with the message that carried it (recalled or deleted for everyone; HTTP 410)
	CodeRole             Code = 4220 // the user's role in the group does not allow the operation
	CodeRank             Code = 4221 // the target's role is equal to or higher than the user's
	CodeNotMember        Code = 4222 // a target user is not a member of the group
	CodeOwnerLeave       Code = 4223 // the owner must transfer the group before leaving it
	CodeMuted            Code = 4224 // the user is muted in the group (or everyone is), and may not send
	CodeJoinPolicy       Code = 4225 // the group's join policy does not allow the operation
	CodeGroupFull        Code = 4226 // the group would have more than the member limit
	CodeNoPending        Code = 4227 // no such invitation or join request
	CodeBlocked          Code = 4275 // the recipient blocked this user: one-to-one messages and contact requests to them are refused
	CodeContactsOnly     Code = 4276 // the recipient accepts one-to-one messages from contacts only
	CodeNoRequest        Code = 4277 // no contact request from that user to answer
	CodeNoSuchDevice     Code = 4285 // kick-device: the user has no session of that device open

	CodePresenceLimit Code = 4270 // the user would hold more presence subscriptions than allowed (3,000)
	CodeStatusTooLong Code = 4271 // a custom status above 64 bytes
	CodeBadProfile    Code = 4272 // a profile field (or status) too long or holding control or bidirectional characters
	CodeTooManyUsers  Code = 4273 // more users in one presence or profile request than allowed
)

// Temporary request errors (4300–4399).
const (
	CodeUnavailable Code = 4300 // the store could not commit; retry later
	CodeBusy        Code = 4301 // the relay is overloaded and refused the request at the door; retry after a backoff
	CodeTimeout     Code = 4308 // the relay gave up waiting on the store
)

// Client-side codes (4900–4999), used by SDK errors and never sent.
const (
	CodeClientClosed        Code = 4900 // the client was closed
	CodeNotConnected        Code = 4901 // the request needs a connection
	CodeRequestTimeout      Code = 4902 // no reply in time
	CodeInvalidArgument     Code = 4903 // the caller passed bad arguments
	CodeBadServerFrame      Code = 4904 // the relay sent something the client rejects
	CodePanic               Code = 4905 // the SDK failed internally
	CodeConnectTimeout      Code = 4906 // connect did not finish in time; the client keeps retrying in the background
	CodeGaveUp              Code = 4907 // reconnecting stopped after maxAttempts failures; terminal until connect is called again
	CodeAborted             Code = 4908 // the caller cancelled the operation (AbortSignal, context) before it completed
	CodeUnknownConversation Code = 4909 // the conversation is not in this client's cache
	CodeBadMessageID        Code = 4913 // not the id of a sent message (conversationId#seq)
	CodeCallUnsupported     Code = 4920 // this platform cannot place or take calls (no WebRTC)
	CodeCallMedia           Code = 4921 // the microphone or camera could not be opened
	CodeUploadFailed        Code = 4916 // the relay refused an attachment's upload for good; its message failed
	CodeFileGone            Code = 4917 // the file of a message waiting for its upload is no longer in the device's storage
)

// Terminal reports whether a close with this code must not be retried.
// CodeGaveUp is terminal too: the client does not reconnect by itself after it.
func (c Code) Terminal() bool { return c >= 4000 && c < 4100 || c == CodeGaveUp }

// Retryable reports whether a close or request error may succeed if tried
// again. Unknown codes outside the terminal ranges are treated as retryable
// so that a newer relay's codes never strand an older client offline.
func (c Code) Retryable() bool {
	switch {
	case c >= 4000 && c < 4100, c >= 4200 && c < 4300:
		return false
	case c == CodeConnectTimeout:
		return true
	case c >= 4900:
		return false
	}
	return true
}

var codeNames = map[Code]string{
	CodeUnauthorized:        "unauthorized",
	CodeTokenExpired:        "token expired",
	CodeKicked:              "kicked",
	CodeBanned:              "banned",
	CodeUnsupportedVersion:  "unsupported protocol version",
	CodeProtocolError:       "protocol error",
	CodeFrameTooLarge:       "frame too large",
	CodeOriginForbidden:     "origin forbidden",
	CodeDeviceKicked:        "device kicked",
	CodeDevicePolicy:        "device policy",
	CodeTokenRevoked:        "token revoked",
	CodeUserDeleted:         "user deleted",
	CodeWrongShard:          "wrong shard",
	CodeNoSuchDevice:        "no such device",
	CodeShutdown:            "shutdown",
	CodeOverloaded:          "overloaded",
	CodeSlowConsumer:        "slow consumer",
	CodeHeartbeatTimeout:    "heartbeat timeout",
	CodeRateLimited:         "rate limited",
	CodeInternal:            "internal error",
	CodeTooManySessions:     "too many sessions",
	CodeSessionExpired:      "session expired",
	CodeBadRequest:          "bad request",
	CodeForbidden:           "forbidden",
	CodeNotFound:            "not found",
	CodeTooLarge:            "too large",
	CodeConflict:            "conflict",
	CodeNotSupported:        "not supported",
	CodeRenewRefused:        "renewal refused",
	CodeBadName:             "bad name",
	CodeGroupLimit:          "group limit",
	CodeGroupID:             "group id refused",
	CodeRelationLimit:       "relation limit",
	CodeUploadTooLarge:      "upload too large",
	CodeUploadType:          "upload type not allowed",
	CodeUploadIncomplete:    "upload incomplete",
	CodeAttachment:          "attachment refused",
	CodeUploadFailed:        "upload failed",
	CodeFileGone:            "file gone",
	CodeNoSuchMessage:       "no such message",
	CodeRecallWindow:        "recall window passed",
	CodeNotSender:           "not the sender",
	CodeRecalled:            "message recalled",
	CodeNotEditable:         "not editable",
	CodeTooManyReactions:    "too many reactions",
	CodeAttachmentGone:      "attachment gone",
	CodeBadMessageID:        "bad message id",
	CodeRole:                "role too low",
	CodeRank:                "target rank too high",
	CodeNotMember:           "not a member",
	CodeOwnerLeave:          "owner must transfer",
	CodeMuted:               "muted",
	CodeJoinPolicy:          "join policy",
	CodeGroupFull:           "group full",
	CodeNoPending:           "no pending invitation or request",
	CodeUnavailable:         "unavailable",
	CodeBusy:                "busy",
	CodeTimeout:             "timeout",
	CodePresenceLimit:       "presence subscription limit",
	CodeStatusTooLong:       "status too long",
	CodeBadProfile:          "bad profile",
	CodeTooManyUsers:        "too many users",
	CodeClientClosed:        "client closed",
	CodeNotConnected:        "not connected",
	CodeRequestTimeout:      "request timeout",
	CodeInvalidArgument:     "invalid argument",
	CodeBadServerFrame:      "bad server frame",
	CodePanic:               "panic",
	CodeConnectTimeout:      "connect timeout",
	CodeGaveUp:              "gave up reconnecting",
	CodeAborted:             "aborted",
	CodeUnknownConversation: "unknown conversation",
	CodeCallNotFound:        "call not found",
	CodeNotInCall:           "not in call",
	CodeCallExists:          "call exists",
	CodeCallTooLarge:        "call too large",
	CodeCallState:           "call state",
	CodeCallFlood:           "call signaling flood",
	CodeCallsOff:            "calls disabled",
	CodeCallUnsupported:     "calls unsupported",
	CodeCallMedia:           "media unavailable",
}

// String returns the code's short name.
func (c Code) String() string {
	if n, ok := codeNames[c]; ok {
		return n
	}
	return fmt.Sprintf("code %d", uint16(c))
}

// Codes lists every defined code in ascending order, for docs and generated
// bindings.
func Codes() []Code {
	out := make([]Code, 0, len(codeNames))
	for c := range codeNames {
		out = append(out, c)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// Error is a failure carrying a Code. It is what an Error frame decodes to,
// and errors.Is compares codes, so errors.Is(err, &Error{Code: CodeForbidden})
// matches any forbidden reply whatever its message.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("parley: %d %s", uint16(e.Code), e.Code)
	}
	return fmt.Sprintf("parley: %d %s: %s", uint16(e.Code), e.Code, e.Message)
}

// Is reports whether target is an *Error with the same code. A nil *Error
// matches nothing, so errors.Is(err, (*Error)(nil)) is false, not a panic.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t != nil && e != nil && t.Code == e.Code
}

// Errorf returns an *Error with a formatted message.
func Errorf(c Code, format string, args ...any) *Error {
	return &Error{Code: c, Message: fmt.Sprintf(format, args...)}
}

package proto

// Version is the protocol version this build speaks. A relay accepts the
// versions in [MinVersion, Version]; see doc.go for the versioning rules.
const (
	Version    = 1
	MinVersion = 1
)

// Type identifies a frame. Values are stable on the wire; new types get new
// numbers and a peer that does not know a type answers CodeProtocolError.
type Type uint8

// Client → relay requests carry a non-zero request id that the reply echoes.
// Relay → client pushes carry id 0.
const (
	TypeHello       Type = 1  // c→s  first frame: version, token, device
	TypeWelcome     Type = 2  // s→c  reply to Hello: user, epoch, limits
	TypeSend        Type = 3  // c→s  a new message
	TypeAck         Type = 4  // s→c  reply to Send, after commit
	TypeDeliver     Type = 5  // s→c  push: a message in one of the user's conversations
	TypeSync        Type = 6  // c→s  conversations changed since a cursor
	TypeSyncResult  Type = 7  // s→c  reply to Sync
	TypeHistory     Type = 8  // c→s  messages of a conversation by seq range
	TypeHistoryPage Type = 9  // s→c  reply to History
	TypeRead        Type = 10 // c→s  move the read cursor
	TypeOK          Type = 11 // s→c  empty success reply
	TypeConvUpdate  Type = 12 // s→c  push: a conversation changed (created, read cursor, …)
	TypePing        Type = 13 // either way: heartbeat
	TypePong        Type = 14 // either way: heartbeat reply
	TypeError       Type = 15 // s→c  reply to a request that failed
	TypeClose       Type = 16 // s→c  the relay is closing the connection, and why
	TypeCreateGroup Type = 17 // c→s  create a group conversation
	TypeConvResult  Type = 18 // s→c  reply to CreateGroup
	TypeResync      Type = 19 // s→c  push: pushes may have been lost; sync again from your cursor
	TypeAmend       Type = 28 // c→s  recall, edit, delete or react to a message: an ordered event in the conversation
	TypeReceipts    Type = 29 // c→s  who of a conversation's members has read up to a seq
	TypeReceiptList Type = 30 // s→c  reply to Receipts
	TypeHideMessage Type = 34 // c→s  delete a message for me: an entry of the user's own feed, answered with UserState
	TypeCallInvite  Type = 40 // c→s  start a call in a conversation (call.go)
	TypeCallInfo    Type = 41 // s→c  reply to CallInvite and CallAccept: ICE servers
	TypeCallRing    Type = 42 // s→c  push: a call rings this device
	TypeCallAccept  Type = 43 // c→s  answer a ringing call on this device
	TypeCallEnd     Type = 44 // c→s  cancel, reject or hang up
	TypeCallState   Type = 45 // s→c  push: someone joined or left, or the call ended
	TypeCallSignal  Type = 46 // either way: SDP offer/answer or an ICE candidate for one peer
	TypeTyping      Type = 50 // either way: a user is typing in a conversation (transient, never stored)
	TypeContact     Type = 57 // c→s  request, answer or remove a contact; block or unblock a user
	TypeSetConv     Type = 58 // c→s  pin, mute or hide a conversation for this user
	TypeSetPrefs    Type = 59 // c→s  replace the user's preferences (contacts only)
	TypeUserSync    Type = 60 // c→s  the user's feed entries changed since a cursor
	TypeUserState   Type = 61 // s→c  reply to UserSync, Contact, SetConv and SetPrefs
	TypeUserUpdate  Type = 62 // s→c  push: one entry of the user's feed changed
	TypeDevices     Type = 64 // c→s  list the user's sessions on every relay
	TypeDeviceList  Type = 65 // s→c  reply to Devices
	TypeKickDevice  Type = 66 // c→s  close the session of another of the user's devices
	TypeRenew       Type = 70 // c→s  a fresh token for the open session
	TypeRenewed     Type = 71 // s→c  reply to Renew: the session now lasts until the new token's exp
)

var typeNames = [...]string{
	TypeRenew: "renew", TypeRenewed: "renewed",
	TypeHello: "hello", TypeWelcome: "welcome", TypeSend: "send", TypeAck: "ack",
	TypeDeliver: "deliver", TypeSync: "sync", TypeSyncResult: "sync-result",
	TypeHistory: "history", TypeHistoryPage: "history-page", TypeRead: "read", TypeOK: "ok",
	TypeConvUpdate: "conv-update", TypePing: "ping", TypePong: "pong", TypeError: "error",
	TypeClose: "close", TypeCreateGroup: "create-group", TypeConvResult: "conv-result",
	TypeResync: "resync", TypeTyping: "typing",
	TypeAmend: "amend", TypeReceipts: "receipts", TypeReceiptList: "receipt-list", TypeHideMessage: "hide-message",
	TypeCallInvite: "call-invite", TypeCallInfo: "call-info", TypeCallRing: "call-ring",
	TypeCallAccept: "call-accept", TypeCallEnd: "call-end", TypeCallState: "call-state",
	TypeCallSignal: "call-signal",
	TypeDevices:    "devices", TypeDeviceList: "device-list", TypeKickDevice: "kick-device",
	TypeGroupOp: "group-op", TypeMembers: "members", TypeMemberPage: "member-page",
	TypeGroupNotice: "group-notice", TypePending: "pending", TypePendingList: "pending-list",
	TypeSubscribePresence: "subscribe-presence", TypeSetStatus: "set-status", TypePresences: "presences",
	TypeSetProfile: "set-profile", TypeGetProfiles: "get-profiles", TypeProfiles: "profiles",
	TypeContact: "contact", TypeSetConv: "set-conv", TypeSetPrefs: "set-prefs", TypeUserSync: "user-sync",
	TypeUserState: "user-state", TypeUserUpdate: "user-update",
}

func (t Type) String() string {
	if int(t) < len(typeNames) && typeNames[t] != "" {
		return typeNames[t]
	}
	return "unknown"
}

// Conversation kinds.
const (
	KindP2P   = "p2p"
	KindGroup = "group"
)

// Message content types known to the relay. Anything else is rejected; the
// "custom" type carries application bytes the relay never interprets.
const (
	MsgText   = "text"
	MsgCustom = "custom"
)

// Message types of the lifecycle events the relay writes for an Amend. Each
// is a message in the conversation's log (it takes a seq) whose Target is
// the seq of the message it changes; a client applies it to that message.
// Hide ("delete for me") is no longer one of them: it is an entry of the
// user's own feed (HideMessage), which no other member receives. A hide
// event stored in a log by an older relay is served to its sender only;
// every other member receives it stripped of sender and target.
const (
	MsgRecall  = "recall"  // Target's text, body and reactions are erased; Recalled is set
	MsgDelete  = "delete"  // as recall, asked as "delete for everyone"
	MsgEdit    = "edit"    // Target's text becomes Text; EditedAt is set
	MsgReact   = "react"   // Sender reacted with the emoji in Text
	MsgUnreact = "unreact" // Sender withdrew the reaction in Text
	MsgHide    = "hide"    // legacy log event: Sender hid Target on their own devices (see HideMessage)
)

// MentionAll in Mentions mentions every member.
const MentionAll = "*"

// Frame is one WebSocket binary message: a type, a request id and a body whose
// concrete type is fixed by the frame type (see NewBody).
type Frame struct {
	Type Type
	ID   uint64 // request id; 0 on pushes
	Body any    // pointer to the body struct for Type, nil for bodiless frames
}

// Hello opens a session. Token is the JWT; it travels here, never in the URL.
type Hello struct {
	Version  uint16 `cbor:"1,keyasint"`
	Token    string `cbor:"2,keyasint"`
	DeviceID string `cbor:"3,keyasint"`
	Client   string `cbor:"4,keyasint,omitempty"` // e.g. "parley-go/0.1", for logs and metrics
	// Platform is the kind of client: web, node, react-native, miniapp, or
	// another short lowercase name. The relay's device policy limits
	// sessions per platform; empty counts as "other".
	Platform string `cbor:"5,keyasint,omitempty"`
}

// Welcome accepts a session.
type Welcome struct {
	Version     uint16 `cbor:"1,keyasint"`
	UserID      string `cbor:"2,keyasint"`
	Epoch       string `cbor:"3,keyasint"`           // changes when the store is reset; see doc.go
	ServerTime  int64  `cbor:"4,keyasint"`           // unix milliseconds
	HeartbeatMs uint32 `cbor:"5,keyasint"`           // client pings at this interval
	MaxFrame    uint32 `cbor:"6,keyasint"`           // bytes
	SessionID   string `cbor:"7,keyasint,omitempty"` // for logs
	TokenExp    int64  `cbor:"8,keyasint,omitempty"` // unix seconds the token expires
}

// Send asks the relay to store and fan out a message. (Sender, ClientID) is
// the idempotency key: a retry returns the original Ack.
type Send struct {
	ConvID   string   `cbor:"1,keyasint"`
	ClientID string   `cbor:"2,keyasint"`
	MsgType  string   `cbor:"3,keyasint"`
	Text     string   `cbor:"4,keyasint,omitempty"`
	Body     []byte   `cbor:"5,keyasint,omitempty"`
	ReplyTo  uint64   `cbor:"10,keyasint,omitempty"` // seq of the message this one answers, in the same conversation
	Mentions []string `cbor:"11,keyasint,omitempty"` // user ids, or MentionAll

	Attachment *Attachment `cbor:"15,keyasint,omitempty"` // image, file, audio and video messages
}

// Ack confirms a Send after it is committed.
type Ack struct {
	ConvID    string `cbor:"1,keyasint"`
	ClientID  string `cbor:"2,keyasint"`
	Seq       uint64 `cbor:"3,keyasint"`
	CreatedAt int64  `cbor:"4,keyasint"` // unix milliseconds, relay clock
	Duplicate bool   `cbor:"5,keyasint,omitempty"`
}

// Message is a stored conversation event.
type Message struct {
	ConvID    string     `cbor:"1,keyasint"`
	Seq       uint64     `cbor:"2,keyasint"`
	Sender    string     `cbor:"3,keyasint"`
	ClientID  string     `cbor:"4,keyasint"`
	MsgType   string     `cbor:"5,keyasint"`
	Text      string     `cbor:"6,keyasint,omitempty"`
	Body      []byte     `cbor:"7,keyasint,omitempty"`
	CreatedAt int64      `cbor:"8,keyasint"` // unix milliseconds
	Device    string     `cbor:"9,keyasint,omitempty"`
	ReplyTo   uint64     `cbor:"10,keyasint,omitempty"` // seq of the message this one answers
	Mentions  []string   `cbor:"11,keyasint,omitempty"` // user ids, or MentionAll
	Recalled  bool       `cbor:"12,keyasint,omitempty"` // recalled or deleted for everyone: text and body are gone
	EditedAt  int64      `cbor:"13,keyasint,omitempty"` // unix milliseconds of the last edit
	Reactions []Reaction `cbor:"14,keyasint,omitempty"` // by emoji, in the order they were first used
	Target    uint64     `cbor:"16,keyasint,omitempty"` // for a lifecycle event: the seq it changes

	Attachment *Attachment `cbor:"15,keyasint,omitempty"` // image, file, audio and video messages
}

// Reaction lists the users who reacted to a message with one emoji.
type Reaction struct {
	Emoji string   `cbor:"1,keyasint"`
	Users []string `cbor:"2,keyasint"` // in the order they reacted
}

// Amend asks the relay to change a message of a conversation: Op is one of
// the lifecycle message types (MsgRecall, MsgDelete, MsgEdit, MsgReact,
// MsgUnreact; "delete for me" is a HideMessage). The relay checks the actor's right to it, changes
// the target, stores the change as a message of type Op in the log and
// answers with an Ack for it. (Sender, ClientID) makes it idempotent as a
// Send is.
type Amend struct {
	ConvID   string `cbor:"1,keyasint"`
	ClientID string `cbor:"2,keyasint"`
	Op       string `cbor:"3,keyasint"`
	Target   uint64 `cbor:"4,keyasint"`           // seq of the message to change
	Text     string `cbor:"5,keyasint,omitempty"` // the new text (edit) or the emoji (react, unreact)
}

// Receipts asks which members of a conversation have read up to Seq.
type Receipts struct {
	ConvID string `cbor:"1,keyasint"`
	Seq    uint64 `cbor:"2,keyasint"`
}

// ReceiptList answers Receipts: the other members whose read cursor is at
// or past Seq, and those whose is not, both sorted.
type ReceiptList struct {
	ConvID string   `cbor:"1,keyasint"`
	Seq    uint64   `cbor:"2,keyasint"`
	Read   []string `cbor:"3,keyasint"`
	Unread []string `cbor:"4,keyasint"`
}

// ID returns the message's stable id, derived from its place in the
// conversation.
func (m *Message) ID() string { return MessageID(m.ConvID, m.Seq) }

// Deliver pushes a message to a member's connected device.
type Deliver struct {
	Message Message `cbor:"1,keyasint"`
}

// Sync asks which conversations changed after Cursor. Cursors are opaque to
// the client except that 0 means "from the beginning".
type Sync struct {
	Cursor uint64 `cbor:"1,keyasint"`
	Limit  uint32 `cbor:"2,keyasint,omitempty"` // relay caps it; 0 means its default
}

// Conversation is the per-user view of a conversation.
type Conversation struct {
	ID          string   `cbor:"1,keyasint"`
	Kind        string   `cbor:"2,keyasint"`
	Name        string   `cbor:"3,keyasint,omitempty"`
	Members     []string `cbor:"4,keyasint,omitempty"`
	LastSeq     uint64   `cbor:"5,keyasint"`
	ReadSeq     uint64   `cbor:"6,keyasint"`
	LastMessage *Message `cbor:"7,keyasint,omitempty"`
	Version     uint64   `cbor:"8,keyasint"` // the change cursor this state belongs to
	CreatedAt   int64    `cbor:"9,keyasint,omitempty"`
	PeerReadSeq uint64   `cbor:"18,keyasint,omitempty"` // p2p: the other member's read cursor
	// Group state (see group.go). Role is this user's role; empty when
	// the user is no longer a member (removed, left, dismissed): the view
	// is then frozen at the last message the user may read.
	Role       string `cbor:"10,keyasint,omitempty"`
	Avatar     string `cbor:"11,keyasint,omitempty"`
	Notice     string `cbor:"12,keyasint,omitempty"`
	MutedUntil int64  `cbor:"13,keyasint,omitempty"` // this user may not speak before it, unix ms
	JoinPolicy string `cbor:"14,keyasint,omitempty"`
	Custom     string `cbor:"15,keyasint,omitempty"`
	MuteAll    bool   `cbor:"16,keyasint,omitempty"` // only admins and the owner may speak
}

// SyncResult lists changed conversations in change order (on a Workers
// relay with several store objects: in position order, which is change
// order among the conversations of one store object).
type SyncResult struct {
	Conversations []Conversation `cbor:"1,keyasint"`
	Cursor        uint64         `cbor:"2,keyasint"` // pass back in the next Sync
	More          bool           `cbor:"3,keyasint,omitempty"`
}

// History asks for messages of a conversation. With Before = 0 it returns the
// messages after After in ascending order; with Before > 0 it returns the last
// Limit messages before Before, still ascending.
type History struct {
	ConvID string `cbor:"1,keyasint"`
	After  uint64 `cbor:"2,keyasint,omitempty"`
	Before uint64 `cbor:"3,keyasint,omitempty"`
	Limit  uint32 `cbor:"4,keyasint,omitempty"`
}

// HistoryPage answers History.
type HistoryPage struct {
	ConvID   string    `cbor:"1,keyasint"`
	Messages []Message `cbor:"2,keyasint"`
	More     bool      `cbor:"3,keyasint,omitempty"` // more messages exist in the asked direction
	LastSeq  uint64    `cbor:"4,keyasint,omitempty"` // conversation's last seq when read
	// Hidden are the runs of seqs inside the part of the conversation the
	// page covers that this user may not read: a group's messages from
	// before the user joined, or from while they were not a member. They
	// hold no message for this user; a client skips them as if read.
	Hidden []SeqRange `cbor:"5,keyasint,omitempty"`
}

// SeqRange is the run of seqs From..To, both included.
type SeqRange struct {
	From uint64 `cbor:"1,keyasint"`
	To   uint64 `cbor:"2,keyasint"`
}

// Read moves the user's read cursor; cursors never move backwards.
type Read struct {
	ConvID string `cbor:"1,keyasint"`
	Seq    uint64 `cbor:"2,keyasint"`
}

// ConvUpdate pushes a changed conversation (new, renamed, read elsewhere).
type ConvUpdate struct {
	Conversation Conversation `cbor:"1,keyasint"`
}

// Ping and Pong carry the sender's clock for round-trip measurement.
type Ping struct {
	Time int64 `cbor:"1,keyasint,omitempty"`
}

// Pong echoes a Ping's time.
type Pong struct {
	Time int64 `cbor:"1,keyasint,omitempty"`
}

// ErrorBody answers a failed request.
type ErrorBody struct {
	Code    Code   `cbor:"1,keyasint"`
	Message string `cbor:"2,keyasint,omitempty"`
	// RetryAfter is the relay's hint, in milliseconds, of how long to wait
	// before repeating a request refused with a temporary code (4301).
	// Absent means no hint: the client's own backoff applies.
	RetryAfter uint32 `cbor:"3,keyasint,omitempty"`
}

// Close tells the client why the relay ends the connection; the WebSocket
// close code carries the same Code.
type Close struct {
	Code   Code   `cbor:"1,keyasint"`
	Reason string `cbor:"2,keyasint,omitempty"`
}

// CreateGroup creates a group with the caller and Members. An empty ConvID
// asks the relay for an id; Key then makes the request idempotent: the relay
// answers every CreateGroup of one creator with one Key with the same group,
// so a resend after a lost reply, or after a reconnect, creates nothing new.
// A chosen ConvID (accepted only where the relay's policy allows it, 4258
// otherwise) is its own idempotency key.
type CreateGroup struct {
	ConvID  string   `cbor:"1,keyasint,omitempty"`
	Name    string   `cbor:"2,keyasint,omitempty"`
	Members []string `cbor:"3,keyasint"`
	// Optional information of the new group (see GroupInfo).
	Avatar     string `cbor:"4,keyasint,omitempty"`
	Notice     string `cbor:"5,keyasint,omitempty"`
	Custom     string `cbor:"6,keyasint,omitempty"`
	JoinPolicy string `cbor:"7,keyasint,omitempty"` // JoinInvite when empty
	// Key is the client's idempotency key for a create without ConvID, in
	// the form of a name (ValidName); ignored with a ConvID.
	Key string `cbor:"8,keyasint,omitempty"`
}

// ConvResult answers CreateGroup.
type ConvResult struct {
	Conversation Conversation `cbor:"1,keyasint"`
}

// Renew hands the relay a fresh token for the session it arrives on. The
// token must be for the session's user; the session then ends at the new
// token's exp instead of the old one's (see CodeSessionExpired).
type Renew struct {
	Token string `cbor:"1,keyasint"`
}

// Renewed answers Renew with the new token's expiry.
type Renewed struct {
	TokenExp int64 `cbor:"1,keyasint"` // unix seconds
}

// Typing says that a user is typing in a conversation. It is transient:
// never stored, never acknowledged, and it carries no request id. A client
// sends it without User; the relay fills in the sender's user id and passes
// it to the sessions of the conversation's other members that are
// connected at that moment. What a relay refuses (not a member, too often)
// it drops without a reply.
type Typing struct {
	ConvID string `cbor:"1,keyasint"`
	User   string `cbor:"2,keyasint,omitempty"`
}

// Devices asks for the user's sessions open now, on every relay node.
type Devices struct{}

// Device is one open session of the user: one per device id.
type Device struct {
	ID          string `cbor:"1,keyasint"`           // the device id its hello carried
	Platform    string `cbor:"2,keyasint,omitempty"` // web, node, react-native, miniapp, …
	ConnectedAt int64  `cbor:"3,keyasint"`           // unix milliseconds, relay clock
	Current     bool   `cbor:"4,keyasint,omitempty"` // the session this list was asked on
}

// DeviceList answers Devices, oldest session first.
type DeviceList struct {
	Devices []Device `cbor:"1,keyasint"`
}

// KickDevice closes the session of one of the user's devices, on whichever
// relay node holds it, with CodeDeviceKicked; that client does not
// reconnect by itself. The relay answers OK, or CodeNoSuchDevice when no
// session of the device is open.
type KickDevice struct {
	DeviceID string `cbor:"1,keyasint"`
}

// NewBody returns a pointer to a zero body for t, or nil when t has no body,
// and false when t is unknown.
func NewBody(t Type) (any, bool) {
	switch t {
	case TypeHello:
		return new(Hello), true
	case TypeWelcome:
		return new(Welcome), true
	case TypeSend:
		return new(Send), true
	case TypeAck:
		return new(Ack), true
	case TypeDeliver:
		return new(Deliver), true
	case TypeSync:
		return new(Sync), true
	case TypeSyncResult:
		return new(SyncResult), true
	case TypeHistory:
		return new(History), true
	case TypeHistoryPage:
		return new(HistoryPage), true
	case TypeRead:
		return new(Read), true
	case TypeOK:
		return nil, true
	case TypeConvUpdate:
		return new(ConvUpdate), true
	case TypePing:
		return new(Ping), true
	case TypePong:
		return new(Pong), true
	case TypeError:
		return new(ErrorBody), true
	case TypeClose:
		return new(Close), true
	case TypeCreateGroup:
		return new(CreateGroup), true
	case TypeConvResult:
		return new(ConvResult), true
	case TypeResync:
		return nil, true
	case TypeRenew:
		return new(Renew), true
	case TypeRenewed:
		return new(Renewed), true
	case TypeTyping:
		return new(Typing), true
	case TypeAmend:
		return new(Amend), true
	case TypeHideMessage:
		return new(HideMessage), true
	case TypeReceipts:
		return new(Receipts), true
	case TypeReceiptList:
		return new(ReceiptList), true
	case TypeCallInvite:
		return new(CallInvite), true
	case TypeCallInfo:
		return new(CallInfo), true
	case TypeCallRing:
		return new(CallRing), true
	case TypeCallAccept:
		return new(CallAccept), true
	case TypeCallEnd:
		return new(CallEnd), true
	case TypeCallState:
		return new(CallState), true
	case TypeCallSignal:
		return new(CallSignal), true
	case TypeGroupOp:
		return new(GroupOp), true
	case TypeMembers:
		return new(Members), true
	case TypeMemberPage:
		return new(MemberPage), true
	case TypeGroupNotice:
		return new(GroupNotice), true
	case TypePending:
		return new(Pending), true
	case TypePendingList:
		return new(PendingList), true
	case TypeSubscribePresence:
		return new(SubscribePresence), true
	case TypeSetStatus:
		return new(SetStatus), true
	case TypePresences:
		return new(Presences), true
	case TypeSetProfile:
		return new(SetProfile), true
	case TypeGetProfiles:
		return new(GetProfiles), true
	case TypeProfiles:
		return new(Profiles), true
	case TypeContact:
		return new(Contact), true
	case TypeSetConv:
		return new(SetConv), true
	case TypeSetPrefs:
		return new(Prefs), true
	case TypeUserSync:
		return new(UserSync), true
	case TypeUserState:
		return new(UserState), true
	case TypeUserUpdate:
		return new(UserUpdate), true
	case TypeDevices:
		return new(Devices), true
	case TypeDeviceList:
		return new(DeviceList), true
	case TypeKickDevice:
		return new(KickDevice), true
	}
	return nil, false
}

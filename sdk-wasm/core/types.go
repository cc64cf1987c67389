package core

import "github.com/parley-im/parley/proto"

// State is the connection state reported to the application.
type State string

// Connection states, as the JavaScript API names them.
const (
	StateIdle         State = "idle"         // not started
	StateConnecting   State = "connecting"   // first attempt under way
	StateConnected    State = "connected"    // welcomed by the relay
	StateReconnecting State = "reconnecting" // lost the connection, trying again
	StateDisconnected State = "disconnected" // stopped by a terminal code or attempts exhausted
	StateClosed       State = "closed"       // closed by the application
)

// Status is where a message stands from this device's point of view.
type Status string

// Message statuses.
const (
	StatusPending Status = "pending" // in the outbox, not yet acknowledged
	StatusSent    Status = "sent"    // durably stored by the relay
	StatusFailed  Status = "failed"  // refused by the relay for good; can be resent
)

// Message is a conversation message as the application sees it.
type Message struct {
	ID        string     `json:"id"`       // stable: `conversationId#seq` once sent, `local:<clientId>` while pending
	ClientID  string     `json:"clientId"` // chosen by the sending client; its retries share it, so the relay stores the message once
	ConvID    string     `json:"conversationId"`
	Seq       uint64     `json:"seq"`              // position in the conversation, contiguous and increasing; 0 while pending
	Sender    string     `json:"sender"`           // user id of the sender
	Device    string     `json:"device,omitempty"` // the sending device
	Type      string     `json:"type"`             // `text` or `custom` today; a newer relay may add types
	Text      string     `json:"text,omitempty"`
	Body      []byte     `json:"body,omitempty"`      // the payload of a non-text message, base64 in JSON
	CreatedAt int64      `json:"createdAt"`           // unix ms: relay time once sent, local time while pending
	LocalTime int64      `json:"localTime,omitempty"` // unix ms when this device created it (0 for others' messages)
	Status    Status     `json:"status"`
	ErrorCode proto.Code `json:"errorCode,omitempty"` // why the relay refused it, when the status is failed
	ReplyTo   string     `json:"replyTo,omitempty"`   // id of the message of the same conversation this one answers
	Mentions  []string   `json:"mentions,omitempty"`  // user ids this message mentions; "*" mentions every member
	Recalled  bool       `json:"recalled,omitempty"`  // recalled, or deleted for everyone: its text and body are gone
	EditedAt  int64      `json:"editedAt,omitempty"`  // unix ms of the last edit
	Reactions []Reaction `json:"reactions,omitempty"` // who reacted with which emoji, in the order the emoji were first used
	Target    uint64     `json:"target,omitempty"`    // a lifecycle event (recall, edit, react…): the seq of the message it changes
	Hidden    bool       `json:"hidden,omitempty"`    // hidden on this user's devices ("delete for me")

	Attachment *Attachment `json:"attachment,omitempty"` // the file of an image, file, audio or video message
}

// Conversation is the local view of a conversation.
type Conversation struct {
	ID          string   `json:"id"`                         // `p:<a>:<b>` for one-to-one conversations, `g:<name>` for groups
	Kind        string   `json:"type" ts:"ConversationType"` // `p2p` or `group`
	Name        string   `json:"name,omitempty"`             // display name of a group
	Members     []string `json:"members,omitempty"`          // user ids of the members, when known
	LastMessage *Message `json:"lastMessage,omitempty"`      // the newest message, when one is known
	LastSeq     uint64   `json:"lastSeq"`                    // highest seq known to exist on the relay
	ReadSeq     uint64   `json:"readSeq"`                    // this user's read cursor: every message with seq ≤ readSeq is read
	Unread      uint64   `json:"unread"`                     // lastSeq − readSeq − len(eventSeqs); own messages advance the read cursor, so they never count
	SyncedSeq   uint64   `json:"syncedSeq"`                  // every message with seq ≤ syncedSeq is in the local store
	Version     uint64   `json:"version"`                    // relay change version this state reflects
	Mentioned   bool     `json:"mentioned,omitempty"`        // an unread message of another user mentions this user (or everyone)
	MentionSeq  uint64   `json:"mentionSeq,omitempty"`       // the newest message of another user that mentions this user
	PeerReadSeq uint64   `json:"peerReadSeq,omitempty"`      // one-to-one: the other member's read cursor
	Pinned      bool     `json:"pinned,omitempty"`           // pinned by this user (synced across devices)
	Muted       bool     `json:"muted,omitempty"`            // notifications muted by this user; not in the total unread
	Hidden      bool     `json:"hidden,omitempty"`           // hidden by this user until a newer message arrives
	Draft       string   `json:"draft,omitempty"`            // unsent text, kept on this device only
	Role        string   `json:"role,omitempty"`             // group state, from the relay: this user's role in a group: `owner`, `admin` or `member`; absent once no longer a member
	Avatar      string   `json:"avatar,omitempty"`           // a group's avatar (a URL or a key)
	Notice      string   `json:"notice,omitempty"`           // a group's notice board
	Custom      string   `json:"custom,omitempty"`           // a group's application data
	JoinPolicy  string   `json:"joinPolicy,omitempty"`       // a group's join policy: `invite`, `approval` or `open`
	MutedUntil  int64    `json:"mutedUntil,omitempty"`       // unix ms until which this user may not speak in the group
	MuteAll     bool     `json:"muteAll,omitempty"`          // only admins and the owner may speak in the group
	// Skipped are the runs of seqs this user may not read: a group's
	// messages from before they joined or from while they were not a
	// member. They count as synced and are never in the local store.
	Skipped []SeqRange `json:"skipped,omitempty"`
	// EventSeqs are the seqs after readSeq that hold another member's edit,
	// recall, delete or reaction: entries of the log, not messages, so
	// unread does not count them. At most the newest 256 are kept (older
	// ones then count as unread), so that a busy conversation left unread
	// keeps a record of bounded size.
	EventSeqs []uint64 `json:"eventSeqs,omitempty"`
	// MentionSeqs are the seqs after readSeq of other users' messages that
	// mention this user, oldest first: a recall of the newest leaves the
	// conversation mentioned by the one before. At most the newest 64 are
	// kept.
	MentionSeqs []uint64 `json:"mentionSeqs,omitempty"`
}

// SeqRange is the run of seqs From..To, both included.
type SeqRange struct {
	From uint64 `json:"from"`
	To   uint64 `json:"to"`
}

// OutboxEntry is a send that is not acknowledged yet. Outbox entries are
// persisted, so they survive a restart and go out in Order.
type OutboxEntry struct {
	Order   uint64  `json:"order"` // position in the outbox, ascending
	Message Message `json:"message"`
}

// Meta is the small per-device state a store keeps besides conversations,
// messages and the outbox.
type Meta struct {
	DeviceID   string    `json:"deviceId"`
	UserID     string    `json:"userId"`
	Epoch      string    `json:"epoch"`              // relay store epoch the cache belongs to
	SyncCursor uint64    `json:"syncCursor"`         // relay change cursor up to which conversations are synced
	NextOrder  uint64    `json:"nextOrder"`          // next outbox order
	Account    *Account  `json:"account,omitempty"`  // contacts, block list, conversation settings and drafts (contacts.go)
	Profiles   []Profile `json:"profiles,omitempty"` // the profiles last read from the relay (at most MaxStoredProfiles), for a restart offline
}

// Snapshot is what a store hands to the core at start.
type Snapshot struct {
	Meta          Meta           `json:"meta"`
	Conversations []Conversation `json:"conversations"`
	Outbox        []OutboxEntry  `json:"outbox"` // ascending by order
}

// Batch is one atomic group of store writes, produced by one input to the
// core. A store applies a batch in one transaction.
type Batch struct {
	Reset        bool           `json:"reset,omitempty"` // drop conversations, messages and the sync cursor first (epoch change); keep the outbox
	Meta         *Meta          `json:"meta,omitempty"`
	Conversation []Conversation `json:"conversations,omitempty"`
	Messages     []Message      `json:"messages,omitempty"`
	OutboxPut    []OutboxEntry  `json:"outboxPut,omitempty"`
	OutboxDelete []string       `json:"outboxDelete,omitempty"` // client ids of the entries to delete
	// Amend holds the lifecycle events of this batch whose targets the
	// store holds: the client reads each target, applies the event
	// (Message.Apply) and writes it with the batch. Never stored as such.
	Amend []Message `json:"-"`
}

func (b *Batch) empty() bool {
	return !b.Reset && b.Meta == nil && len(b.Conversation) == 0 && len(b.Messages) == 0 &&
		len(b.OutboxPut) == 0 && len(b.OutboxDelete) == 0 && len(b.Amend) == 0
}

// EventKind names an event for the application.
type EventKind string

// Events.
const (
	EventState           EventKind = "state"
	EventMessage         EventKind = "message"
	EventMessageUpdate   EventKind = "messageUpdate"
	EventConversation    EventKind = "conversation"
	EventSyncStart       EventKind = "syncStart"
	EventSyncEnd         EventKind = "syncEnd"
	EventKicked          EventKind = "kicked"
	EventTokenWillExpire EventKind = "tokenWillExpire"
	EventReset           EventKind = "reset" // the relay's store was reset; the cache was dropped
	EventTyping          EventKind = "typing"
	EventInvitation      EventKind = "invitation"  // this user is invited into a group (Notice)
	EventJoinRequest     EventKind = "joinRequest" // a user asks to join a group this user administers (Notice)
)

// Typing is another member typing in a conversation, as the relay passed it
// on. It is transient: nothing is stored, and no event says the typing
// stopped — an application shows it for a few seconds (TypingShowFor).
type Typing struct {
	ConvID string `json:"conversationId"`
	User   string `json:"user"` // who types
}

// Event is one notification for the application.
type Event struct {
	Kind         EventKind      `json:"kind"`
	State        State          `json:"state,omitempty"`
	Code         proto.Code     `json:"code,omitempty"`
	Reason       string         `json:"reason,omitempty"`
	Message      *Message       `json:"message,omitempty"`
	Conversation *Conversation  `json:"conversation,omitempty"`
	Typing       *Typing        `json:"typing,omitempty"`
	Relation     *Relation      `json:"relation,omitempty"` // contact, contactRequest
	Answer       *ContactAnswer `json:"answer,omitempty"`   // contactAnswer
	Total        uint64         `json:"total,omitempty"`    // totalUnread
	Call         *CallEvent     `json:"call,omitempty"`
	Signal       *CallSignal    `json:"signal,omitempty"`
	Notice       *GroupNotice   `json:"notice,omitempty"`   // invitation, joinRequest
	Presence     *Presence      `json:"presence,omitempty"` // EventPresence
	Profile      *Profile       `json:"profile,omitempty"`  // EventProfile
}

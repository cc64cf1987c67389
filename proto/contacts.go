package proto

// A user's own state that is not a conversation's — contacts and the block
// list, per-conversation settings (pin, notification mute, hide) and
// preferences — is one per-user change feed. Every change of one of its
// entries takes a position from the relay's change counter; a device asks
// for the entries changed after its cursor (UserSync → UserState), and the
// relay pushes each change to the user's connected sessions (UserUpdate).
// A push is a hint that is applied at once; only a UserState moves the
// cursor, so a push lost with a connection is found by the next sync.

// Relation states, from the point of view of the entry's owner.
const (
	RelNone      = ""          // no contact and no request between the two
	RelRequested = "requested" // the owner asked the other user to be a contact
	RelPending   = "pending"   // the other user asked the owner; Note is theirs
	RelContact   = "contact"   // both agreed
)

// Contact operations.
const (
	ContactRequest = "request" // ask User to be a contact (accepts theirs when they asked first)
	ContactAccept  = "accept"  // accept User's pending request
	ContactDecline = "decline" // decline User's pending request
	ContactRemove  = "remove"  // end the contact, or withdraw a request, on both sides
	ContactBlock   = "block"   // refuse User's messages and contact requests
	ContactUnblock = "unblock" // undo block
)

// MaxNoteBytes bounds the note of a contact request.
const MaxNoteBytes = 256

// Contact changes the caller's relation to User. The relay answers with a
// UserState holding the caller's changed entry.
type Contact struct {
	Op   string `cbor:"1,keyasint"`
	User string `cbor:"2,keyasint"`
	Note string `cbor:"3,keyasint,omitempty"` // with ContactRequest only
}

// Relation is the owner's relation to User. Blocked is independent of
// State: blocking a contact keeps the contact, and refuses their messages.
type Relation struct {
	User    string `cbor:"1,keyasint"`
	State   string `cbor:"2,keyasint,omitempty"`
	Note    string `cbor:"3,keyasint,omitempty"`
	Blocked bool   `cbor:"4,keyasint,omitempty"`
	At      int64  `cbor:"5,keyasint,omitempty"` // unix milliseconds of the last change, relay clock
}

// ConvSetting is the owner's settings of one conversation. A hidden
// conversation stays hidden while its last seq is at most HiddenSeq: a
// newer message shows it again.
type ConvSetting struct {
	ConvID    string `cbor:"1,keyasint"`
	Pinned    bool   `cbor:"2,keyasint,omitempty"`
	Muted     bool   `cbor:"3,keyasint,omitempty"` // no notifications; not counted in the total unread
	Hidden    bool   `cbor:"4,keyasint,omitempty"`
	HiddenSeq uint64 `cbor:"5,keyasint,omitempty"`
}

// SetConv changes the caller's settings of a conversation; absent fields
// keep their value. Seq is the last seq the client knows when it hides the
// conversation. The relay answers with a UserState.
type SetConv struct {
	ConvID string `cbor:"1,keyasint"`
	Pinned *bool  `cbor:"2,keyasint,omitempty"`
	Muted  *bool  `cbor:"3,keyasint,omitempty"`
	Hidden *bool  `cbor:"4,keyasint,omitempty"`
	Seq    uint64 `cbor:"5,keyasint,omitempty"`
}

// Prefs are the user's preferences that other users' requests are judged
// by. As a request (SetPrefs) it replaces them whole.
type Prefs struct {
	// ContactsOnly refuses one-to-one messages from users who are not
	// contacts (CodeContactsOnly). Contact requests still arrive.
	ContactsOnly bool `cbor:"1,keyasint,omitempty"`
}

// UserEntry is one entry of the feed, with exactly one of Relation,
// Setting, Prefs, Hidden and Notice set.
type UserEntry struct {
	Pos      uint64       `cbor:"1,keyasint"`
	Relation *Relation    `cbor:"2,keyasint,omitempty"`
	Setting  *ConvSetting `cbor:"3,keyasint,omitempty"`
	Prefs    *Prefs       `cbor:"4,keyasint,omitempty"`
	Hidden   *HideMessage `cbor:"5,keyasint,omitempty"` // a message the owner deleted for themselves
	// Notice is an invitation of the owner into a group, or a join request
	// to a group the owner administers; Done once it is no longer pending.
	Notice *GroupNotice `cbor:"6,keyasint,omitempty"`
}

// UserSync asks for the feed entries changed after Cursor (0: all).
type UserSync struct {
	Cursor uint64 `cbor:"1,keyasint"`
	Limit  uint32 `cbor:"2,keyasint,omitempty"` // relay caps it; 0 means its default
}

// UserState answers UserSync with entries in position order, Cursor being
// the position to ask from next. It also answers Contact, SetConv,
// SetPrefs and HideMessage with the caller's changed entries and Cursor 0.
type UserState struct {
	Entries []UserEntry `cbor:"1,keyasint"`
	Cursor  uint64      `cbor:"2,keyasint,omitempty"`
	More    bool        `cbor:"3,keyasint,omitempty"`
}

// UserUpdate pushes one changed entry to the owner's sessions: a change
// made on another device, or by another user (a contact request, an
// answer).
type UserUpdate struct {
	Entry UserEntry `cbor:"1,keyasint"`
}

// EncodeEntry returns the stored form of e (a store keeps entries as these
// bytes and never interprets them beyond what package rules decides).
func EncodeEntry(e *UserEntry) []byte {
	return marshal(e)
}

// DecodeEntry parses what EncodeEntry stored.
func DecodeEntry(b []byte) (UserEntry, error) {
	var e UserEntry
	if err := checkValid(b); err != nil {
		return e, err
	}
	err := unmarshal(b, &e)
	return e, err
}

func validateContacts(body any) (*Error, bool) {
	switch b := body.(type) {
	case *Contact:
		switch b.Op {
		case ContactRequest, ContactAccept, ContactDecline, ContactRemove, ContactBlock, ContactUnblock:
		default:
			return Errorf(CodeBadRequest, "contact: unknown operation %q", truncate(b.Op)), true
		}
		if !ValidName(b.User) {
			return Errorf(CodeBadRequest, "contact: invalid user id"), true
		}
		if b.Note != "" && b.Op != ContactRequest {
			return Errorf(CodeBadRequest, "contact: a note goes with a request only"), true
		}
		if len(b.Note) > MaxNoteBytes {
			return Errorf(CodeTooLarge, "contact: note above %d bytes", MaxNoteBytes), true
		}
	case *SetConv:
		if !ValidConvID(b.ConvID) {
			return Errorf(CodeBadRequest, "set-conv: invalid conversation id"), true
		}
		if b.Pinned == nil && b.Muted == nil && b.Hidden == nil {
			return Errorf(CodeBadRequest, "set-conv: nothing to set"), true
		}
	case *HideMessage:
		if !ValidConvID(b.ConvID) {
			return Errorf(CodeBadRequest, "hide-message: invalid conversation id"), true
		}
		if b.Seq == 0 {
			return Errorf(CodeBadRequest, "hide-message: seq missing"), true
		}
	case *Prefs, *UserSync:
	default:
		return nil, false
	}
	return nil, true
}

func init() {
	codeNames[CodeBlocked] = "blocked"
	codeNames[CodeContactsOnly] = "contacts only"
	codeNames[CodeNoRequest] = "no contact request"
}

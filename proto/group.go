package proto

// Group management: roles, members, information, mutes, invitations and
// join requests. Every change a GroupOp makes is also a message of type
// MsgSystem in the group's ordered log, whose Body is a GroupEvent, so a
// member's offline device learns it through the normal sync.

// Group frame types.
const (
	TypeGroupOp     Type = 20 // c→s  change a group: members, roles, mutes, information, invitations, join requests
	TypeMembers     Type = 21 // c→s  a page of a group's members
	TypeMemberPage  Type = 22 // s→c  reply to Members
	TypeGroupNotice Type = 23 // s→c  push: an invitation or join request (relays now send it as a user feed entry instead)
	TypePending     Type = 24 // c→s  the pending invitations of this user, or the join requests of a group
	TypePendingList Type = 25 // s→c  reply to Pending
)

// MsgSystem is the message type of a group change; its Body is a
// GroupEvent. Only the relay writes it.
const MsgSystem = "system"

// Group roles, highest first. Nobody acts on a member of an equal or
// higher role.
const (
	RoleOwner  = "owner"
	RoleAdmin  = "admin"
	RoleMember = "member"
)

// Join policies: how a user who is not a member comes in.
const (
	JoinInvite   = "invite"   // only when added by an admin (the default)
	JoinApproval = "approval" // by a join request an admin accepts, or when added by an admin
	JoinOpen     = "open"     // anyone may join, and any member may add others
)

// Group operations (GroupOp.Op).
const (
	OpUpdate       = "update"       // change Info (admin+)
	OpAdd          = "add"          // add Users (admin+; any member when the join policy is open)
	OpRemove       = "remove"       // remove Users of a lower role (admin+)
	OpLeave        = "leave"        // leave the group (the owner transfers first; an owner alone dismisses)
	OpDismiss      = "dismiss"      // end the group for everyone (owner)
	OpTransfer     = "transfer"     // make Users[0] the owner; the owner becomes a member (owner)
	OpRole         = "role"         // set Users' Role to admin or member (owner)
	OpMute         = "mute"         // mute Users until Until, unix ms; 0 unmutes (admin+, lower roles)
	OpMuteAll      = "muteAll"      // On: only admins and the owner may send (admin+)
	OpRequest      = "request"      // ask to join, with Note (approval policy; open joins at once)
	OpAnswerJoin   = "answerJoin"   // accept (On) or decline the join request of Users[0] (admin+)
	OpAnswerInvite = "answerInvite" // accept (On) or decline this user's invitation to the group
)

// GroupOp asks the relay to change a group. The fields used depend on Op.
// The reply is ConvResult with the caller's view of the group after the
// change, or OK when the caller has no view of it (a join request, a
// declined invitation).
type GroupOp struct {
	ConvID string     `cbor:"1,keyasint"`
	Op     string     `cbor:"2,keyasint"`
	Users  []string   `cbor:"3,keyasint,omitempty"`
	Role   string     `cbor:"4,keyasint,omitempty"`
	Until  int64      `cbor:"5,keyasint,omitempty"` // unix milliseconds
	On     bool       `cbor:"6,keyasint,omitempty"` // muteAll on; an answer's accept
	Note   string     `cbor:"7,keyasint,omitempty"` // a join request's note
	Info   *GroupInfo `cbor:"8,keyasint,omitempty"` // update: the fields to change
}

// GroupInfo is a group's descriptive information. In an update a nil field
// is left as it is; in a GroupEvent a nil field did not change.
type GroupInfo struct {
	Name       *string `cbor:"1,keyasint,omitempty" json:"name,omitempty"`
	Avatar     *string `cbor:"2,keyasint,omitempty" json:"avatar,omitempty"`
	Notice     *string `cbor:"3,keyasint,omitempty" json:"notice,omitempty"`
	Custom     *string `cbor:"4,keyasint,omitempty" json:"custom,omitempty"`
	JoinPolicy string  `cbor:"5,keyasint,omitempty" json:"joinPolicy,omitempty"`
}

// Members asks for a page of a group's members, in user id order, after
// After.
type Members struct {
	ConvID string `cbor:"1,keyasint"`
	After  string `cbor:"2,keyasint,omitempty"`
	Limit  uint32 `cbor:"3,keyasint,omitempty"` // relay caps it; 0 means its default
}

// Member is one member of a group.
type Member struct {
	User       string `cbor:"1,keyasint"`
	Role       string `cbor:"2,keyasint"`
	JoinedAt   int64  `cbor:"3,keyasint,omitempty"` // unix milliseconds
	MutedUntil int64  `cbor:"4,keyasint,omitempty"` // unix milliseconds; absent: may speak
}

// MemberPage answers Members.
type MemberPage struct {
	ConvID  string   `cbor:"1,keyasint"`
	Members []Member `cbor:"2,keyasint"`
	More    bool     `cbor:"3,keyasint,omitempty"`
}

// Pending kinds.
const (
	PendingInvite  = "invite"  // User is invited to the group by By
	PendingRequest = "request" // User asks to join the group
)

// GroupNotice is a pending invitation or join request.
type GroupNotice struct {
	Kind   string `cbor:"1,keyasint"`
	ConvID string `cbor:"2,keyasint"`
	Name   string `cbor:"3,keyasint,omitempty"` // the group's name
	User   string `cbor:"4,keyasint"`           // the invitee or the requester
	By     string `cbor:"5,keyasint,omitempty"` // who invited
	Note   string `cbor:"6,keyasint,omitempty"`
	At     int64  `cbor:"7,keyasint,omitempty"` // unix milliseconds
	// Done: no longer pending — accepted, declined, replaced or ended with
	// the group (a user feed entry only).
	Done bool `cbor:"8,keyasint,omitempty"`
}

// Pending asks for this user's pending invitations (ConvID empty) or for
// the join requests of group ConvID (admin+).
type Pending struct {
	ConvID string `cbor:"1,keyasint,omitempty"`
}

// PendingList answers Pending.
type PendingList struct {
	Items []GroupNotice `cbor:"1,keyasint"`
}

// Group events (GroupEvent.Event).
const (
	EventCreated        = "created"
	EventAdded          = "added"   // Users were added by By
	EventInvited        = "invited" // Users were invited by By (consent policy); they are not members yet
	EventJoined         = "joined"  // Users joined: an accepted invitation or join request, or an open group
	EventRemoved        = "removed"
	EventLeft           = "left"
	EventRole           = "role"
	EventMuted          = "muted" // Users muted until Until; 0: unmuted
	EventMuteAll        = "muteAll"
	EventTransferred    = "transferred" // Users[0] is the new owner
	EventUpdated        = "updated"
	EventDismissed      = "dismissed"
	EventJoinDeclined   = "joinDeclined"   // By declined the join request of Users
	EventInviteDeclined = "inviteDeclined" // Users declined their invitation
)

// GroupEvent is the Body of a MsgSystem message. Its keys are text, so a
// generic CBOR decoder shows it as { event, by, users, … }.
type GroupEvent struct {
	Event string   `cbor:"event" json:"event"`
	By    string   `cbor:"by" json:"by"`
	Users []string `cbor:"users,omitempty" json:"users,omitempty"`
	Role  string   `cbor:"role,omitempty" json:"role,omitempty"`
	Until int64    `cbor:"until,omitempty" json:"until,omitempty"`
	On    bool     `cbor:"on,omitempty" json:"on,omitempty"`
	// The information an update changed (EventUpdated, EventCreated).
	Name       *string `cbor:"name,omitempty" json:"name,omitempty"`
	Avatar     *string `cbor:"avatar,omitempty" json:"avatar,omitempty"`
	Notice     *string `cbor:"notice,omitempty" json:"notice,omitempty"`
	Custom     *string `cbor:"custom,omitempty" json:"custom,omitempty"`
	JoinPolicy string  `cbor:"joinPolicy,omitempty" json:"joinPolicy,omitempty"`
}

// EncodeGroupEvent encodes e as a MsgSystem body.
func EncodeGroupEvent(e *GroupEvent) []byte {
	return marshal(e)
}

// DecodeGroupEvent decodes a MsgSystem body with the limits of Decode.
func DecodeGroupEvent(b []byte) (*GroupEvent, error) {
	var e GroupEvent
	if err := unmarshal(b, &e); err != nil {
		return nil, err
	}
	return &e, nil
}

// Limits of group information.
const (
	MaxGroupAvatarBytes = 1024 // an avatar is a URL or a key, not an image
	MaxNoticeBytes      = 4096
	MaxCustomBytes      = 4096
	MaxJoinNoteBytes    = 512
)

func validGroupInfo(what, avatar, notice, custom, policy string) *Error {
	switch {
	case len(avatar) > MaxGroupAvatarBytes:
		return Errorf(CodeTooLarge, "%s: avatar above %d bytes", what, MaxGroupAvatarBytes)
	case len(notice) > MaxNoticeBytes:
		return Errorf(CodeTooLarge, "%s: notice above %d bytes", what, MaxNoticeBytes)
	case len(custom) > MaxCustomBytes:
		return Errorf(CodeTooLarge, "%s: custom above %d bytes", what, MaxCustomBytes)
	}
	switch policy {
	case "", JoinInvite, JoinApproval, JoinOpen:
	default:
		return Errorf(CodeBadRequest, "%s: unknown join policy %q", what, truncate(policy))
	}
	return nil
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// validateGroupOp checks the fields each operation needs.
func validateGroupOp(b *GroupOp) *Error {
	if !ValidGroupID(b.ConvID) {
		return Errorf(CodeBadRequest, "group-op: invalid group id")
	}
	if len(b.Users) > MaxGroupMembers {
		return Errorf(CodeTooLarge, "group-op: more than %d users", MaxGroupMembers)
	}
	for _, u := range b.Users {
		if !ValidName(u) {
			return Errorf(CodeBadRequest, "group-op: invalid user id %q", truncate(u))
		}
	}
	if len(b.Note) > MaxJoinNoteBytes {
		return Errorf(CodeTooLarge, "group-op: note above %d bytes", MaxJoinNoteBytes)
	}
	users := func(n int) *Error { // n < 0: at least one
		if (n < 0 && len(b.Users) == 0) || (n >= 0 && len(b.Users) != n) {
			return Errorf(CodeBadRequest, "group-op: %s needs %s", b.Op, map[bool]string{true: "users", false: "one user"}[n < 0])
		}
		return nil
	}
	switch b.Op {
	case OpUpdate:
		if b.Info == nil {
			return Errorf(CodeBadRequest, "group-op: update without info")
		}
		if b.Info.Name != nil && len(*b.Info.Name) > MaxGroupNameBytes {
			return Errorf(CodeBadRequest, "group-op: name too long")
		}
		return validGroupInfo("group-op", str(b.Info.Avatar), str(b.Info.Notice), str(b.Info.Custom), b.Info.JoinPolicy)
	case OpAdd, OpRemove, OpMute:
		return users(-1)
	case OpRole:
		if b.Role != RoleAdmin && b.Role != RoleMember {
			return Errorf(CodeBadRequest, "group-op: role must be admin or member")
		}
		return users(-1)
	case OpTransfer, OpAnswerJoin:
		return users(1)
	case OpLeave, OpDismiss, OpMuteAll, OpRequest, OpAnswerInvite:
		return users(0)
	}
	return Errorf(CodeBadRequest, "group-op: unknown operation %q", truncate(b.Op))
}

package proto

import "unicode/utf8"

// Presence and profiles: who is online, with an application-defined status,
// and the nickname, avatar and custom field a user shows to others.
//
// A user is online while any of their devices holds a session on any relay.
// Presence subscriptions belong to the user, not to a device: every device of
// the subscriber gets the Presences pushes, and a subscription lasts until
// it expires or is withdrawn, whichever device made it.
const (
	TypeSubscribePresence Type = 51 // c→s  subscribe to, unsubscribe from or query users' presence
	TypeSetStatus         Type = 52 // c→s  set or clear this user's custom status; answered by OK
	TypePresences         Type = 53 // s→c  reply to SubscribePresence; with id 0, a push: a user's presence changed
	TypeSetProfile        Type = 54 // c→s  change fields of this user's profile; answered by Profiles
	TypeGetProfiles       Type = 55 // c→s  read users' profiles
	TypeProfiles          Type = 56 // s→c  reply to SetProfile or GetProfiles; with id 0, a push: a profile changed
)

// Limits of presence and profiles.
const (
	MaxStatusBytes        = 64   // SetStatus.Status
	MaxNicknameBytes      = 64   // Profile.Nickname
	MaxAvatarBytes        = 512  // Profile.Avatar, a URL
	MaxProfileCustomBytes = 512  // Profile.Custom, application-defined (JSON, typically)
	MaxPresenceSubs       = 3000 // live presence subscriptions of one user
	MaxPresenceBatch      = 200  // users in one SubscribePresence: a reply must fit a frame
	MaxProfileBatch       = 50   // users in one GetProfiles: a reply must fit a frame
	DefaultPresenceTTLMs  = 86400 * 1000
	MinPresenceTTLMs      = 60 * 1000
	MaxPresenceTTLMs      = 30 * 86400 * 1000
)

// Operations of SubscribePresence.
const (
	PresenceSubscribe   uint8 = 0 // subscribe (or renew the subscription) for TTLMs
	PresenceUnsubscribe uint8 = 1 // withdraw the subscriptions; answered by an empty Presences
	PresenceQuery       uint8 = 2 // read the presence without subscribing
)

// SubscribePresence subscribes the user to the presence of Users (Op 0),
// withdraws those subscriptions (Op 1) or only reads their presence (Op 2).
// A subscription lasts TTLMs (0: a day; the relay clamps it to a minute …
// 30 days); subscribing again renews it. A user holds at most
// MaxPresenceSubs live subscriptions: a request that would pass it is
// refused whole (4270).
type SubscribePresence struct {
	Users []string `cbor:"1,keyasint"`
	TTLMs int64    `cbor:"2,keyasint,omitempty"`
	Op    uint8    `cbor:"3,keyasint,omitempty"`
}

// SetStatus sets the user's custom status, app-defined; "" clears it.
type SetStatus struct {
	Status string `cbor:"1,keyasint,omitempty"`
}

// Presence is one user's presence.
type Presence struct {
	User     string `cbor:"1,keyasint"`
	Online   bool   `cbor:"2,keyasint,omitempty"`
	Status   string `cbor:"3,keyasint,omitempty"`
	LastSeen int64  `cbor:"4,keyasint,omitempty"` // unix ms the last device left; 0 while online or never seen
}

// Presences answers SubscribePresence in the order asked (none for an
// unsubscribe), or pushes one changed presence (id 0).
type Presences struct {
	List []Presence `cbor:"1,keyasint"`
}

// SetProfile changes the fields it carries of the user's profile; a field
// set to "" clears it, an absent one keeps its value.
type SetProfile struct {
	Nickname *string `cbor:"1,keyasint,omitempty"`
	Avatar   *string `cbor:"2,keyasint,omitempty"`
	Custom   *string `cbor:"3,keyasint,omitempty"`
}

// GetProfiles reads users' profiles.
type GetProfiles struct {
	Users []string `cbor:"1,keyasint"`
}

// Profile is a user's public profile. UpdatedAt is 0 for a user who never
// set one.
type Profile struct {
	User      string `cbor:"1,keyasint"`
	Nickname  string `cbor:"2,keyasint,omitempty"`
	Avatar    string `cbor:"3,keyasint,omitempty"`
	Custom    string `cbor:"4,keyasint,omitempty"`
	UpdatedAt int64  `cbor:"5,keyasint,omitempty"` // unix ms, relay clock
	// Deleted marks a user the application deleted (the admin API): the
	// other fields are empty, and messages the user sent stay in others'
	// conversations under the same id.
	Deleted bool `cbor:"6,keyasint,omitempty"`
}

// Profiles answers GetProfiles in the order asked, or SetProfile with the
// profile as stored; with id 0 it pushes a changed profile.
type Profiles struct {
	List []Profile `cbor:"1,keyasint"`
}

// presenceBody is a presence or profile request: Validate asks it.
type presenceBody interface{ validatePresence() *Error }

func (b *SubscribePresence) validatePresence() *Error {
	if b.Op > PresenceQuery {
		return Errorf(CodeBadRequest, "subscribe-presence: unknown operation %d", b.Op)
	}
	if b.TTLMs < 0 {
		return Errorf(CodeBadRequest, "subscribe-presence: negative ttl")
	}
	return validUsers("subscribe-presence", b.Users, MaxPresenceBatch)
}

func (b *SetStatus) validatePresence() *Error {
	if len(b.Status) > MaxStatusBytes {
		return Errorf(CodeStatusTooLong, "set-status: status above %d bytes", MaxStatusBytes)
	}
	if !ValidText(b.Status) {
		return Errorf(CodeBadProfile, "set-status: status holds a control or bidirectional character")
	}
	return nil
}

func (b *SetProfile) validatePresence() *Error {
	if b.Nickname == nil && b.Avatar == nil && b.Custom == nil {
		return Errorf(CodeBadRequest, "set-profile: nothing to change")
	}
	for _, f := range []struct {
		name string
		v    *string
		max  int
		text bool
	}{{"nickname", b.Nickname, MaxNicknameBytes, true}, {"avatar", b.Avatar, MaxAvatarBytes, true}, {"custom", b.Custom, MaxProfileCustomBytes, false}} {
		if f.v == nil {
			continue
		}
		if len(*f.v) > f.max {
			return Errorf(CodeBadProfile, "set-profile: %s above %d bytes", f.name, f.max)
		}
		if f.text && !ValidText(*f.v) {
			return Errorf(CodeBadProfile, "set-profile: %s holds a control or bidirectional character", f.name)
		}
	}
	return nil
}

func (b *GetProfiles) validatePresence() *Error {
	return validUsers("get-profiles", b.Users, MaxProfileBatch)
}

// validUsers checks a request's list of user ids: 1 to max valid ids.
func validUsers(what string, users []string, max int) *Error {
	if len(users) == 0 {
		return Errorf(CodeBadRequest, "%s: no users", what)
	}
	if len(users) > max {
		return Errorf(CodeTooManyUsers, "%s: more than %d users in one request", what, max)
	}
	for _, u := range users {
		if !ValidName(u) {
			return Errorf(CodeBadRequest, "%s: invalid user id %q", what, truncate(u))
		}
	}
	return nil
}

// ValidText reports whether s, shown to other users, is free of C0 and C1
// control characters and of bidirectional embeddings, overrides and
// isolates (U+202A–U+202E, U+2066–U+2069): text one user shows another must
// not reorder or hide what surrounds it. Decoding already refused invalid
// UTF-8; a string built in Go is checked for it too.
func ValidText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		switch {
		case r < 0x20, r >= 0x7f && r <= 0x9f:
			return false
		case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
			return false
		}
	}
	return true
}

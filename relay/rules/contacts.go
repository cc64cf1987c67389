package rules

import "github.com/parley-im/parley/proto"

// Contacts, the block list and conversation settings are entries of a
// per-user feed (see proto/contacts.go). The functions here decide every
// change of them from the entries as stored; the stores only read and
// write the entries, in one transaction.

// Feed entry kinds, as stores key them: (user, kind, key).
const (
	FeedRelation = "r" // key: the other user
	FeedSetting  = "c" // key: the conversation id
	FeedPrefs    = "p" // key: ""
	FeedHidden   = "h" // key: the message id (conversation#seq) deleted for the owner only
)

// PlanContact decides what op (c.Op) by user does to user's relation to
// c.User (mine) and to c.User's relation to user (theirs), as stored. It
// returns the new relations, nil for one that does not change, or the
// refusal. now is the relay clock in unix milliseconds.
//
//   - request: refused (4275) when the other user blocked user. When they
//     already asked user, both become contacts; otherwise user's side is
//     "requested" and theirs "pending" with the note. A request to a
//     contact changes nothing.
//   - accept, decline: only a pending request (4277); accept makes both
//     contacts, decline clears both sides.
//   - remove: clears the contact or any request on both sides.
//   - block, unblock: user's side only; a block keeps the contact state
//     and refuses the other's messages and requests while it lasts.
func PlanContact(user string, c *proto.Contact, mine, theirs proto.Relation, now int64) (newMine, newTheirs *proto.Relation, perr *proto.Error) {
	if c.User == user {
		return nil, nil, proto.Errorf(proto.CodeBadRequest, "contact: that is the user's own id")
	}
	set := func(r proto.Relation, state, note string) *proto.Relation {
		r.State, r.Note, r.At = state, note, now
		return &r
	}
	switch c.Op {
	case proto.ContactRequest:
		if theirs.Blocked {
			return nil, nil, proto.Errorf(proto.CodeBlocked, "%s does not accept requests from this user", c.User)
		}
		switch mine.State {
		case proto.RelContact:
			return nil, nil, nil
		case proto.RelPending:
			return set(mine, proto.RelContact, ""), set(theirs, proto.RelContact, ""), nil
		}
		if mine.State == proto.RelRequested && mine.Note == c.Note && theirs.State == proto.RelPending {
			return nil, nil, nil // a repeated request
		}
		return set(mine, proto.RelRequested, c.Note), set(theirs, proto.RelPending, c.Note), nil
	case proto.ContactAccept, proto.ContactDecline:
		if mine.State != proto.RelPending {
			return nil, nil, proto.Errorf(proto.CodeNoRequest, "no contact request from %s", c.User)
		}
		if c.Op == proto.ContactAccept {
			return set(mine, proto.RelContact, ""), set(theirs, proto.RelContact, ""), nil
		}
		newMine = set(mine, proto.RelNone, "")
		if theirs.State == proto.RelRequested {
			newTheirs = set(theirs, proto.RelNone, "")
		}
		return newMine, newTheirs, nil
	case proto.ContactRemove:
		if mine.State != proto.RelNone {
			newMine = set(mine, proto.RelNone, "")
		}
		if theirs.State != proto.RelNone {
			newTheirs = set(theirs, proto.RelNone, "")
		}
		return newMine, newTheirs, nil
	case proto.ContactBlock, proto.ContactUnblock:
		blocked := c.Op == proto.ContactBlock
		if mine.Blocked == blocked {
			return nil, nil, nil
		}
		r := mine
		r.Blocked, r.At = blocked, now
		return &r, nil, nil
	}
	return nil, nil, proto.Errorf(proto.CodeBadRequest, "contact: unknown operation")
}

// DefaultMaxRelations is the default cap on a user's relation entries.
const DefaultMaxRelations = 5000

// AdmitRelation decides whether whose, holding count relation entries, may
// get one more under max (≤ 0: no cap): 4259 at the cap. An entry stays
// after a contact ends (state none), so the cap bounds the feed rows a user
// (or anyone sending them requests) can make, not only live contacts.
func AdmitRelation(count, max int, whose string) *proto.Error {
	if max > 0 && count >= max {
		return proto.Errorf(proto.CodeRelationLimit, "%s holds %d relations, the most the relay allows", whose, max)
	}
	return nil
}

// AdmitDirect decides whether sender may send a one-to-one message to the
// recipient whose relation to sender and preferences are rel and prefs:
// not when the recipient blocked sender (4275), nor when the recipient
// accepts messages from contacts only and sender is not one (4276).
func AdmitDirect(rel proto.Relation, prefs proto.Prefs) *proto.Error {
	if rel.Blocked {
		return proto.Errorf(proto.CodeBlocked, "the recipient blocked this user")
	}
	if prefs.ContactsOnly && rel.State != proto.RelContact {
		return proto.Errorf(proto.CodeContactsOnly, "the recipient accepts messages from contacts only")
	}
	return nil
}

// Recipient returns the other member of a one-to-one conversation sender
// writes to, or "" when convID is not one of sender's.
func Recipient(sender, convID string) string {
	a, b, ok := proto.P2PMembers(convID)
	switch {
	case !ok:
		return ""
	case sender == a && sender != b:
		return b
	case sender == b && sender != a:
		return a
	}
	return ""
}

// PlanSetting applies b to cur, the stored settings of b.ConvID, and
// reports whether anything changed. Hiding records b.Seq, the last seq the
// client knew: a later message shows the conversation again (Hidden stays
// set, HiddenSeq says up to where). Showing clears both.
func PlanSetting(cur proto.ConvSetting, b *proto.SetConv) (proto.ConvSetting, bool) {
	next := cur
	next.ConvID = b.ConvID
	if b.Pinned != nil {
		next.Pinned = *b.Pinned
	}
	if b.Muted != nil {
		next.Muted = *b.Muted
	}
	if b.Hidden != nil {
		next.Hidden = *b.Hidden
		next.HiddenSeq = 0
		if next.Hidden {
			next.HiddenSeq = b.Seq
		}
	}
	return next, next != cur
}

// UserSyncLimit is the number of entries one UserSync reply may hold:
// asked, or proto.MaxPageLimit when 0 or above it.
func UserSyncLimit(asked uint32) int {
	return PageLimit(asked, proto.MaxPageLimit, proto.MaxPageLimit)
}

// InviteNeedsConsent decides, under the "direct" invitation policy,
// whether an invitee whose relation to the inviter and preferences are rel
// and prefs must accept an invitation instead of being added at once: when
// they take messages from contacts only and the inviter is not a contact,
// or when they blocked the inviter.
func InviteNeedsConsent(rel proto.Relation, prefs proto.Prefs) bool {
	return rel.Blocked || (prefs.ContactsOnly && rel.State != proto.RelContact)
}

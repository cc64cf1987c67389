package relay

import (
	"context"
	"slices"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
)

// FeedKey names one entry of a user's feed (see proto/contacts.go): kind
// is one of rules.FeedRelation, rules.FeedSetting and rules.FeedPrefs.
type FeedKey struct{ User, Kind, Key string }

// UserFeed stores the per-user feed of contacts, block list, conversation
// settings and preferences. Entries take their positions from the same
// change counter as conversations, handed out in commit order, so a cursor
// taken from a page never skips an entry committed later.
type UserFeed interface {
	// Feed returns up to limit entries of user whose position is above
	// cursor, in position order, and whether more exist.
	Feed(ctx context.Context, user string, cursor uint64, limit int) ([]proto.UserEntry, bool, error)
	// FeedEntries returns the entries of keys as committed, in the order of
	// keys; a missing one is the zero UserEntry.
	FeedEntries(ctx context.Context, keys []FeedKey) ([]proto.UserEntry, error)
	// UpdateFeed reads the entries of keys (the zero UserEntry for a
	// missing one) so that no other update of them runs in between, hands
	// them to plan, and writes what plan returns — out[i] for keys[i], nil
	// for no change — each with a new position, in one transaction. An
	// error from plan is returned and nothing is written. The result is
	// what was written, positions set.
	UpdateFeed(ctx context.Context, keys []FeedKey, plan func(cur []proto.UserEntry) ([]*proto.UserEntry, error)) ([]*proto.UserEntry, error)
}

// RelationCounter is the part of a store that counts a user's relation
// entries (contacts, requests both ways, blocks, and the entries of past
// ones), for the relation cap (Options.MaxRelations).
type RelationCounter interface {
	Relations(ctx context.Context, user string) (int, error)
}

// relationOf returns e's relation with user filled in (a missing entry is
// RelNone).
func relationOf(e proto.UserEntry, user string) proto.Relation {
	if e.Relation != nil {
		return *e.Relation
	}
	return proto.Relation{User: user}
}

// contact serves a Contact: it changes both users' relations in one
// transaction, answers with the caller's changed entry, and pushes each
// changed entry to its owner's other sessions.
func (s *Session) contact(now time.Time, id uint64, b *proto.Contact) {
	keys := []FeedKey{{s.user, rules.FeedRelation, b.User}, {b.User, rules.FeedRelation, s.user}}
	// The relation cap: counted before the update, outside its transaction
	// (racing requests of one user may pass it by the few in flight).
	counts, err := s.relationCounts(b)
	if err != nil {
		s.replyErr(id, err)
		return
	}
	out, err := s.env.store.UpdateFeed(s.env.ctx, keys, func(cur []proto.UserEntry) ([]*proto.UserEntry, error) {
		mine, theirs, perr := rules.PlanContact(s.user, b, relationOf(cur[0], b.User), relationOf(cur[1], s.user), now.UnixMilli())
		if perr != nil {
			return nil, perr
		}
		// A new entry (none yet for that pair) needs room under the cap;
		// an existing one can always change, so removing and unblocking
		// are never refused.
		max := s.env.limits.maxRelations
		if mine != nil && cur[0].Pos == 0 {
			if perr := rules.AdmitRelation(counts[0], max, "this user"); perr != nil {
				return nil, perr
			}
		}
		if theirs != nil && cur[1].Pos == 0 {
			if perr := rules.AdmitRelation(counts[1], max, b.User); perr != nil {
				return nil, perr
			}
		}
		res := make([]*proto.UserEntry, 2)
		if mine != nil {
			res[0] = &proto.UserEntry{Relation: mine}
		}
		if theirs != nil {
			res[1] = &proto.UserEntry{Relation: theirs}
		}
		return res, nil
	})
	if err != nil {
		s.replyErr(id, err)
		return
	}
	s.feedChanged(id, keys, out)
}

// relationCounts returns the relation entries of this session's user and of
// the other user of b; zeros when there is no cap or the store cannot
// count.
func (s *Session) relationCounts(b *proto.Contact) ([2]int, error) {
	var n [2]int
	rc, ok := s.env.store.(RelationCounter)
	if !ok || s.env.limits.maxRelations <= 0 || (b.Op != proto.ContactRequest && b.Op != proto.ContactBlock) {
		return n, nil
	}
	var err error
	if n[0], err = rc.Relations(s.env.ctx, s.user); err != nil {
		return n, err
	}
	if b.Op == proto.ContactRequest {
		n[1], err = rc.Relations(s.env.ctx, b.User)
	}
	return n, err
}

// memberOf refuses, with the code to answer, a conversation this session's
// user is not a party to: a one-to-one conversation that does not name them
// (rules.AdmitParty), or a group they are not a member of now (4203, the
// answer for a group that does not exist too).
func (s *Session) memberOf(conv string) error {
	if perr := rules.AdmitParty(s.user, conv); perr != nil {
		return perr
	}
	if proto.KindOf(conv) != proto.KindGroup {
		return nil
	}
	members, err := s.env.store.Members(s.env.ctx, conv)
	if err != nil {
		return err
	}
	if !slices.Contains(members, s.user) {
		return proto.Errorf(proto.CodeForbidden, "no conversation %s of yours", conv)
	}
	return nil
}

// setConv serves a SetConv: the caller must be a member of the
// conversation.
func (s *Session) setConv(id uint64, b *proto.SetConv) {
	if err := s.memberOf(b.ConvID); err != nil {
		s.replyErr(id, err)
		return
	}
	keys := []FeedKey{{s.user, rules.FeedSetting, b.ConvID}}
	out, err := s.env.store.UpdateFeed(s.env.ctx, keys, func(cur []proto.UserEntry) ([]*proto.UserEntry, error) {
		var old proto.ConvSetting
		if cur[0].Setting != nil {
			old = *cur[0].Setting
		}
		next, changed := rules.PlanSetting(old, b)
		if !changed {
			return []*proto.UserEntry{nil}, nil
		}
		return []*proto.UserEntry{{Setting: &next}}, nil
	})
	if err != nil {
		s.replyErr(id, err)
		return
	}
	s.feedChanged(id, keys, out)
}

// setPrefs serves a Prefs request: it replaces the caller's preferences.
func (s *Session) setPrefs(id uint64, b *proto.Prefs) {
	keys := []FeedKey{{s.user, rules.FeedPrefs, ""}}
	out, err := s.env.store.UpdateFeed(s.env.ctx, keys, func(cur []proto.UserEntry) ([]*proto.UserEntry, error) {
		if (cur[0].Prefs == nil && *b == proto.Prefs{}) || (cur[0].Prefs != nil && *cur[0].Prefs == *b) {
			return []*proto.UserEntry{nil}, nil
		}
		p := *b
		return []*proto.UserEntry{{Prefs: &p}}, nil
	})
	if err != nil {
		s.replyErr(id, err)
		return
	}
	s.feedChanged(id, keys, out)
}

// feedChanged answers a feed change with the caller's changed entries and
// pushes every changed entry to its owner's sessions (the caller's own
// session has its reply).
func (s *Session) feedChanged(id uint64, keys []FeedKey, out []*proto.UserEntry) {
	reply := &proto.UserState{Entries: []proto.UserEntry{}}
	for i, e := range out {
		if e == nil {
			continue
		}
		if keys[i].User == s.user {
			reply.Entries = append(reply.Entries, *e)
		}
		s.env.fan.publish([]string{keys[i].User}, s.id,
			proto.MustEncode(proto.Frame{Type: proto.TypeUserUpdate, Body: &proto.UserUpdate{Entry: *e}}))
	}
	s.reply(proto.Frame{Type: proto.TypeUserState, ID: id, Body: reply})
}

// userSync serves a UserSync: a page of the caller's feed.
func (s *Session) userSync(id uint64, b *proto.UserSync) {
	entries, more, err := s.env.store.Feed(s.env.ctx, s.user, b.Cursor, rules.UserSyncLimit(b.Limit))
	if err != nil {
		s.replyErr(id, err)
		return
	}
	st := &proto.UserState{Entries: entries, Cursor: b.Cursor, More: more}
	if st.Entries == nil {
		st.Entries = []proto.UserEntry{}
	}
	if n := len(entries); n > 0 {
		st.Cursor = entries[n-1].Pos
	}
	s.reply(proto.Frame{Type: proto.TypeUserState, ID: id, Body: st})
}

// gateDirect decides the one-to-one sends of a batch by their recipients'
// block lists and preferences, read as committed: the refusal for each
// send refused, nil for the others. It runs before the batch's
// transaction, so a block committed while a send waits for the committer
// may let that one send through, as though it came first.
func gateDirect(ctx context.Context, feed UserFeed, batch []*commitReq) ([]*proto.Error, error) {
	var keys []FeedKey
	at := make([]int, len(batch)) // index of the send's relation key in keys, -1: none
	for i, r := range batch {
		at[i] = -1
		to := rules.Recipient(r.req.Sender, r.req.Send.ConvID)
		if to == "" {
			continue
		}
		at[i] = len(keys)
		keys = append(keys, FeedKey{to, rules.FeedRelation, r.req.Sender}, FeedKey{to, rules.FeedPrefs, ""})
	}
	if len(keys) == 0 {
		return nil, nil
	}
	entries, err := feed.FeedEntries(ctx, keys)
	if err != nil {
		return nil, err
	}
	out := make([]*proto.Error, len(batch))
	for i, k := range at {
		if k < 0 {
			continue
		}
		var prefs proto.Prefs
		if p := entries[k+1].Prefs; p != nil {
			prefs = *p
		}
		out[i] = rules.AdmitDirect(relationOf(entries[k], batch[i].req.Sender), prefs)
	}
	return out, nil
}

// contactsOnlyAdds is the invitation rule of users' own settings under the
// "direct" policy: an invitee who takes one-to-one messages from contacts
// only, or who blocked this session's user, is invited (and must accept)
// rather than added, when this user adds them. It returns nil when every
// invitee is added at once. A failed read of the settings invites
// everyone: nobody is put into a group against a setting the relay could
// not read.
func (s *Session) contactsOnlyAdds(invitees []string) rules.DirectAdd {
	var keys []FeedKey
	for _, u := range invitees {
		if u != s.user {
			keys = append(keys, FeedKey{u, rules.FeedRelation, s.user}, FeedKey{u, rules.FeedPrefs, ""})
		}
	}
	if len(keys) == 0 {
		return nil
	}
	consent := make(map[string]bool)
	entries, err := s.env.store.FeedEntries(s.env.ctx, keys)
	if err != nil {
		s.env.log.Warn("reading invitees' settings failed; inviting them", "user", s.user, "err", err)
		return func(invitee, inviter string) bool { return false }
	}
	for i := 0; i < len(keys); i += 2 {
		var prefs proto.Prefs
		if p := entries[i+1].Prefs; p != nil {
			prefs = *p
		}
		if rules.InviteNeedsConsent(relationOf(entries[i], s.user), prefs) {
			consent[keys[i].User] = true
		}
	}
	if len(consent) == 0 {
		return nil
	}
	me := s.user
	return func(invitee, inviter string) bool { return inviter == me && !consent[invitee] }
}

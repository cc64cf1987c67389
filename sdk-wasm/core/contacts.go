package core

import (
	"sort"
	"time"

	"github.com/parley-im/parley/proto"
)

// Contacts, the block list, conversation settings and preferences come from
// the relay's per-user feed (proto/contacts.go): synced from a cursor after
// every welcome and resync, pushed live while connected, kept in Meta.Account
// so the cache has them at the next start. Drafts live in the same place but
// never leave the device.

// Request kinds of the feed, numbered apart from connection.go's list.
const (
	reqUserSync   reqKind = 57 // internal: a page of the feed
	reqFeedChange reqKind = 58 // Contact, SetConv, SetPrefs for the application
)

// Relation is this user's relation to another user.
type Relation struct {
	User    string `json:"user"`
	State   string `json:"state,omitempty"`   // "", `requested` (asked by this user), `pending` (asked by them), `contact`
	Note    string `json:"note,omitempty"`    // the request's note while it is pending or requested
	Blocked bool   `json:"blocked,omitempty"` // this user blocked them
	At      int64  `json:"at,omitempty"`      // unix ms of the last change, relay clock
}

// ConvSetting is this user's settings of a conversation, synced across the
// user's devices.
type ConvSetting struct {
	ConvID    string `json:"conversationId"`
	Pinned    bool   `json:"pinned,omitempty"`
	Muted     bool   `json:"muted,omitempty"`
	Hidden    bool   `json:"hidden,omitempty"`
	HiddenSeq uint64 `json:"hiddenSeq,omitempty"` // hidden while the conversation's lastSeq is at most this
}

// Draft is the unsent text of a conversation, kept on this device only.
type Draft struct {
	ConvID string `json:"conversationId"`
	Text   string `json:"text"`
}

// Account is what the cache keeps of the user's feed, plus the drafts.
type Account struct {
	Cursor       uint64        `json:"cursor,omitempty"` // feed position up to which entries are applied
	ContactsOnly bool          `json:"contactsOnly,omitempty"`
	Relations    []Relation    `json:"relations,omitempty"`
	Settings     []ConvSetting `json:"settings,omitempty"`
	Drafts       []Draft       `json:"drafts,omitempty"`
	Notices      []GroupNotice `json:"notices,omitempty"` // pending invitations of this user and join requests to the groups it administers
	Hidden       []string      `json:"hidden,omitempty"`  // ids of the messages this user deleted for themselves
}

// ContactAnswer is the other user's answer to this user's contact request.
type ContactAnswer struct {
	User     string `json:"user"`
	Accepted bool   `json:"accepted"`
}

// Events of the feed.
const (
	EventContact        EventKind = "contact"        // a relation changed (here, on another device, or by the other user)
	EventContactRequest EventKind = "contactRequest" // another user asks to be a contact
	EventContactAnswer  EventKind = "contactAnswer"  // another user answered this user's request
	EventTotalUnread    EventKind = "totalUnread"    // the total of unread messages changed
)

// account is the live form of Account.
type account struct {
	cursor       uint64
	contactsOnly bool
	relations    map[string]Relation
	settings     map[string]ConvSetting
	drafts       map[string]string
	notices      map[string]GroupNotice // by noticeKey
	hidden       map[string]bool        // message ids deleted for this user (lifecycle.go)
	totalUnread  uint64
	totalKnown   bool
}

func (c *Core) loadAccount(a *Account) {
	c.acct = account{relations: map[string]Relation{}, settings: map[string]ConvSetting{}, drafts: map[string]string{},
		hidden: map[string]bool{}, notices: map[string]GroupNotice{}}
	if a == nil {
		return
	}
	c.acct.cursor, c.acct.contactsOnly = a.Cursor, a.ContactsOnly
	for _, r := range a.Relations {
		c.acct.relations[r.User] = r
	}
	for _, s := range a.Settings {
		c.acct.settings[s.ConvID] = s
	}
	for _, d := range a.Drafts {
		c.acct.drafts[d.ConvID] = d.Text
	}
	for _, n := range a.Notices {
		c.acct.notices[noticeKey(&n)] = n
	}
	for _, id := range a.Hidden {
		c.acct.hidden[id] = true
	}
}

// saveAccount stages the account with the meta, as a new value: what a store
// holds is never changed afterwards.
func (c *Core) saveAccount() {
	a := &Account{Cursor: c.acct.cursor, ContactsOnly: c.acct.contactsOnly}
	for _, r := range c.acct.relations {
		a.Relations = append(a.Relations, r)
	}
	sort.Slice(a.Relations, func(i, j int) bool { return a.Relations[i].User < a.Relations[j].User })
	for _, s := range c.acct.settings {
		a.Settings = append(a.Settings, s)
	}
	sort.Slice(a.Settings, func(i, j int) bool { return a.Settings[i].ConvID < a.Settings[j].ConvID })
	for id, t := range c.acct.drafts {
		a.Drafts = append(a.Drafts, Draft{ConvID: id, Text: t})
	}
	sort.Slice(a.Drafts, func(i, j int) bool { return a.Drafts[i].ConvID < a.Drafts[j].ConvID })
	if len(c.acct.notices) > 0 {
		a.Notices = c.sortedNotices()
	}
	for id := range c.acct.hidden {
		a.Hidden = append(a.Hidden, id)
	}
	sortStrings(a.Hidden)
	c.meta.Account = a
	c.saveMeta()
}

// resetAccount forgets the feed when the relay's store was reset (its
// positions mean nothing any more) and everything, drafts too, when another
// user signed in.
func (c *Core) resetAccount(userChanged bool) {
	drafts := c.acct.drafts
	c.loadAccount(nil)
	if !userChanged {
		c.acct.drafts = drafts
	} else {
		c.loadProfiles(nil) // presence.go
		c.meta.Profiles = nil
	}
	c.saveAccount()
}

// startUserSync asks for the feed entries after the cursor, unless a page
// is already on its way.
func (c *Core) startUserSync(now time.Time) {
	if c.phase != phaseReady || c.userSyncing() {
		return
	}
	id := c.request(now, &request{kind: reqUserSync}, proto.TypeUserSync, &proto.UserSync{Cursor: c.acct.cursor})
	// Like a read, it waits for its reply as long as the connection lives
	// (the relay answers it or the connection ends), so it holds no timer.
	c.reqs[id].deadline = time.Time{}
}

func (c *Core) userSyncing() bool {
	for _, r := range c.reqs {
		if r.kind == reqUserSync {
			return true
		}
	}
	return false
}

// userState handles a UserState: a feed page, or the reply to a change.
func (c *Core) userState(now time.Time, id uint64, r *request, st *proto.UserState) {
	if r != nil && r.kind == reqSend && r.clientID != "" {
		c.hideAcked(now, r, st) // lifecycle.go
		return
	}
	if r == nil || (r.kind != reqUserSync && r.kind != reqFeedChange) {
		c.badReply(now, id, r, "user state for no request")
		return
	}
	for i := range st.Entries {
		c.applyEntry(&st.Entries[i])
	}
	if r.kind == reqFeedChange {
		c.saveAccount()
		c.resolve(r.op, Result{})
		return
	}
	if st.Cursor > c.acct.cursor {
		c.acct.cursor = st.Cursor
	}
	c.saveAccount()
	if st.More {
		c.startUserSync(now)
	}
}

// userUpdate applies a pushed entry. The cursor stays: the next sync lists
// the entry again, and applying it twice changes nothing.
func (c *Core) userUpdate(u *proto.UserUpdate) {
	c.applyEntry(&u.Entry)
	c.saveAccount()
}

// applyEntry folds one feed entry into the account, with its events.
func (c *Core) applyEntry(e *proto.UserEntry) {
	switch {
	case e.Relation != nil && proto.ValidName(e.Relation.User):
		w := e.Relation
		nu := Relation{User: w.User, State: w.State, Note: w.Note, Blocked: w.Blocked, At: w.At}
		old := c.acct.relations[w.User]
		if old == nu {
			return
		}
		if nu.State == proto.RelNone && !nu.Blocked {
			delete(c.acct.relations, w.User)
		} else {
			c.acct.relations[w.User] = nu
		}
		c.emit(Event{Kind: EventContact, Relation: &nu})
		switch {
		case nu.State == proto.RelPending && old.State != proto.RelPending:
			r := nu
			c.emit(Event{Kind: EventContactRequest, Relation: &r})
		case old.State == proto.RelRequested && (nu.State == proto.RelContact || nu.State == proto.RelNone):
			c.emit(Event{Kind: EventContactAnswer, Answer: &ContactAnswer{User: nu.User, Accepted: nu.State == proto.RelContact}})
		}
	case e.Setting != nil && proto.ValidConvID(e.Setting.ConvID):
		w := e.Setting
		nu := ConvSetting{ConvID: w.ConvID, Pinned: w.Pinned, Muted: w.Muted, Hidden: w.Hidden, HiddenSeq: w.HiddenSeq}
		if c.acct.settings[w.ConvID] == nu {
			return
		}
		if nu == (ConvSetting{ConvID: w.ConvID}) {
			delete(c.acct.settings, w.ConvID)
		} else {
			c.acct.settings[w.ConvID] = nu
		}
		if cv := c.convs[w.ConvID]; cv != nil {
			c.emit(Event{Kind: EventConversation, Conversation: c.viewConv(cv)})
		}
	case e.Prefs != nil:
		c.acct.contactsOnly = e.Prefs.ContactsOnly
	case e.Notice != nil:
		c.applyNotice(e.Notice)
	case e.Hidden != nil && proto.ValidConvID(e.Hidden.ConvID) && e.Hidden.Seq > 0:
		c.hideEntry(e.Hidden.ConvID, e.Hidden.Seq) // lifecycle.go
	}
}

// feedChange writes a change request for the application.
func (c *Core) feedChange(now time.Time, t proto.Type, body any) (uint64, error) {
	c.begin()
	defer c.flush()
	if perr := proto.Validate(body); perr != nil {
		return 0, invalid(perr.Message)
	}
	if c.phase != phaseReady {
		return 0, &proto.Error{Code: proto.CodeNotConnected, Message: t.String() + " needs a connection"}
	}
	op := c.newOp()
	c.request(now, &request{kind: reqFeedChange, op: op}, t, body)
	return op, nil
}

// Contact asks the relay for a contact operation (proto.ContactRequest,
// …) on user; note goes with a request. It needs a connection.
func (c *Core) Contact(now time.Time, op, user, note string) (uint64, error) {
	if user == c.meta.UserID {
		return 0, invalid("that is this user's own id")
	}
	return c.feedChange(now, proto.TypeContact, &proto.Contact{Op: op, User: user, Note: note})
}

// SetConversation changes this user's settings of conv (nil: unchanged) on
// every device. Hiding hides the conversation until a newer message than
// the last one known here arrives.
func (c *Core) SetConversation(now time.Time, conv string, pinned, muted, hidden *bool) (uint64, error) {
	var seq uint64
	if cv := c.convs[conv]; cv != nil {
		seq = cv.LastSeq
	}
	return c.feedChange(now, proto.TypeSetConv, &proto.SetConv{ConvID: conv, Pinned: pinned, Muted: muted, Hidden: hidden, Seq: seq})
}

// SetContactsOnly sets whether one-to-one messages from users who are not
// contacts are refused by the relay.
func (c *Core) SetContactsOnly(now time.Time, on bool) (uint64, error) {
	return c.feedChange(now, proto.TypeSetPrefs, &proto.Prefs{ContactsOnly: on})
}

// SetDraft keeps text ("" clears it) as the draft of conv, on this device
// only.
func (c *Core) SetDraft(now time.Time, conv, text string) error {
	c.begin()
	defer c.flush()
	if !proto.ValidConvID(conv) {
		return invalid("invalid conversation id")
	}
	if len(text) > proto.MaxTextBytes {
		return invalid("draft too long")
	}
	if c.acct.drafts[conv] == text {
		return nil
	}
	if text == "" {
		delete(c.acct.drafts, conv)
	} else {
		c.acct.drafts[conv] = text
	}
	c.saveAccount()
	if cv := c.convs[conv]; cv != nil {
		c.emit(Event{Kind: EventConversation, Conversation: c.viewConv(cv)})
	}
	return nil
}

// Relations returns this user's relations, by user id.
func (c *Core) Relations() []Relation {
	out := make([]Relation, 0, len(c.acct.relations))
	for _, r := range c.acct.relations {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].User < out[j].User })
	return out
}

// ContactsOnly reports the preference SetContactsOnly sets.
func (c *Core) ContactsOnly() bool { return c.acct.contactsOnly }

// viewConv is the application's copy of cv, with this user's settings and
// draft.
func (c *Core) viewConv(cv *Conversation) *Conversation {
	v := copyConv(cv)
	s := c.acct.settings[cv.ID]
	v.Pinned, v.Muted = s.Pinned, s.Muted
	v.Hidden = hiddenNow(s, cv)
	v.Draft = c.acct.drafts[cv.ID]
	return v
}

// hiddenNow reports whether a conversation hidden by s still is: no
// message newer than the seq it was hidden at has arrived. Edits,
// reactions and recalls take seqs too but are no messages, so the newest
// message (cv.LastMessage, never a lifecycle event) decides; a
// conversation whose newest message is not known yet stays hidden until
// the gap fill brings it.
func hiddenNow(s ConvSetting, cv *Conversation) bool {
	if !s.Hidden {
		return false
	}
	return cv.LastSeq <= s.HiddenSeq || (cv.LastMessage != nil && cv.LastMessage.Seq <= s.HiddenSeq)
}

// TotalUnread returns the unread messages of the conversations that are
// neither muted nor hidden.
func (c *Core) TotalUnread() uint64 {
	var n uint64
	for _, cv := range c.convs {
		s := c.acct.settings[cv.ID]
		if s.Muted || hiddenNow(s, cv) {
			continue
		}
		n += unreadOf(cv)
	}
	return n
}

// noteTotalUnread emits EventTotalUnread when an input that changed a
// conversation (its events are since mark) changed the total.
func (c *Core) noteTotalUnread() {
	changed := false
	for _, a := range c.acts[min(c.mark, len(c.acts)):] {
		if a.Kind == ActEvent && a.Event.Kind == EventConversation {
			changed = true
			break
		}
	}
	if !changed {
		return
	}
	n := c.TotalUnread()
	if c.acct.totalKnown && n == c.acct.totalUnread {
		return
	}
	c.acct.totalUnread, c.acct.totalKnown = n, true
	c.emit(Event{Kind: EventTotalUnread, Total: n})
}

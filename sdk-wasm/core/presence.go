package core

import (
	"sort"
	"time"

	"github.com/parley-im/parley/proto"
)

// Presence and profiles. Presence subscriptions belong to the user on the
// relay: every device of the user gets the presence events of every user
// any of them subscribed to. This device remembers the users it subscribed
// to itself, and after every (re)connect reads their presence again, so an
// application that missed changes while offline gets a presence event for
// each. Profiles are cached here: Profiles answers from the cache while an
// entry is younger than ProfileFresh, and a profile the relay pushes (the
// user's own, changed on another device, or that of a user this user
// subscribed to) replaces the cached one at once.

// ProfileFresh is how long a cached profile is used without asking the
// relay again.
const ProfileFresh = 5 * time.Minute

// MaxStoredProfiles is how many cached profiles are persisted with the
// meta (Meta.Profiles), the most recently read first: a restart finds them
// in the cache, stale (read again from the relay when online, returned as
// they are offline).
const MaxStoredProfiles = 500

// Request kinds of presence and profiles, numbered apart from the others.
const (
	reqPresence reqKind = 51 + iota // SubscribePresence, answered by Presences
	reqStatus                       // SetStatus, answered by OK
	reqProfiles                     // SetProfile or GetProfiles, answered by Profiles
)

// Presence is a user's presence as the application sees it.
type Presence struct {
	User     string `json:"user"`
	Online   bool   `json:"online"`             // some device of the user is connected
	Status   string `json:"status,omitempty"`   // the user's custom status, app-defined
	LastSeen int64  `json:"lastSeen,omitempty"` // unix ms the user's last device left; absent while online or never seen
}

// Profile is a user's public profile.
type Profile struct {
	User      string `json:"user"`
	Nickname  string `json:"nickname,omitempty"`
	Avatar    string `json:"avatar,omitempty"`  // a URL
	Custom    string `json:"custom,omitempty"`  // application-defined, JSON typically
	UpdatedAt int64  `json:"updatedAt"`         // unix ms of the last change, relay clock; 0: never set
	Deleted   bool   `json:"deleted,omitempty"` // the application deleted the user: show their messages as from a deleted user
}

// Presence and profile events.
const (
	EventPresence EventKind = "presence" // Event.Presence changed
	EventProfile  EventKind = "profile"  // Event.Profile changed (pushed by the relay)
)

// presenceState is the core's presence and profile state.
type presenceState struct {
	subs     map[string]time.Time // users this device subscribed to → when that expires
	profiles map[string]cachedProfile
}

type cachedProfile struct {
	p  Profile
	at time.Time // when it was read from the relay
}

func fromPresence(p proto.Presence) Presence {
	return Presence{User: p.User, Online: p.Online, Status: p.Status, LastSeen: p.LastSeen}
}

func fromProfile(p proto.Profile) Profile {
	return Profile{User: p.User, Nickname: p.Nickname, Avatar: p.Avatar, Custom: p.Custom, UpdatedAt: p.UpdatedAt, Deleted: p.Deleted}
}

// needReady fails a request made while not connected: presence and
// profiles are the relay's, read live.
func (c *Core) needReady() error {
	switch {
	case c.state == StateClosed:
		return &proto.Error{Code: proto.CodeClientClosed, Message: "client closed"}
	case c.phase != phaseReady:
		return &proto.Error{Code: proto.CodeNotConnected, Message: "presence and profiles need a connection"}
	}
	return nil
}

// SubscribePresence subscribes this user to the presence of users (at most
// proto.MaxPresenceBatch, distinct) for ttl (0: a day) and resolves with
// their presence (Result.Presences), in order. The relay refuses with 4270
// a request that would take the user above proto.MaxPresenceSubs.
func (c *Core) SubscribePresence(now time.Time, users []string, ttl time.Duration) (uint64, error) {
	return c.presenceRequest(now, &proto.SubscribePresence{Users: users, TTLMs: ttl.Milliseconds(), Op: proto.PresenceSubscribe})
}

// UnsubscribePresence withdraws this user's subscriptions to users.
func (c *Core) UnsubscribePresence(now time.Time, users []string) (uint64, error) {
	return c.presenceRequest(now, &proto.SubscribePresence{Users: users, Op: proto.PresenceUnsubscribe})
}

func (c *Core) presenceRequest(now time.Time, req *proto.SubscribePresence) (uint64, error) {
	c.begin()
	defer c.flush()
	if err := proto.Validate(req); err != nil {
		return 0, err
	}
	if err := c.needReady(); err != nil {
		return 0, err
	}
	op := c.newOp()
	c.request(now, &request{kind: reqPresence, op: op, users: req}, proto.TypeSubscribePresence, req)
	return op, nil
}

// SetStatus sets this user's custom status ("" clears it); the users
// subscribed to this user get it with their presence events.
func (c *Core) SetStatus(now time.Time, status string) (uint64, error) {
	c.begin()
	defer c.flush()
	req := &proto.SetStatus{Status: status}
	if err := proto.Validate(req); err != nil {
		return 0, err
	}
	if err := c.needReady(); err != nil {
		return 0, err
	}
	op := c.newOp()
	c.request(now, &request{kind: reqStatus, op: op}, proto.TypeSetStatus, req)
	return op, nil
}

// SetProfile changes the fields set carries of this user's profile and
// resolves with the profile as stored (Result.Profiles); this user's other
// devices get it as an EventProfile.
func (c *Core) SetProfile(now time.Time, set proto.SetProfile) (uint64, error) {
	c.begin()
	defer c.flush()
	if err := proto.Validate(&set); err != nil {
		return 0, err
	}
	if err := c.needReady(); err != nil {
		return 0, err
	}
	op := c.newOp()
	c.request(now, &request{kind: reqProfiles, op: op}, proto.TypeSetProfile, &set)
	return op, nil
}

// CachedProfiles returns the cached profiles of users younger than
// ProfileFresh (fresh), the older ones (stale), and the users to ask the
// relay about (stale or not cached).
func (c *Core) CachedProfiles(now time.Time, users []string) (fresh, stale map[string]Profile, need []string) {
	fresh, stale = make(map[string]Profile), make(map[string]Profile)
	for _, u := range users {
		e, ok := c.pres.profiles[u]
		switch {
		case ok && now.Sub(e.at) < ProfileFresh:
			fresh[u] = e.p
		case ok:
			stale[u] = e.p
			need = append(need, u)
		default:
			need = append(need, u)
		}
	}
	return fresh, stale, need
}

// FetchProfiles reads the profiles of users (at most
// proto.MaxProfileBatch) from the relay, caches them and resolves with
// them (Result.Profiles).
func (c *Core) FetchProfiles(now time.Time, users []string) (uint64, error) {
	c.begin()
	defer c.flush()
	req := &proto.GetProfiles{Users: users}
	if err := proto.Validate(req); err != nil {
		return 0, err
	}
	if err := c.needReady(); err != nil {
		return 0, err
	}
	op := c.newOp()
	c.request(now, &request{kind: reqProfiles, op: op}, proto.TypeGetProfiles, req)
	return op, nil
}

// presences handles a Presences frame: a reply to a SubscribePresence of
// this device, or (id 0) a push of one changed presence.
func (c *Core) presences(now time.Time, id uint64, r *request, b *proto.Presences) {
	for _, p := range b.List {
		if !proto.ValidName(p.User) {
			c.badReply(now, id, r, "presence without a valid user id")
			return
		}
	}
	if id == 0 {
		for _, p := range b.List {
			pr := fromPresence(p)
			c.emit(Event{Kind: EventPresence, Presence: &pr})
		}
		return
	}
	if r == nil || r.kind != reqPresence {
		c.badReply(now, id, r, "presences for no presence request")
		return
	}
	req := r.users
	switch req.Op {
	case proto.PresenceSubscribe:
		if c.pres.subs == nil {
			c.pres.subs = make(map[string]time.Time)
		}
		ttl := time.Duration(req.TTLMs) * time.Millisecond
		if ttl <= 0 {
			ttl = proto.DefaultPresenceTTLMs * time.Millisecond
		}
		for _, u := range req.Users {
			c.pres.subs[u] = now.Add(ttl)
		}
	case proto.PresenceUnsubscribe:
		for _, u := range req.Users {
			delete(c.pres.subs, u)
		}
	case proto.PresenceQuery:
		// This device's refresh after a (re)connect: what changed while
		// it was away reaches the application as events.
		for _, p := range b.List {
			pr := fromPresence(p)
			c.emit(Event{Kind: EventPresence, Presence: &pr})
		}
	}
	out := make([]Presence, len(b.List))
	for i, p := range b.List {
		out[i] = fromPresence(p)
	}
	c.resolve(r.op, Result{Presences: out})
}

// profilesFrame handles a Profiles frame: a reply to SetProfile or
// GetProfiles, or (id 0) a pushed change, which is cached and announced.
func (c *Core) profilesFrame(now time.Time, id uint64, r *request, b *proto.Profiles) {
	for _, p := range b.List {
		if !proto.ValidName(p.User) {
			c.badReply(now, id, r, "profile without a valid user id")
			return
		}
	}
	if id != 0 && (r == nil || r.kind != reqProfiles) {
		c.badReply(now, id, r, "profiles for no profile request")
		return
	}
	if c.pres.profiles == nil || len(c.pres.profiles) > 10000 {
		c.pres.profiles = make(map[string]cachedProfile) // bounded: at worst read again
	}
	out := make([]Profile, len(b.List))
	changed := false
	for i, p := range b.List {
		out[i] = fromProfile(p)
		old, had := c.pres.profiles[p.User]
		if had && old.p.UpdatedAt > p.UpdatedAt {
			out[i] = old.p // a reply older than a push already cached
		}
		c.pres.profiles[p.User] = cachedProfile{p: out[i], at: now}
		if !had || old.p != out[i] {
			changed = true
		}
		if id == 0 || (had && old.p.UpdatedAt < out[i].UpdatedAt) {
			pr := out[i]
			c.emit(Event{Kind: EventProfile, Profile: &pr})
		}
	}
	if changed {
		c.saveProfiles()
	}
	if id != 0 {
		c.resolve(r.op, Result{Profiles: out})
	}
}

// presenceWelcome runs on every welcome: the presence of the users this
// device subscribed to is read again (events for each), and this user's
// own profile, when cached, is refreshed (it may have changed on another
// device meanwhile).
func (c *Core) presenceWelcome(now time.Time) {
	var users []string
	for u, exp := range c.pres.subs {
		if now.Before(exp) {
			users = append(users, u)
		} else {
			delete(c.pres.subs, u)
		}
	}
	for len(users) > 0 {
		n := min(len(users), proto.MaxPresenceBatch)
		req := &proto.SubscribePresence{Users: users[:n], Op: proto.PresenceQuery}
		c.request(now, &request{kind: reqPresence, users: req}, proto.TypeSubscribePresence, req)
		users = users[n:]
	}
	if me := c.meta.UserID; me != "" {
		if _, cached := c.pres.profiles[me]; cached {
			c.request(now, &request{kind: reqProfiles}, proto.TypeGetProfiles, &proto.GetProfiles{Users: []string{me}})
		}
	}
}

// loadProfiles fills the cache with profiles persisted by an earlier run,
// stale: they are read again from the relay when asked for online.
func (c *Core) loadProfiles(ps []Profile) {
	c.pres.profiles = make(map[string]cachedProfile, len(ps))
	for _, p := range ps {
		if proto.ValidName(p.User) {
			c.pres.profiles[p.User] = cachedProfile{p: p}
		}
	}
}

// saveProfiles stages the cached profiles with the meta: the
// MaxStoredProfiles most recently read, sorted by user.
func (c *Core) saveProfiles() {
	all := make([]cachedProfile, 0, len(c.pres.profiles))
	for _, e := range c.pres.profiles {
		all = append(all, e)
	}
	if len(all) > MaxStoredProfiles {
		sort.Slice(all, func(i, j int) bool { return all[i].at.After(all[j].at) })
		all = all[:MaxStoredProfiles]
	}
	ps := make([]Profile, len(all))
	for i, e := range all {
		ps[i] = e.p
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].User < ps[j].User })
	c.meta.Profiles = ps
	c.saveMeta()
}

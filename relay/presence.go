package relay

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
)

// Presence and profiles.
//
// A user is online while any of their devices holds a session on any relay
// node. Each node counts its own sessions per user and records the count in
// the store, under its node id, when it changes between zero and not zero;
// the user is online while some node's count is above zero. A session ends
// when its client leaves, or — for a client that died without a word (a
// killed process, a lost network) — when the heartbeat timeout closes it,
// so a dead client is offline within that timeout.
//
// Presence subscriptions belong to the user, not to one of their devices:
// every device of a subscriber gets the pushes, and a subscription lasts
// until it expires or is withdrawn, whichever device made it. A change of a
// user's presence (online, offline, status) is pushed to the users
// subscribed to it, through the bus, so it crosses nodes like a message.

// PresenceStore keeps presence, presence subscriptions and profiles. A store
// without it answers the presence and profile requests with 4215.
type PresenceStore interface {
	PresenceWriter
	PresenceSubs
	ProfileStore
}

// PresenceWriter records who is online and their status.
type PresenceWriter interface {
	// SetSessions records that node holds n sessions of user at now (unix
	// ms) and returns the user's presence after it; changed reports that
	// the user went online or offline by it. Going offline sets LastSeen
	// to now.
	SetSessions(ctx context.Context, user, node string, n int, now int64) (p proto.Presence, changed bool, err error)
	// SetStatus sets user's status ("" clears it) and returns the presence.
	SetStatus(ctx context.Context, user, status string) (proto.Presence, error)
	// Presence returns the presence of users, in order; a user never seen
	// is offline with LastSeen 0.
	Presence(ctx context.Context, users []string) ([]proto.Presence, error)
}

// PresenceSubs keeps the presence subscriptions of users.
type PresenceSubs interface {
	// Subscribe subscribes subscriber to targets (distinct) until expires
	// (unix ms), renewing those already held. Subscriptions expired at now
	// are dropped first; when the live ones plus the new ones would pass
	// max, nothing changes and the error is 4270.
	Subscribe(ctx context.Context, subscriber string, targets []string, expires, now int64, max int) error
	// Unsubscribe withdraws subscriber's subscriptions to targets.
	Unsubscribe(ctx context.Context, subscriber string, targets []string) error
	// Watchers returns the users holding a live subscription to target at
	// now, sorted.
	Watchers(ctx context.Context, target string, now int64) ([]string, error)
}

// ProfileStore keeps user profiles.
type ProfileStore interface {
	// SetProfile applies set to user's profile (rules.MergeProfile) and
	// returns it as stored.
	SetProfile(ctx context.Context, user string, set proto.SetProfile, now int64) (proto.Profile, error)
	// Profiles returns the profiles of users, in order; a user who never
	// set one has an empty profile with UpdatedAt 0.
	Profiles(ctx context.Context, users []string) ([]proto.Profile, error)
}

var _ PresenceStore = (*MemoryStore)(nil)

// errNoPresence answers presence and profile requests on a store without
// PresenceStore.
var errNoPresence = proto.Errorf(proto.CodeNotSupported, "this relay's store keeps no presence or profiles")

// Presence returns the presence of users as the relay's store holds it:
// online while any of their devices is connected to any relay node sharing
// the store, with the custom status and, offline, when the last device
// left. It is what an operator's tools read (the admin API).
func (s *Server) Presence(ctx context.Context, users []string) ([]proto.Presence, error) {
	ps, ok := s.store.(PresenceStore)
	if !ok {
		return nil, errNoPresence
	}
	for _, u := range users {
		if !proto.ValidName(u) {
			return nil, proto.Errorf(proto.CodeBadRequest, "invalid user id %q", u)
		}
	}
	return ps.Presence(ctx, users)
}

// presenceTracker counts this node's sessions per user and records the
// count in the store when it crosses zero, then pushes the presence to the
// user's watchers when the user went online or offline. Store writes run
// on one goroutine of its own, so a session's hello and end never wait on
// them; a write that fails is tried again a second later.
type presenceTracker struct {
	store PresenceStore // nil: no presence
	node  string
	fan   *fanout
	ctx   context.Context
	log   *slog.Logger

	mu      sync.Mutex
	local   map[string]int      // sessions per user on this node
	dirty   map[string]struct{} // users whose count the store may not have yet
	wake    chan struct{}       // one slot: dirty has users
	stopped chan struct{}       // closed by stop
	done    chan struct{}       // closed when run returns
}

func newPresenceTracker(ctx context.Context, store Store, fan *fanout, log *slog.Logger) *presenceTracker {
	p := &presenceTracker{
		node: randomHex(8), fan: fan, ctx: ctx, log: log,
		local: make(map[string]int), dirty: make(map[string]struct{}),
		wake: make(chan struct{}, 1), stopped: make(chan struct{}), done: make(chan struct{}),
	}
	p.store, _ = store.(PresenceStore)
	go p.run()
	return p
}

// joined counts a session of user that entered the hub.
func (p *presenceTracker) joined(user string) { p.add(user, 1) }

// left uncounts a session joined counted.
func (p *presenceTracker) left(user string) { p.add(user, -1) }

func (p *presenceTracker) add(user string, d int) {
	if p.store == nil {
		return
	}
	p.mu.Lock()
	n := p.local[user] + d
	if n <= 0 {
		delete(p.local, user)
	} else {
		p.local[user] = n
	}
	if n == 0 || n == d { // crossed zero, one way or the other
		p.dirty[user] = struct{}{}
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
	p.mu.Unlock()
}

// run writes the dirty users' counts until stop, then once more for what
// is left (the sessions that ended while the node drained).
func (p *presenceTracker) run() {
	defer close(p.done)
	for {
		select {
		case <-p.wake:
		case <-p.stopped:
			p.flush()
			return
		}
		if !p.flush() {
			select {
			case <-time.After(time.Second):
			case <-p.stopped:
				p.flush()
				return
			}
			select {
			case p.wake <- struct{}{}:
			default:
			}
		}
	}
}

// flush writes the count of every dirty user, reading it when it writes so
// that the last count is the one that stays; false when a write failed
// (that user stays dirty).
func (p *presenceTracker) flush() bool {
	p.mu.Lock()
	users := make([]string, 0, len(p.dirty))
	for u := range p.dirty {
		users = append(users, u)
	}
	clear(p.dirty)
	p.mu.Unlock()
	okAll := true
	for _, u := range users {
		p.mu.Lock()
		n := p.local[u]
		p.mu.Unlock()
		pr, changed, err := p.store.SetSessions(p.ctx, u, p.node, n, time.Now().UnixMilli())
		if err != nil {
			if p.ctx.Err() == nil {
				p.log.Warn("presence: store write failed", "user", u, "err", err)
			}
			p.mu.Lock()
			p.dirty[u] = struct{}{}
			p.mu.Unlock()
			okAll = false
			if p.ctx.Err() != nil {
				return false
			}
			continue
		}
		if changed {
			p.push(pr)
		}
	}
	return okAll
}

// push sends pr to the users subscribed to pr.User.
func (p *presenceTracker) push(pr proto.Presence) {
	watchers, err := p.store.Watchers(p.ctx, pr.User, time.Now().UnixMilli())
	if err != nil {
		p.log.Warn("presence: watchers", "user", pr.User, "err", err)
		return
	}
	if len(watchers) > 0 {
		p.fan.publish(watchers, "", proto.MustEncode(proto.Frame{Type: proto.TypePresences, Body: &proto.Presences{List: []proto.Presence{pr}}}))
	}
}

// stop writes what is left and ends the tracker; ctx bounds the wait.
func (p *presenceTracker) stop(ctx context.Context) {
	select {
	case <-p.stopped:
	default:
		close(p.stopped)
	}
	select {
	case <-p.done:
	case <-ctx.Done():
	}
}

// presenceStore returns the store's PresenceStore, or nil after answering
// request id with 4215.
func (s *Session) presenceStore(id uint64) PresenceStore {
	ps, ok := s.env.store.(PresenceStore)
	if !ok {
		s.replyErr(id, errNoPresence)
		return nil
	}
	return ps
}

// subscribePresence subscribes the user to users' presence (or withdraws
// the subscriptions, or only reads the presence) and answers with the
// presence of each, in the order asked.
func (s *Session) subscribePresence(now time.Time, id uint64, b *proto.SubscribePresence) {
	ps := s.presenceStore(id)
	if ps == nil {
		return
	}
	users := rules.UniqueUsers(b.Users)
	ctx := s.env.ctx
	switch b.Op {
	case proto.PresenceUnsubscribe:
		if err := ps.Unsubscribe(ctx, s.user, users); err != nil {
			s.replyErr(id, err)
			return
		}
		s.reply(proto.Frame{Type: proto.TypePresences, ID: id, Body: &proto.Presences{List: []proto.Presence{}}})
		return
	case proto.PresenceSubscribe:
		expires := now.Add(rules.PresenceTTL(b.TTLMs)).UnixMilli()
		if err := ps.Subscribe(ctx, s.user, users, expires, now.UnixMilli(), proto.MaxPresenceSubs); err != nil {
			s.replyErr(id, err)
			return
		}
	}
	list, err := ps.Presence(ctx, users)
	if err != nil {
		s.replyErr(id, err)
		return
	}
	s.reply(proto.Frame{Type: proto.TypePresences, ID: id, Body: &proto.Presences{List: list}})
}

// setStatus sets the user's custom status and pushes the presence to the
// user's watchers.
func (s *Session) setStatus(id uint64, b *proto.SetStatus) {
	ps := s.presenceStore(id)
	if ps == nil {
		return
	}
	pr, err := ps.SetStatus(s.env.ctx, s.user, b.Status)
	if err != nil {
		s.replyErr(id, err)
		return
	}
	s.reply(proto.Frame{Type: proto.TypeOK, ID: id})
	s.env.presence.push(pr)
}

// setProfile changes the user's profile, answers with it and pushes it to
// the user's other sessions (their caches) and to the user's watchers.
func (s *Session) setProfile(now time.Time, id uint64, b *proto.SetProfile) {
	ps := s.presenceStore(id)
	if ps == nil {
		return
	}
	p, err := ps.SetProfile(s.env.ctx, s.user, *b, now.UnixMilli())
	if err != nil {
		s.replyErr(id, err)
		return
	}
	s.reply(proto.Frame{Type: proto.TypeProfiles, ID: id, Body: &proto.Profiles{List: []proto.Profile{p}}})
	to := []string{s.user}
	if w, err := ps.Watchers(s.env.ctx, s.user, now.UnixMilli()); err == nil {
		for _, u := range w {
			if u != s.user {
				to = append(to, u)
			}
		}
	} else {
		s.env.log.Warn("profile: watchers", "user", s.user, "err", err)
	}
	s.env.fan.publish(to, s.id, proto.MustEncode(proto.Frame{Type: proto.TypeProfiles, Body: &proto.Profiles{List: []proto.Profile{p}}}))
}

// getProfiles answers with the profiles of users, in the order asked.
func (s *Session) getProfiles(id uint64, b *proto.GetProfiles) {
	ps := s.presenceStore(id)
	if ps == nil {
		return
	}
	list, err := ps.Profiles(s.env.ctx, rules.UniqueUsers(b.Users))
	if err != nil {
		s.replyErr(id, err)
		return
	}
	s.reply(proto.Frame{Type: proto.TypeProfiles, ID: id, Body: &proto.Profiles{List: list}})
}

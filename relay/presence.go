package relay

import (
	"context"
	"log/slog"
	"maps"
	"slices"
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
// A relay node that dies without a word (SIGKILL, a lost machine) never
// takes its counts back. So each node holds a lease in the store
// (NodeLeases), renewed every third of Options.NodeLease, and every node
// reclaims, at the same pace, the counts of nodes whose lease expired: the
// users who were online only through a dead node go offline, LastSeen the
// time of the reclaim, and their watchers are told. A dead node's users are
// therefore offline within NodeLease plus a third of it after its last
// renewal (20 s by default). A node started again under its old NodeID
// takes back its own old counts at once, before it counts anything new.
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
	// SetSessions records, in one transaction, that node holds
	// counts[i].Sessions sessions of counts[i].User at now (unix ms); the
	// users are distinct. It returns the presence after it of each user
	// who went online or offline by it, in the order of counts. Going
	// offline sets LastSeen to now.
	SetSessions(ctx context.Context, node string, counts []SessionCount, now int64) (changed []proto.Presence, err error)
	// SetStatus sets user's status ("" clears it) and returns the presence.
	SetStatus(ctx context.Context, user, status string) (proto.Presence, error)
	// Presence returns the presence of users, in order; a user never seen
	// is offline with LastSeen 0.
	Presence(ctx context.Context, users []string) ([]proto.Presence, error)
}

// SessionCount is how many sessions a node holds of a user (0: none).
type SessionCount struct {
	User     string
	Sessions int
}

// PresenceSubs keeps the presence subscriptions of users.
type PresenceSubs interface {
	// Subscribe applies subs in one transaction, in order: each
	// subscribes its Subscriber to its Targets until its Expires,
	// renewing those already held, after dropping the subscriber's
	// subscriptions expired at its Now. A sub that would take its
	// subscriber's live subscriptions above max changes nothing and is
	// refused with 4270 at its index of refused (nil when none is); the
	// others are applied.
	Subscribe(ctx context.Context, subs []PresenceSub, max int) (refused []*proto.Error, err error)
	// Unsubscribe withdraws subscriber's subscriptions to targets.
	Unsubscribe(ctx context.Context, subscriber string, targets []string) error
	// Watchers returns the users holding a live subscription to target at
	// now, sorted.
	Watchers(ctx context.Context, target string, now int64) ([]string, error)
}

// PresenceSub is one subscription request of PresenceSubs.Subscribe.
type PresenceSub struct {
	Subscriber string
	Targets    []string // distinct
	Expires    int64    // unix ms
	Now        int64    // unix ms
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
	store  PresenceStore // nil: no presence
	leases NodeLeases    // nil: the store keeps no leases
	node   string
	lease  time.Duration // how long a renewal keeps the node alive
	fan    *fanout
	hooks  *webhooks // user-offline of a reclaimed user; nil without webhooks
	ctx    context.Context
	log    *slog.Logger

	mu    sync.Mutex
	local map[string]int      // sessions per user on this node
	dirty map[string]struct{} // users whose count the store may not have yet
	wake  chan struct{}       // one slot: dirty has users

	// restarter, for a node without a lease (NodeLease < 0) on a store
	// that has it: restart replaces the counts of the node's earlier run
	// (Server.RestartPresence asks for it through restartReq).
	restarter  NodeRestarter
	restartReq chan struct{} // one slot
	stopped    chan struct{} // closed by stop
	done       chan struct{} // closed when run returns

	// subs writes the subscriptions asked for at once in one store
	// transaction; nil without presence.
	subs *writeBatcher[PresenceSub, *proto.Error]
}

// presenceSubBatch is how many subscription requests one store
// transaction writes: an application that subscribes to its contacts when
// it starts does so on every client at once when its users come back
// together (a new version deployed, the morning), and each request took a
// transaction, and an fsync, of its own on the store's writer, ahead of
// the message commits. A request holds up to proto.MaxPresenceBatch
// targets, so a batch is kept smaller than the tracker's batch of counts.
const presenceSubBatch = 32

func newPresenceTracker(ctx context.Context, store Store, fan *fanout, hooks *webhooks, o Options) *presenceTracker {
	p := &presenceTracker{
		node: o.NodeID, lease: o.NodeLease, fan: fan, hooks: hooks, ctx: ctx, log: o.Logger,
		local: make(map[string]int), dirty: make(map[string]struct{}),
		wake: make(chan struct{}, 1), restartReq: make(chan struct{}, 1),
		stopped: make(chan struct{}), done: make(chan struct{}),
	}
	if p.node == "" {
		p.node = randomHex(8)
	}
	p.store, _ = store.(PresenceStore)
	if p.store != nil && p.lease > 0 {
		p.leases, _ = store.(NodeLeases)
	}
	if p.store != nil && p.lease < 0 {
		p.restarter, _ = store.(NodeRestarter)
	}
	if p.store != nil {
		p.subs = newWriteBatcher(presenceSubBatch, func(ctx context.Context, subs []PresenceSub) ([]*proto.Error, error) {
			refused, err := p.store.Subscribe(ctx, subs, proto.MaxPresenceSubs)
			if err == nil && refused == nil {
				refused = make([]*proto.Error, len(subs))
			}
			return refused, err
		})
	}
	go p.run()
	return p
}

// subscribe stores sub, with the requests of other sessions made at the
// same time, and returns once it is stored: a refusal (4270) or a store
// failure.
func (p *presenceTracker) subscribe(ctx context.Context, sub PresenceSub) error {
	perr, err := p.subs.do(ctx, sub)
	if err != nil {
		return err
	}
	if perr != nil {
		return perr
	}
	return nil
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
// is left (the sessions that ended while the node drained). With leases,
// it first takes back the node's own old counts and takes its lease, and
// then renews the lease and reclaims dead nodes' counts every third of it.
func (p *presenceTracker) run() {
	defer close(p.done)
	if p.store == nil {
		<-p.stopped
		return
	}
	var tick <-chan time.Time
	if p.leases != nil {
		if !p.begin() {
			return
		}
		t := time.NewTicker(p.lease / 3)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-p.wake:
		case <-tick:
			p.renew()
			continue
		case <-p.restartReq:
			for !p.restart() {
				if !p.pause() {
					return
				}
			}
			continue
		case <-p.stopped:
			p.end()
			return
		}
		if !p.flush() {
			if !p.pause() {
				return
			}
			select {
			case p.wake <- struct{}{}:
			default:
			}
		}
	}
}

// pause waits a second before a failed store write is tried again; false
// when the tracker stopped meanwhile, after end wrote what is left.
func (p *presenceTracker) pause() bool {
	select {
	case <-time.After(time.Second):
		return true
	case <-p.stopped:
		p.end()
		return false
	}
}

// begin reclaims the counts a process of the same node id left (it was
// killed) and takes the lease, trying again every second; false when the
// tracker stopped first. Sessions counted meanwhile wait, dirty.
func (p *presenceTracker) begin() bool {
	for {
		now := time.Now().UnixMilli()
		gone, err := p.leases.ReclaimNodes(p.ctx, p.node, now)
		if err == nil {
			p.offline(gone)
			_, err = p.leases.RenewLease(p.ctx, p.node, now+p.lease.Milliseconds(), now)
		}
		if err == nil {
			return true
		}
		if p.ctx.Err() == nil {
			p.log.Warn("presence: taking the node lease failed", "node", p.node, "err", err)
		}
		select {
		case <-time.After(time.Second):
		case <-p.stopped:
			return false
		}
	}
}

// requestRestart asks the tracker to restart the node's counts (restart);
// nothing without a restarter.
func (p *presenceTracker) requestRestart() {
	if p.restarter == nil {
		return
	}
	select {
	case p.restartReq <- struct{}{}:
	default:
	}
}

// restart makes the sessions this node holds now its only counts in the
// store, in place of whatever its earlier run left there (that run may have
// died without a word, or held sockets that closed while the node was
// asleep), and tells the watchers of the users who went offline by it. It
// runs on the tracker's goroutine, so no flush interleaves; false when the
// store failed (the caller tries again).
func (p *presenceTracker) restart() bool {
	p.mu.Lock()
	counts := maps.Clone(p.local)
	dirty := maps.Clone(p.dirty)
	clear(p.dirty) // the restart writes every count of this node
	p.mu.Unlock()
	gone, err := p.restarter.RestartNode(p.ctx, p.node, counts, time.Now().UnixMilli())
	if err != nil {
		if p.ctx.Err() == nil {
			p.log.Warn("presence: restarting the node's counts failed", "node", p.node, "err", err)
		}
		p.mu.Lock()
		maps.Copy(p.dirty, dirty)
		p.mu.Unlock()
		return p.ctx.Err() != nil
	}
	if len(gone) > 0 {
		p.log.Info("presence: users held only by this node's earlier run went offline", "users", len(gone))
	}
	p.offline(gone)
	return true
}

// renew renews the node's lease and reclaims the counts of dead nodes. A
// lease found expired (the node was cut off from the store, or paused, for
// longer than it) may have had its counts reclaimed: they are written
// again.
func (p *presenceTracker) renew() {
	now := time.Now().UnixMilli()
	held, err := p.leases.RenewLease(p.ctx, p.node, now+p.lease.Milliseconds(), now)
	if err != nil {
		if p.ctx.Err() == nil {
			p.log.Warn("presence: renewing the node lease failed", "node", p.node, "err", err)
		}
		return
	}
	if !held {
		p.log.Warn("presence: the node lease had expired; writing this node's session counts again", "node", p.node)
		p.mu.Lock()
		for u := range p.local {
			p.dirty[u] = struct{}{}
		}
		p.mu.Unlock()
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
	gone, err := p.leases.ReclaimNodes(p.ctx, "", now)
	if err != nil {
		if p.ctx.Err() == nil {
			p.log.Warn("presence: reclaiming dead nodes failed", "err", err)
		}
		return
	}
	if len(gone) > 0 {
		p.log.Info("presence: users of dead relay nodes went offline", "users", len(gone))
	}
	p.offline(gone)
}

// offline tells the watchers (and the webhook) of users reclaimed offline.
func (p *presenceTracker) offline(gone []proto.Presence) {
	for _, pr := range gone {
		p.push(pr)
		p.hooks.presence(pr.User, false)
	}
}

// end writes what is left and, when every count is written, gives the
// lease back: nothing of this node is left to reclaim.
func (p *presenceTracker) end() {
	if p.flush() && p.leases != nil {
		if err := p.leases.DropLease(p.ctx, p.node); err != nil && p.ctx.Err() == nil {
			p.log.Warn("presence: dropping the node lease failed", "node", p.node, "err", err)
		}
	}
}

// presenceBatch is how many users' counts one store transaction writes.
// A relay that restarts sees all its clients come back within seconds:
// one transaction (and one fsync) per user held the store's writer, and
// the messages behind it, for as long as the storm lasted. A bounded
// batch keeps each transaction short beside the message commits.
const presenceBatch = 256

// flush writes the count of every dirty user, reading it when it writes so
// that the last count is the one that stays, presenceBatch users a
// transaction; false when a write failed (those users stay dirty).
func (p *presenceTracker) flush() bool {
	p.mu.Lock()
	users := make([]string, 0, len(p.dirty))
	for u := range p.dirty {
		users = append(users, u)
	}
	clear(p.dirty)
	p.mu.Unlock()
	slices.Sort(users)
	okAll := true
	for len(users) > 0 {
		chunk := users[:min(len(users), presenceBatch)]
		users = users[len(chunk):]
		counts := make([]SessionCount, len(chunk))
		p.mu.Lock()
		for i, u := range chunk {
			counts[i] = SessionCount{User: u, Sessions: p.local[u]}
		}
		p.mu.Unlock()
		changed, err := p.store.SetSessions(p.ctx, p.node, counts, time.Now().UnixMilli())
		if err != nil {
			if p.ctx.Err() == nil {
				p.log.Warn("presence: store write failed", "users", len(chunk), "err", err)
			}
			p.mu.Lock()
			for _, u := range chunk {
				p.dirty[u] = struct{}{}
			}
			p.mu.Unlock()
			okAll = false
			if p.ctx.Err() != nil {
				return false
			}
			continue
		}
		for _, pr := range changed {
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
		sub := PresenceSub{Subscriber: s.user, Targets: users, Expires: now.Add(rules.PresenceTTL(b.TTLMs)).UnixMilli(), Now: now.UnixMilli()}
		if err := s.env.presence.subscribe(ctx, sub); err != nil {
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

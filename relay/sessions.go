package relay

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
)

// gate decides whether a user whose token verified may sign in: it checks
// the user's ban and the token against the store's revocations, both read
// in one store call (Revoker.SignInOf). A store without it bans and
// revokes nothing.
type gate struct {
	store Revoker // nil: none
	log   interface {
		Warn(msg string, args ...any)
	}
}

// check refuses a token of the reserved user system (4001), a user banned
// at now (4004, with the ban's reason), and (4013) a token of user issued
// before the latest revocation that covers user; a token without iat
// counts as issued at the epoch, so any revocation covers it. A store that
// cannot answer does not hold up the hello (the relay serves what it can
// while its store is away): the ban or revocation itself, published on the
// bus when it was made, has closed the sessions open then.
//
// What check reads may be overtaken by a ban or revocation stored right
// after it: the hello then hears of it on the bus (endLog) and reads again
// (recheck).
func (g *gate) check(ctx context.Context, now time.Time, user, token string) *proto.Error {
	perr, err := g.decide(ctx, now, user, token)
	if err != nil {
		g.log.Warn("reading bans and revocations failed; user let through", "user", user, "err", err)
		return nil
	}
	return perr
}

// recheck is check again, for a hello that heard of a ban or revocation of
// its user after its check: a store that cannot answer now refuses the
// hello as retryable (4101), since what was heard may hold.
func (g *gate) recheck(ctx context.Context, now time.Time, user, token string) *proto.Error {
	perr, err := g.decide(ctx, now, user, token)
	if err != nil {
		g.log.Warn("reading bans and revocations failed after one was heard; hello refused", "user", user, "err", err)
		return proto.Errorf(proto.CodeOverloaded, "relay cannot read its store, retry")
	}
	return perr
}

// decide reads the store and refuses as check says, or fails.
func (g *gate) decide(ctx context.Context, now time.Time, user, token string) (*proto.Error, error) {
	if user == proto.SystemUser {
		return proto.Errorf(proto.CodeUnauthorized, "user %q is reserved for the admin API's messages", user), nil
	}
	if g == nil || g.store == nil {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	in, err := g.store.SignInOf(ctx, user)
	if err != nil {
		return nil, err
	}
	if in.Banned && in.Ban.Holds(now) {
		return &proto.Error{Code: proto.CodeBanned, Message: banReason(in.Ban)}, nil
	}
	issued := issuedAt(token)
	if in.DeletedBefore > 0 && issued < in.DeletedBefore {
		return proto.Errorf(proto.CodeUserDeleted, "user deleted: the token was issued to an account deleted at %s",
			time.Unix(in.DeletedBefore-1, 0).UTC().Format(time.RFC3339)), nil
	}
	return revoked(issued, in.RevokedBefore), nil
}

// revoked refuses (4013) a token issued at issued when tokens issued
// before before are revoked.
func revoked(issued, before int64) *proto.Error {
	if before > 0 && issued < before {
		return proto.Errorf(proto.CodeTokenRevoked, "token revoked: issued before %s", time.Unix(before, 0).UTC().Format(time.RFC3339))
	}
	return nil
}

// endLog remembers the bans and revocations this node heard on the bus
// lately, for the hellos in flight when they came.
//
// A hello reads the store (gate.check), then registers its session in the
// hub. A ban stored just after that read is published after it, and its
// close may reach this node before the session is in the hub: it closes
// nothing there, and the session would outlive the ban. So a hello watches
// its user on the bus first, takes a mark before its read, and registers
// only if nothing that came after the mark concerns it (hub.add, under the
// hub's lock); otherwise it reads the store again (gate.recheck), which
// holds the ban, or its lifting if that came after. An entry is recorded
// before the hub is searched for the sessions it closes: either the
// registration sees the entry, or the search sees the session.
type endLog struct {
	mu    sync.Mutex
	seq   uint64     // of the latest entry
	floor uint64     // entries up to it are forgotten
	list  []endEntry // in order
}

// endEntry is a ban of user (before 0) or a revocation of user's tokens
// issued before before; user everyone is every user.
type endEntry struct {
	seq    uint64
	heard  time.Time
	user   string
	before int64
}

// endKeep is how long an entry is kept: far longer than a hello takes from
// its mark to its registration. One that takes longer reads the store
// again.
const endKeep = time.Minute

// mark returns the position of the latest entry.
func (l *endLog) mark() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq
}

// record adds a ban of user (before 0) or a revocation, and forgets the
// entries heard more than endKeep before now.
func (l *endLog) record(now time.Time, user string, before int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for n < len(l.list) && now.Sub(l.list[n].heard) > endKeep {
		l.floor = l.list[n].seq
		n++
	}
	l.list = append(l.list[n:], endEntry{seq: l.seq + 1, heard: now, user: user, before: before})
	l.seq++
}

// heard reports whether an entry after mark concerns a session of user
// whose token was issued at issued: a ban of user, or a revocation of
// user's or everyone's tokens issued before. A mark older than what is
// kept cannot be told: it reports true.
func (l *endLog) heard(mark uint64, user string, issued int64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if mark < l.floor {
		return true
	}
	// From the newest back to the mark: only what came during the hello.
	for i := len(l.list) - 1; i >= 0 && l.list[i].seq > mark; i-- {
		if e := l.list[i]; (e.user == user || e.user == everyone) && (e.before == 0 || issued < e.before) {
			return true
		}
	}
	return false
}

// banReason is the close reason of a banned user's sessions: the ban's own
// reason, else when it ends.
func banReason(b Ban) string {
	switch {
	case b.Reason != "":
		return b.Reason
	case b.Until == 0:
		return "banned"
	}
	return "banned until " + time.Unix(b.Until, 0).UTC().Format(time.RFC3339)
}

// issuedAt returns the iat of a token already verified, unix seconds, or 0
// when it has none.
func issuedAt(token string) int64 {
	var claims jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &claims); err != nil || claims.IssuedAt == nil {
		return 0
	}
	return claims.IssuedAt.Unix()
}

// devices answers Devices with the user's open sessions on every node.
func (s *Session) devices(id uint64) {
	s.reply(proto.Frame{Type: proto.TypeDeviceList, ID: id, Body: &proto.DeviceList{Devices: s.env.ctl.devices(s.user, s.id)}})
}

// kickDevice closes the session of another of the user's devices, on
// whichever node holds it (4011). Kicking the device of this very session
// closes it too.
func (s *Session) kickDevice(id uint64, b *proto.KickDevice) {
	if !s.env.ctl.hasDevice(s.user, b.DeviceID) {
		s.replyErr(id, proto.Errorf(proto.CodeNoSuchDevice, "no session of device %q is open", b.DeviceID))
		return
	}
	s.reply(proto.Frame{Type: proto.TypeOK, ID: id})
	s.env.ctl.closeUser(s.user, b.DeviceID, proto.CodeDeviceKicked, "signed out from another device of this user")
}

// sessionDefaults checks and defaults the Options of the device policy,
// the admin API and webhooks.
func (o Options) sessionDefaults() (Options, error) {
	if _, err := rules.ParseDevicePolicy(o.DevicePolicy); err != nil {
		return o, fmt.Errorf("relay: %w", err)
	}
	if o.AdminSecret != "" {
		if err := checkSecret(o.AdminSecret); err != nil {
			return o, fmt.Errorf("relay: admin secret: %w", err)
		}
	}
	if o.WebhookSecret == "" {
		o.WebhookSecret = o.AdminSecret
	}
	if o.Webhook != "" {
		u, err := url.Parse(o.Webhook)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return o, fmt.Errorf("relay: webhook %q is not an http or https URL", o.Webhook)
		}
		if o.WebhookSecret == "" {
			return o, errors.New("relay: a webhook needs a secret to sign with (WebhookSecret or AdminSecret)")
		}
		if err := checkSecret(o.WebhookSecret); err != nil {
			return o, fmt.Errorf("relay: webhook secret: %w", err)
		}
	}
	if o.WebhookQueue <= 0 {
		o.WebhookQueue = 4096
	}
	if o.WebhookTimeout <= 0 {
		o.WebhookTimeout = 5 * time.Second
	}
	switch {
	case o.WebhookRetries == 0:
		o.WebhookRetries = 5
	case o.WebhookRetries < 0:
		o.WebhookRetries = 0
	}
	if o.WebhookBackoff <= 0 {
		o.WebhookBackoff = time.Second
	}
	return o, nil
}

// newControl makes the node's control of sessions across nodes and starts
// it; the hub hands it control envelopes.
func (s *Server) newControl(o Options) *control {
	policy, _ := rules.ParseDevicePolicy(o.DevicePolicy) // checked by withDefaults
	c := newControl(s.baseCtx, policy, s.hub, s.bus, o.Logger, s.metrics)
	c.hooks = s.hooks
	s.hub.ctl = c
	lost := s.hub.onLost
	s.hub.onLost = func() {
		if lost != nil {
			lost()
		}
		go c.lost()
	}
	go c.run()
	return c
}

// watchEveryone subscribes the node to the control envelopes for every
// node (revocations of all users' tokens).
func (s *Server) watchEveryone() error {
	ctx, cancel := context.WithTimeout(s.baseCtx, 10*time.Second)
	defer cancel()
	if err := s.sub.Watch(ctx, everyone); err != nil {
		return fmt.Errorf("relay: subscribe to bus: %w", err)
	}
	return nil
}

// gate returns the sign-in checks over the store's bans and revocations.
func (s *Server) gate() *gate {
	g := &gate{log: s.log}
	if rv, ok := s.store.(Revoker); ok {
		g.store = rv
	}
	return g
}

package relay

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
	"golang.org/x/time/rate"
)

// Transport carries one client connection's outbound frames. The session's
// protocol logic writes through it and never holds a socket: the WebSocket
// edge is one Transport (ws_notjs.go), a test's in-memory fake another.
//
// A transport feeds its session the other way: Session.Receive for every
// message read, one at a time, and Session.Gone once when it is finished.
type Transport interface {
	// Write queues one encoded frame for the client. It never blocks; it
	// reports false when the connection's queue is full (the session then
	// closes it as a slow consumer, 4102). Once the connection is closing
	// or ended, Write drops the frame and reports true.
	Write(frame []byte) bool
	// Close ends the connection: the frames already queued go first
	// (unless code is 4102: a client that does not read would hold them
	// up), then a Close frame {code, reason}, then the transport's own
	// close carrying the same code. Only the first call counts. Never
	// blocks.
	Close(code proto.Code, reason string)
}

// aborter is a Transport that can also drop its connection at once, without
// what is queued or a closing handshake. Shutdown aborts what is left when
// its context ends; a transport without it ends when its Close completes.
type aborter interface {
	abort()
}

// ConnInfo describes a new connection to Server.Open.
type ConnInfo struct {
	// Remote is the client's network address, for logs.
	Remote string
}

// Session is one client connection's protocol state: hello and token,
// deadlines, rate limit, frame admission, the requests and their replies,
// and how the connection ends. It holds no socket: it writes through its
// Transport and reads what the transport hands to Receive.
//
// Receive is called from one goroutine at a time, in read order, and Gone
// once after the last Receive returned. Close and the writes of other
// goroutines (the committer's acks, fan-out from the hub, kicks) may come
// at any time and never block.
type Session struct {
	id     string
	t      Transport
	env    *sessionEnv
	remote string

	// user and device are set by Receive before the session enters the
	// hub, and never change after; other goroutines read them only through
	// the hub.
	user, device string
	platform     string       // as the hello said; set with user and device
	issued       atomic.Int64 // the token's iat, unix seconds (0: none); a renewal moves it
	opened       int64        // unix ns when Server.Open took the connection
	began        int64        // = opened once the hello is accepted: kicks and replacements close only older sessions
	watched      bool         // the bus subscription holds a reference to user for this session
	present      bool         // counted online by the presence tracker (presence.go)
	authed       atomic.Bool

	rate  *rate.Limiter        // this connection's frames; nil when disabled
	owner *userState           // set by hello: what the user's sessions share
	timer *time.Timer          // auth deadline, then heartbeat deadline
	typed rules.TypingThrottle // Receive only
	// expiry closes the session (4110) when its token, plus the leeway,
	// has expired; a renewal moves it. Set by hello, before authed.
	expiry *time.Timer
	// refused is set, on the committer goroutine, when the store refused
	// one of this connection's sends for a while (4300); see send.
	refused atomic.Bool

	// inflight counts this connection's sends admitted and not answered
	// (see admission); shed holds its sends in order while some are
	// refused (Receive only).
	inflight atomic.Int64
	shed     rules.Shed

	closed atomic.Bool // closing or gone: nothing more is written
}

// sessionEnv is what every session of a server is given: its limits and the
// few services it calls. A session sees nothing else of the server.
type sessionEnv struct {
	// holdReleases keeps the blobs of recalled attachments and their
	// release records after the recall, as a relay stopping right then
	// would (tests of the sweep at start).
	holdReleases atomic.Bool
	// afterGate, when set, is called by a hello between its gate check
	// and its session's registration (tests hold a hello there).
	afterGate atomic.Pointer[func(user string)]
	// ctx parents the session's store and bus calls; it ends when Shutdown
	// gives up waiting.
	ctx    context.Context
	limits sessionLimits
	// verify checks a Hello's token at now (see verifyToken).
	verify func(token string, now time.Time) (user string, exp time.Time, perr *proto.Error)
	// serves is Options.Serves: nil, or the users a hello may be for.
	serves func(user string) bool
	store  sessionStore
	users  *userTable
	commit *committer
	// reads moves the read cursors asked for at once in one store call.
	reads   *writeBatcher[ReadMark, ReadResult]
	admit   *admission
	hub     *hub
	blobs   BlobStore // nil: attachments are refused (4215)
	sub     Subscription
	fan     *fanout
	calls   *calls
	metrics *metrics
	log     *slog.Logger
	warnLog *rateLog // for what a client can repeat at will
	// left is called once per opened session, by Gone: the server forgets
	// it.
	left func(*Session)
	// presence counts the sessions of each user on this node (presence.go).
	presence *presenceTracker
	// ctl keeps the user's sessions across nodes, kicks and revokes
	// (control.go); gate checks bans and revocations at sign-in
	// (sessions.go).
	ctl   *control
	gate  *gate
	hooks *webhooks // webhooks.go; nil: none
}

// sessionLimits are the Options a session applies.
type sessionLimits struct {
	maxFrame         int
	authTimeout      time.Duration
	heartbeat        time.Duration
	heartbeatTimeout time.Duration
	rateLimit        float64
	rateBurst        int
	tokenLeeway      time.Duration
	maxGroups        int // per user, ≤ 0: none
	maxGroupsHour    int // per user and hour, ≤ 0: none
	maxRelations     int // relation entries per user, ≤ 0: none
	groupIDs         string
	recallWindow     time.Duration
	invitePolicy     string // "direct" or "consent"
}

// sessionStore is what a session asks the store directly; sends go through
// the committer.
type sessionStore interface {
	Querier
	ConvWriter
	Grouper
	UserFeed
	Epoch() string
}

// ID returns the session's id, unique across relay nodes; the client sees it
// in Welcome.
func (s *Session) ID() string { return s.id }

// Receive serves one message read from the client; binary reports a binary
// WebSocket message (a text one is refused). A transport need not read more
// than MaxFrame+1 bytes of a message: a longer one is refused (4007) by its
// length alone. Receive keeps nothing of msg after it returns. It reports
// false when the session is over and the transport should read no further.
func (s *Session) Receive(msg []byte, binary bool) bool {
	if s.closed.Load() {
		return false
	}
	now := time.Now()
	f, perr := s.admit(now, msg, binary)
	if perr != nil {
		s.Close(perr.Code, perr.Message)
		return false
	}
	m := s.env.metrics
	m.admitLatency.observe(since(now))
	began := time.Now()
	s.handle(now, f)
	m.request(f.Type, began)
	return !s.closed.Load()
}

// admit turns one message into a frame, or into the close code it earns.
// Every message within the size limit counts against the rate limit and, once
// welcomed, as a sign of life.
func (s *Session) admit(now time.Time, msg []byte, binary bool) (proto.Frame, *proto.Error) {
	lim := &s.env.limits
	if perr := rules.AdmitSize(len(msg), lim.maxFrame); perr != nil {
		return proto.Frame{}, perr
	}
	m := s.env.metrics
	m.framesIn.Add(1)
	if s.rate != nil && !s.rate.AllowN(now, 1) {
		m.limitHit(limitConnFrames)
		return proto.Frame{}, proto.Errorf(proto.CodeRateLimited, "too many frames")
	}
	// Small frames are held to small limits before anything decodes them.
	if perr := rules.AdmitControl(msg); perr != nil {
		m.limitHit(limitControlSize)
		return proto.Frame{}, perr
	}
	if u := s.owner; u != nil {
		if limit := u.allow(now, len(msg)); limit != "" {
			m.limitHit(limit)
			return proto.Frame{}, proto.Errorf(proto.CodeRateLimited, "too many frames or bytes from this user's sessions")
		}
	}
	authed := s.authed.Load()
	if authed {
		s.timer.Reset(lim.heartbeatTimeout)
	}
	return rules.DecodeFrame(msg, binary, lim.maxFrame, authed)
}

// Gone tells the session that its connection is over — the client left, the
// network failed, or a Close the session asked for has completed — and that
// nothing more will be read or written. The transport calls it exactly once,
// after its last write; the session then leaves the hub and the server.
func (s *Session) Gone() {
	s.closed.Store(true)
	s.timer.Stop()
	if s.expiry != nil {
		s.expiry.Stop()
	}
	if s.authed.Load() {
		s.env.hub.remove(s)
		s.env.calls.gone(s)
		s.env.ctl.left(s)
	}
	if s.present {
		s.env.presence.left(s.user)
	}
	if s.watched {
		s.env.sub.Unwatch(s.user)
	}
	if s.owner != nil {
		s.env.users.leave(s.user)
	}
	s.env.metrics.connections.Add(-1)
	s.env.left(s)
}

// Close ends the session on the relay's initiative: it is counted and
// logged, and its transport sends what is queued (not for 4102), then
// Close{code, reason}, then closes with the same code. Only the first call
// counts, and none after Gone. It never blocks.
func (s *Session) Close(code proto.Code, reason string) {
	if !s.closed.CompareAndSwap(false, true) {
		return
	}
	// Counted before the Close frame can leave.
	s.env.metrics.closed(code)
	switch {
	case code == proto.CodeShutdown || code == proto.CodeKicked:
		s.env.log.Debug("closing session", "session", s.id, "code", uint16(code), "reason", reason, "remote", s.remote)
	case !s.authed.Load():
		// Anyone can fail a hello, as often as they can connect: these
		// lines are rate-limited.
		s.env.warnLog.info("hello refused", "session", s.id, "code", uint16(code), "reason", reason, "remote", s.remote)
	default:
		s.env.log.Info("closing session", "session", s.id, "user", s.user, "code", uint16(code), "reason", reason, "remote", s.remote)
	}
	s.t.Close(code, reason)
}

// deadline fires when no Hello (4001) or no frame at all (4103) came in time.
func (s *Session) deadline() {
	if s.authed.Load() {
		s.Close(proto.CodeHeartbeatTimeout, "heartbeat timeout")
	} else {
		s.Close(proto.CodeUnauthorized, "no hello before the authentication timeout")
	}
}

// handle serves one admitted frame.
func (s *Session) handle(now time.Time, f proto.Frame) {
	if f.Type != proto.TypeHello { // Hello's failures are close codes: see hello
		if perr := proto.Validate(f.Body); perr != nil {
			s.replyErr(f.ID, perr)
			return
		}
	}
	switch b := f.Body.(type) {
	case *proto.Hello:
		s.hello(now, f.ID, b)
	case *proto.Send:
		s.send(now, f.ID, b, 0, false)
	case *proto.Sync:
		s.sync(f.ID, b)
	case *proto.History:
		s.history(f.ID, b)
	case *proto.Read:
		s.read(f.ID, b)
	case *proto.CreateGroup:
		s.createGroup(now, f.ID, b)
	case *proto.Renew:
		s.renew(now, f.ID, b)
	case *proto.Typing:
		s.typing(now, b)
	case *proto.Amend:
		s.amend(now, f.ID, b)
	case *proto.Receipts:
		s.receipts(f.ID, b)
	case *proto.CallInvite:
		s.env.calls.invite(s, f.ID, b)
	case *proto.CallAccept:
		s.env.calls.accept(s, f.ID, b)
	case *proto.CallEnd:
		s.env.calls.end(s, f.ID, b)
	case *proto.CallSignal:
		s.env.calls.signal(s, f.ID, b)
	case *proto.GroupOp:
		s.groupOp(now, f.ID, b)
	case *proto.Members:
		s.members(f.ID, b)
	case *proto.Pending:
		s.pending(f.ID, b)
	case *proto.SubscribePresence: // presence.go
		s.subscribePresence(now, f.ID, b)
	case *proto.SetStatus:
		s.setStatus(f.ID, b)
	case *proto.SetProfile:
		s.setProfile(now, f.ID, b)
	case *proto.GetProfiles:
		s.getProfiles(f.ID, b)
	case *proto.Contact:
		s.contact(now, f.ID, b)
	case *proto.SetConv:
		s.setConv(f.ID, b)
	case *proto.HideMessage: // session_lifecycle.go
		s.hideMessage(f.ID, b)
	case *proto.Prefs:
		s.setPrefs(f.ID, b)
	case *proto.UserSync:
		s.userSync(f.ID, b)
	case *proto.Devices:
		s.devices(f.ID)
	case *proto.KickDevice:
		s.kickDevice(f.ID, b)
	case *proto.Ping:
		s.reply(proto.Frame{Type: proto.TypePong, ID: f.ID, Body: &proto.Pong{Time: b.Time}})
	case *proto.Pong:
		// An answer to nothing the relay asked; it still counted as life.
	}
}

func (s *Session) hello(now time.Time, id uint64, h *proto.Hello) {
	if perr := rules.AdmitHello(h); perr != nil {
		s.Close(perr.Code, perr.Message)
		return
	}
	user, exp, perr := s.env.verify(h.Token, now)
	if perr != nil {
		s.Close(perr.Code, perr.Message)
		return
	}
	if s.env.serves != nil && !s.env.serves(user) {
		s.Close(proto.CodeWrongShard, "this relay shard does not serve the token's user (the URL must name it: ?user=ID)")
		return
	}
	s.user, s.device, s.platform = user, h.DeviceID, h.Platform
	lim := &s.env.limits
	// Watch before the gate: from here on every ban and revocation of user
	// published reaches this node, and one heard after mark makes the
	// hello read the store again before it registers (endLog). Watch
	// before welcoming too: every push for user reaches this node from
	// here on, and everything committed earlier is found by the client's
	// sync.
	ctx, cancel := context.WithTimeout(s.env.ctx, lim.authTimeout)
	err := s.env.sub.Watch(ctx, user)
	cancel()
	if err != nil {
		s.env.log.Warn("bus watch failed", "user", user, "err", err)
		s.Close(proto.CodeOverloaded, "relay cannot reach its bus, retry")
		return
	}
	s.watched = true
	mark := s.env.ctl.ends.mark()
	if perr := s.env.gate.check(s.env.ctx, now, user, h.Token); perr != nil {
		s.refuse(perr)
		return
	}
	if hold := s.env.afterGate.Load(); hold != nil {
		(*hold)(user)
	}
	s.issued.Store(issuedAt(h.Token))
	welcome := proto.MustEncode(proto.Frame{Type: proto.TypeWelcome, ID: id, Body: &proto.Welcome{
		Version:     h.Version,
		UserID:      user,
		Epoch:       s.env.store.Epoch(),
		ServerTime:  now.UnixMilli(),
		HeartbeatMs: uint32(lim.heartbeat.Milliseconds()),
		MaxFrame:    uint32(lim.maxFrame),
		SessionID:   s.id,
		TokenExp:    exp.Unix(),
	}})
	if s.owner = s.env.users.join(user, s.env.hub.hasDevice(user, h.DeviceID)); s.owner == nil {
		s.env.metrics.limitHit(limitSessionsOfUser)
		s.Close(proto.CodeTooManySessions, "too many sessions of this user")
		return
	}
	// A session counts from when its connection opened, not from its
	// hello: a hello read late from an older connection must not pass
	// for newer than the connection that replaced it.
	s.began = s.opened
	s.expiry = time.AfterFunc(exp.Add(lim.tokenLeeway).Sub(now), s.expired)
	s.authed.Store(true)
	s.timer.Reset(lim.heartbeatTimeout)
	// A ban or revocation of user heard since mark: the store is read
	// again, from a new mark, and its answer decides (endLog).
	var old *Session
	for tries := 0; ; tries++ {
		heard := func() bool { return s.env.ctl.ends.heard(mark, user, s.issued.Load()) }
		var stale, again bool
		old, stale, again = s.env.hub.add(s, heard, func() { s.write(welcome) })
		if stale {
			s.Close(proto.CodeKicked, "a newer connection of the same device is open")
			return
		}
		if !again {
			break
		}
		if tries == 2 {
			s.Close(proto.CodeOverloaded, "bans or revocations of this user keep coming, retry")
			return
		}
		mark = s.env.ctl.ends.mark()
		if perr := s.env.gate.recheck(s.env.ctx, time.Now(), user, h.Token); perr != nil {
			s.refuse(perr)
			return
		}
	}
	s.present = true
	s.env.presence.joined(user)
	if old != nil {
		old.Close(proto.CodeKicked, "replaced by a newer connection of the same device")
	}
	// The same device may still be connected to another node.
	s.env.fan.kick(user, s.id, s.device, s.began)
	s.env.ctl.joined(s)
	s.env.log.Debug("session open", "session", s.id, "user", user, "device", h.DeviceID, "client", h.Client, "remote", s.remote)
}

// refuse closes a session whose hello the gate refused, counting a refusal
// for a ban.
func (s *Session) refuse(perr *proto.Error) {
	if perr.Code == proto.CodeBanned {
		s.env.metrics.banned.Add(1)
	}
	s.Close(perr.Code, perr.Message)
}

// expired ends a session whose token ran out without a renewal. The code is
// retryable: the client reconnects with a fresh token, as it would have
// renewed with one.
func (s *Session) expired() {
	s.Close(proto.CodeSessionExpired, "token expired; reconnect with a fresh token")
}

// renew swaps the session's token for a fresh one of the same user: the
// session then lasts until the new token expires. A refused renewal leaves
// the session as it was, to end at its old token's expiry.
func (s *Session) renew(now time.Time, id uint64, b *proto.Renew) {
	user, exp, perr := s.env.verify(b.Token, now)
	switch {
	case perr != nil:
		s.replyErr(id, proto.Errorf(proto.CodeRenewRefused, "renewal token refused: %s", perr.Message))
		return
	case user != s.user:
		s.replyErr(id, proto.Errorf(proto.CodeRenewRefused, "renewal token is for another user"))
		return
	}
	if perr := s.env.gate.check(s.env.ctx, now, user, b.Token); perr != nil {
		s.replyErr(id, proto.Errorf(proto.CodeRenewRefused, "renewal token refused: %s", perr.Message))
		return
	}
	s.issued.Store(issuedAt(b.Token))
	// Reset on a timer that already fired does not revive the session:
	// Close has run and the session is over whatever the reply says.
	s.expiry.Reset(exp.Add(s.env.limits.tokenLeeway).Sub(now))
	s.env.metrics.renewals.Add(1)
	s.reply(proto.Frame{Type: proto.TypeRenewed, ID: id, Body: &proto.Renewed{TokenExp: exp.Unix()}})
}

// send hands a Send (or an Amend, for a target seq above 0) to the
// committer and returns at once: the committer
// answers it (commit.go), so the reader never waits for a commit.
func (s *Session) send(now time.Time, id uint64, b *proto.Send, target uint64, release bool) {
	if perr := rules.AdmitParty(s.user, b.ConvID); perr != nil {
		s.replyErr(id, perr)
		return
	}
	// A client pipelines its sends. When the store refuses one for a while,
	// later ones may already wait for the committer; stored, they would take
	// seqs before it, and the client retries it only after a backoff. So the
	// connection's sends not stored yet are refused too, and the connection
	// ends (4101): the client reconnects and resends its outbox in order
	// (see committer.commit and committer.complete).
	//
	// A send the relay has no room for is refused here, at once (4301,
	// admission.go), and the connection's later sends with it until the
	// client resends in order (rules.Shed).
	if b.Attachment != nil {
		if err := s.attach(b); err != nil {
			s.replyErr(id, err)
			return
		}
	}
	size, busy := s.env.admit.enter(s, b)
	if busy != nil {
		s.reply(proto.Frame{Type: proto.TypeError, ID: id, Body: busy})
		return
	}
	r := &commitReq{
		req: AppendRequest{Sender: s.user, Device: s.device, Send: *b, CreatedAt: now.UnixMilli(),
			Target: target, RecallWindow: s.env.limits.recallWindow, Release: release},
		from: s, id: id, readAt: now, size: size,
	}
	if !s.env.commit.submit(r) {
		s.env.admit.leave(s, size)
		s.replyErr(id, proto.Errorf(proto.CodeUnavailable, "relay shutting down"))
	}
}

func (s *Session) sync(id uint64, b *proto.Sync) {
	convs, more, err := s.env.store.Sync(s.env.ctx, s.user, b.Cursor, rules.SyncLimit(b.Limit))
	if err != nil {
		s.replyErr(id, err)
		return
	}
	unfoldConvs(convs)
	for i := range convs {
		convs[i].LastMessage = redactHide(s.user, convs[i].LastMessage)
	}
	s.write(rules.SyncFrame(id, b.Cursor, convs, more, s.env.limits.maxFrame))
}

func (s *Session) history(id uint64, b *proto.History) {
	if perr := rules.AdmitParty(s.user, b.ConvID); perr != nil {
		s.replyErr(id, perr)
		return
	}
	q := *b
	q.Limit = uint32(rules.HistoryLimit(b.Limit))
	page, err := s.env.store.History(s.env.ctx, s.user, q)
	if err != nil {
		s.replyErr(id, err)
		return
	}
	for i := range page.Messages {
		unfoldAttachment(&page.Messages[i])
		if m := redactHide(s.user, &page.Messages[i]); m != &page.Messages[i] {
			page.Messages[i] = *m
		}
	}
	s.write(rules.HistoryFrame(id, page, b.Before > 0, s.env.limits.maxFrame))
}

// markRead stores mk, with the marks of other sessions made at the same
// time (readBatch), and returns once it is stored: the user's view of the
// conversation and whether the cursor moved, or the refusal.
func (e *sessionEnv) markRead(ctx context.Context, mk ReadMark) (proto.Conversation, bool, error) {
	res, err := e.reads.do(ctx, mk)
	if err != nil {
		return proto.Conversation{}, false, err
	}
	if res.Err != nil {
		return proto.Conversation{}, false, res.Err
	}
	return res.Conv, res.Moved, nil
}

func (s *Session) read(id uint64, b *proto.Read) {
	if perr := rules.AdmitParty(s.user, b.ConvID); perr != nil {
		s.replyErr(id, perr)
		return
	}
	conv, moved, err := s.env.markRead(s.env.ctx, ReadMark{User: s.user, Conv: b.ConvID, Seq: b.Seq})
	if err != nil {
		s.replyErr(id, err)
		return
	}
	s.reply(proto.Frame{Type: proto.TypeOK, ID: id})
	if moved {
		unfoldConv(&conv)
		conv.LastMessage = redactHide(s.user, conv.LastMessage)
		s.env.fan.publish([]string{s.user}, s.id,
			proto.MustEncode(proto.Frame{Type: proto.TypeConvUpdate, Body: &proto.ConvUpdate{Conversation: conv}}))
		s.peerRead(conv)
	}
}

func (s *Session) createGroup(now time.Time, id uint64, b *proto.CreateGroup) {
	if perr := rules.AdmitGroupID(s.user, b.ConvID, s.env.limits.groupIDs); perr != nil {
		s.replyErr(id, perr)
		return
	}
	spec, perr := rules.PlanGroup(s.user, b, now, newGroupID(s.user, b)) // groupkey.go
	if perr != nil {
		s.replyErr(id, perr)
		return
	}
	invite := s.consentMembers(&spec)
	if gc, ok := s.env.store.(GroupCounter); ok && (s.env.limits.maxGroups > 0 || s.env.limits.maxGroupsHour > 0) {
		// Counted before creating, outside the write: racing creates of one
		// user may pass the limit by the few in flight.
		total, recent, err := gc.GroupsCreated(s.env.ctx, s.user, now.Add(-time.Hour).UnixMilli())
		if err != nil {
			s.replyErr(id, err)
			return
		}
		if perr := rules.AdmitGroupQuota(total, recent, s.env.limits.maxGroups, s.env.limits.maxGroupsHour); perr != nil {
			s.replyErr(id, perr)
			return
		}
	}
	spec.Announce = true // the store writes the created message with the group (group_created.go)
	conv, created, err := s.env.store.CreateGroup(s.env.ctx, spec)
	if err != nil {
		s.replyErr(id, err)
		return
	}
	var first *proto.Message // the created message, when written now (group_created.go)
	if created && conv.LastMessage != nil {
		m := *conv.LastMessage
		first = &m
	} else if conv.LastSeq == 0 { // a group an older build created without it
		if m, fresh, err := appendCreated(s.env.ctx, s.env.commit.store, conv, spec.Creator, now.UnixMilli()); err != nil {
			s.env.log.Warn("group created message failed", "conv", spec.ID, "err", err)
		} else if fresh {
			first = &m
		}
	}
	if created && len(invite) > 0 {
		if out, ok := s.inviteAtCreation(now, spec.ID, invite); ok && out.View != nil {
			conv = *out.View
		}
	}
	if first != nil {
		conv = s.viewAfterCreated(spec, conv, *first) // group_created.go
	}
	s.reply(proto.Frame{Type: proto.TypeConvResult, ID: id, Body: &proto.ConvResult{Conversation: conv}})
	if created {
		s.publishCreated(spec, conv) // session_group.go
		s.env.hooks.groupChanged(conv, "created")
	}
	if first != nil {
		// This session's reply carried it.
		s.env.fan.publish(conv.Members, s.id, proto.MustEncode(proto.Frame{Type: proto.TypeDeliver, Body: &proto.Deliver{Message: *first}}))
	}
}

// typing passes a Typing on to the sessions of the conversation's other
// members connected now, with the sender's user id. It is never stored or
// answered: one that is not allowed (not a member, no such conversation,
// more often than rules.TypingInterval) is dropped. A failed store read
// drops it too: a lost typing notice costs nothing.
func (s *Session) typing(now time.Time, b *proto.Typing) {
	if perr := rules.AdmitParty(s.user, b.ConvID); perr != nil || !s.typed.Allow(b.ConvID, now) {
		return
	}
	var members []string
	if proto.KindOf(b.ConvID) == proto.KindGroup {
		var err error
		if members, err = s.env.store.Members(s.env.ctx, b.ConvID); err != nil {
			s.env.log.Debug("typing: members", "conv", b.ConvID, "err", err)
			return
		}
	}
	to := rules.TypingRecipients(s.user, b.ConvID, members)
	if len(to) == 0 {
		return
	}
	s.env.fan.publish(to, s.id, proto.MustEncode(proto.Frame{Type: proto.TypeTyping,
		Body: &proto.Typing{ConvID: b.ConvID, User: s.user}}))
}

// reply writes a frame built by the relay.
func (s *Session) reply(f proto.Frame) { s.write(proto.MustEncode(f)) }

// replyErr answers request id with err's code; an error that is not a
// *proto.Error is a store failure, reported as retryable (storeFailure).
func (s *Session) replyErr(id uint64, err error) {
	var perr *proto.Error
	if !errors.As(err, &perr) {
		if s.env.ctx.Err() == nil {
			s.env.log.Error("request failed", "session", s.id, "err", err)
		}
		perr = storeFailure(err)
	}
	s.reply(proto.Frame{Type: proto.TypeError, ID: id, Body: &proto.ErrorBody{Code: perr.Code, Message: perr.Message}})
}

// errStoreUnavailable answers a request the store failed: the client retries.
var errStoreUnavailable = proto.Errorf(proto.CodeUnavailable, "store unavailable, retry")

// errStoreTimeout answers a request the store did not finish in time (a
// PostgreSQL call past PostgresOptions.Timeout, 10 s by default): the
// client retries.
var errStoreTimeout = proto.Errorf(proto.CodeTimeout, "store timed out, retry")

// storeFailure is the answer to a request the store failed with err, which
// is not a refusal: 4308 when the store ran out of time, else 4300. Both
// are retryable; a send stays in the client's outbox.
func storeFailure(err error) *proto.Error {
	if errors.Is(err, context.DeadlineExceeded) {
		return errStoreTimeout
	}
	return errStoreUnavailable
}

// write hands an encoded frame to the transport without ever blocking. A
// client whose queue is full is too slow to keep up and is closed (4102)
// rather than allowed to hold up fan-out to everyone else.
func (s *Session) write(b []byte) {
	if s.closed.Load() {
		return
	}
	if !s.t.Write(b) {
		s.Close(proto.CodeSlowConsumer, "send queue full")
	}
}

package core

import (
	"fmt"
	"sort"
	"time"

	"github.com/parley-im/parley/proto"
)

// The lifecycle of a connection: dial, hello, welcome, heartbeat, close and
// the backoff between attempts; and the requests that live as long as one
// connection does.

type phase uint8

const (
	phaseIdle    phase = iota // no connection, maybe waiting to retry
	phaseDialing              // ActDial issued, waiting for HandleOpen
	phaseHello                // Hello written, waiting for Welcome
	phaseReady                // welcomed
)

type reqKind uint8

const (
	reqHello reqKind = iota + 1
	reqSend
	reqSync
	reqFill    // gap fill of a conversation
	reqHistory // application history request
	reqRead
	reqCreateGroup
	reqPing
	reqRenew
	reqAmend      // unused: amends wait in the outbox as sends (lifecycle.go)
	reqReceipts   // read receipts of a group
	reqCallInvite // conv holds the call id, for the call requests
	reqCallAccept
	reqCallEnd
	reqCallSignal
	reqDevices    // devices.go
	reqKickDevice // devices.go
	reqGroup      // groups.go
	reqMembers    // groups.go
	reqPending    // groups.go
)

// request is one request frame awaiting its reply on the current connection.
type request struct {
	kind     reqKind
	op       uint64 // application operation to resolve, 0 for internal ones
	conv     string
	clientID string
	deadline time.Time          // zero: none (sends wait for their ack)
	refill   map[uint64]bool    // history: seqs the store lost, written again when they come
	restore  bool               // history: the refill undoes a refused amend, which the application saw: announce it
	group    *proto.CreateGroup // reqCreateGroup: the request, written again on the next connection if this one is lost

	users *proto.SubscribePresence // reqPresence: the request (presence.go)
}

// Start begins connecting.
func (c *Core) Start(now time.Time) {
	c.begin()
	if c.state != StateIdle && c.state != StateDisconnected {
		return
	}
	c.attempts = 0
	c.dial(now)
	c.flush()
}

// Reconnect dials at once when the core is waiting to retry or stopped by a
// non-fatal limit (MaxAttempts), e.g. because the host says the network is
// back. A core not started yet, or stopped by a terminal close (kicked,
// banned, a refused token), stays as it is: hosts call this on every
// network change, and only Start may dial again after a terminal close.
func (c *Core) Reconnect(now time.Time) {
	c.begin()
	if c.phase == phaseIdle && (c.state == StateReconnecting || c.state == StateDisconnected && c.gaveUp) {
		c.attempts = 0
		c.dial(now)
	}
	c.flush()
}

// Close ends the session: the connection is closed, waiting operations are
// rejected with CodeClientClosed, the outbox is kept for the next start.
func (c *Core) Close(now time.Time) {
	c.begin()
	if c.state == StateClosed {
		return
	}
	if c.conn != 0 {
		c.act(Action{Kind: ActCloseConn, Conn: c.conn, Code: 1000, Reason: "client closed"})
	}
	c.dropConnection()
	c.failSends(&proto.Error{Code: proto.CodeClientClosed, Message: "client closed"})
	c.failGroups(&proto.Error{Code: proto.CodeClientClosed, Message: "client closed"})
	c.setState(StateClosed, 0, "")
	c.flush()
}

func (c *Core) dial(now time.Time) {
	c.connSeq++
	c.conn = c.connSeq
	c.phase = phaseDialing
	c.closeCode, c.closeReason = 0, ""
	c.gaveUp = false
	c.retryAt = time.Time{}
	c.phaseDeadline = now.Add(c.cfg.RequestTimeout)
	if c.everConnected {
		c.setState(StateReconnecting, 0, "")
	} else {
		c.setState(StateConnecting, 0, "")
	}
	c.act(Action{Kind: ActDial, Conn: c.conn})
}

// HandleOpen tells the core that connection conn is open; token is the
// credential to present in Hello.
func (c *Core) HandleOpen(now time.Time, conn uint64, token string) {
	c.begin()
	defer c.flush()
	if conn != c.conn || c.phase != phaseDialing {
		return
	}
	c.phase = phaseHello
	c.lastRecv = now
	c.request(now, &request{kind: reqHello}, proto.TypeHello, &proto.Hello{
		Version: proto.Version, Token: token, DeviceID: c.meta.DeviceID, Client: c.cfg.ClientName, Platform: c.cfg.Platform,
	})
}

// HandleFrame feeds one binary message received on connection conn. The
// relay is untrusted input: a frame that does not decode or does not fit the
// session closes the connection with CodeBadServerFrame and retries.
func (c *Core) HandleFrame(now time.Time, conn uint64, b []byte) {
	f, err := c.DecodeFrame(b)
	c.HandleDecoded(now, conn, f, err)
}

// DecodeFrame decodes a binary message as HandleFrame does, within
// Config.MaxFrame. Unlike every other method it may be called from any
// goroutine, concurrently with the others: it reads only the configuration.
// A driver decodes on its reader (while its loop waits for the store, say)
// and hands the result to HandleDecoded.
func (c *Core) DecodeFrame(b []byte) (proto.Frame, error) {
	return proto.Decode(b, c.cfg.MaxFrame)
}

// HandleDecoded is HandleFrame for a message DecodeFrame decoded into f, or
// failed to decode with err.
func (c *Core) HandleDecoded(now time.Time, conn uint64, f proto.Frame, err error) {
	c.begin()
	defer c.flush()
	if conn != c.conn || c.phase < phaseHello {
		return
	}
	if err != nil {
		c.abort(now, proto.CodeBadServerFrame, err.Error())
		return
	}
	c.lastRecv = now
	var r *request
	if f.ID != 0 {
		r = c.reqs[f.ID]
		delete(c.reqs, f.ID)
	}
	if c.phase == phaseHello {
		switch body := f.Body.(type) {
		case *proto.Welcome:
			if r == nil || r.kind != reqHello {
				break
			}
			c.welcome(now, body)
			return
		case *proto.Close:
			c.closeCode, c.closeReason = body.Code, body.Reason
			return
		case *proto.ErrorBody:
			c.closeCode, c.closeReason = body.Code, body.Message
			return
		}
		c.badReply(now, f.ID, r, "expected welcome, got "+f.Type.String())
		return
	}
	switch body := f.Body.(type) {
	case *proto.Close:
		c.closeCode, c.closeReason = body.Code, body.Reason
	case *proto.Ping:
		c.write(proto.TypePong, f.ID, &proto.Pong{Time: body.Time})
	case *proto.Pong:
	case *proto.Deliver:
		c.deliver(now, &body.Message)
	case *proto.ConvUpdate:
		c.merge(&body.Conversation)
	case *proto.Typing:
		c.typing(now, body)
	case *proto.CallRing:
		c.callRing(now, body)
	case *proto.CallState:
		c.callState(now, body)
	case *proto.CallSignal:
		c.callSignal(body)
	case *proto.CallInfo:
		if r == nil || (r.kind != reqCallInvite && r.kind != reqCallAccept) || !c.callInfo(r, body) {
			c.badReply(now, f.ID, r, "call info for no call request")
		}
	case *proto.UserState:
		c.userState(now, f.ID, r, body)
	case *proto.UserUpdate:
		c.userUpdate(body)
	case *proto.Presences: // presence.go
		c.presences(now, f.ID, r, body)
	case *proto.Profiles:
		c.profilesFrame(now, f.ID, r, body)
	case nil:
		if f.Type == proto.TypeResync {
			c.startSync(now) // what the lost pushes carried is in the store: sync repairs it
			c.startUserSync(now)
			return
		}
		c.replied(r)
	case *proto.Ack:
		if r == nil || r.kind != reqSend || r.clientID != body.ClientID {
			c.badReply(now, f.ID, r, "ack for no matching send")
			return
		}
		c.acked(now, r, body)
	case *proto.SyncResult:
		if r == nil || r.kind != reqSync {
			c.badReply(now, f.ID, r, "sync result for no sync")
			return
		}
		c.synced(now, body)
	case *proto.HistoryPage:
		if r == nil || (r.kind != reqFill && r.kind != reqHistory) || body.ConvID != r.conv {
			c.badReply(now, f.ID, r, "history page for no history request")
			return
		}
		c.historyPage(now, r, body)
	case *proto.ConvResult:
		if r != nil && r.kind == reqGroup {
			if !c.groupResult(r, &body.Conversation) {
				c.badReply(now, f.ID, r, "conversation result with an invalid conversation id")
			}
			return
		}
		if r == nil || r.kind != reqCreateGroup {
			c.badReply(now, f.ID, r, "conversation result for no request")
			return
		}
		if !c.groupCreated(now, r, &body.Conversation) {
			c.badReply(now, f.ID, r, "conversation result with an invalid conversation id")
		}
	case *proto.ReceiptList:
		if r == nil || r.kind != reqReceipts || body.ConvID != r.conv {
			c.badReply(now, f.ID, r, "receipt list for no receipts request")
			return
		}
		c.resolve(r.op, Result{Receipts: &Receipts{Read: body.Read, Unread: body.Unread}})
	case *proto.DeviceList:
		c.deviceList(now, f.ID, r, body)
	case *proto.GroupNotice:
		c.groupNotice(body)
	case *proto.MemberPage:
		if r == nil || r.kind != reqMembers || body.ConvID != r.conv {
			c.badReply(now, f.ID, r, "member page for no members request")
			return
		}
		c.memberPage(r, body)
	case *proto.PendingList:
		if r == nil || r.kind != reqPending {
			c.badReply(now, f.ID, r, "pending list for no pending request")
			return
		}
		c.pendingList(r, body)
	case *proto.Renewed:
		if r == nil || r.kind != reqRenew {
			c.badReply(now, f.ID, r, "renewed for no renewal")
			return
		}
		c.renewed(now, body)
	case *proto.ErrorBody:
		if r == nil {
			return
		}
		c.requestFailed(now, r, &proto.Error{Code: body.Code, Message: body.Message}, time.Duration(body.RetryAfter)*time.Millisecond)
	default:
		c.badReply(now, f.ID, r, "unexpected "+f.Type.String()+" frame")
	}
}

// badReply drops a connection whose relay sent a frame that makes no sense.
// The request the frame claimed to answer goes back in the table, so the
// drop settles its operation like any other instead of leaving it waiting
// forever. It stays out of line (a cold path with seven callers) to keep
// parley.wasm small.
//
//go:noinline
func (c *Core) badReply(now time.Time, id uint64, r *request, why string) {
	if r != nil {
		c.reqs[id] = r
	}
	c.abort(now, proto.CodeBadServerFrame, why)
}

func (c *Core) welcome(now time.Time, w *proto.Welcome) {
	if !proto.ValidName(w.UserID) {
		c.abort(now, proto.CodeBadServerFrame, "welcome without a valid user id")
		return
	}
	c.phase = phaseReady
	c.phaseDeadline = time.Time{}
	c.attempts = 0
	c.everConnected = true
	c.maxFrame = int(w.MaxFrame)
	if c.maxFrame <= 0 {
		c.maxFrame = proto.DefaultMaxFrame
	}
	c.heartbeat = c.cfg.Heartbeat
	if w.HeartbeatMs > 0 {
		c.heartbeat = time.Duration(w.HeartbeatMs) * time.Millisecond
	}
	c.hbTimeout = c.cfg.HeartbeatTimeout
	if c.hbTimeout <= 0 {
		// A live relay answers the ping sent every heartbeat within a round
		// trip; half a heartbeat (at least 5 s) of slack covers a slow one,
		// and keeps the worst case for a silent death under 2 × heartbeat.
		slack := c.heartbeat / 2
		if slack < 5*time.Second {
			slack = 5 * time.Second
		}
		c.hbTimeout = c.heartbeat + slack
	}
	c.nextPing = now.Add(c.heartbeat)
	if w.TokenExp > 0 {
		c.tokenWarnAt = renewTime(now, w.TokenExp)
		c.scheduleRenew(now, w.TokenExp)
	}

	userChanged := c.meta.UserID != "" && c.meta.UserID != w.UserID
	if userChanged || (c.meta.Epoch != "" && c.meta.Epoch != w.Epoch) {
		c.resetCache(userChanged)
	}
	if c.meta.UserID != w.UserID || c.meta.Epoch != w.Epoch {
		c.meta.UserID, c.meta.Epoch = w.UserID, w.Epoch
		c.saveMeta()
	}
	c.setState(StateConnected, 0, "")
	c.startSync(now)
	c.startUserSync(now)
	c.sendReads(now)
	c.pumpGroups(now)
	c.presenceWelcome(now)
	c.pumpSends(now)
}

// renewTime is when to act on a token expiring at exp (unix seconds): at
// 80 % of its remaining life, so that a renewal has a fifth of it to come
// back in (an hour's token: 12 minutes).
func renewTime(now time.Time, exp int64) time.Time {
	at := time.Unix(exp, 0)
	return at.Add(-at.Sub(now) / 5)
}

// scheduleRenew arms the in-band renewal of a session whose token expires
// at exp, when the driver can fetch fresh tokens. Without renewal the relay
// ends the session at exp (4110) and the next connect brings a new token.
func (c *Core) scheduleRenew(now time.Time, exp int64) {
	c.tokenExp = exp
	if c.cfg.TokenRefresh {
		c.renewAt = renewTime(now, exp)
	}
}

// HandleToken hands the core the fresh token an ActFetchToken asked for, on
// connection conn; the core renews the session with it. A token for a
// connection that is gone is dropped: the next connect fetches its own.
func (c *Core) HandleToken(now time.Time, conn uint64, token string) {
	c.begin()
	defer c.flush()
	if conn != c.conn || c.phase != phaseReady || token == "" {
		return
	}
	c.request(now, &request{kind: reqRenew}, proto.TypeRenew, &proto.Renew{Token: token})
}

// renewed moves the renewal to the new token's expiry. A token that
// expires no later than the last one (a driver handing back a cached token)
// is not renewed again: asking once more would only get it back at once.
func (c *Core) renewed(now time.Time, r *proto.Renewed) {
	if r.TokenExp <= c.tokenExp {
		return
	}
	c.tokenWarnAt = renewTime(now, r.TokenExp)
	c.scheduleRenew(now, r.TokenExp)
}

// Probe checks the current connection at once: a ping goes out, and unless
// a frame arrives within timeout the connection is dropped as dead (4103)
// and redialled. Without a ready connection it dials now, as Reconnect does.
// Hosts call it when the platform says the network changed (the browser's
// offline/online events, a page coming back from the background), so that
// a dead connection is noticed in about timeout instead of the heartbeat
// timeout.
func (c *Core) Probe(now time.Time, timeout time.Duration) {
	c.begin()
	defer c.flush()
	switch {
	case c.state == StateClosed || c.state == StateIdle || c.state == StateDisconnected:
		return
	case c.phase == phaseIdle:
		c.attempts = 0
		c.dial(now)
	case c.phase == phaseReady:
		if !c.probeBy.IsZero() {
			return // one probe at a time
		}
		c.write(proto.TypePing, 0, &proto.Ping{Time: now.UnixMilli()})
		c.probeSent, c.probeBy = now, now.Add(timeout)
	}
}

// RetryAt returns when the core will dial again, zero when it is not
// waiting to retry; for the driver's logs.
func (c *Core) RetryAt() time.Time {
	if c.phase != phaseIdle {
		return time.Time{}
	}
	return c.retryAt
}

// HandleClosed tells the core that connection conn ended (or never opened),
// with the WebSocket close code when there was one (0 otherwise).
func (c *Core) HandleClosed(now time.Time, conn uint64, code proto.Code, reason string) {
	c.begin()
	defer c.flush()
	if conn != c.conn || conn == 0 {
		return
	}
	c.connectionLost(now, code, reason)
}

// abort closes the current connection from this side and schedules a retry.
func (c *Core) abort(now time.Time, code proto.Code, reason string) {
	if c.conn != 0 {
		c.act(Action{Kind: ActCloseConn, Conn: c.conn, Code: code, Reason: reason})
	}
	c.closeCode = 0
	c.connectionLost(now, code, reason)
}

// connectionLost handles the end of the current connection, whoever noticed.
func (c *Core) connectionLost(now time.Time, code proto.Code, reason string) {
	if c.closeCode != 0 { // the relay said why in a Close frame; trust that over the socket's code
		code, reason = c.closeCode, c.closeReason
	}
	c.dropConnection()
	if c.state == StateClosed {
		return
	}
	c.syncStopped(code, reason)
	terminal := code.Terminal() && !(code == proto.CodeTokenExpired && c.cfg.TokenRefresh)
	if terminal {
		c.failSends(&proto.Error{Code: code, Message: reason})
		c.failGroups(&proto.Error{Code: code, Message: reason})
		c.setState(StateDisconnected, code, reason)
		c.emit(Event{Kind: EventKicked, Code: code, Reason: reason})
		return
	}
	c.attempts++
	if c.cfg.MaxAttempts > 0 && c.attempts >= c.cfg.MaxAttempts {
		why := fmt.Sprintf("gave up after %d failed attempts", c.attempts)
		if code != 0 || reason != "" {
			why += fmt.Sprintf(" (last: %d %s)", code, reason)
		}
		c.gaveUp = true
		c.failSends(&proto.Error{Code: proto.CodeGaveUp, Message: why})
		c.failGroups(&proto.Error{Code: proto.CodeGaveUp, Message: why})
		c.setState(StateDisconnected, proto.CodeGaveUp, why)
		return
	}
	c.retryAt = now.Add(c.backoff())
	c.setState(StateReconnecting, code, reason)
}

// syncStopped ends a sync the lost connection cut short, so the application
// is not left waiting for a syncEnd while nothing syncs: it hears why, and
// the next connection's sync starts with a syncStart of its own.
func (c *Core) syncStopped(code proto.Code, reason string) {
	if !c.inSync {
		return
	}
	c.inSync = false
	if code == 0 {
		code = proto.CodeNotConnected
	}
	if reason == "" {
		reason = "connection lost"
	}
	c.emit(Event{Kind: EventSyncEnd, Code: code, Reason: reason})
}

// backoff returns a full-jitter delay: uniform in [min, min(max, min·2^attempts)].
func (c *Core) backoff() time.Duration {
	ceil := c.cfg.MinBackoff
	for i := 1; i < c.attempts && ceil < c.cfg.MaxBackoff; i++ {
		ceil *= 2
	}
	if ceil > c.cfg.MaxBackoff {
		ceil = c.cfg.MaxBackoff
	}
	span := uint64(ceil - c.cfg.MinBackoff)
	if span == 0 {
		return ceil
	}
	return c.cfg.MinBackoff + time.Duration(c.cfg.Rand()%(span+1))
}

// dropConnection forgets the current connection and everything tied to it:
// its requests fail (sends and reads stay queued for the next connection,
// and so do group creations, which are idempotent by id or key).
func (c *Core) dropConnection() {
	c.conn = 0
	c.phase = phaseIdle
	c.phaseDeadline = time.Time{}
	c.nextPing = time.Time{}
	c.tokenWarnAt = time.Time{}
	c.renewAt = time.Time{}
	c.probeSent, c.probeBy = time.Time{}, time.Time{}
	var creates []uint64
	for id, r := range c.reqs {
		if r.kind == reqCreateGroup && r.op != 0 {
			creates = append(creates, id)
			continue
		}
		if r.op != 0 && r.kind != reqSend && r.kind != reqRead {
			c.resolve(r.op, Result{Err: &proto.Error{Code: proto.CodeNotConnected, Message: "connection lost"}})
		}
		delete(c.reqs, id)
	}
	sort.Slice(creates, func(i, j int) bool { return creates[i] < creates[j] }) // in the order they were asked for, before any asked since
	again := make([]queuedGroup, 0, len(creates)+len(c.groupQueue))
	for _, id := range creates {
		again = append(again, queuedGroup{op: c.reqs[id].op, req: c.reqs[id].group})
		delete(c.reqs, id)
	}
	c.groupQueue = append(again, c.groupQueue...)
	c.dropCalls()
	clear(c.inflight)
	clear(c.filling)
	c.fillQueue = nil
	c.syncing, c.syncAgain = false, false
}

func (c *Core) setState(s State, code proto.Code, reason string) {
	if c.state == s && code == 0 {
		return
	}
	c.state = s
	c.emit(Event{Kind: EventState, State: s, Code: code, Reason: reason})
}

// request writes a request frame and remembers it under a new request id.
// Sends and reads have no deadline: they wait for their reply as long as
// the connection lives and are written again on the next one.
func (c *Core) request(now time.Time, r *request, t proto.Type, body any) uint64 {
	return c.requestFrame(now, r, proto.MustEncode(proto.Frame{Type: t, ID: c.nextReq + 1, Body: body}))
}

// sendRequest writes a send or an amend as request does, unless its frame
// is above the relay's limit (Welcome.MaxFrame): the relay would close the
// connection with 4007, a terminal close, and the outbox would send it
// again on the next start. It returns 0 then, and writes nothing.
func (c *Core) sendRequest(now time.Time, r *request, t proto.Type, body any) uint64 {
	b := proto.MustEncode(proto.Frame{Type: t, ID: c.nextReq + 1, Body: body})
	if len(b) > c.maxFrame {
		return 0
	}
	return c.requestFrame(now, r, b)
}

// requestFrame writes b, a request frame encoded with the next request id,
// and remembers r under that id.
func (c *Core) requestFrame(now time.Time, r *request, b []byte) uint64 {
	c.nextReq++
	if r.kind != reqSend && r.kind != reqRead {
		r.deadline = now.Add(c.cfg.RequestTimeout)
	}
	c.reqs[c.nextReq] = r
	c.act(Action{Kind: ActWrite, Conn: c.conn, Bytes: b})
	return c.nextReq
}

// replied settles the request an OK frame answers.
func (c *Core) replied(r *request) {
	if r == nil {
		return
	}
	if r.kind == reqRead {
		c.readConfirmed(r.conv)
	}
	c.resolve(r.op, Result{})
}

// requestFailed settles a request the relay answered with an error.
func (c *Core) requestFailed(now time.Time, r *request, err *proto.Error, retryAfter time.Duration) {
	switch r.kind {
	case reqSend:
		c.sendRefused(now, r.clientID, err, retryAfter)
	case reqSync, reqFill:
		// A refused sync or fill is not something a retry on this
		// connection fixes; start over on a new one.
		c.abort(now, proto.CodeBadServerFrame, kindName(r.kind)+" refused: "+err.Error())
	case reqRead:
		c.readRefused(r.conv, err)
		c.resolve(r.op, Result{Err: err})
	case reqRenew:
		// The session ends when its token does (4110); the reconnect that
		// follows fetches a token of its own.
	case reqCallInvite, reqCallAccept:
		c.callFailed(r, err)
	default:
		c.resolve(r.op, Result{Err: err})
	}
}

func kindName(k reqKind) string {
	switch k {
	case reqHello:
		return "hello"
	case reqSend:
		return "send"
	case reqSync:
		return "sync"
	case reqFill, reqHistory:
		return "history"
	case reqRead:
		return "read"
	case reqCreateGroup:
		return "create group"
	case reqRenew:
		return "renew"
	case reqDevices:
		return "devices"
	case reqKickDevice:
		return "kick device"
	}
	return "request"
}

package core

import (
	"time"

	"github.com/parley-im/parley/proto"
)

// maxFills is how many conversations fill their gaps at once.
const maxFills = 4

// HandleFrame feeds one binary message received on connection conn. The
// relay is untrusted input: a frame that does not decode or does not fit the
// session closes the connection with CodeBadServerFrame and retries.
func (c *Core) HandleFrame(now time.Time, conn uint64, b []byte) {
	c.begin()
	defer c.flush()
	if conn != c.conn || c.phase < phaseHello {
		return
	}
	f, err := proto.Decode(b, c.cfg.MaxFrame)
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
		c.abort(now, proto.CodeBadServerFrame, "expected welcome, got "+f.Type.String())
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
	case nil:
		if f.Type == proto.TypeResync {
			c.startSync(now) // what the lost pushes carried is in the store: sync repairs it
			return
		}
		c.replied(r)
	case *proto.Ack:
		if r == nil || r.kind != reqSend || r.clientID != body.ClientID {
			c.abort(now, proto.CodeBadServerFrame, "ack for no matching send")
			return
		}
		c.acked(now, r, body)
	case *proto.SyncResult:
		if r == nil || r.kind != reqSync {
			c.abort(now, proto.CodeBadServerFrame, "sync result for no sync")
			return
		}
		c.synced(now, body)
	case *proto.HistoryPage:
		if r == nil || (r.kind != reqFill && r.kind != reqHistory) || body.ConvID != r.conv {
			c.abort(now, proto.CodeBadServerFrame, "history page for no history request")
			return
		}
		c.historyPage(now, r, body)
	case *proto.ConvResult:
		if r == nil || r.kind != reqCreateGroup {
			c.abort(now, proto.CodeBadServerFrame, "conversation result for no request")
			return
		}
		cv := c.merge(&body.Conversation)
		c.resolve(r.op, cv, nil)
	case *proto.ErrorBody:
		if r == nil {
			return
		}
		c.requestFailed(now, r, &proto.Error{Code: body.Code, Message: body.Message})
	default:
		c.abort(now, proto.CodeBadServerFrame, "unexpected "+f.Type.String()+" frame")
	}
}

// replied settles the request an OK frame answers.
func (c *Core) replied(r *request) {
	if r == nil {
		return
	}
	if r.kind == reqRead && c.reads[r.conv] != 0 {
		if cv := c.convs[r.conv]; cv != nil && cv.ReadSeq >= c.reads[r.conv] {
			delete(c.reads, r.conv)
		}
	}
	c.resolve(r.op, nil, nil)
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
	c.heartbeat = c.cfg.Heartbeat
	if w.HeartbeatMs > 0 {
		c.heartbeat = time.Duration(w.HeartbeatMs) * time.Millisecond
	}
	c.hbTimeout = c.cfg.HeartbeatTimeout
	if c.hbTimeout <= 0 {
		c.hbTimeout = 2*c.heartbeat + 5*time.Second
	}
	c.nextPing = now.Add(c.heartbeat)
	if w.TokenExp > 0 {
		exp := time.Unix(w.TokenExp, 0)
		lead := exp.Sub(now) / 5
		if lead > time.Minute {
			lead = time.Minute
		}
		c.tokenWarnAt = exp.Add(-lead)
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
	for conv, seq := range c.reads {
		c.request(now, reqRead, &request{kind: reqRead, conv: conv}, proto.TypeRead, &proto.Read{ConvID: conv, Seq: seq})
	}
	c.pumpSends(now)
}

// resetCache drops what the cache holds of a relay store that no longer
// exists (a new epoch) or of another user. The outbox survives an epoch
// change: its messages were never acknowledged by the new store.
func (c *Core) resetCache(userChanged bool) {
	c.batch = Batch{Reset: true}
	clear(c.convs)
	clear(c.ahead)
	c.meta.SyncCursor = 0
	if userChanged {
		for _, e := range c.outbox {
			c.batch.OutboxDelete = append(c.batch.OutboxDelete, e.Message.ClientID)
			for _, op := range c.sendOps[e.Message.ClientID] {
				c.resolve(op, nil, &proto.Error{Code: proto.CodeClientClosed, Message: "signed in as another user"})
			}
		}
		c.outbox = nil
		clear(c.byClient)
		clear(c.sendOps)
		clear(c.reads)
	}
	for _, e := range c.outbox {
		c.convChanged(c.conv(e.Message.ConvID))
	}
	c.saveMeta()
	c.emit(Event{Kind: EventReset})
}

func (c *Core) saveMeta() {
	m := c.meta
	c.batch.Meta = &m
}

// startSync asks for the conversations changed since the cursor.
func (c *Core) startSync(now time.Time) {
	if c.phase != phaseReady {
		return
	}
	if c.syncing {
		c.syncAgain = true
		return
	}
	c.syncing = true
	if !c.inSync {
		c.inSync = true
		c.emit(Event{Kind: EventSyncStart})
	}
	c.request(now, reqSync, &request{kind: reqSync}, proto.TypeSync, &proto.Sync{Cursor: c.meta.SyncCursor})
}

func (c *Core) synced(now time.Time, res *proto.SyncResult) {
	for i := range res.Conversations {
		c.merge(&res.Conversations[i])
	}
	if res.Cursor > c.meta.SyncCursor {
		c.meta.SyncCursor = res.Cursor
		c.saveMeta()
	}
	c.syncing = false
	if res.More || c.syncAgain {
		c.syncAgain = false
		c.startSync(now)
		return
	}
	c.pumpFills(now)
}

// merge folds a relay conversation state into the local one and returns it.
func (c *Core) merge(rc *proto.Conversation) *Conversation {
	if !proto.ValidConvID(rc.ID) {
		return nil
	}
	cv := c.conv(rc.ID)
	if rc.Kind != "" {
		cv.Kind = rc.Kind
	}
	if rc.Name != "" {
		cv.Name = rc.Name
	}
	if len(rc.Members) > 0 {
		cv.Members = append([]string(nil), rc.Members...)
	}
	if rc.LastSeq > cv.LastSeq {
		cv.LastSeq = rc.LastSeq
	}
	if rc.ReadSeq > cv.ReadSeq {
		cv.ReadSeq = rc.ReadSeq
	}
	if rc.Version > cv.Version {
		cv.Version = rc.Version
	}
	if lm := rc.LastMessage; lm != nil && lm.ConvID == rc.ID && (cv.LastMessage == nil || cv.LastMessage.Seq < lm.Seq) {
		m := fromWire(lm)
		cv.LastMessage = &m
	}
	c.convChanged(cv)
	if cv.LastSeq > cv.SyncedSeq {
		c.queueFill(cv.ID)
	}
	return cv
}

// conv returns the local conversation id, creating it when unknown.
func (c *Core) conv(id string) *Conversation {
	cv := c.convs[id]
	if cv == nil {
		cv = &Conversation{ID: id, Kind: proto.KindOf(id)}
		if a, b, ok := proto.P2PMembers(id); ok {
			cv.Members = []string{a, b}
		}
		c.convs[id] = cv
	}
	return cv
}

// convChanged recomputes derived fields, stages the write and the event.
func (c *Core) convChanged(cv *Conversation) {
	if cv.ReadSeq > cv.LastSeq {
		cv.ReadSeq = cv.LastSeq
	}
	cv.Unread = cv.LastSeq - cv.ReadSeq
	for i := range c.batch.Conversation {
		if c.batch.Conversation[i].ID == cv.ID {
			c.batch.Conversation[i] = *cv
			c.emit(Event{Kind: EventConversation, Conversation: copyConv(cv)})
			return
		}
	}
	c.batch.Conversation = append(c.batch.Conversation, *cv)
	c.emit(Event{Kind: EventConversation, Conversation: copyConv(cv)})
}

func copyConv(cv *Conversation) *Conversation {
	cp := *cv
	cp.Members = append([]string(nil), cv.Members...)
	if cv.LastMessage != nil {
		m := *cv.LastMessage
		cp.LastMessage = &m
	}
	return &cp
}

func fromWire(w *proto.Message) Message {
	return Message{
		ID: w.ID(), ClientID: w.ClientID, ConvID: w.ConvID, Seq: w.Seq, Sender: w.Sender,
		Device: w.Device, Type: w.MsgType, Text: w.Text, Body: w.Body, CreatedAt: w.CreatedAt,
		Status: StatusSent,
	}
}

// deliver handles a pushed message.
func (c *Core) deliver(now time.Time, w *proto.Message) {
	if !proto.ValidConvID(w.ConvID) || w.Seq == 0 {
		c.abort(now, proto.CodeBadServerFrame, "deliver with an invalid message")
		return
	}
	_, known := c.convs[w.ConvID]
	cv := c.conv(w.ConvID)
	m := fromWire(w)
	c.place(now, cv, aheadMsg{m: m})
	if !known {
		c.startSync(now) // learn the new conversation's name and members
	}
}

// place puts a sent message where it belongs: stored if it extends the
// contiguous prefix, buffered ahead of a gap (which it then fills) or
// dropped as already stored.
func (c *Core) place(now time.Time, cv *Conversation, am aheadMsg) {
	switch {
	case am.m.Seq <= cv.SyncedSeq:
		return
	case am.m.Seq == cv.SyncedSeq+1:
		c.store(cv, am)
		c.drainAhead(cv)
		c.convChanged(cv)
	default:
		ah := c.ahead[cv.ID]
		if ah == nil {
			ah = make(map[uint64]aheadMsg)
			c.ahead[cv.ID] = ah
		}
		if len(ah) < maxAhead {
			if old, ok := ah[am.m.Seq]; !ok || !old.announced {
				ah[am.m.Seq] = am
			}
		}
		if am.m.Seq > cv.LastSeq {
			cv.LastSeq = am.m.Seq
			if cv.LastMessage == nil || cv.LastMessage.Seq < am.m.Seq {
				m := am.m
				cv.LastMessage = &m
			}
			c.convChanged(cv)
		}
		c.queueFill(cv.ID)
		c.pumpFills(now)
	}
}

// store appends the next contiguous message of cv to the local store.
func (c *Core) store(cv *Conversation, am aheadMsg) {
	m := am.m
	cv.SyncedSeq = m.Seq
	if m.Seq > cv.LastSeq {
		cv.LastSeq = m.Seq
	}
	if cv.LastMessage == nil || cv.LastMessage.Seq <= m.Seq {
		lm := m
		cv.LastMessage = &lm
	}
	own := m.Sender == c.meta.UserID && c.meta.UserID != ""
	if own && m.Seq > cv.ReadSeq {
		cv.ReadSeq = m.Seq // what I sent, I have read
	}
	c.batch.Messages = append(c.batch.Messages, m)
	if am.announced {
		return
	}
	if own {
		if e := c.byClient[m.ClientID]; e != nil && e.Message.ConvID == m.ConvID {
			// Our own pending send came back through history before its ack
			// (the ack was lost with a connection): it is acknowledged now.
			c.completeSend(e, m)
			return
		}
	}
	mm := m
	c.emit(Event{Kind: EventMessage, Message: &mm})
}

func (c *Core) drainAhead(cv *Conversation) {
	ah := c.ahead[cv.ID]
	for len(ah) > 0 {
		am, ok := ah[cv.SyncedSeq+1]
		if !ok {
			break
		}
		delete(ah, am.m.Seq)
		c.store(cv, am)
	}
	for seq := range ah {
		if seq <= cv.SyncedSeq {
			delete(ah, seq)
		}
	}
	if len(ah) == 0 {
		delete(c.ahead, cv.ID)
	}
}

func (c *Core) queueFill(id string) {
	if c.filling[id] {
		return
	}
	for _, q := range c.fillQueue {
		if q == id {
			return
		}
	}
	c.fillQueue = append(c.fillQueue, id)
}

// pumpFills starts gap-fill requests, a few conversations at a time, and
// ends the sync when nothing is left to fetch.
func (c *Core) pumpFills(now time.Time) {
	if c.phase != phaseReady {
		return
	}
	for len(c.filling) < maxFills && len(c.fillQueue) > 0 {
		id := c.fillQueue[0]
		c.fillQueue = c.fillQueue[1:]
		cv := c.convs[id]
		if cv == nil || cv.SyncedSeq >= cv.LastSeq {
			continue
		}
		c.filling[id] = true
		c.request(now, reqFill, &request{kind: reqFill, conv: id}, proto.TypeHistory,
			&proto.History{ConvID: id, After: cv.SyncedSeq, Limit: uint32(c.cfg.HistoryPage)})
	}
	if c.inSync && !c.syncing && len(c.filling) == 0 && len(c.fillQueue) == 0 {
		c.inSync = false
		c.emit(Event{Kind: EventSyncEnd})
	}
}

func (c *Core) historyPage(now time.Time, r *request, p *proto.HistoryPage) {
	if r.kind == reqHistory {
		out := make([]Message, 0, len(p.Messages))
		for i := range p.Messages {
			if p.Messages[i].ConvID == p.ConvID {
				out = append(out, fromWire(&p.Messages[i]))
			}
		}
		// Whatever extends the local prefix is worth keeping.
		if cv := c.convs[p.ConvID]; cv != nil {
			for _, m := range out {
				if m.Seq == cv.SyncedSeq+1 {
					c.place(now, cv, aheadMsg{m: m})
				}
			}
		}
		c.resolve(r.op, out, nil)
		return
	}
	delete(c.filling, r.conv)
	cv := c.convs[r.conv]
	if cv == nil {
		c.pumpFills(now)
		return
	}
	before := cv.SyncedSeq
	if p.LastSeq > cv.LastSeq {
		cv.LastSeq = p.LastSeq
	}
	for i := range p.Messages {
		w := &p.Messages[i]
		if w.ConvID != cv.ID || w.Seq != cv.SyncedSeq+1 {
			if w.Seq <= cv.SyncedSeq {
				continue
			}
			c.abort(now, proto.CodeBadServerFrame, "history page is not contiguous")
			return
		}
		m := fromWire(w)
		am := aheadMsg{m: m}
		if old, ok := c.ahead[cv.ID][m.Seq]; ok && old.announced {
			am.announced = true
			delete(c.ahead[cv.ID], m.Seq)
		}
		c.store(cv, am)
	}
	c.drainAhead(cv)
	c.convChanged(cv)
	if cv.SyncedSeq < cv.LastSeq && cv.SyncedSeq > before {
		c.queueFill(cv.ID)
	}
	c.pumpFills(now)
}

func (c *Core) requestFailed(now time.Time, r *request, err *proto.Error) {
	switch r.kind {
	case reqSend:
		delete(c.inflight, r.clientID)
		e := c.byClient[r.clientID]
		if e == nil {
			return
		}
		if err.Code.Retryable() {
			c.retryMsg[r.clientID] = now.Add(c.backoffFor(1))
			return
		}
		e.Message.Status = StatusFailed
		e.Message.ErrorCode = err.Code
		c.batch.OutboxPut = append(c.batch.OutboxPut, *e)
		m := e.Message
		c.emit(Event{Kind: EventMessageUpdate, Message: &m})
		c.resolveSend(r.clientID, nil, err)
	case reqSync, reqFill:
		// A refused sync or fill is not something a retry on this
		// connection fixes; start over on a new one.
		c.abort(now, proto.CodeBadServerFrame, kindName(r.kind)+" refused: "+err.Error())
	case reqRead:
		if !err.Code.Retryable() {
			delete(c.reads, r.conv)
		}
		c.resolve(r.op, nil, err)
	default:
		c.resolve(r.op, nil, err)
	}
}

func (c *Core) backoffFor(n int) time.Duration {
	d := c.cfg.MinBackoff
	for i := 0; i < n; i++ {
		d *= 2
	}
	return d
}

// acked completes a send the relay has committed.
func (c *Core) acked(now time.Time, r *request, a *proto.Ack) {
	delete(c.inflight, r.clientID)
	e := c.byClient[r.clientID]
	if e == nil {
		c.pumpSends(now)
		return
	}
	if a.ConvID != e.Message.ConvID || a.Seq == 0 {
		c.abort(now, proto.CodeBadServerFrame, "ack does not match its send")
		return
	}
	m := e.Message
	m.Seq, m.CreatedAt, m.ID = a.Seq, a.CreatedAt, proto.MessageID(a.ConvID, a.Seq)
	m.Status, m.ErrorCode = StatusSent, 0
	if m.Sender == "" {
		m.Sender = c.meta.UserID
	}
	c.completeSend(e, m)
	cv := c.conv(m.ConvID)
	c.place(now, cv, aheadMsg{m: m, announced: true})
	if m.Seq > cv.ReadSeq {
		cv.ReadSeq = m.Seq
		c.convChanged(cv)
	}
	c.pumpSends(now)
}

// completeSend removes an acknowledged send from the outbox, announces it and
// resolves whoever waits for it.
func (c *Core) completeSend(e *OutboxEntry, m Message) {
	c.removeFromOutbox(e)
	mm := m
	c.emit(Event{Kind: EventMessageUpdate, Message: &mm})
	c.resolveSend(e.Message.ClientID, m, nil)
}

// removeFromOutbox forgets e everywhere and stages its deletion.
func (c *Core) removeFromOutbox(e *OutboxEntry) {
	id := e.Message.ClientID
	delete(c.byClient, id)
	delete(c.inflight, id)
	delete(c.retryMsg, id)
	for i, x := range c.outbox {
		if x == e {
			c.outbox = append(c.outbox[:i], c.outbox[i+1:]...)
			break
		}
	}
	c.batch.OutboxDelete = append(c.batch.OutboxDelete, id)
}

// resolveSend completes every operation waiting for the send clientID.
func (c *Core) resolveSend(clientID string, v any, err error) {
	for _, op := range c.sendOps[clientID] {
		c.resolve(op, v, err)
	}
	delete(c.sendOps, clientID)
}

// pumpSends writes pending outbox entries, oldest first, up to the window.
func (c *Core) pumpSends(now time.Time) {
	if c.phase != phaseReady {
		return
	}
	for _, e := range c.outbox {
		if len(c.inflight) >= c.cfg.SendWindow {
			return
		}
		id := e.Message.ClientID
		if e.Message.Status != StatusPending {
			continue
		}
		if _, busy := c.inflight[id]; busy {
			continue
		}
		if t, wait := c.retryMsg[id]; wait && now.Before(t) {
			return // keep the outbox in order behind a send that waits to retry
		}
		m := &e.Message
		c.inflight[id] = c.request(now, reqSend, &request{kind: reqSend, clientID: id, conv: m.ConvID}, proto.TypeSend,
			&proto.Send{ConvID: m.ConvID, ClientID: id, MsgType: m.Type, Text: m.Text, Body: m.Body})
	}
}

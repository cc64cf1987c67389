package core

import (
	"strconv"
	"time"

	"github.com/parley-im/parley/proto"
)

// The outbox: a send is stored before it is written, written oldest first
// within the send window, written again on every new connection until its
// ack, and only then removed. The relay deduplicates by (sender, client id),
// so a resend after a lost ack stores nothing twice.

// Send queues a message: it is persisted in the outbox, announced with
// status pending, and written when connected. The returned operation
// resolves with the sent Message (Result.Message) once the relay
// acknowledged it.
func (c *Core) Send(now time.Time, conv, msgType, text string, body []byte) (uint64, Message, error) {
	return c.SendID(now, "", conv, msgType, text, body)
}

// SendID is Send with a client id chosen by the caller ("" lets the core
// choose one), so an application can key the pending message before the
// call returns and make its own retries idempotent. A client id already in
// the outbox does not queue the message twice: the returned operation
// waits for that message's ack.
func (c *Core) SendID(now time.Time, id, conv, msgType, text string, body []byte) (uint64, Message, error) {
	return c.SendWith(now, id, conv, msgType, text, body, SendOptions{})
}

// SendWith is SendID with a reply and mentions (SendOptions).
func (c *Core) SendWith(now time.Time, id, conv, msgType, text string, body []byte, opt SendOptions) (uint64, Message, error) {
	c.begin()
	defer c.flush()
	if c.state == StateClosed {
		return 0, Message{}, &proto.Error{Code: proto.CodeClientClosed, Message: "client closed"}
	}
	if id == "" {
		id = c.newID()
	} else if e := c.byClient[id]; e != nil {
		if e.Message.ConvID != conv || e.Message.Type != msgType || e.Message.Text != text || string(e.Message.Body) != string(body) {
			return 0, Message{}, invalid("client id " + id + " is already used by another message in the outbox")
		}
		op := c.newOp()
		c.sendOps[id] = append(c.sendOps[id], op)
		return op, e.Message, nil
	}
	if err := proto.Validate(&proto.Send{ConvID: conv, ClientID: id, MsgType: msgType, Text: text, Body: body,
		Mentions: opt.Mentions}); err != nil {
		return 0, Message{}, invalid(err.Message)
	}
	if err := opt.check(conv); err != nil {
		return 0, Message{}, err
	}
	if a, b, ok := proto.P2PMembers(conv); ok && c.meta.UserID != "" && a != c.meta.UserID && b != c.meta.UserID {
		return 0, Message{}, &proto.Error{Code: proto.CodeForbidden, Message: "not a member of " + conv}
	}
	op, e := c.enqueue(now, Message{ClientID: id, ConvID: conv, Type: msgType, Text: text, Body: append([]byte(nil), body...),
		ReplyTo: opt.ReplyTo, Mentions: append([]string(nil), opt.Mentions...)})
	c.pumpSends(now)
	return op, e.Message, nil
}

// enqueue puts the new message m (its client id, conversation and content
// set) in the outbox as pending, persists and announces it, and returns the
// operation that its ack resolves.
func (c *Core) enqueue(now time.Time, m Message) (uint64, *OutboxEntry) {
	m.ID, m.Sender, m.Device = "local:"+m.ClientID, c.meta.UserID, c.meta.DeviceID
	m.CreatedAt, m.LocalTime, m.Status = now.UnixMilli(), now.UnixMilli(), StatusPending
	e := &OutboxEntry{Order: c.meta.NextOrder, Message: m}
	c.meta.NextOrder++
	c.saveMeta()
	c.outbox = append(c.outbox, e)
	c.byClient[m.ClientID] = e
	c.batch.OutboxPut = append(c.batch.OutboxPut, *e)
	op := c.newOp()
	c.sendOps[m.ClientID] = append(c.sendOps[m.ClientID], op)
	// A new one-to-one conversation shows at once; a group this device does
	// not know appears once the relay accepts the message, so a send to a
	// group that does not exist (or is not ours) leaves no conversation.
	if _, ok := c.convs[m.ConvID]; !ok && proto.KindOf(m.ConvID) == proto.KindP2P {
		c.convChanged(c.conv(m.ConvID))
	}
	c.emit(Event{Kind: EventMessage, Message: &m})
	return op, e
}

// Resend puts a failed message back in line. The operation resolves on ack,
// with Result.Message.
func (c *Core) Resend(now time.Time, clientID string) (uint64, error) {
	c.begin()
	defer c.flush()
	e := c.byClient[clientID]
	if e == nil {
		return 0, invalid("no such message in the outbox")
	}
	op := c.newOp()
	c.sendOps[clientID] = append(c.sendOps[clientID], op)
	if e.Message.Status == StatusFailed {
		e.Message.Status, e.Message.ErrorCode = StatusPending, 0
		c.batch.OutboxPut = append(c.batch.OutboxPut, *e)
		m := e.Message
		c.emit(Event{Kind: EventMessageUpdate, Message: &m})
	}
	c.pumpSends(now)
	return op, nil
}

// Discard drops a failed or pending message from the outbox; its waiters are
// rejected. A message already written may still be stored by the relay.
func (c *Core) Discard(now time.Time, clientID string) error {
	c.begin()
	defer c.flush()
	e := c.byClient[clientID]
	if e == nil {
		return invalid("no such message in the outbox")
	}
	c.removeFromOutbox(e)
	c.resolveSend(clientID, Result{Err: &proto.Error{Code: proto.CodeAborted, Message: "message discarded"}})
	return nil
}

// Pending returns the outbox messages of conv (all conversations when conv
// is empty) in send order: they sort after every acknowledged message.
func (c *Core) Pending(conv string) []Message {
	var out []Message
	for _, e := range c.outbox {
		if proto.IsLifecycle(e.Message.Type) {
			continue // a queued change of a message, shown on its target
		}
		if conv == "" || e.Message.ConvID == conv {
			out = append(out, e.Message)
		}
	}
	return out
}

// pumpSends writes pending outbox entries, oldest first, up to the window.
func (c *Core) pumpSends(now time.Time) {
	if c.phase != phaseReady {
		return
	}
	window := c.cfg.SendWindow
	if c.window > 0 {
		window = c.window
	}
	var tooLarge []string
	for _, e := range c.outbox {
		if len(c.inflight) >= window {
			break
		}
		id := e.Message.ClientID
		if e.Message.Status != StatusPending || e.Message.awaitsUpload() {
			continue
		}
		if _, busy := c.inflight[id]; busy {
			continue
		}
		if t, wait := c.retryMsg[id]; wait && now.Before(t) {
			break // keep the outbox in order behind a send that waits to retry
		}
		var req uint64
		if proto.IsLifecycle(e.Message.Type) {
			req = c.writeAmend(now, e) // lifecycle.go
		} else {
			m := &e.Message
			req = c.sendRequest(now, &request{kind: reqSend, clientID: id, conv: m.ConvID}, proto.TypeSend,
				&proto.Send{ConvID: m.ConvID, ClientID: id, MsgType: m.Type, Text: m.Text, Body: m.Body,
					ReplyTo: replySeq(m.ReplyTo), Mentions: m.Mentions, Attachment: m.Attachment.wire()})
		}
		if req == 0 {
			// Refused after the loop: failing it may take it out of the outbox.
			tooLarge = append(tooLarge, id)
			continue
		}
		c.inflight[id] = req
	}
	for _, id := range tooLarge {
		c.sendRefused(now, id, &proto.Error{Code: proto.CodeTooLarge,
			Message: "the message's frame is above the relay's limit of " + strconv.Itoa(c.maxFrame) + " bytes"}, 0)
	}
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
	if proto.IsLifecycle(e.Message.Type) {
		c.amendAcked(now, e, a) // lifecycle.go
		return
	}
	if c.window > 0 {
		if c.window *= 2; c.window >= c.cfg.SendWindow {
			c.window = 0
		}
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

// sendRefused handles the relay's error for a send: a retryable one (4300
// store unavailable, 4301 busy, …) waits and goes again, holding back the
// sends behind it to keep their order; a permanent one fails the message,
// which stays in the outbox for Resend. retryAfter is the relay's hint, 0
// when it gave none.
func (c *Core) sendRefused(now time.Time, clientID string, err *proto.Error, retryAfter time.Duration) {
	delete(c.inflight, clientID)
	e := c.byClient[clientID]
	if e == nil {
		return
	}
	if err.Code.Retryable() {
		// A relay short of room: after the wait, probe with one send and
		// reopen the window as acks come back (slow start), instead of
		// pipelining a full window into a relay that refuses most of it.
		c.window = 1
		c.retries[clientID]++
		c.retryMsg[clientID] = now.Add(c.retryDelay(c.retries[clientID], retryAfter))
		return
	}
	if proto.IsLifecycle(e.Message.Type) {
		c.amendRefused(now, e, err) // lifecycle.go
		return
	}
	e.Message.Status = StatusFailed
	e.Message.ErrorCode = err.Code
	m := e.Message
	c.emit(Event{Kind: EventMessageUpdate, Message: &m})
	if err.Code == proto.CodeForbidden || err.Code == proto.CodeNotFound {
		// Not ours or not there: a resend cannot succeed, so nothing stays.
		c.removeFromOutbox(e)
	} else {
		c.batch.OutboxPut = append(c.batch.OutboxPut, *e)
	}
	c.resolveSend(clientID, Result{Err: err})
}

// retryDelay is the wait before resending a send refused n times in a row:
// full jitter between a floor (the relay's hint, at least half MinBackoff)
// and a ceiling that starts at twice max(MinBackoff, hint) and doubles with
// each of the first refusals, up to 16 times its start and MaxBackoff. Many
// clients refused at once thus come back spread out, and further apart
// while the relay stays busy — but not so far apart that a relay with room
// again sits idle while the outboxes wait. An ack ends the streak (the
// entry leaves the outbox). A hint above MaxBackoff is cut to it, so a
// relay cannot park an outbox for days.
func (c *Core) retryDelay(n int, hint time.Duration) time.Duration {
	hint = min(hint, c.cfg.MaxBackoff)
	floor := max(hint, c.cfg.MinBackoff/2)
	ceil := 2 * max(c.cfg.MinBackoff, hint)
	for i := 1; i < min(n, 5) && ceil < c.cfg.MaxBackoff; i++ {
		ceil *= 2
	}
	ceil = max(min(ceil, c.cfg.MaxBackoff), floor)
	return floor + time.Duration(c.cfg.Rand()%(uint64(ceil-floor)+1))
}

// completeSend removes an acknowledged send from the outbox, announces it and
// resolves whoever waits for it.
func (c *Core) completeSend(e *OutboxEntry, m Message) {
	c.removeFromOutbox(e)
	mm := m
	c.emit(Event{Kind: EventMessageUpdate, Message: &mm})
	c.resolveSend(e.Message.ClientID, Result{Message: &m})
}

// removeFromOutbox forgets e everywhere and stages its deletion.
func (c *Core) removeFromOutbox(e *OutboxEntry) {
	id := e.Message.ClientID
	delete(c.byClient, id)
	delete(c.inflight, id)
	delete(c.retryMsg, id)
	delete(c.retries, id)
	for i, x := range c.outbox {
		if x == e {
			c.outbox = append(c.outbox[:i], c.outbox[i+1:]...)
			break
		}
	}
	c.batch.OutboxDelete = append(c.batch.OutboxDelete, id)
}

// resolveSend completes every operation waiting for the send clientID.
func (c *Core) resolveSend(clientID string, r Result) {
	for _, op := range c.sendOps[clientID] {
		c.resolve(op, r)
	}
	delete(c.sendOps, clientID)
}

// failSends rejects every operation waiting for an ack; the messages stay
// in the outbox and go out on a later start.
func (c *Core) failSends(err error) {
	for id, ops := range c.sendOps {
		for _, op := range ops {
			c.resolve(op, Result{Err: err})
		}
		delete(c.sendOps, id)
	}
}

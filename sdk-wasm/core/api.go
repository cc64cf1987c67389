package core

import (
	"encoding/base32"
	"encoding/binary"
	"sort"
	"strings"
	"time"

	"github.com/parley-im/parley/proto"
)

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newID returns a random 16-character id from the configured source.
func (c *Core) newID() string {
	var b [10]byte
	binary.LittleEndian.PutUint64(b[:8], c.cfg.Rand())
	binary.LittleEndian.PutUint16(b[8:], uint16(c.cfg.Rand()))
	return idEncoding.EncodeToString(b[:])
}

func invalid(msg string) *proto.Error {
	return &proto.Error{Code: proto.CodeInvalidArgument, Message: msg}
}

// P2P returns the id of the one-to-one conversation with peer.
func (c *Core) P2P(peer string) string { return proto.P2PID(c.meta.UserID, peer) }

// Send queues a message: it is persisted in the outbox, announced with
// status pending, and written when connected. The returned operation
// resolves with the sent Message once the relay acknowledged it.
func (c *Core) Send(now time.Time, conv, msgType, text string, body []byte) (uint64, Message, error) {
	c.begin()
	defer c.flush()
	if c.state == StateClosed {
		return 0, Message{}, &proto.Error{Code: proto.CodeClientClosed, Message: "client closed"}
	}
	id := c.newID()
	if err := proto.Validate(&proto.Send{ConvID: conv, ClientID: id, MsgType: msgType, Text: text, Body: body}); err != nil {
		return 0, Message{}, invalid(err.Message)
	}
	if a, b, ok := proto.P2PMembers(conv); ok && c.meta.UserID != "" && a != c.meta.UserID && b != c.meta.UserID {
		return 0, Message{}, &proto.Error{Code: proto.CodeForbidden, Message: "not a member of " + conv}
	}
	e := &OutboxEntry{Order: c.meta.NextOrder, Message: Message{
		ID: "local:" + id, ClientID: id, ConvID: conv, Sender: c.meta.UserID, Device: c.meta.DeviceID,
		Type: msgType, Text: text, Body: append([]byte(nil), body...),
		CreatedAt: now.UnixMilli(), LocalTime: now.UnixMilli(), Status: StatusPending,
	}}
	c.meta.NextOrder++
	c.saveMeta()
	c.outbox = append(c.outbox, e)
	c.byClient[id] = e
	c.batch.OutboxPut = append(c.batch.OutboxPut, *e)
	op := c.newOp()
	c.sendOps[id] = append(c.sendOps[id], op)
	if _, ok := c.convs[conv]; !ok {
		c.convChanged(c.conv(conv))
	}
	m := e.Message
	c.emit(Event{Kind: EventMessage, Message: &m})
	c.pumpSends(now)
	return op, e.Message, nil
}

// Resend puts a failed message back in line. The operation resolves on ack.
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
	c.resolveSend(clientID, nil, invalid("message discarded"))
	return nil
}

// MarkRead moves the read cursor of conv to seq (0: to the last message). It
// applies locally at once, reaches the relay when connected, and resolves
// immediately.
func (c *Core) MarkRead(now time.Time, conv string, seq uint64) (uint64, error) {
	c.begin()
	defer c.flush()
	cv := c.convs[conv]
	if cv == nil {
		return 0, invalid("unknown conversation " + conv)
	}
	if seq == 0 || seq > cv.LastSeq {
		seq = cv.LastSeq
	}
	op := c.newOp()
	if seq > cv.ReadSeq {
		cv.ReadSeq = seq
		c.convChanged(cv)
		c.reads[conv] = seq
		if c.phase == phaseReady {
			c.request(now, reqRead, &request{kind: reqRead, conv: conv}, proto.TypeRead, &proto.Read{ConvID: conv, Seq: seq})
		}
	}
	c.resolve(op, nil, nil)
	return op, nil
}

// CreateGroup creates a group with the given members (this user is always
// one). The id is chosen here, so a retry after a lost reply is idempotent.
// It needs a connection; the operation resolves with the *Conversation.
func (c *Core) CreateGroup(now time.Time, id, name string, members []string) (uint64, error) {
	c.begin()
	defer c.flush()
	if id == "" {
		id = proto.GroupPrefix + c.newID()
	}
	req := &proto.CreateGroup{ConvID: id, Name: name, Members: members}
	if err := proto.Validate(req); err != nil {
		return 0, invalid(err.Message)
	}
	if c.phase != phaseReady {
		return 0, &proto.Error{Code: proto.CodeNotConnected, Message: "create group needs a connection"}
	}
	op := c.newOp()
	c.request(now, reqCreateGroup, &request{kind: reqCreateGroup, op: op, conv: id}, proto.TypeCreateGroup, req)
	return op, nil
}

// FetchHistory asks the relay for messages of conv before seq before (0: the
// newest). It needs a connection; the operation resolves with []Message.
func (c *Core) FetchHistory(now time.Time, conv string, before uint64, limit int) (uint64, error) {
	c.begin()
	defer c.flush()
	if !proto.ValidConvID(conv) {
		return 0, invalid("invalid conversation id")
	}
	if limit <= 0 || limit > proto.MaxPageLimit {
		limit = 50
	}
	if c.phase != phaseReady {
		return 0, &proto.Error{Code: proto.CodeNotConnected, Message: "history needs a connection"}
	}
	if before == 0 {
		before = ^uint64(0)
	}
	op := c.newOp()
	c.request(now, reqHistory, &request{kind: reqHistory, op: op, conv: conv}, proto.TypeHistory,
		&proto.History{ConvID: conv, Before: before, Limit: uint32(limit)})
	return op, nil
}

// Conversations returns every known conversation, most recent activity first.
func (c *Core) Conversations() []Conversation {
	out := make([]Conversation, 0, len(c.convs))
	for _, cv := range c.convs {
		out = append(out, *copyConv(cv))
	}
	sort.Slice(out, func(i, j int) bool {
		ti, tj := activity(&out[i]), activity(&out[j])
		if ti != tj {
			return ti > tj
		}
		return strings.Compare(out[i].ID, out[j].ID) < 0
	})
	return out
}

func activity(cv *Conversation) int64 {
	if cv.LastMessage != nil {
		return cv.LastMessage.CreatedAt
	}
	return 0
}

// Conversation returns one conversation.
func (c *Core) Conversation(id string) (Conversation, bool) {
	cv := c.convs[id]
	if cv == nil {
		return Conversation{}, false
	}
	return *copyConv(cv), true
}

// Pending returns the outbox messages of conv (all conversations when conv
// is empty) in send order: they sort after every acknowledged message.
func (c *Core) Pending(conv string) []Message {
	var out []Message
	for _, e := range c.outbox {
		if conv == "" || e.Message.ConvID == conv {
			out = append(out, e.Message)
		}
	}
	return out
}

// Synced reports whether the core is connected with nothing left to sync,
// fill or send.
func (c *Core) Synced() bool {
	if c.phase != phaseReady || c.syncing || c.inSync || len(c.filling) > 0 || len(c.fillQueue) > 0 {
		return false
	}
	for _, e := range c.outbox {
		if e.Message.Status == StatusPending {
			return false
		}
	}
	for _, cv := range c.convs {
		if cv.SyncedSeq < cv.LastSeq {
			return false
		}
	}
	return true
}

// Conn returns the id of the current connection, 0 when there is none.
func (c *Core) Conn() uint64 { return c.conn }

// CacheCovers reports whether the local store holds every message of conv
// with seq < before (before 0: up to the newest known), so that a page can be
// served from the cache alone. The store holds every seq ≤ SyncedSeq; a range
// above that has not been filled yet and must come from the relay.
func (c *Core) CacheCovers(conv string, before uint64) bool {
	cv := c.convs[conv]
	if cv == nil {
		return false
	}
	top := cv.LastSeq
	if before != 0 && before-1 < top {
		top = before - 1
	}
	return top <= cv.SyncedSeq
}

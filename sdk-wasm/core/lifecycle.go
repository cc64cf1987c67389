package core

import (
	"strings"
	"time"

	"github.com/parley-im/parley/proto"
)

// The message lifecycle: replies and mentions ride on a send; recall,
// delete, edit and reactions are ordered events in the conversation's log
// (messages whose Type is the op and Target the changed seq). The core
// stores each event in seq order like any message and hands the change of
// its target to the store with the batch (Batch.Amend), so every device —
// live or syncing later — ends with the same state, and a recalled
// message's text leaves every cache. "Delete for me" is not in the log:
// it is an entry of the user's own feed (contacts.go), kept in
// Account.Hidden, and marks the message Hidden wherever this device stores
// or fetches it.

// Reaction lists the users who reacted to a message with one emoji.
type Reaction struct {
	Emoji string   `json:"emoji"`
	Users []string `json:"users"` // in the order they reacted
}

// Receipts answers ReadReceipts: the other members who have read up to
// the seq asked about, and those who have not.
type Receipts struct {
	Read   []string `json:"read"`
	Unread []string `json:"unread"`
}

// SendOptions are a send's reply and mentions.
type SendOptions struct {
	// ReplyTo is the id of an earlier message of the same conversation.
	ReplyTo string
	// Mentions are user ids; proto.MentionAll mentions every member.
	Mentions []string
}

// check refuses a reply to a message of another conversation, or to an id
// that is no sent message's.
func (o *SendOptions) check(conv string) error {
	if o.ReplyTo == "" {
		return nil
	}
	c, _, ok := proto.ParseMessageID(o.ReplyTo)
	if !ok || c != conv {
		return &proto.Error{Code: proto.CodeBadMessageID, Message: "replyTo " + o.ReplyTo + " is not a sent message of " + conv}
	}
	return nil
}

// replySeq is the seq of a reply's target id, 0 for none.
func replySeq(id string) uint64 {
	_, seq, _ := proto.ParseMessageID(id)
	return seq
}

// lifecycleFromWire copies a relay message's lifecycle fields.
func lifecycleFromWire(m *Message, w *proto.Message) {
	if w.ReplyTo > 0 {
		m.ReplyTo = proto.MessageID(w.ConvID, w.ReplyTo)
	}
	m.Mentions, m.Recalled, m.EditedAt, m.Target = w.Mentions, w.Recalled, w.EditedAt, w.Target
	for _, r := range w.Reactions {
		m.Reactions = append(m.Reactions, Reaction{Emoji: r.Emoji, Users: r.Users})
	}
}

// Apply changes m, a stored message, as the lifecycle event ev (whose
// Target is m.Seq) does; self is this device's user, whose hide events
// hide m here. It is the relay's rule (proto.Message.Apply), so a cached
// copy ends as the relay's does.
func (m *Message) Apply(ev *Message, self string) {
	if ev.Type == proto.MsgHide {
		if ev.Sender == self && self != "" {
			m.Hidden = true
		}
		return
	}
	w := proto.Message{Text: m.Text, Body: m.Body, Mentions: m.Mentions, Recalled: m.Recalled, EditedAt: m.EditedAt}
	for _, r := range m.Reactions {
		w.Reactions = append(w.Reactions, proto.Reaction{Emoji: r.Emoji, Users: r.Users})
	}
	w.Apply(&proto.Message{MsgType: ev.Type, Text: ev.Text, Sender: ev.Sender, CreatedAt: ev.CreatedAt})
	m.Text, m.Body, m.Mentions, m.Recalled, m.EditedAt, m.Reactions = w.Text, w.Body, w.Mentions, w.Recalled, w.EditedAt, nil
	for _, r := range w.Reactions {
		m.Reactions = append(m.Reactions, Reaction{Emoji: r.Emoji, Users: r.Users})
	}
}

// mentions reports whether a message mentioning ids mentions user.
func mentions(ids []string, user string) bool {
	for _, id := range ids {
		if id == user || id == proto.MentionAll {
			return true
		}
	}
	return false
}

// noteMessage updates what a stored message says about its conversation:
// an unread mention of this user, and in a one-to-one conversation the
// peer's read cursor (a sender has read what they sent).
func (c *Core) noteMessage(cv *Conversation, m *Message) {
	self := c.meta.UserID
	if self == "" || m.Sender == self {
		return
	}
	if mentions(m.Mentions, self) {
		if m.Seq > cv.MentionSeq {
			cv.MentionSeq = m.Seq
		}
		if m.Seq > cv.ReadSeq {
			cv.MentionSeqs = insertSeq(cv.MentionSeqs, m.Seq, maxMentionSeqs)
		}
	}
	if cv.Kind == proto.KindP2P && m.Seq > cv.PeerReadSeq {
		cv.PeerReadSeq = m.Seq
	}
}

// maxEventSeqs bounds Conversation.EventSeqs.
const maxEventSeqs = 256

// maxMentionSeqs bounds Conversation.MentionSeqs.
const maxMentionSeqs = 64

// insertSeq returns seqs (ascending) with seq in its place, in a new array
// (copies of a conversation share the old one), keeping the newest limit.
func insertSeq(seqs []uint64, seq uint64, limit int) []uint64 {
	i := len(seqs)
	for i > 0 && seqs[i-1] >= seq {
		if seqs[i-1] == seq {
			return seqs
		}
		i--
	}
	out := make([]uint64, 0, len(seqs)+1)
	out = append(append(append(out, seqs[:i]...), seq), seqs[i:]...)
	if len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out
}

// dropMention takes a recalled or deleted message out of cv's mentions:
// the newest mention left is then the one before it.
func dropMention(cv *Conversation, seq uint64) {
	kept := make([]uint64, 0, len(cv.MentionSeqs))
	for _, s := range cv.MentionSeqs {
		if s != seq {
			kept = append(kept, s)
		}
	}
	if len(kept) == len(cv.MentionSeqs) && seq != cv.MentionSeq {
		return
	}
	cv.MentionSeqs = kept
	if seq == cv.MentionSeq {
		cv.MentionSeq = 0
		if len(kept) > 0 {
			cv.MentionSeq = kept[len(kept)-1]
		}
	}
}

// storeEvent stores a lifecycle event as the next contiguous message of cv
// and stages the change of its target. The stored copy of an edit keeps no
// text: a later recall must leave none behind in the cache.
func (c *Core) storeEvent(cv *Conversation, ev Message) {
	cv.SyncedSeq = ev.Seq
	if ev.Seq > cv.LastSeq {
		cv.LastSeq = ev.Seq
	}
	c.noteMessage(cv, &Message{Sender: ev.Sender, Seq: ev.Seq})
	if ev.Sender == c.meta.UserID && ev.Seq > cv.ReadSeq {
		cv.ReadSeq = ev.Seq
	} else if ev.Seq > cv.ReadSeq {
		// Another member's edit or reaction is no unread message. A new
		// array each time (copies of cv share the old one), of at most
		// maxEventSeqs: the oldest beyond it count as unread again.
		keep := cv.EventSeqs
		if len(keep) >= maxEventSeqs {
			keep = keep[len(keep)-maxEventSeqs+1:]
		}
		cv.EventSeqs = append(keep[:len(keep):len(keep)], ev.Seq)
	}
	stored := ev
	if ev.Type == proto.MsgEdit {
		stored.Text = ""
	}
	c.batch.Messages = append(c.batch.Messages, stored)
	if ev.Target == 0 || ev.Target >= ev.Seq {
		return
	}
	c.batch.Amend = append(c.batch.Amend, ev)
	if lm := cv.LastMessage; lm != nil && lm.Seq == ev.Target {
		lm.Apply(&ev, c.meta.UserID)
	}
	if ev.Type == proto.MsgRecall || ev.Type == proto.MsgDelete {
		dropMention(cv, ev.Target) // a recalled mention is no mention
	}
}

// mergeLifecycle folds a relay conversation's lifecycle state into cv.
func (c *Core) mergeLifecycle(cv *Conversation, rc *proto.Conversation) {
	if rc.PeerReadSeq > cv.PeerReadSeq {
		cv.PeerReadSeq = rc.PeerReadSeq
	}
}

// hideEntry applies a hidden-message entry of the feed: the message is
// marked hidden in the store (a staged hide event for Batch.Amend), in the
// conversation's last message, and from now on wherever it arrives.
func (c *Core) hideEntry(conv string, seq uint64) {
	id := proto.MessageID(conv, seq)
	if c.acct.hidden[id] {
		return
	}
	c.acct.hidden[id] = true
	c.batch.Amend = append(c.batch.Amend, Message{ConvID: conv, Type: proto.MsgHide, Sender: c.meta.UserID, Target: seq})
	if cv := c.convs[conv]; cv != nil && cv.LastMessage != nil && cv.LastMessage.Seq == seq && !cv.LastMessage.Hidden {
		cv.LastMessage.Hidden = true
		c.convChanged(cv)
	}
}

// markHidden sets m.Hidden when this user deleted m for themselves.
func (c *Core) markHidden(m *Message) {
	if m.Seq > 0 && len(c.acct.hidden) > 0 && c.acct.hidden[proto.MessageID(m.ConvID, m.Seq)] {
		m.Hidden = true
	}
}

// Amend queues op (proto.MsgRecall, MsgDelete, MsgEdit, MsgReact,
// MsgUnreact or MsgHide) on message id, with text the new text of an edit
// or the emoji of a reaction. Like a send it waits in the outbox —
// persisted, written in order with the user's sends, written again on
// every new connection until the relay answers — and its client id is the
// relay's idempotency key, so a resend after a lost ack is not applied
// twice. The change shows at once on the stored target (optimistic); a
// refusal undoes it by fetching the target again. The operation resolves
// with the stored event (none for a hide) once the relay kept it.
func (c *Core) Amend(now time.Time, id, op, text string) (uint64, error) {
	c.begin()
	defer c.flush()
	if c.state == StateClosed {
		return 0, &proto.Error{Code: proto.CodeClientClosed, Message: "client closed"}
	}
	conv, seq, ok := proto.ParseMessageID(id)
	if !ok {
		return 0, &proto.Error{Code: proto.CodeBadMessageID, Message: "not the id of a sent message: " + id}
	}
	clientID := c.newID()
	if op == proto.MsgHide {
		if text != "" {
			return 0, invalid("delete for me takes no text")
		}
		if err := proto.Validate(&proto.HideMessage{ConvID: conv, Seq: seq}); err != nil {
			return 0, invalid(err.Message)
		}
	} else if err := proto.Validate(&proto.Amend{ConvID: conv, ClientID: clientID, Op: op, Target: seq, Text: text}); err != nil {
		return 0, invalid(strings.TrimPrefix(err.Message, "amend: "))
	}
	e := &OutboxEntry{Order: c.meta.NextOrder, Message: Message{
		ID: "local:" + clientID, ClientID: clientID, ConvID: conv, Sender: c.meta.UserID, Device: c.meta.DeviceID,
		Type: op, Text: text, Target: seq, CreatedAt: now.UnixMilli(), LocalTime: now.UnixMilli(), Status: StatusPending,
	}}
	c.meta.NextOrder++
	c.saveMeta()
	c.outbox = append(c.outbox, e)
	c.byClient[clientID] = e
	c.batch.OutboxPut = append(c.batch.OutboxPut, *e)
	op64 := c.newOp()
	c.sendOps[clientID] = append(c.sendOps[clientID], op64)
	c.optimistic(e.Message)
	c.pumpSends(now)
	return op64, nil
}

// optimistic shows a queued amend on its target at once: the stored copy
// and the conversation's last message change as the relay's event will
// change them. Applying the relay's event later changes nothing more (each
// op is idempotent on its target).
func (c *Core) optimistic(ev Message) {
	c.batch.Amend = append(c.batch.Amend, ev)
	if cv := c.convs[ev.ConvID]; cv != nil && cv.LastMessage != nil && cv.LastMessage.Seq == ev.Target {
		cv.LastMessage.Apply(&ev, c.meta.UserID)
		c.convChanged(cv)
	}
}

// writeAmend writes queued amend e: a HideMessage for delete for me, an
// Amend (client id = e's) for the rest. It returns 0 for a frame above the
// relay's limit (sendRequest).
func (c *Core) writeAmend(now time.Time, e *OutboxEntry) uint64 {
	m := &e.Message
	r := &request{kind: reqSend, clientID: m.ClientID, conv: m.ConvID}
	if m.Type == proto.MsgHide {
		return c.sendRequest(now, r, proto.TypeHideMessage, &proto.HideMessage{ConvID: m.ConvID, Seq: m.Target})
	}
	return c.sendRequest(now, r, proto.TypeAmend, &proto.Amend{ConvID: m.ConvID, ClientID: m.ClientID, Op: m.Type, Target: m.Target, Text: m.Text})
}

// amendAcked completes queued amend e on the relay's ack: the event it
// stored is this device's to place, since the relay delivers it to the
// other sessions only.
func (c *Core) amendAcked(now time.Time, e *OutboxEntry, a *proto.Ack) {
	m := e.Message
	ev := Message{
		ID: proto.MessageID(a.ConvID, a.Seq), ClientID: m.ClientID, ConvID: a.ConvID, Seq: a.Seq,
		Sender: c.meta.UserID, Device: c.meta.DeviceID, Type: m.Type, Text: m.Text,
		CreatedAt: a.CreatedAt, Status: StatusSent, Target: m.Target,
	}
	c.removeFromOutbox(e)
	c.place(now, c.conv(a.ConvID), aheadMsg{m: ev, announced: true})
	c.resolveSend(m.ClientID, Result{Message: &ev})
	c.pumpSends(now)
}

// hideAcked completes a queued delete for me on the relay's UserState.
func (c *Core) hideAcked(now time.Time, r *request, st *proto.UserState) {
	delete(c.inflight, r.clientID)
	for i := range st.Entries {
		c.applyEntry(&st.Entries[i])
	}
	c.saveAccount()
	if e := c.byClient[r.clientID]; e != nil {
		c.removeFromOutbox(e)
	}
	c.resolveSend(r.clientID, Result{})
	c.pumpSends(now)
}

// amendRefused drops queued amend e the relay refused for good, rejects
// its waiters and undoes its optimistic change: the target is fetched
// again and replaces the stored copy (the relay's copy carries every event
// stored so far).
func (c *Core) amendRefused(now time.Time, e *OutboxEntry, err *proto.Error) {
	m := e.Message
	c.removeFromOutbox(e)
	c.resolveSend(m.ClientID, Result{Err: err})
	if cv := c.convs[m.ConvID]; cv != nil && m.Target <= cv.SyncedSeq && c.phase == phaseReady {
		c.request(now, &request{kind: reqHistory, op: c.newOp(), conv: m.ConvID, refill: map[uint64]bool{m.Target: true}, restore: true},
			proto.TypeHistory, &proto.History{ConvID: m.ConvID, Before: m.Target + 1, Limit: 1})
	}
}

// ReadReceipts asks the relay which other members of conv have read up to
// seq. It needs a connection; the operation resolves with Result.Receipts.
func (c *Core) ReadReceipts(now time.Time, conv string, seq uint64) (uint64, error) {
	c.begin()
	defer c.flush()
	if !proto.ValidConvID(conv) {
		return 0, invalid("invalid conversation id")
	}
	if c.phase != phaseReady {
		return 0, &proto.Error{Code: proto.CodeNotConnected, Message: "read receipts need a connection"}
	}
	op := c.newOp()
	c.request(now, &request{kind: reqReceipts, op: op, conv: conv}, proto.TypeReceipts, &proto.Receipts{ConvID: conv, Seq: seq})
	return op, nil
}

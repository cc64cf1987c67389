package core

import (
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/parley-im/parley/proto"
)

// Conversations: what the cache holds and how it catches up. Per
// conversation the core keeps LastSeq (the highest seq known to exist) and
// SyncedSeq (every seq up to it is stored). A pushed message that extends
// SyncedSeq is stored at once; one beyond a gap waits in the ahead buffer
// while history fills the gap. Sync brings the conversations that changed
// since the cursor; read cursors and groups ride on the same state.

// maxAhead bounds out-of-order messages buffered per conversation while a
// gap is being filled; past it they are dropped and refetched by the fill.
const maxAhead = 4096

// maxFills is how many conversations fill their gaps at once.
const maxFills = 4

type aheadMsg struct {
	m         Message
	announced bool // the application already saw it (own send, acked)
}

// MarkRead moves the read cursor of conv to seq (0: to the last message). It
// applies locally at once, reaches the relay when connected, and resolves
// immediately.
func (c *Core) MarkRead(now time.Time, conv string, seq uint64) (uint64, error) {
	c.begin()
	defer c.flush()
	cv := c.convs[conv]
	if cv == nil {
		return 0, &proto.Error{Code: proto.CodeUnknownConversation, Message: "unknown conversation " + conv}
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
			c.request(now, &request{kind: reqRead, conv: conv}, proto.TypeRead, &proto.Read{ConvID: conv, Seq: seq})
		}
	}
	c.resolve(op, Result{})
	return op, nil
}

// sendReads writes the read cursors the relay has not confirmed yet.
func (c *Core) sendReads(now time.Time) {
	for conv, seq := range c.reads {
		c.request(now, &request{kind: reqRead, conv: conv}, proto.TypeRead, &proto.Read{ConvID: conv, Seq: seq})
	}
}

// readConfirmed forgets a read cursor the relay stored, unless it moved on
// since.
func (c *Core) readConfirmed(conv string) {
	if c.reads[conv] == 0 {
		return
	}
	if cv := c.convs[conv]; cv != nil && cv.ReadSeq >= c.reads[conv] {
		delete(c.reads, conv)
	}
}

// readRefused forgets a read cursor the relay will never take.
func (c *Core) readRefused(conv string, err *proto.Error) {
	if !err.Code.Retryable() {
		delete(c.reads, conv)
	}
}

// queuedGroup is a CreateGroup waiting for a connection.
type queuedGroup struct {
	op  uint64
	req *proto.CreateGroup
}

// CreateGroup creates a group with the given members (this user is always
// one, and at least one other is required). Without an id the relay names
// the group: the request carries an idempotency key drawn here, and the
// relay answers every request of this user with that key with the one
// group the first created. Offline, the request waits and is written on the
// next welcome; a request whose connection is lost before its reply is
// written again, with the same key, on the next one, so a lost reply never
// makes a second group. Cancel withdraws it until it is written. A chosen
// id (accepted only by a relay run with client-chosen ids, 4258 otherwise)
// is its own key. The operation resolves with Result.Conversation.
func (c *Core) CreateGroup(now time.Time, id, name string, members []string) (uint64, error) {
	return c.CreateGroupWith(now, id, name, members, "", "", "", "")
}

// CreateGroupWith is CreateGroup with the group's information: avatar,
// notice, custom (application data) and join policy (proto.JoinInvite when
// empty).
func (c *Core) CreateGroupWith(now time.Time, id, name string, members []string, avatar, notice, custom, joinPolicy string) (uint64, error) {
	c.begin()
	defer c.flush()
	if c.state == StateClosed {
		return 0, &proto.Error{Code: proto.CodeClientClosed, Message: "client closed"}
	}
	req := &proto.CreateGroup{ConvID: id, Name: name, Members: members, Avatar: avatar, Notice: notice, Custom: custom, JoinPolicy: joinPolicy}
	if id == "" {
		req.Key = c.newID()
	}
	if err := proto.Validate(req); err != nil {
		return 0, invalid(err.Message)
	}
	others := 0
	for _, m := range members {
		if m != c.meta.UserID {
			others++
		}
	}
	if others == 0 {
		return 0, invalid("a group needs at least one member besides this user")
	}
	op := c.newOp()
	if c.phase != phaseReady {
		c.groupQueue = append(c.groupQueue, queuedGroup{op: op, req: req})
		return op, nil
	}
	c.request(now, &request{kind: reqCreateGroup, op: op, conv: id, group: req}, proto.TypeCreateGroup, req)
	return op, nil
}

// pumpGroups writes the groups asked for while offline.
func (c *Core) pumpGroups(now time.Time) {
	q := c.groupQueue
	c.groupQueue = nil
	for _, g := range q {
		c.request(now, &request{kind: reqCreateGroup, op: g.op, conv: g.req.ConvID, group: g.req}, proto.TypeCreateGroup, g.req)
	}
}

// failGroups rejects the groups still waiting for a connection.
func (c *Core) failGroups(err error) {
	for _, g := range c.groupQueue {
		c.resolve(g.op, Result{Err: err})
	}
	c.groupQueue = nil
}

// Cancel withdraws operation op: it resolves at once with CodeAborted. A
// request not yet written (a group asked for offline) is never written; one
// already written may still take effect on the relay, and its reply is then
// applied like a sync would apply it. Sends are cancelled with Discard.
// Unknown or settled operations are ignored.
func (c *Core) Cancel(now time.Time, op uint64) {
	c.begin()
	defer c.flush()
	aborted := Result{Err: &proto.Error{Code: proto.CodeAborted, Message: "operation aborted"}}
	for i, g := range c.groupQueue {
		if g.op == op {
			c.groupQueue = append(c.groupQueue[:i], c.groupQueue[i+1:]...)
			c.resolve(op, aborted)
			return
		}
	}
	for _, r := range c.reqs {
		if r.op == op && r.kind != reqSend && r.kind != reqRead {
			r.op = 0
			r.deadline = time.Time{} // a late reply is still applied; no timeout for nobody
			c.resolve(op, aborted)
			return
		}
	}
}

// groupCreated takes the relay's answer to CreateGroup; false when the
// conversation it carries is not valid.
func (c *Core) groupCreated(now time.Time, r *request, rc *proto.Conversation) bool {
	cv := c.merge(rc)
	if cv == nil {
		return false
	}
	// The reply names the group's messages so far (its created message,
	// written by the relay for this user, is not delivered to the session
	// that asked): fetch what is not here, as for any gap.
	if cv.SyncedSeq < cv.LastSeq {
		c.queueFill(cv.ID)
		c.pumpFills(now)
	}
	c.resolve(r.op, Result{Conversation: c.viewConv(cv)})
	return true
}

// FetchHistory asks the relay for messages of conv before seq before (0: the
// newest). It needs a connection; the operation resolves with
// Result.Messages.
func (c *Core) FetchHistory(now time.Time, conv string, before uint64, limit int) (uint64, error) {
	return c.fetchHistory(now, conv, before, limit, nil)
}

func (c *Core) fetchHistory(now time.Time, conv string, before uint64, limit int, refill map[uint64]bool) (uint64, error) {
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
	c.request(now, &request{kind: reqHistory, op: op, conv: conv, refill: refill}, proto.TypeHistory,
		&proto.History{ConvID: conv, Before: before, Limit: uint32(limit)})
	return op, nil
}

// Conversations returns the known conversations, pinned ones first, then
// by most recent activity; hidden ones (see SetConversation) are left out.
func (c *Core) Conversations() []Conversation {
	out := make([]Conversation, 0, len(c.convs))
	for _, cv := range c.convs {
		if v := c.viewConv(cv); !v.Hidden {
			out = append(out, *v)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Pinned != out[j].Pinned {
			return out[i].Pinned
		}
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
	return *c.viewConv(cv), true
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

// CacheMisses returns the seqs that a page of conv should hold and page, what
// the store returned for it, lacks: history the store evicted under its size
// limit (the oldest goes first) or never wrote. The page is the limit
// messages below before (0: the newest), within what CacheCovers says is
// cached. The store held every seq ≤ SyncedSeq once, and seqs are dense, so
// any one absent is a hole, which RefillHistory fills from the relay.
func (c *Core) CacheMisses(conv string, before uint64, limit int, page []Message) []uint64 {
	cv := c.convs[conv]
	if cv == nil || limit <= 0 {
		return nil
	}
	top := cv.SyncedSeq
	if before != 0 && before-1 < top {
		top = before - 1
	}
	if top == 0 {
		return nil
	}
	lo := uint64(1)
	if top > uint64(limit) {
		lo = top - uint64(limit) + 1
	}
	have := make(map[uint64]bool, len(page))
	for i := range page {
		if page[i].ConvID == conv {
			have[page[i].Seq] = true
		}
	}
	var miss []uint64
	for s := lo; s <= top; s++ {
		if !have[s] && !cv.skipped(s) {
			miss = append(miss, s)
		}
	}
	return miss
}

// ReadableBefore reports whether seqs of conv below before (0: up to the
// newest known) may hold messages this user can read, wherever they are
// kept: the log starts at seq 1, less the runs this user may not read
// (Conversation.Skipped: a group's messages from before they joined, or from
// while they were not a member). Those runs are known as far as the cache is
// synced; a seq above SyncedSeq may hold a message. An unknown conversation
// may hold any seq. A seq that holds an edit, a reaction or a message
// deleted for this user still counts: only the relay's page tells them
// apart.
func (c *Core) ReadableBefore(conv string, before uint64) bool {
	if before == 1 {
		return false
	}
	cv := c.convs[conv]
	if cv == nil {
		return true
	}
	top := cv.LastSeq
	if before != 0 && before-1 < top {
		top = before - 1
	}
	first := uint64(1) // the lowest seq no skipped run covers
	for _, r := range cv.Skipped {
		if r.From > first {
			break
		}
		if r.To >= first {
			first = r.To + 1
		}
	}
	return first <= top
}

// RefillHistory is FetchHistory for a page with holes (CacheMisses): the
// messages of seqs missing that the relay sends are written to the store
// again, so the next read of that page is served from the cache. What the
// cache still holds is not rewritten.
func (c *Core) RefillHistory(now time.Time, conv string, before uint64, limit int, missing []uint64) (uint64, error) {
	refill := make(map[uint64]bool, len(missing))
	for _, s := range missing {
		refill[s] = true
	}
	return c.fetchHistory(now, conv, before, limit, refill)
}

// resetCache drops what the cache holds of a relay store that no longer
// exists (a new epoch) or of another user. The outbox survives an epoch
// change: its messages were never acknowledged by the new store.
func (c *Core) resetCache(userChanged bool) {
	c.batch = &Batch{Reset: true} // a new one: events linked to the old one's messages stay unmatched
	clear(c.convs)
	clear(c.ahead)
	c.meta.SyncCursor = 0
	if userChanged {
		for _, e := range c.outbox {
			c.batch.OutboxDelete = append(c.batch.OutboxDelete, e.Message.ClientID)
			for _, op := range c.sendOps[e.Message.ClientID] {
				c.resolve(op, Result{Err: &proto.Error{Code: proto.CodeClientClosed, Message: "signed in as another user"}})
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
	c.resetAccount(userChanged)
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
	c.request(now, &request{kind: reqSync}, proto.TypeSync, &proto.Sync{Cursor: c.meta.SyncCursor})
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
	c.queueGaps()
	c.pumpFills(now)
}

// queueGaps queues a fill for every conversation the cache holds less of
// than the relay has, not only those this sync listed: a connection lost
// while a fill was under way leaves its gap behind a sync cursor that has
// already moved past the conversation, so the next sync does not list it.
func (c *Core) queueGaps() {
	var gaps []string
	for id, cv := range c.convs {
		if cv.SyncedSeq < cv.LastSeq {
			gaps = append(gaps, id)
		}
	}
	sortStrings(gaps) // one order, so a seeded run replays
	for _, id := range gaps {
		c.queueFill(id)
	}
}

// merge folds a relay conversation state into the local one and returns it.
func (c *Core) merge(rc *proto.Conversation) *Conversation {
	if !proto.ValidConvID(rc.ID) {
		return nil
	}
	cv := c.conv(rc.ID)
	mergeGroup(cv, rc, cv.Version) // groups.go
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
	c.mergeLifecycle(cv, rc)
	if lm := rc.LastMessage; lm != nil && lm.ConvID == rc.ID && !proto.IsLifecycle(lm.MsgType) && (cv.LastMessage == nil || cv.LastMessage.Seq < lm.Seq) {
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
	c.lastFresh = nil // copied into the batch and the event below
	if cv.ReadSeq > cv.LastSeq {
		cv.ReadSeq = cv.LastSeq
	}
	if n := countAbove(cv.EventSeqs, cv.ReadSeq); n < len(cv.EventSeqs) {
		kept := make([]uint64, 0, n) // a new array: copies of cv share the old one
		for _, s := range cv.EventSeqs {
			if s > cv.ReadSeq {
				kept = append(kept, s)
			}
		}
		cv.EventSeqs = kept
	}
	if n := countAbove(cv.MentionSeqs, cv.ReadSeq); n < len(cv.MentionSeqs) {
		cv.MentionSeqs = append([]uint64(nil), cv.MentionSeqs[len(cv.MentionSeqs)-n:]...)
	}
	cv.Unread = unreadOf(cv)
	cv.Mentioned = cv.MentionSeq > cv.ReadSeq
	for i := range c.batch.Conversation {
		if c.batch.Conversation[i].ID == cv.ID {
			c.batch.Conversation[i] = *cv
			c.emit(Event{Kind: EventConversation, Conversation: c.viewConv(cv)})
			return
		}
	}
	c.batch.Conversation = append(c.batch.Conversation, *cv)
	c.emit(Event{Kind: EventConversation, Conversation: c.viewConv(cv)})
}

// unreadOf is cv's unread messages: the seqs after its read cursor that are
// not lifecycle events of other members.
func unreadOf(cv *Conversation) uint64 {
	read := min(cv.ReadSeq, cv.LastSeq)
	return cv.LastSeq - read - min(uint64(countAbove(cv.EventSeqs, read)), cv.LastSeq-read)
}

// countAbove is how many of seqs are greater than seq.
func countAbove(seqs []uint64, seq uint64) int {
	n := 0
	for _, s := range seqs {
		if s > seq {
			n++
		}
	}
	return n
}

func copyConv(cv *Conversation) *Conversation {
	cp := *cv
	cp.Members = append([]string(nil), cv.Members...)
	cp.EventSeqs = append([]uint64(nil), cv.EventSeqs...)
	cp.MentionSeqs = append([]uint64(nil), cv.MentionSeqs...)
	if cv.LastMessage != nil {
		m := *cv.LastMessage
		cp.LastMessage = &m
	}
	return &cp
}

func fromWire(w *proto.Message) Message {
	m := Message{
		ID: w.ID(), ClientID: w.ClientID, ConvID: w.ConvID, Seq: w.Seq, Sender: w.Sender,
		Device: w.Device, Type: w.MsgType, Text: w.Text, Body: w.Body, CreatedAt: w.CreatedAt,
		Status: StatusSent, Attachment: attachmentFromWire(w.Attachment),
	}
	lifecycleFromWire(&m, w)
	if w.MsgType == proto.MsgSystem {
		m.Body = systemBody(w.Body) // groups.go
	}
	return m
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
	if !known || w.MsgType == proto.MsgSystem {
		// A new conversation's name and members; a group change's new
		// state (role, members, information) for this user.
		c.startSync(now)
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
			if !proto.IsLifecycle(am.m.Type) && (cv.LastMessage == nil || cv.LastMessage.Seq < am.m.Seq) {
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
	if proto.IsLifecycle(m.Type) {
		c.storeEvent(cv, m)
		return
	}
	c.noteMessage(cv, &m)
	c.markHidden(&m)
	cv.SyncedSeq = m.Seq
	if m.Seq > cv.LastSeq {
		cv.LastSeq = m.Seq
	}
	if cv.LastMessage == nil || cv.LastMessage.Seq <= m.Seq {
		c.setLast(cv, &m)
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
	c.emitStored(&mm)
}

// setLast makes m cv's last message. A sync page stores hundreds of
// messages in a row, each the last one for a moment: the copy made for the
// previous one is overwritten when nothing can hold it yet (c.lastFresh,
// forgotten when the conversation is next copied or at the next input),
// instead of a new copy per message.
func (c *Core) setLast(cv *Conversation, m *Message) {
	if cv.LastMessage != nil && cv.LastMessage == c.lastFresh {
		*c.lastFresh = *m
		return
	}
	lm := *m
	cv.LastMessage = &lm
	c.lastFresh = &lm
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
		c.requestEarly(now, &request{kind: reqFill, conv: id}, proto.TypeHistory,
			&proto.History{ConvID: id, After: cv.SyncedSeq, Limit: uint32(c.cfg.HistoryPage)})
	}
	if c.inSync && !c.syncing && len(c.filling) == 0 && len(c.fillQueue) == 0 {
		c.inSync = false
		c.emit(Event{Kind: EventSyncEnd})
	}
}

// restored announces m, the relay's copy of a message whose optimistic
// change the relay refused, and puts it back as the conversation's last
// message when it is that.
func (c *Core) restored(cv *Conversation, m Message) {
	if lm := cv.LastMessage; lm != nil && lm.Seq == m.Seq {
		c.setLast(cv, &m)
		c.convChanged(cv)
	}
	mm := m
	c.emit(Event{Kind: EventMessageUpdate, Message: &mm})
}

// historyPage takes a page the relay sent for a gap fill or for
// FetchHistory.
func (c *Core) historyPage(now time.Time, r *request, p *proto.HistoryPage) {
	if r.kind == reqHistory {
		out := make([]Message, 0, len(p.Messages))
		for i := range p.Messages {
			if p.Messages[i].ConvID == p.ConvID {
				m := fromWire(&p.Messages[i])
				c.markHidden(&m)
				out = append(out, m)
			}
		}
		// Whatever extends the local prefix is worth keeping, and so is
		// what refills a hole the store left below it.
		if cv := c.convs[p.ConvID]; cv != nil {
			for _, m := range out {
				c.skipHidden(cv, p)
				switch {
				case m.Seq == cv.SyncedSeq+1:
					c.place(now, cv, aheadMsg{m: m})
				case m.Seq <= cv.SyncedSeq && r.refill[m.Seq]:
					c.batch.Messages = append(c.batch.Messages, m)
					if r.restore {
						c.restored(cv, m)
					}
				}
			}
		}
		c.resolve(r.op, Result{Messages: out})
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
	// A page of n messages adds n to the batch and up to n events: room
	// for them at once instead of growing (and copying) as they come.
	c.batch.Messages = slices.Grow(c.batch.Messages, len(p.Messages))
	c.acts = slices.Grow(c.acts, len(p.Messages)+4)
	for i := range p.Messages {
		w := &p.Messages[i]
		c.skipHidden(cv, p)
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
	c.skipHidden(cv, p)
	c.drainAhead(cv)
	c.convChanged(cv)
	if cv.SyncedSeq < cv.LastSeq && cv.SyncedSeq > before {
		c.queueFill(cv.ID)
	}
	c.pumpFills(now)
}

// skipHidden moves cv's synced prefix over a run of seqs page p says this
// user may not read (proto.HistoryPage.Hidden) when the run starts right
// after it, and remembers the run in cv.Skipped, so no later read takes
// those seqs for holes. A run beyond the conversation's last seq is not
// believed.
func (c *Core) skipHidden(cv *Conversation, p *proto.HistoryPage) {
	for _, h := range p.Hidden {
		if h.From > cv.SyncedSeq+1 || h.To <= cv.SyncedSeq || h.From > h.To || h.To > cv.LastSeq {
			continue
		}
		cv.SyncedSeq = h.To
		cv.Skipped = addSkipped(cv.Skipped, SeqRange{From: h.From, To: h.To})
		if ah := c.ahead[cv.ID]; ah != nil {
			for seq := range ah {
				if seq <= h.To {
					delete(ah, seq)
				}
			}
		}
	}
}

// addSkipped adds r to the sorted runs rs, merging it with the runs it
// touches.
func addSkipped(rs []SeqRange, r SeqRange) []SeqRange {
	out := make([]SeqRange, 0, len(rs)+1)
	for _, x := range rs {
		switch {
		case x.To+1 < r.From:
			out = append(out, x)
		case r.To+1 < x.From:
			out = append(out, r)
			r = x
		default:
			r = SeqRange{From: min(r.From, x.From), To: max(r.To, x.To)}
		}
	}
	return append(out, r)
}

// skipped reports whether seq lies in one of cv's skipped runs.
func (cv *Conversation) skipped(seq uint64) bool {
	for _, r := range cv.Skipped {
		if seq >= r.From && seq <= r.To {
			return true
		}
	}
	return false
}

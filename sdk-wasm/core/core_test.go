package core

import (
	"errors"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
)

// harness drives a Core like a driver would, with a scripted relay: it keeps
// the frames the core wrote and the events it emitted.
type harness struct {
	t      testing.TB
	c      *Core
	now    time.Time
	store  *testStore
	writes []proto.Frame
	events []Event
	dials  []uint64
	closes []Action
	done   map[uint64]Action
}

func newHarness(t testing.TB, snap Snapshot) *harness {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	c, err := New(Config{DeviceID: "dev1", Rand: rng.Uint64, Heartbeat: time.Second}, snap)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, c: c, now: time.Unix(1_700_000_000, 0), store: newTestStore(), done: map[uint64]Action{}}
}

// testStore applies batches the way every store must, so that a test can
// look at what the core persisted. (The stores themselves live with their
// consumer, sdk-wasm/client, which this package cannot import.)
type testStore struct {
	meta     *Meta // the last one written
	outbox   map[string]OutboxEntry
	messages map[string]map[uint64]Message
}

func newTestStore() *testStore {
	return &testStore{outbox: map[string]OutboxEntry{}, messages: map[string]map[uint64]Message{}}
}

func (s *testStore) Apply(b *Batch) error {
	if b.Reset {
		clear(s.messages)
	}
	if b.Meta != nil {
		m := *b.Meta
		s.meta = &m
	}
	for _, m := range b.Messages {
		if s.messages[m.ConvID] == nil {
			s.messages[m.ConvID] = map[uint64]Message{}
		}
		s.messages[m.ConvID][m.Seq] = m
	}
	s.amend(b) // lifecycle_test.go
	for _, e := range b.OutboxPut {
		s.outbox[e.Message.ClientID] = e
	}
	for _, id := range b.OutboxDelete {
		delete(s.outbox, id)
	}
	return nil
}

// Messages returns the stored messages of conv ascending by seq.
func (s *testStore) Messages(conv string, _ uint64, _ int) ([]Message, error) {
	var out []Message
	for _, m := range s.messages[conv] {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out, nil
}

func (h *harness) poll() {
	h.t.Helper()
	for _, a := range h.c.Poll() {
		switch a.Kind {
		case ActDial:
			h.dials = append(h.dials, a.Conn)
		case ActWrite:
			f, err := proto.Decode(a.Bytes, 0)
			if err != nil {
				h.t.Fatalf("core wrote an undecodable frame: %v", err)
			}
			h.writes = append(h.writes, f)
		case ActCloseConn:
			h.closes = append(h.closes, a)
		case ActPersist:
			if err := h.store.Apply(a.Batch); err != nil {
				h.t.Fatal(err)
			}
		case ActEvent:
			h.events = append(h.events, a.Event)
		case ActResolve:
			h.done[a.Op] = a
		}
	}
}

// takeWrites returns and forgets the frames written so far.
func (h *harness) takeWrites() []proto.Frame {
	w := h.writes
	h.writes = nil
	return w
}

func (h *harness) lastWrite(t proto.Type) proto.Frame {
	h.t.Helper()
	for i := len(h.writes) - 1; i >= 0; i-- {
		if h.writes[i].Type == t {
			return h.writes[i]
		}
	}
	h.t.Fatalf("no %s frame written; writes: %v", t, h.writes)
	return proto.Frame{}
}

func (h *harness) relay(t proto.Type, id uint64, body any) {
	h.c.HandleFrame(h.now, h.c.Conn(), proto.MustEncode(proto.Frame{Type: t, ID: id, Body: body}))
	h.poll()
}

// connect runs start → open → welcome, and answers the first sync empty.
func (h *harness) connect(epoch string) {
	h.t.Helper()
	if h.c.State() != StateReconnecting {
		h.c.Start(h.now)
	} else {
		d, _ := h.c.NextDeadline()
		h.now = d
		h.c.HandleTimeout(h.now)
	}
	h.poll()
	h.c.HandleOpen(h.now, h.c.Conn(), "tok")
	h.poll()
	hello := h.lastWrite(proto.TypeHello)
	h.relay(proto.TypeWelcome, hello.ID, &proto.Welcome{Version: 1, UserID: "alice", Epoch: epoch, HeartbeatMs: 1000})
	sync := h.lastWrite(proto.TypeSync)
	h.relay(proto.TypeSyncResult, sync.ID, &proto.SyncResult{Cursor: sync.Body.(*proto.Sync).Cursor})
}

func (h *harness) state() State { return h.c.State() }

func (h *harness) hasEvent(k EventKind) bool {
	for _, e := range h.events {
		if e.Kind == k {
			return true
		}
	}
	return false
}

func msg(conv string, seq uint64, sender string) proto.Message {
	return proto.Message{ConvID: conv, Seq: seq, Sender: sender, ClientID: "c" + string(rune('a'+seq%26)), MsgType: proto.MsgText, Text: "m", CreatedAt: int64(seq)}
}

func TestConnectionTransitions(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		code      proto.Code
		refresh   bool
		wantState State
		kicked    bool
	}{
		{"connected/closed 4100/reconnecting", proto.CodeShutdown, false, StateReconnecting, false},
		{"connected/closed 1006/reconnecting", 1006, false, StateReconnecting, false},
		{"connected/closed 4102/reconnecting", proto.CodeSlowConsumer, false, StateReconnecting, false},
		{"connected/closed 4001/disconnected", proto.CodeUnauthorized, false, StateDisconnected, true},
		{"connected/closed 4003/disconnected", proto.CodeKicked, false, StateDisconnected, true},
		{"connected/closed 4004/disconnected", proto.CodeBanned, false, StateDisconnected, true},
		{"connected/closed 4004 refreshable/disconnected", proto.CodeBanned, true, StateDisconnected, true},
		{"connected/closed 4002/disconnected", proto.CodeTokenExpired, false, StateDisconnected, true},
		{"connected/closed 4002 refreshable/reconnecting", proto.CodeTokenExpired, true, StateReconnecting, false},
		// A shard that does not serve the user would refuse the same URL
		// again, whatever the token.
		{"connected/closed 4015/disconnected", proto.CodeWrongShard, false, StateDisconnected, true},
		{"connected/closed 4015 refreshable/disconnected", proto.CodeWrongShard, true, StateDisconnected, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, Snapshot{})
			h.c.cfg.TokenRefresh = tc.refresh
			h.connect("e1")
			if h.state() != StateConnected {
				t.Fatalf("state %s, want connected", h.state())
			}
			h.events = nil
			h.c.HandleClosed(h.now, h.c.Conn(), tc.code, "x")
			h.poll()
			if h.state() != tc.wantState {
				t.Fatalf("state %s, want %s", h.state(), tc.wantState)
			}
			if h.hasEvent(EventKicked) != tc.kicked {
				t.Fatalf("kicked event %v, want %v", h.hasEvent(EventKicked), tc.kicked)
			}
			d, ok := h.c.NextDeadline()
			if tc.wantState == StateReconnecting {
				if !ok || d.Sub(h.now) < h.c.cfg.MinBackoff || d.Sub(h.now) > h.c.cfg.MaxBackoff {
					t.Fatalf("retry deadline %v after now, want within backoff bounds", d.Sub(h.now))
				}
				h.now = d
				h.c.HandleTimeout(h.now)
				h.poll()
				if len(h.dials) != 2 {
					t.Fatalf("dials %v, want a second dial after backoff", h.dials)
				}
			}
		})
	}
}

func TestCloseFrameCodeWins(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Snapshot{})
	h.connect("e1")
	h.relay(proto.TypeClose, 0, &proto.Close{Code: proto.CodeBanned, Reason: "banned"})
	h.c.HandleClosed(h.now, h.c.Conn(), 1006, "abnormal")
	h.poll()
	if h.state() != StateDisconnected {
		t.Fatalf("state %s, want disconnected after a terminal close frame", h.state())
	}
}

// TestBannedAtHello: a relay that refuses the hello with close{4004} (the
// user is banned) stops the client: kicked with the code and the relay's
// reason, disconnected, no retry scheduled and no second dial.
func TestBannedAtHello(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Snapshot{})
	h.c.cfg.TokenRefresh = true
	h.c.Start(h.now)
	h.poll()
	h.c.HandleOpen(h.now, h.c.Conn(), "tok")
	h.poll()
	h.lastWrite(proto.TypeHello)
	h.events = nil
	h.relay(proto.TypeClose, 0, &proto.Close{Code: proto.CodeBanned, Reason: "spam"})
	h.c.HandleClosed(h.now, h.c.Conn(), proto.CodeBanned, "spam")
	h.poll()
	if h.state() != StateDisconnected {
		t.Fatalf("state %s, want disconnected", h.state())
	}
	var kicked []Event
	for _, e := range h.events {
		if e.Kind == EventKicked {
			kicked = append(kicked, e)
		}
	}
	if len(kicked) != 1 || kicked[0].Code != proto.CodeBanned || kicked[0].Reason != "spam" {
		t.Fatalf("kicked events %+v, want one with 4004 and the reason", kicked)
	}
	if d, ok := h.c.NextDeadline(); ok {
		h.now = d
		h.c.HandleTimeout(h.now)
		h.poll()
	}
	if len(h.dials) != 1 {
		t.Fatalf("dials %v, want no second dial after a ban", h.dials)
	}
}

func TestBackoffFullJitterGrowsAndCaps(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Snapshot{})
	h.c.Start(h.now)
	h.poll()
	var maxSeen time.Duration
	for i := 0; i < 40; i++ {
		h.c.HandleClosed(h.now, h.c.Conn(), 0, "dial failed")
		h.poll()
		d, _ := h.c.NextDeadline()
		delay := d.Sub(h.now)
		if delay < h.c.cfg.MinBackoff || delay > h.c.cfg.MaxBackoff {
			t.Fatalf("attempt %d: delay %v outside [%v, %v]", i, delay, h.c.cfg.MinBackoff, h.c.cfg.MaxBackoff)
		}
		if delay > maxSeen {
			maxSeen = delay
		}
		h.now = d
		h.c.HandleTimeout(h.now)
		h.poll()
	}
	if maxSeen < 5*time.Second {
		t.Fatalf("backoff never grew: max %v", maxSeen)
	}
}

func TestSendOfflineThenAck(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Snapshot{})
	conv := proto.P2PID("alice", "bob")
	op, m, err := h.c.Send(h.now, conv, proto.MsgText, "hello", nil)
	if err != nil {
		t.Fatal(err)
	}
	h.poll()
	if m.Status != StatusPending || len(h.store.outbox) != 1 || !h.hasEvent(EventMessage) {
		t.Fatalf("offline send: status %s, outbox %d, events %v", m.Status, len(h.store.outbox), h.events)
	}
	h.connect("e1")
	send := h.lastWrite(proto.TypeSend)
	if send.Body.(*proto.Send).ClientID != m.ClientID {
		t.Fatalf("resent the wrong message")
	}
	h.relay(proto.TypeAck, send.ID, &proto.Ack{ConvID: conv, ClientID: m.ClientID, Seq: 1, CreatedAt: 5})
	res, ok := h.done[op]
	if !ok || res.Result.Err != nil || res.Result.Message.Seq != 1 || res.Result.Message.Status != StatusSent {
		t.Fatalf("send not resolved with the acked message: %+v", res)
	}
	if len(h.store.outbox) != 0 || len(h.store.messages[conv]) != 1 {
		t.Fatalf("after ack: outbox %d, stored %d", len(h.store.outbox), len(h.store.messages[conv]))
	}
	cv, _ := h.c.Conversation(conv)
	if cv.Unread != 0 || cv.SyncedSeq != 1 {
		t.Fatalf("own message counted unread or not synced: %+v", cv)
	}
}

func TestOutboxRestoredAndResentInOrder(t *testing.T) {
	t.Parallel()
	conv := proto.P2PID("alice", "bob")
	snap := Snapshot{Meta: Meta{UserID: "alice", Epoch: "e1", NextOrder: 3}}
	for i, id := range []string{"first", "second", "third"} {
		snap.Outbox = append(snap.Outbox, OutboxEntry{Order: uint64(2 - i), Message: Message{ClientID: id, ConvID: conv, Type: proto.MsgText, Text: id, Status: StatusPending}})
	}
	h := newHarness(t, snap)
	h.connect("e1")
	var got []string
	for _, f := range h.takeWrites() {
		if s, ok := f.Body.(*proto.Send); ok {
			got = append(got, s.ClientID)
		}
	}
	if len(got) != 3 || got[0] != "third" || got[2] != "first" {
		t.Fatalf("resend order %v, want by outbox order", got)
	}
}

func TestGapFillAndDuplicates(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Snapshot{})
	h.connect("e1")
	conv := proto.P2PID("alice", "bob")
	m1 := msg(conv, 1, "bob")
	h.relay(proto.TypeDeliver, 0, &proto.Deliver{Message: m1})
	// An unknown conversation triggers a sync for its metadata.
	sync := h.lastWrite(proto.TypeSync)
	h.relay(proto.TypeSyncResult, sync.ID, &proto.SyncResult{Cursor: 1})
	h.relay(proto.TypeDeliver, 0, &proto.Deliver{Message: m1}) // duplicate push
	m4 := msg(conv, 4, "bob")
	h.relay(proto.TypeDeliver, 0, &proto.Deliver{Message: m4}) // gap: 2, 3 missing
	fill := h.lastWrite(proto.TypeHistory)
	if hb := fill.Body.(*proto.History); hb.After != 1 {
		t.Fatalf("fill after %d, want 1", hb.After)
	}
	h.relay(proto.TypeHistoryPage, fill.ID, &proto.HistoryPage{ConvID: conv, LastSeq: 4,
		Messages: []proto.Message{msg(conv, 2, "bob"), msg(conv, 3, "bob"), m4}})
	stored, _ := h.store.Messages(conv, 0, 100)
	if len(stored) != 4 {
		t.Fatalf("stored %d messages, want 4", len(stored))
	}
	for i, m := range stored {
		if m.Seq != uint64(i+1) {
			t.Fatalf("stored out of order: %v", stored)
		}
	}
	n := 0
	for _, e := range h.events {
		if e.Kind == EventMessage {
			n++
		}
	}
	if n != 4 {
		t.Fatalf("%d message events, want 4 (one per message)", n)
	}
	cv, _ := h.c.Conversation(conv)
	if cv.Unread != 4 || !h.c.Synced() {
		t.Fatalf("conversation %+v synced=%v", cv, h.c.Synced())
	}
}

func TestOwnMessageFromHistoryCompletesSend(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Snapshot{})
	h.connect("e1")
	conv := proto.P2PID("alice", "bob")
	op, m, _ := h.c.Send(h.now, conv, proto.MsgText, "hi", nil)
	h.poll()
	// The connection drops before the ack; the relay had committed it.
	h.c.HandleClosed(h.now, h.c.Conn(), 1006, "")
	h.poll()
	h.connect("e1")
	h.takeWrites()
	w := proto.Message{ConvID: conv, Seq: 1, Sender: "alice", ClientID: m.ClientID, MsgType: proto.MsgText, Text: "hi"}
	h.relay(proto.TypeDeliver, 0, &proto.Deliver{Message: msg(conv, 2, "bob")})
	fill := h.lastWrite(proto.TypeHistory)
	h.relay(proto.TypeHistoryPage, fill.ID, &proto.HistoryPage{ConvID: conv, LastSeq: 2, Messages: []proto.Message{w, msg(conv, 2, "bob")}})
	if res, ok := h.done[op]; !ok || res.Result.Err != nil {
		t.Fatalf("send not completed by its own message in history: %+v", res)
	}
	if len(h.c.Pending(conv)) != 0 {
		t.Fatalf("outbox still holds the message")
	}
}

func TestHeartbeatTimeoutReconnects(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Snapshot{})
	h.connect("e1")
	for i := 0; i < 20 && h.state() == StateConnected; i++ {
		d, _ := h.c.NextDeadline()
		h.now = d
		h.c.HandleTimeout(h.now)
		h.poll()
	}
	if h.state() != StateReconnecting || len(h.closes) == 0 || h.closes[0].Code != proto.CodeHeartbeatTimeout {
		t.Fatalf("state %s closes %v, want reconnecting after heartbeat timeout", h.state(), h.closes)
	}
	pings := 0
	for _, f := range h.writes {
		if f.Type == proto.TypePing {
			pings++
		}
	}
	if pings == 0 {
		t.Fatalf("no ping was sent before the timeout")
	}
}

func TestEpochChangeResetsCache(t *testing.T) {
	t.Parallel()
	conv := proto.P2PID("alice", "bob")
	snap := Snapshot{
		Meta:          Meta{UserID: "alice", Epoch: "old", SyncCursor: 99},
		Conversations: []Conversation{{ID: conv, LastSeq: 10, SyncedSeq: 10}},
		Outbox:        []OutboxEntry{{Order: 0, Message: Message{ClientID: "keep", ConvID: conv, Type: proto.MsgText, Text: "x", Status: StatusPending}}},
	}
	h := newHarness(t, snap)
	h.c.Start(h.now)
	h.poll()
	h.c.HandleOpen(h.now, h.c.Conn(), "tok")
	h.poll()
	h.relay(proto.TypeWelcome, h.lastWrite(proto.TypeHello).ID, &proto.Welcome{Version: 1, UserID: "alice", Epoch: "new"})
	if !h.hasEvent(EventReset) {
		t.Fatal("no reset event on epoch change")
	}
	if s := h.lastWrite(proto.TypeSync).Body.(*proto.Sync); s.Cursor != 0 {
		t.Fatalf("sync cursor %d after reset, want 0", s.Cursor)
	}
	if len(h.c.Conversations()) != 1 { // the outbox's conversation only
		t.Fatalf("conversations survived the reset: %v", h.c.Conversations())
	}
	if s := h.lastWrite(proto.TypeSend).Body.(*proto.Send); s.ClientID != "keep" {
		t.Fatal("outbox not kept across an epoch change")
	}
}

func TestBadServerFrameAborts(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Snapshot{})
	h.connect("e1")
	h.c.HandleFrame(h.now, h.c.Conn(), []byte{0xff, 0xff})
	h.poll()
	if h.state() != StateReconnecting || len(h.closes) != 1 || h.closes[0].Code != proto.CodeBadServerFrame {
		t.Fatalf("state %s closes %v", h.state(), h.closes)
	}
	// Frames of the dropped connection are ignored afterwards.
	h.c.HandleFrame(h.now, 1, proto.MustEncode(proto.Frame{Type: proto.TypePing, Body: &proto.Ping{}}))
	h.poll()
}

func TestPermanentSendErrorFails(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Snapshot{})
	h.connect("e1")
	op, m, _ := h.c.Send(h.now, "g:nope", proto.MsgText, "x", nil)
	h.poll()
	send := h.lastWrite(proto.TypeSend)
	h.relay(proto.TypeError, send.ID, &proto.ErrorBody{Code: proto.CodeTooLarge})
	res := h.done[op]
	if !errors.Is(res.Result.Err, &proto.Error{Code: proto.CodeTooLarge}) {
		t.Fatalf("send error %v, want too large", res.Result.Err)
	}
	p := h.c.Pending("g:nope")
	if len(p) != 1 || p[0].Status != StatusFailed {
		t.Fatalf("failed message not kept for retry: %+v", p)
	}
	if _, err := h.c.Resend(h.now, m.ClientID); err != nil {
		t.Fatal(err)
	}
	h.poll()
	if h.lastWrite(proto.TypeSend).Body.(*proto.Send).ClientID != m.ClientID {
		t.Fatal("resend did not write the message again")
	}
}

func TestMarkReadOfflineReachesRelayOnConnect(t *testing.T) {
	t.Parallel()
	conv := proto.P2PID("alice", "bob")
	h := newHarness(t, Snapshot{Meta: Meta{UserID: "alice", Epoch: "e1"}, Conversations: []Conversation{{ID: conv, LastSeq: 5, SyncedSeq: 5, Unread: 5}}})
	if _, err := h.c.MarkRead(h.now, conv, 0); err != nil {
		t.Fatal(err)
	}
	h.poll()
	if cv, _ := h.c.Conversation(conv); cv.Unread != 0 {
		t.Fatalf("unread %d after markRead", cv.Unread)
	}
	h.connect("e1")
	if r := h.lastWrite(proto.TypeRead).Body.(*proto.Read); r.Seq != 5 {
		t.Fatalf("read seq %d, want 5", r.Seq)
	}
}

// A relay whose bus lost pushes says resync: the core syncs from its cursor
// and fills what the lost deliveries carried from history.
func TestResyncRepairsLostPushes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Snapshot{})
	h.connect("e1")
	conv := proto.P2PID("alice", "bob")
	sync := h.lastWrite(proto.TypeSync)
	h.takeWrites()
	h.relay(proto.TypeResync, 0, nil)
	again := h.lastWrite(proto.TypeSync)
	if again.ID == sync.ID || again.Body.(*proto.Sync).Cursor != sync.Body.(*proto.Sync).Cursor {
		t.Fatalf("resync sent %+v after %+v", again, sync)
	}
	h.relay(proto.TypeSyncResult, again.ID, &proto.SyncResult{Cursor: 7, Conversations: []proto.Conversation{
		{ID: conv, Kind: proto.KindP2P, LastSeq: 2, Version: 7},
	}})
	fill := h.lastWrite(proto.TypeHistory)
	h.relay(proto.TypeHistoryPage, fill.ID, &proto.HistoryPage{ConvID: conv, LastSeq: 2,
		Messages: []proto.Message{msg(conv, 1, "bob"), msg(conv, 2, "bob")}})
	if stored, _ := h.store.Messages(conv, 0, 100); len(stored) != 2 || !h.c.Synced() {
		t.Fatalf("after resync: stored %v, synced %v", stored, h.c.Synced())
	}
}

// A frame that claims to answer an application request but makes no sense
// drops the connection; the request's operation is settled with the drop
// instead of waiting for an answer that can no longer come.
func TestBadReplySettlesItsOperation(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Snapshot{})
	h.connect("e1")
	// (A group creation is not settled: it is written again on the next
	// connection, see TestCreateGroupKey.)
	op, err := h.c.FetchHistory(h.now, "g:team", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	h.poll()
	hist := h.lastWrite(proto.TypeHistory)
	h.relay(proto.TypeConvResult, hist.ID, &proto.ConvResult{Conversation: proto.Conversation{ID: "g:team", Kind: proto.KindGroup}})
	if len(h.closes) != 1 || h.closes[0].Code != proto.CodeBadServerFrame {
		t.Fatalf("closes %v, want one with %d", h.closes, proto.CodeBadServerFrame)
	}
	res, ok := h.done[op]
	if !ok || !errors.Is(res.Result.Err, &proto.Error{Code: proto.CodeNotConnected}) {
		t.Fatalf("history after a bad reply: resolved %v, %+v", ok, res.Result)
	}
}

// A connection lost while a gap fill is under way: the sync cursor already
// moved past the conversation, so the next sync does not list it again, and
// the fill must still happen. (Found by TestInvariantsInMemory.)
func TestGapFillSurvivesLostConnection(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Snapshot{})
	h.connect("e1")
	conv := proto.P2PID("alice", "bob")
	h.c.HandleClosed(h.now, h.c.Conn(), 1006, "")
	h.poll()
	h.takeWrites()
	// A second connection's sync lists the conversation with 3 messages.
	d, _ := h.c.NextDeadline()
	h.now = d
	h.c.HandleTimeout(h.now)
	h.poll()
	h.c.HandleOpen(h.now, h.c.Conn(), "tok")
	h.poll()
	hello := h.lastWrite(proto.TypeHello)
	h.relay(proto.TypeWelcome, hello.ID, &proto.Welcome{Version: 1, UserID: "alice", Epoch: "e1", HeartbeatMs: 1000})
	sync := h.lastWrite(proto.TypeSync)
	h.relay(proto.TypeSyncResult, sync.ID, &proto.SyncResult{Cursor: 9,
		Conversations: []proto.Conversation{{ID: conv, Kind: proto.KindP2P, LastSeq: 3, Version: 9}}})
	h.lastWrite(proto.TypeHistory)                // the fill starts …
	h.c.HandleClosed(h.now, h.c.Conn(), 1006, "") // … and its connection is lost
	h.poll()
	h.takeWrites()
	// The next sync, from cursor 9, lists nothing: the fill must start anyway.
	d, _ = h.c.NextDeadline()
	h.now = d
	h.c.HandleTimeout(h.now)
	h.poll()
	h.c.HandleOpen(h.now, h.c.Conn(), "tok")
	h.poll()
	hello = h.lastWrite(proto.TypeHello)
	h.relay(proto.TypeWelcome, hello.ID, &proto.Welcome{Version: 1, UserID: "alice", Epoch: "e1", HeartbeatMs: 1000})
	sync = h.lastWrite(proto.TypeSync)
	if c := sync.Body.(*proto.Sync).Cursor; c != 9 {
		t.Fatalf("sync from cursor %d, want 9", c)
	}
	h.relay(proto.TypeSyncResult, sync.ID, &proto.SyncResult{Cursor: 9})
	fill := h.lastWrite(proto.TypeHistory)
	if hb := fill.Body.(*proto.History); hb.ConvID != conv || hb.After != 0 {
		t.Fatalf("fill %+v, want %s after 0", hb, conv)
	}
}

// TestGapFillAsksForTheNextPageBeforeStoring: a page that leaves a gap
// sends the request for the next page ahead of the store write of this
// one (so the relay reads while the driver writes), and still announces
// nothing before it is stored.
func TestGapFillAsksForTheNextPageBeforeStoring(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Snapshot{})
	h.connect("e1")
	conv := proto.P2PID("alice", "bob")
	h.relay(proto.TypeDeliver, 0, &proto.Deliver{Message: msg(conv, 1, "bob")})
	sync := h.lastWrite(proto.TypeSync)
	h.relay(proto.TypeSyncResult, sync.ID, &proto.SyncResult{Cursor: 1})
	h.relay(proto.TypeDeliver, 0, &proto.Deliver{Message: msg(conv, 6, "bob")})
	fill := h.lastWrite(proto.TypeHistory)
	if l := fill.Body.(*proto.History).Limit; l != proto.MaxPageLimit {
		t.Fatalf("a gap fill asks for %d messages, want proto.MaxPageLimit (%d): the fewest round trips the relay allows", l, proto.MaxPageLimit)
	}

	page := proto.MustEncode(proto.Frame{Type: proto.TypeHistoryPage, ID: fill.ID, Body: &proto.HistoryPage{ConvID: conv, LastSeq: 6,
		Messages: []proto.Message{msg(conv, 2, "bob"), msg(conv, 3, "bob")}}})
	h.c.HandleFrame(h.now, h.c.Conn(), page)
	acts := h.c.Poll()
	if len(acts) < 3 || acts[0].Kind != ActWrite || acts[1].Kind != ActPersist {
		t.Fatalf("actions %v: want the next history request, then the store write, then the rest", kinds(acts))
	}
	next, err := proto.Decode(acts[0].Bytes, 0)
	if err != nil || next.Type != proto.TypeHistory || next.Body.(*proto.History).After != 3 {
		t.Fatalf("first action writes %+v (%v), want history after 3", next, err)
	}
	if n := len(acts[1].Batch.Messages); n != 2 {
		t.Fatalf("the store write holds %d messages, want 2", n)
	}
	for _, a := range acts[2:] {
		if a.Kind == ActWrite || a.Kind == ActPersist {
			t.Fatalf("actions %v: only events may follow", kinds(acts))
		}
	}
}

func kinds(acts []Action) []ActionKind {
	out := make([]ActionKind, len(acts))
	for i, a := range acts {
		out[i] = a.Kind
	}
	return out
}

// TestSyncEndsWhenItsConnectionIsLost: a sync cut short by the loss of its
// connection ends with a syncEnd that carries why, and the next
// connection's sync is announced again and ends without a code.
func TestSyncEndsWhenItsConnectionIsLost(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Snapshot{})
	h.c.Start(h.now)
	h.poll()
	h.c.HandleOpen(h.now, h.c.Conn(), "tok")
	h.poll()
	hello := h.lastWrite(proto.TypeHello)
	h.relay(proto.TypeWelcome, hello.ID, &proto.Welcome{Version: 1, UserID: "alice", Epoch: "e1", HeartbeatMs: 1000})
	h.lastWrite(proto.TypeSync) // the sync is asked for and never answered
	h.c.HandleClosed(h.now, h.c.Conn(), 1006, "")
	h.poll()
	syncEvents := func() []Event {
		var out []Event
		for _, e := range h.events {
			if e.Kind == EventSyncStart || e.Kind == EventSyncEnd {
				out = append(out, e)
			}
		}
		h.events = nil
		return out
	}
	got := syncEvents()
	if len(got) != 2 || got[0].Kind != EventSyncStart || got[1].Kind != EventSyncEnd || got[1].Code != 1006 {
		t.Fatalf("sync events after losing the connection mid-sync: %+v, want syncStart then syncEnd with code 1006", got)
	}
	h.connect("e1")
	got = syncEvents()
	if len(got) != 2 || got[0].Kind != EventSyncStart || got[1].Kind != EventSyncEnd || got[1].Code != 0 {
		t.Fatalf("sync events of the next connection: %+v, want syncStart then syncEnd without a code", got)
	}
}

// TestReconnectDialsOnlyAClientWaitingToRetry: Reconnect (the host's "the
// network is back") dials a client waiting to retry or one that gave up
// after MaxAttempts, never one a terminal close stopped (kicked, banned, a
// refused token) nor one the application has not started.
func TestReconnectDialsOnlyAClientWaitingToRetry(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		setup func(h *harness)
		dial  bool
	}{
		{"idle/reconnect/idle", func(h *harness) {}, false},
		{"connected/closed 1006/reconnect/dials", func(h *harness) {
			h.connect("e1")
			h.c.HandleClosed(h.now, h.c.Conn(), 1006, "")
		}, true},
		{"gave up/reconnect/dials", func(h *harness) {
			h.c.cfg.MaxAttempts = 1
			h.c.Start(h.now)
			h.poll()
			h.c.HandleClosed(h.now, h.c.Conn(), 1006, "")
		}, true},
		{"connected/closed 4003/reconnect/disconnected", func(h *harness) {
			h.connect("e1")
			h.c.HandleClosed(h.now, h.c.Conn(), proto.CodeKicked, "replaced")
		}, false},
		{"connected/closed 4011/reconnect/disconnected", func(h *harness) {
			h.connect("e1")
			h.c.HandleClosed(h.now, h.c.Conn(), proto.CodeDeviceKicked, "kicked by another device")
		}, false},
		{"connected/closed 4001/reconnect/disconnected", func(h *harness) {
			h.connect("e1")
			h.c.HandleClosed(h.now, h.c.Conn(), proto.CodeUnauthorized, "bad token")
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, Snapshot{})
			tc.setup(h)
			h.poll()
			before, state := len(h.dials), h.state()
			h.c.Reconnect(h.now)
			h.poll()
			if dialed := len(h.dials) > before; dialed != tc.dial {
				t.Fatalf("Reconnect in state %s dialed: %v, want %v", state, dialed, tc.dial)
			}
		})
	}
}

// TestSendAboveTheRelaysFrameLimitFails: a relay run with a frame limit
// below the largest message (Welcome.MaxFrame) would close the connection
// with 4007, a terminal close, if a send above it were written. Such a send
// fails with 4213 (too large) without being written, the connection stays
// up, and the sends behind it go out.
func TestSendAboveTheRelaysFrameLimitFails(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Snapshot{})
	conv := proto.P2PID("alice", "bob")
	big, _, err := h.c.Send(h.now, conv, proto.MsgText, strings.Repeat("x", 4000), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, small, err := h.c.Send(h.now, conv, proto.MsgText, "hello", nil)
	if err != nil {
		t.Fatal(err)
	}
	h.poll()
	h.c.Start(h.now)
	h.poll()
	h.c.HandleOpen(h.now, h.c.Conn(), "tok")
	h.poll()
	hello := h.lastWrite(proto.TypeHello)
	h.relay(proto.TypeWelcome, hello.ID, &proto.Welcome{Version: 1, UserID: "alice", Epoch: "e1", HeartbeatMs: 1000, MaxFrame: 2048})
	sync := h.lastWrite(proto.TypeSync)
	h.relay(proto.TypeSyncResult, sync.ID, &proto.SyncResult{Cursor: sync.Body.(*proto.Sync).Cursor})
	var sends []string
	for _, f := range h.writes {
		if f.Type == proto.TypeSend {
			sends = append(sends, f.Body.(*proto.Send).ClientID)
		}
	}
	if len(sends) != 1 || sends[0] != small.ClientID {
		t.Fatalf("sends written %v, want only the small one %s", sends, small.ClientID)
	}
	res, ok := h.done[big]
	var pe *proto.Error
	if !ok || !errors.As(res.Result.Err, &pe) || pe.Code != proto.CodeTooLarge {
		t.Fatalf("the large send settled with %+v, want an error 4213", res)
	}
	if len(h.closes) != 0 || h.state() != StateConnected {
		t.Fatalf("closes %v, state %s: want the connection kept", h.closes, h.state())
	}
}

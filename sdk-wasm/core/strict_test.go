package core

import (
	"errors"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
)

// isCode reports whether err carries code.
func isCode(err error, code proto.Code) bool { return errors.Is(err, &proto.Error{Code: code}) }

func TestSendRefusedNotOursLeavesNothing(t *testing.T) {
	t.Parallel()
	for _, code := range []proto.Code{proto.CodeForbidden, proto.CodeNotFound} {
		h := newHarness(t, Snapshot{})
		h.connect("e1")
		op, m, err := h.c.Send(h.now, "g:nope", proto.MsgText, "x", nil)
		if err != nil {
			t.Fatal(err)
		}
		h.poll()
		if _, ok := h.c.Conversation("g:nope"); ok {
			t.Fatalf("%d: an unknown group is in the cache before the relay accepted a message", code)
		}
		h.relay(proto.TypeError, h.lastWrite(proto.TypeSend).ID, &proto.ErrorBody{Code: code})
		if !isCode(h.done[op].Result.Err, code) {
			t.Fatalf("%d: send error %v", code, h.done[op].Result.Err)
		}
		if p := h.c.Pending(""); len(p) != 0 {
			t.Fatalf("%d: the refused message stayed in the outbox: %+v", code, p)
		}
		if _, ok := h.store.outbox[m.ClientID]; ok {
			t.Fatalf("%d: the refused message stayed in the store's outbox", code)
		}
		for _, cv := range h.c.Conversations() {
			if cv.ID == "g:nope" {
				t.Fatalf("%d: phantom conversation %+v", code, cv)
			}
		}
	}
}

func TestSendNewP2PShowsAtOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Snapshot{})
	h.connect("e1")
	if _, _, err := h.c.Send(h.now, proto.P2PID("alice", "bob"), proto.MsgText, "hi", nil); err != nil {
		t.Fatal(err)
	}
	h.poll()
	if _, ok := h.c.Conversation(proto.P2PID("alice", "bob")); !ok {
		t.Fatal("a new one-to-one conversation should show before its first ack")
	}
}

func TestSendCallerClientID(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Snapshot{})
	conv := proto.P2PID("alice", "bob")
	op1, m, err := h.c.SendID(h.now, "my-id-1", conv, proto.MsgText, "hi", nil)
	if err != nil || m.ClientID != "my-id-1" || m.Status != StatusPending || m.ID != "local:my-id-1" {
		t.Fatalf("SendID: %+v %v", m, err)
	}
	// The same id again waits for the same message instead of queueing a copy.
	op2, m2, err := h.c.SendID(h.now, "my-id-1", conv, proto.MsgText, "hi", nil)
	if err != nil || m2.ClientID != "my-id-1" || op2 == op1 {
		t.Fatalf("SendID again: %+v %v", m2, err)
	}
	if n := len(h.c.Pending("")); n != 1 {
		t.Fatalf("outbox holds %d messages, want 1", n)
	}
	if _, _, err := h.c.SendID(h.now, "my-id-1", conv, proto.MsgText, "other", nil); !isCode(err, proto.CodeInvalidArgument) {
		t.Fatalf("a reused id with another text: %v, want 4903", err)
	}
	if _, _, err := h.c.SendID(h.now, "bad id!", conv, proto.MsgText, "x", nil); !isCode(err, proto.CodeInvalidArgument) {
		t.Fatalf("a malformed id: %v, want 4903", err)
	}
	h.poll()
	h.connect("e1")
	send := h.lastWrite(proto.TypeSend)
	if send.Body.(*proto.Send).ClientID != "my-id-1" {
		t.Fatalf("wrote %+v", send.Body)
	}
	h.relay(proto.TypeAck, send.ID, &proto.Ack{ConvID: conv, ClientID: "my-id-1", Seq: 1, CreatedAt: 5})
	for _, op := range []uint64{op1, op2} {
		if r := h.done[op]; r.Result.Err != nil || r.Result.Message == nil || r.Result.Message.Seq != 1 {
			t.Fatalf("op %d: %+v", op, r.Result)
		}
	}
}

func TestMarkReadUnknownConversation(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Snapshot{})
	h.connect("e1")
	if _, err := h.c.MarkRead(h.now, "g:unknown", 0); !isCode(err, proto.CodeUnknownConversation) {
		t.Fatalf("markRead unknown: %v, want 4909", err)
	}
}

func TestCreateGroupNeedsAnotherMember(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Snapshot{})
	h.connect("e1")
	for _, members := range [][]string{nil, {}, {"alice"}} {
		if _, err := h.c.CreateGroup(h.now, "", "x", members); !isCode(err, proto.CodeInvalidArgument) {
			t.Fatalf("members %v: %v, want 4903", members, err)
		}
	}
	h.poll()
	for _, f := range h.writes {
		if f.Type == proto.TypeCreateGroup {
			t.Fatal("a refused group was written")
		}
	}
}

func TestCreateGroupOfflineWaitsAndCancelLeavesNoTrace(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Snapshot{Meta: Meta{UserID: "alice"}})
	kept, err := h.c.CreateGroup(h.now, "g:kept", "kept", []string{"bob"})
	if err != nil {
		t.Fatal(err)
	}
	dropped, err := h.c.CreateGroup(h.now, "g:dropped", "dropped", []string{"bob"})
	if err != nil {
		t.Fatal(err)
	}
	h.c.Cancel(h.now, dropped)
	h.poll()
	if !isCode(h.done[dropped].Result.Err, proto.CodeAborted) {
		t.Fatalf("cancelled group: %+v, want 4908", h.done[dropped].Result)
	}
	if _, ok := h.done[kept]; ok {
		t.Fatal("the offline group settled before a connection")
	}
	h.connect("e1")
	var created []string
	for _, f := range h.writes {
		if f.Type == proto.TypeCreateGroup {
			created = append(created, f.Body.(*proto.CreateGroup).ConvID)
		}
	}
	if len(created) != 1 || created[0] != "g:kept" {
		t.Fatalf("groups written on connect: %v, want only g:kept", created)
	}
}

func TestCancelWrittenRequestIgnoresLateReply(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Snapshot{})
	h.connect("e1")
	op, err := h.c.CreateGroup(h.now, "g:late", "late", []string{"bob"})
	if err != nil {
		t.Fatal(err)
	}
	h.poll()
	req := h.lastWrite(proto.TypeCreateGroup)
	h.c.Cancel(h.now, op)
	h.poll()
	if !isCode(h.done[op].Result.Err, proto.CodeAborted) {
		t.Fatalf("cancel: %+v", h.done[op].Result)
	}
	// Past the request timeout the connection is still fine: nobody waits.
	h.now = h.now.Add(time.Minute)
	h.relay(proto.TypePong, 0, &proto.Pong{})
	h.c.HandleTimeout(h.now)
	h.poll()
	if h.state() != StateConnected {
		t.Fatalf("state %s after a cancelled request's deadline", h.state())
	}
	_ = req
}

func TestGaveUpIsTerminalCode(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Snapshot{})
	h.c.cfg.MaxAttempts = 2
	h.c.Start(h.now)
	h.poll()
	for i := 0; i < 2; i++ {
		h.c.HandleClosed(h.now, h.c.Conn(), 0, "dial failed")
		h.poll()
		if d, ok := h.c.NextDeadline(); ok && h.state() == StateReconnecting {
			h.now = d
			h.c.HandleTimeout(h.now)
			h.poll()
		}
	}
	if h.state() != StateDisconnected {
		t.Fatalf("state %s", h.state())
	}
	last := h.events[len(h.events)-1]
	if last.Kind != EventState || last.Code != proto.CodeGaveUp || !last.Code.Terminal() {
		t.Fatalf("last event %+v, want disconnected with 4907", last)
	}
}

func TestProbeDropsSilentConnection(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Snapshot{})
	h.connect("e1")
	h.takeWrites()
	h.c.Probe(h.now, 1500*time.Millisecond)
	h.poll()
	h.lastWrite(proto.TypePing)
	d, ok := h.c.NextDeadline()
	if !ok || d.Sub(h.now) > 1500*time.Millisecond {
		t.Fatalf("next deadline %v after a probe, want within 1.5 s", d.Sub(h.now))
	}
	start := h.now
	for h.state() == StateConnected && h.now.Sub(start) <= 1500*time.Millisecond {
		d, _ := h.c.NextDeadline()
		h.now = d
		h.c.HandleTimeout(h.now)
		h.poll()
	}
	if h.now.Sub(start) > 1500*time.Millisecond {
		t.Fatalf("dropped after %v, want 1.5 s", h.now.Sub(start))
	}
	if h.state() != StateReconnecting || len(h.closes) == 0 || h.closes[len(h.closes)-1].Code != proto.CodeHeartbeatTimeout {
		t.Fatalf("state %s closes %+v: an unanswered probe must drop the connection", h.state(), h.closes)
	}
}

func TestProbeAnsweredKeepsConnection(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Snapshot{})
	h.connect("e1")
	h.c.Probe(h.now, time.Second)
	h.poll()
	h.now = h.now.Add(100 * time.Millisecond)
	h.relay(proto.TypePong, 0, &proto.Pong{})
	h.now = h.now.Add(time.Second)
	h.c.HandleTimeout(h.now)
	h.poll()
	if h.state() != StateConnected {
		t.Fatalf("state %s: an answered probe must keep the connection", h.state())
	}
}

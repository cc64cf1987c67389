package core

import (
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
)

func TestTypingThrottledAndDroppedOffline(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Snapshot{})
	conv := proto.P2PID("alice", "bob")
	// Offline: nothing written, nothing queued for later.
	if err := h.c.Typing(h.now, conv); err != nil {
		t.Fatal(err)
	}
	h.connect("e1")
	h.takeWrites()
	typed := func() int {
		n := 0
		for _, f := range h.takeWrites() {
			if f.Type == proto.TypeTyping {
				if f.ID != 0 || *f.Body.(*proto.Typing) != (proto.Typing{ConvID: conv}) {
					t.Fatalf("typing frame %+v", f)
				}
				n++
			}
		}
		return n
	}
	if n := typed(); n != 0 {
		t.Fatalf("a typing made offline was sent on connect (%d)", n)
	}
	for range 5 { // every key press
		if err := h.c.Typing(h.now, conv); err != nil {
			t.Fatal(err)
		}
		h.poll()
	}
	if n := typed(); n != 1 {
		t.Fatalf("%d typing frames for five calls at once, want 1", n)
	}
	h.now = h.now.Add(TypingEvery - time.Millisecond)
	h.c.Typing(h.now, conv)
	h.poll()
	if n := typed(); n != 0 {
		t.Fatalf("a typing frame within %s", TypingEvery)
	}
	h.now = h.now.Add(time.Millisecond)
	h.c.Typing(h.now, conv)
	h.poll()
	if n := typed(); n != 1 {
		t.Fatalf("no typing frame after %s", TypingEvery)
	}
	if err := h.c.Typing(h.now, "not a conversation"); err == nil {
		t.Fatal("an invalid conversation id accepted")
	}
}

func TestTypingEvent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Snapshot{})
	h.connect("e1")
	conv := proto.P2PID("alice", "bob")
	h.relay(proto.TypeTyping, 0, &proto.Typing{ConvID: conv, User: "bob"})
	h.relay(proto.TypeTyping, 0, &proto.Typing{ConvID: conv, User: "alice"}) // this user, on another device
	var got []Typing
	for _, e := range h.events {
		if e.Kind == EventTyping {
			got = append(got, *e.Typing)
		}
	}
	if len(got) != 1 || got[0] != (Typing{ConvID: conv, User: "bob"}) {
		t.Fatalf("typing events %+v", got)
	}
	if len(h.store.messages) != 0 {
		t.Fatal("a typing event stored something")
	}
	// A typing frame without a user makes no sense: the connection drops.
	h.relay(proto.TypeTyping, 0, &proto.Typing{ConvID: conv})
	if len(h.closes) != 1 || h.closes[0].Code != proto.CodeBadServerFrame {
		t.Fatalf("closes %+v", h.closes)
	}
}

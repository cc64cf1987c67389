package client

import (
	"reflect"
	"testing"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// testLifecycleCache checks that a store keeps every lifecycle field and
// that a batch's lifecycle events change their stored targets (amendBatch):
// a recall leaves no text of the message, nor of its edits, in the cache.
func testLifecycleCache(t *testing.T, s Store) {
	t.Helper()
	g := "g:t"
	apply := func(b *core.Batch) []core.Message {
		t.Helper()
		up := amendBatch(s, b, "alice", func(err error) { t.Fatal(err) })
		if err := s.Apply(b); err != nil {
			t.Fatal(err)
		}
		return up
	}
	get := func(seq uint64) core.Message {
		t.Helper()
		ms, err := s.Messages(g, seq+1, 1)
		if err != nil || len(ms) != 1 || ms[0].Seq != seq {
			t.Fatalf("message %d: %+v %v", seq, ms, err)
		}
		return ms[0]
	}
	m1 := core.Message{ID: g + "#1", ClientID: "c1", ConvID: g, Seq: 1, Sender: "bob", Type: proto.MsgText, Text: "secret plan",
		CreatedAt: 10, Status: core.StatusSent, Mentions: []string{"alice", proto.MentionAll}}
	m2 := core.Message{ID: g + "#2", ClientID: "c2", ConvID: g, Seq: 2, Sender: "alice", Type: proto.MsgText, Text: "ok",
		CreatedAt: 11, Status: core.StatusSent, ReplyTo: g + "#1"}
	ev := func(seq uint64, sender, op string, target uint64, text string) core.Message {
		return core.Message{ID: proto.MessageID(g, seq), ClientID: "e" + op, ConvID: g, Seq: seq, Sender: sender, Type: op,
			Text: text, CreatedAt: int64(10 + seq), Status: core.StatusSent, Target: target}
	}
	// The targets and the first events in one batch.
	react := ev(3, "carol", proto.MsgReact, 2, "👍")
	up := apply(&core.Batch{Messages: []core.Message{m1, m2, react}, Amend: []core.Message{react}})
	if len(up) != 1 || up[0].Seq != 2 {
		t.Fatalf("updated %+v", up)
	}
	got := get(1)
	if !reflect.DeepEqual(got, m1) {
		t.Fatalf("stored\n %+v\nwant %+v", got, m1)
	}
	got = get(2)
	same(t, got.ReplyTo, g+"#1", "replyTo")
	same(t, got.Reactions, []core.Reaction{{Emoji: "👍", Users: []string{"carol"}}}, "reactions")
	// Later batches read their targets from the store.
	edit := ev(4, "bob", proto.MsgEdit, 1, "secret plan v2")
	stored := edit
	stored.Text = "" // as the core stores an edit event
	apply(&core.Batch{Messages: []core.Message{stored}, Amend: []core.Message{edit}})
	same(t, [2]any{get(1).Text, get(1).EditedAt}, [2]any{"secret plan v2", int64(14)}, "edited")
	react2 := ev(5, "alice", proto.MsgReact, 2, "👍")
	hide := ev(6, "alice", proto.MsgHide, 2, "")
	apply(&core.Batch{Messages: []core.Message{react2, hide}, Amend: []core.Message{react2, hide}})
	got = get(2)
	same(t, got.Reactions, []core.Reaction{{Emoji: "👍", Users: []string{"carol", "alice"}}}, "two reactions")
	same(t, got.Hidden, true, "hidden for me")
	recall := ev(7, "bob", proto.MsgRecall, 1, "")
	up = apply(&core.Batch{Messages: []core.Message{recall}, Amend: []core.Message{recall}})
	got = get(1)
	if !got.Recalled || got.Text != "" || got.Mentions != nil || len(up) != 1 || !up[0].Recalled {
		t.Fatalf("recalled: %+v (updated %+v)", got, up)
	}
	all, err := s.Messages(g, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range all {
		if m.Text == "secret plan" || m.Text == "secret plan v2" {
			t.Fatalf("the recalled text is still cached in %+v", m)
		}
	}
	// An event whose target the store does not hold changes nothing.
	orphan := ev(8, "bob", proto.MsgRecall, 99, "")
	if up := apply(&core.Batch{Messages: []core.Message{orphan}, Amend: []core.Message{orphan}}); len(up) != 0 {
		t.Fatalf("an orphan event updated %+v", up)
	}
}

func TestLifecycleCache(t *testing.T) {
	t.Parallel()
	for name, open := range testStores() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := open(t, "lifecycle.db")
			defer s.Close()
			testLifecycleCache(t, s)
		})
	}
}

func same[T any](t *testing.T, got, want T, what string) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: got %+v, want %+v", what, got, want)
	}
}

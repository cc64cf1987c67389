package client

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"syscall/js"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// memoryAdapter is a StorageAdapter written in JavaScript that keeps the
// objects it is given, as the IndexedDB one does, and answers a macrotask
// later.
const memoryAdapter = `
const db = { meta: null, convs: new Map(), msgs: new Map(), outbox: new Map() };
const later = (f) => new Promise((resolve) => setTimeout(() => resolve(f()), 0));
return {
  db,
  load: () => later(() => db.meta === null ? null :
    { meta: db.meta, conversations: [...db.convs.values()], outbox: [...db.outbox.values()].sort((a, b) => a.order - b.order) }),
  apply: (b) => later(() => {
    if (b instanceof Uint8Array) throw new Error('apply got bytes');
    if (b.reset) { db.convs.clear(); db.msgs.clear(); }
    if (b.meta) db.meta = b.meta;
    for (const c of b.conversations ?? []) db.convs.set(c.id, c);
    for (const m of b.messages ?? []) db.msgs.set(m.conversationId + '\u0000' + m.seq, m);
    for (const e of b.outboxPut ?? []) db.outbox.set(e.message.clientId, e);
    for (const id of b.outboxDelete ?? []) db.outbox.delete(id);
  }),
  messages: (conv, before, limit) => later(() => [...db.msgs.values()]
    .filter((m) => m.conversationId === conv && (before === 0 || m.seq < before))
    .sort((a, b) => a.seq - b.seq).slice(-limit)),
  close: () => later(() => undefined),
};`

func newJSAdapter(t *testing.T) (Store, js.Value) {
	t.Helper()
	a := js.Global().Get("Function").New(memoryAdapter).Invoke()
	s, err := NewJSStore(a, false)
	if err != nil {
		t.Fatal(err)
	}
	return s, a
}

// TestJSStoreObjects round-trips every field of every shape through a
// JavaScript adapter, as plain objects: text that JSON must escape,
// invalid UTF-8 (stored as U+FFFD), bodies (base64), the largest exact
// integers.
func TestJSStoreObjects(t *testing.T) {
	s, a := newJSAdapter(t)
	defer s.Close()
	text := "quote \" backslash \\ nl \n tab \t nul \x00 bell \x07 ü 中文 😀 \u2028"
	last := core.Message{ID: "g:t#2", ClientID: "c2", ConvID: "g:t", Seq: 2, Sender: "bob", Device: "d9", Type: "custom",
		Body: []byte{0, 1, 254, 255}, CreatedAt: 1 << 53, LocalTime: 7, Status: core.StatusSent}
	conv := core.Conversation{ID: "g:t", Kind: "group", Name: text, Members: []string{"alice", "bob"}, LastMessage: &last,
		LastSeq: 2, ReadSeq: 1, Unread: 1, SyncedSeq: 2, Version: 1<<53 - 1}
	msgs := []core.Message{
		{ID: "g:t#1", ClientID: "c1", ConvID: "g:t", Seq: 1, Sender: "alice", Type: "text", Text: text, CreatedAt: 5, Status: core.StatusSent},
		last,
	}
	failed := core.OutboxEntry{Order: 3, Message: core.Message{ID: "local:c3", ClientID: "c3", ConvID: "g:t", Sender: "alice",
		Type: "text", Text: "x", CreatedAt: 9, LocalTime: 9, Status: core.StatusFailed, ErrorCode: proto.CodeForbidden}}
	meta := core.Meta{DeviceID: "d", UserID: "alice", Epoch: "e1", SyncCursor: 12, NextOrder: 4,
		Profiles: []core.Profile{{User: "bob", Nickname: "Bob", Avatar: "https://x/b.png", Custom: "{}", UpdatedAt: 7}, {User: "carol", UpdatedAt: 8, Deleted: true}}}
	if err := s.Apply(&core.Batch{Meta: &meta, Conversation: []core.Conversation{conv}, Messages: msgs, OutboxPut: []core.OutboxEntry{failed}}); err != nil {
		t.Fatal(err)
	}
	if got := a.Get("db").Get("meta").Get("epoch").String(); got != "e1" {
		t.Fatalf("the adapter holds meta.epoch %q: not an object", got)
	}
	snap, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	want := core.Snapshot{Meta: meta, Conversations: []core.Conversation{conv}, Outbox: []core.OutboxEntry{failed}}
	if !reflect.DeepEqual(snap, want) {
		t.Fatalf("load:\n got %+v\nwant %+v", snap, want)
	}
	page, err := s.Messages("g:t", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(page, msgs) {
		t.Fatalf("messages:\n got %+v\nwant %+v", page, msgs)
	}

	bad := core.Message{ID: "g:t#3", ClientID: "c4", ConvID: "g:t", Seq: 3, Text: "a\xffb", Status: core.StatusSent}
	if err := s.Apply(&core.Batch{Messages: []core.Message{bad}}); err != nil {
		t.Fatal(err)
	}
	page, _ = s.Messages("g:t", 0, 1)
	if len(page) != 1 || page[0].Text != "a\uFFFDb" {
		t.Fatalf("invalid UTF-8 came back as %+v", page)
	}
}

// TestJSStoreRejectsBadShapes: an adapter that returns the wrong types
// fails the call with the storage code and names the field.
func TestJSStoreRejectsBadShapes(t *testing.T) {
	for name, tc := range map[string]struct{ src, field string }{
		"bytes instead of a snapshot": {`return { load: async () => new TextEncoder().encode('{}'), apply: async () => {}, messages: async () => [], close: async () => {} }`, "Uint8Array"},
		"a string seq":                {`return { load: async () => null, apply: async () => {}, messages: async () => [{ id: 'x', seq: '1' }], close: async () => {} }`, "seq"},
		"a fractional cursor":         {`return { load: async () => ({ meta: { syncCursor: 1.5 } }), apply: async () => {}, messages: async () => [], close: async () => {} }`, "syncCursor"},
		"a page that is no array":     {`return { load: async () => null, apply: async () => {}, messages: async () => ({}), close: async () => {} }`, "array"},
		"bad base64":                  {`return { load: async () => null, apply: async () => {}, messages: async () => [{ body: '!!' }], close: async () => {} }`, "body"},
		"a negative event seq":        {`return { load: async () => ({ meta: {}, conversations: [{ id: 'g:t', lastSeq: 9, readSeq: 1, eventSeqs: [4, -1] }] }), apply: async () => {}, messages: async () => [], close: async () => {} }`, "eventSeqs"},
		"a fractional event seq":      {`return { load: async () => ({ meta: {}, conversations: [{ id: 'g:t', lastSeq: 9, readSeq: 1, eventSeqs: [4, 2.5] }] }), apply: async () => {}, messages: async () => [], close: async () => {} }`, "eventSeqs"},
		"an event seq past 2^53":      {`return { load: async () => ({ meta: {}, conversations: [{ id: 'g:t', lastSeq: 9, readSeq: 1, eventSeqs: [4, 2 ** 60] }] }), apply: async () => {}, messages: async () => [], close: async () => {} }`, "eventSeqs"},
		"a NaN event seq":             {`return { load: async () => ({ meta: {}, conversations: [{ id: 'g:t', lastSeq: 9, readSeq: 1, eventSeqs: [4, NaN] }] }), apply: async () => {}, messages: async () => [], close: async () => {} }`, "eventSeqs"},
		"a string event seq":          {`return { load: async () => ({ meta: {}, conversations: [{ id: 'g:t', lastSeq: 9, readSeq: 1, eventSeqs: [4, '3'] }] }), apply: async () => {}, messages: async () => [], close: async () => {} }`, "eventSeqs"},
		"a negative mention seq":      {`return { load: async () => ({ meta: {}, conversations: [{ id: 'g:t', lastSeq: 9, readSeq: 1, mentionSeqs: [4, -1] }] }), apply: async () => {}, messages: async () => [], close: async () => {} }`, "mentionSeqs"},
	} {
		t.Run(name, func(t *testing.T) {
			s, err := NewJSStore(js.Global().Get("Function").New(tc.src).Invoke(), false)
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Load()
			if err == nil {
				_, err = s.Messages("g:t", 0, 10)
			}
			var pe *proto.Error
			if !errors.As(err, &pe) || pe.Code != storageCode || !contains(pe.Message, tc.field) {
				t.Fatalf("err = %v, want code %d naming %q", err, storageCode, tc.field)
			}
		})
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// TestJSStoreStartsWritesInOrder: startApply calls storage.apply at once,
// in the order it is called, without waiting for the previous write to
// settle, and each outcome comes when its own Promise settles (a
// rejection as the storage error).
func TestJSStoreStartsWritesInOrder(t *testing.T) {
	a := js.Global().Get("Function").New(`const calls = [], settle = [];
return { calls, settle,
  load: async () => null, messages: async () => [], close: async () => {},
  apply: (b) => { calls.push(b.meta.syncCursor); return new Promise((resolve, reject) => settle.push([resolve, reject])); } };`).Invoke()
	s, err := NewJSStore(a, false)
	if err != nil {
		t.Fatal(err)
	}
	ws := s.(writeStarter)
	var outs []<-chan error
	for cursor := uint64(1); cursor <= 3; cursor++ {
		done, _, _ := ws.startApply(&core.Batch{Meta: &core.Meta{SyncCursor: cursor}})
		outs = append(outs, done)
	}
	deadline := time.Now().Add(10 * time.Second)
	for a.Get("calls").Length() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("storage.apply called %d times, want 3 before any settled", a.Get("calls").Length())
		}
		time.Sleep(time.Millisecond)
	}
	for i := range 3 {
		if got := a.Get("calls").Index(i).Int(); got != i+1 {
			t.Fatalf("call %d wrote cursor %d, want %d", i, got, i+1)
		}
	}
	settle := a.Get("settle")
	settle.Index(0).Index(0).Invoke()
	if err := <-outs[0]; err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-outs[1]:
		t.Fatalf("the second write ended (%v) before its Promise settled", err)
	case <-time.After(10 * time.Millisecond):
	}
	settle.Index(1).Index(1).Invoke(js.ValueOf(map[string]any{"message": "quota exceeded"}))
	settle.Index(2).Index(0).Invoke()
	var pe *proto.Error
	if err := <-outs[1]; !errors.As(err, &pe) || pe.Code != storageCode || !contains(pe.Message, "storage.apply: quota exceeded") {
		t.Fatalf("the rejected write: %v", err)
	}
	if err := <-outs[2]; err != nil {
		t.Fatal(err)
	}
}

// markedStore is a host storage adapter's Store whose writes hand their
// messages' JSON back marked ("status":"stored" for "sent"), so that an
// event carrying that JSON shows where its message came from.
type markedStore struct {
	Store
	ws writeStarter
}

func (s *markedStore) startApply(b *core.Batch) (<-chan error, [][]byte, *HostBatch) {
	done, msgs, hb := s.ws.startApply(b)
	out := make([][]byte, len(msgs))
	for i, m := range msgs {
		out[i] = []byte(strings.Replace(string(m), `"status":"sent"`, `"status":"stored"`, 1))
	}
	return done, out, hb
}

// TestStoredMessageEventsReuseTheirStoreJSON: a device syncing a
// conversation's history into the host's storage adapter announces each
// message with the JSON its store write encoded it as, its own message's
// and no other, instead of encoding it again: the event texts are those
// of the events themselves, byte for byte, with the store write's marks
// (markedStore) on exactly the message events, but for the one message
// that write changed (an edit in the same page), whose event is encoded
// from its own message.
func TestStoredMessageEventsReuseTheirStoreJSON(t *testing.T) {
	t.Parallel()
	url, _ := startRelay(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	alice := open(t, url, "alice", "a1", nil)
	if err := alice.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	conv := alice.P2P("bob")
	const n = 25
	for i := range n {
		text := fmt.Sprintf("message %d \"quoted\" \\ ü 😀", i)
		var err error
		if i%5 == 4 {
			_, err = alice.Send(ctx, conv, "custom", "", []byte{byte(i), 0, 255})
		} else {
			_, err = alice.SendText(ctx, conv, text)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// The edit lands in the last page with its target, which the client
	// applies to the target in that page's store write: the target's
	// message event is encoded from its own message, not the write's.
	const edited = 23
	if err := alice.Edit(ctx, proto.MessageID(conv, edited), "edited"); err != nil {
		t.Fatal(err)
	}

	st, _ := newJSAdapter(t)
	var mu sync.Mutex
	var events []core.Event
	var texts []string
	bob, err := New(Options{URL: url, Token: tokenFor(t, "bob"), Store: &markedStore{st, st.(writeStarter)}, Seed: 7,
		Config: core.Config{DeviceID: "b1", HistoryPage: 10},
		OnEvent: func(e core.Event) {
			mu.Lock()
			events = append(events, e)
			mu.Unlock()
		},
		OnEventJSON: func(b []byte, _ *HostBatch) {
			mu.Lock()
			texts = append(texts, string(b))
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	if err := bob.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := bob.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(texts) != len(events) {
		t.Fatalf("%d event texts for %d events", len(texts), len(events))
	}
	var seqs []uint64
	for i, e := range events {
		want := string(AppendEvent(nil, &e))
		if e.Kind == core.EventMessage {
			seqs = append(seqs, e.Message.Seq)
			if e.Message.Seq != edited {
				want = strings.Replace(want, `"status":"sent"`, `"status":"stored"`, 1)
			}
		}
		if texts[i] != want {
			t.Fatalf("event %d (%s): the text is\n%s\nwant\n%s", i, e.Kind, texts[i], want)
		}
	}
	if len(seqs) != n || seqs[0] != 1 || seqs[n-1] != n {
		t.Fatalf("message events for seqs %v, want 1..%d", seqs, n)
	}
}

// sharingHost is a host whose onEvents takes the messages of stored
// events from the batches that go with them, as the bindings' host does,
// and keeps the message of each message event; shared then tells, for
// each of them, whether it is the very object the storage adapter keeps
// (db.msgs, memoryAdapter, which stores a batch a macrotask after it got
// it).
const sharingHost = `(db) => {
  const got = [];
  return {
    got,
    onEvent: () => { throw new Error('onEvent called on a host with onEvents'); },
    onEvents: (events, stored) => {
      for (const e of events) {
        if (e.stored) e.message = stored[e.stored[0]][e.stored[1]];
        if (e.kind === 'message') got.push(e.message);
      }
    },
    shared: () => got.map((m) => db.msgs.get(m.conversationId + '\u0000' + m.seq) === m),
  };
}`

// TestStoredMessageEventsShareTheirBatch: with share, the message events
// of a sync through the host's storage adapter carry no JSON of their
// message but its place in the batch handed to the adapter, and the host
// gets the very objects the adapter got: each message once, in order,
// with its own fields; but for the message that write changed (an edit
// in the same page), whose event carries the message as it was first
// stored, encoded from itself. It fails when an event names another
// message of its batch, a batch of another write, or when the edited
// message's event takes the batch's edited copy.
func TestStoredMessageEventsShareTheirBatch(t *testing.T) {
	t.Parallel()
	url, _ := startRelay(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	alice := open(t, url, "alice", "a1", nil)
	if err := alice.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	conv := alice.P2P("bob")
	const n = 25
	for i := range n {
		if _, err := alice.SendText(ctx, conv, fmt.Sprintf("message %d", i+1)); err != nil {
			t.Fatal(err)
		}
	}
	const edited = 23
	if err := alice.Edit(ctx, proto.MessageID(conv, edited), "edited"); err != nil {
		t.Fatal(err)
	}

	a := js.Global().Get("Function").New(memoryAdapter).Invoke()
	st, err := NewJSStore(a, true)
	if err != nil {
		t.Fatal(err)
	}
	h := js.Global().Get("Function").New("return " + sharingHost).Invoke().Invoke(a.Get("db"))
	var mu sync.Mutex
	var texts []string // of the message events, as the client announced them
	bob, err := New(Options{URL: url, Token: tokenFor(t, "bob"), Store: st, Seed: 7,
		Config: core.Config{DeviceID: "b1", HistoryPage: 10},
		OnEvent: func(e core.Event) {
			if e.Kind == core.EventMessage {
				mu.Lock()
				texts = append(texts, e.Message.Text)
				mu.Unlock()
			}
		},
		OnEventJSON: func(b []byte, from *HostBatch) { CallHostEvent(h, b, from) }})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	if err := bob.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := bob.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	CallHost(func() { close(done) }) // behind every event queued so far
	<-done
	got, sharedAll := h.Get("got"), h.Call("shared")
	mu.Lock()
	defer mu.Unlock()
	if got.Length() != n || len(texts) != n {
		t.Fatalf("%d message events reached the host, %d announced, want %d", got.Length(), len(texts), n)
	}
	for i := 0; i < n; i++ {
		e := got.Index(i)
		seq, text, shared := e.Get("seq").Int(), e.Get("text").String(), sharedAll.Index(i).Bool()
		if seq != i+1 || text != texts[i] || e.Get("status").String() != "sent" {
			t.Fatalf("event %d: seq %d %q %s, want seq %d %q sent", i, seq, text, e.Get("status").String(), i+1, texts[i])
		}
		if shared != (seq != edited) {
			t.Fatalf("event of seq %d: shares the adapter's object %v, want %v", seq, shared, seq != edited)
		}
	}
}

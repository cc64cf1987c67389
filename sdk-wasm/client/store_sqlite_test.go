package client

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/parley-im/parley/sdk-wasm/core"
)

// TestStores runs the same checks against every core.Store implementation.
func TestStores(t *testing.T) {
	t.Parallel()
	stores := map[string]func(t *testing.T) core.Store{
		"memory": func(*testing.T) core.Store { return core.NewMemoryStore() },
		"sqlite": func(t *testing.T) core.Store {
			s, err := OpenSQLiteStore(filepath.Join(t.TempDir(), "c.db"))
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			defer s.Close()
			conv := core.Conversation{ID: "p:a:b", Kind: "p2p", LastSeq: 3, SyncedSeq: 3}
			var msgs []core.Message
			for seq := uint64(1); seq <= 3; seq++ {
				msgs = append(msgs, core.Message{ID: "p:a:b#x", ConvID: "p:a:b", Seq: seq, Text: "m", Status: core.StatusSent})
			}
			out := core.OutboxEntry{Order: 4, Message: core.Message{ClientID: "c1", ConvID: "p:a:b", Status: core.StatusPending}}
			meta := core.Meta{DeviceID: "d", UserID: "a", Epoch: "e", SyncCursor: 9, NextOrder: 5}
			if err := s.Apply(&core.Batch{Meta: &meta, Conversation: []core.Conversation{conv}, Messages: msgs, OutboxPut: []core.OutboxEntry{out}}); err != nil {
				t.Fatal(err)
			}
			snap, err := s.Load()
			if err != nil {
				t.Fatal(err)
			}
			if snap.Meta != meta || len(snap.Conversations) != 1 || !reflect.DeepEqual(snap.Outbox, []core.OutboxEntry{out}) {
				t.Fatalf("snapshot %+v", snap)
			}
			page, _ := s.Messages("p:a:b", 3, 1)
			if len(page) != 1 || page[0].Seq != 2 {
				t.Fatalf("messages before 3, limit 1: %+v", page)
			}
			page, _ = s.Messages("p:a:b", 0, 10)
			if len(page) != 3 || page[0].Seq != 1 {
				t.Fatalf("all messages ascending: %+v", page)
			}
			// An epoch reset drops the cache and keeps the outbox.
			if err := s.Apply(&core.Batch{Reset: true, OutboxDelete: []string{"nope"}}); err != nil {
				t.Fatal(err)
			}
			snap, _ = s.Load()
			page, _ = s.Messages("p:a:b", 0, 10)
			if len(snap.Conversations) != 0 || len(page) != 0 || len(snap.Outbox) != 1 {
				t.Fatalf("after reset: %+v, %d messages", snap, len(page))
			}
		})
	}
}

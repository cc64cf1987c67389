package client

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// TestStores runs the same checks against every Store of the platform.
func TestStores(t *testing.T) {
	t.Parallel()
	for name, open := range testStores() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := open(t, "c.db")
			defer s.Close()
			conv := core.Conversation{ID: "p:a:b", Kind: "p2p", LastSeq: 3, SyncedSeq: 3}
			var msgs []core.Message
			for seq := uint64(1); seq <= 3; seq++ {
				msgs = append(msgs, core.Message{ID: "p:a:b#x", ConvID: "p:a:b", Seq: seq, Text: "m", Status: core.StatusSent})
			}
			out := core.OutboxEntry{Order: 4, Message: core.Message{ClientID: "c1", ConvID: "p:a:b", Status: core.StatusPending}}
			meta := core.Meta{DeviceID: "d", UserID: "a", Epoch: "e", SyncCursor: 9, NextOrder: 5,
				Profiles: []core.Profile{{User: "b", Nickname: "Bob", Avatar: "https://x/b.png", UpdatedAt: 7}, {User: "c", UpdatedAt: 8, Deleted: true}}}
			if err := s.Apply(&core.Batch{Meta: &meta, Conversation: []core.Conversation{conv}, Messages: msgs, OutboxPut: []core.OutboxEntry{out}}); err != nil {
				t.Fatal(err)
			}
			snap, err := s.Load()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(snap.Meta, meta) || len(snap.Conversations) != 1 || !reflect.DeepEqual(snap.Outbox, []core.OutboxEntry{out}) {
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

// TestStoreSearch checks every Searcher of the platform against the core's own
// semantics (SearchQuery.Match and SortResults over every message): a seeded
// corpus with German and Chinese text and many ties of createdAt, searched
// in every conversation and across all of them, paged at several sizes.
func TestStoreSearch(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 7))
	words := []string{"Ärger", "ärger", "ÄRGER", "Straße", "我们明天开会吧", "开会", "hello", "HeLLo", "world", "Σοφία", "σοφία"}
	convs := []string{"p:a:b", "p:a:c", "g:team"}
	var all []core.Message
	for i := 0; i < 300; i++ {
		conv := convs[rng.IntN(len(convs))]
		var text []string
		for n := rng.IntN(4); n >= 0; n-- {
			text = append(text, words[rng.IntN(len(words))])
		}
		seq := uint64(1)
		for _, m := range all {
			if m.ConvID == conv {
				seq++
			}
		}
		all = append(all, core.Message{
			ID: proto.MessageID(conv, seq), ClientID: fmt.Sprintf("c%d", i), ConvID: conv, Seq: seq, Sender: "a",
			Type: proto.MsgText, Text: strings.Join(text, " "), CreatedAt: 1000 + int64(rng.IntN(60)), Status: core.StatusSent,
		})
	}
	// reference is the answer every store must give: the core's semantics
	// applied to every message.
	reference := func(q core.SearchQuery) []core.Message {
		var out []core.Message
		for i := range all {
			if q.Match(&all[i], core.Fold(all[i].Text)) {
				out = append(out, all[i])
			}
		}
		core.SortResults(out)
		return out
	}
	ids := func(ms []core.Message) []string {
		var out []string
		for _, m := range ms {
			out = append(out, m.ID)
		}
		return out
	}
	for name, open := range testStores() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := open(t, "search.db")
			defer s.Close()
			// Two batches, the second rewriting some messages of the first:
			// the store keeps one copy of each.
			if err := s.Apply(&core.Batch{Messages: all[:200]}); err != nil {
				t.Fatal(err)
			}
			if err := s.Apply(&core.Batch{Messages: all[150:]}); err != nil {
				t.Fatal(err)
			}
			search := func(text string, o core.SearchOptions) []core.Message {
				t.Helper()
				q, err := core.NewSearch(text, o)
				if err != nil {
					t.Fatal(err)
				}
				got, err := s.(Searcher).Search(&q)
				if err != nil {
					t.Fatal(err)
				}
				return got
			}

			// The plain cases, spelled out.
			for _, m := range search("ärger", core.SearchOptions{Limit: 100}) {
				if !strings.Contains(strings.ToLower(m.Text), "ärger") {
					t.Fatalf("ärger found %q", m.Text)
				}
			}
			upper, lower := search("ÄRGER", core.SearchOptions{Limit: 100}), search("ärger", core.SearchOptions{Limit: 100})
			if len(lower) == 0 || !reflect.DeepEqual(ids(upper), ids(lower)) {
				t.Fatalf("ÄRGER found %d, ärger %d: case must not matter", len(upper), len(lower))
			}
			for _, m := range search("明天开", core.SearchOptions{Limit: 100}) {
				if !strings.Contains(m.Text, "我们明天开会吧") {
					t.Fatalf("明天开 found %q", m.Text)
				}
			}
			if got := search("qqq", core.SearchOptions{}); len(got) != 0 {
				t.Fatalf("qqq found %v", ids(got))
			}

			// Every query, in every scope, paged at every size, gives the
			// reference's results: newest first, no duplicate, no gap.
			for _, text := range []string{"ärger", "开会", "会", "Hello", "σοφία", "straße", "e", "qqq"} {
				for _, conv := range append([]string{""}, convs...) {
					q, _ := core.NewSearch(text, core.SearchOptions{ConvID: conv, Limit: 100})
					want := ids(reference(q))
					for _, limit := range []int{1, 7, 100} {
						var got []string
						var before *core.SearchCursor
						for pages := 0; ; pages++ {
							page := search(text, core.SearchOptions{ConvID: conv, Limit: limit, Before: before})
							if len(page) > limit {
								t.Fatalf("seed %d: %q in %q: a page of %d with limit %d", seed, text, conv, len(page), limit)
							}
							if pages > len(all) {
								t.Fatalf("seed %d: %q in %q by %d: paging does not end", seed, text, conv, limit)
							}
							if len(page) == 0 {
								break
							}
							got = append(got, ids(page)...)
							c := core.CursorOf(&page[len(page)-1])
							before = &c
						}
						if !reflect.DeepEqual(got, want) {
							t.Fatalf("seed %d: %q in %q by %d:\n got %v\nwant %v", seed, text, conv, limit, got, want)
						}
					}
				}
			}
		})
	}
}

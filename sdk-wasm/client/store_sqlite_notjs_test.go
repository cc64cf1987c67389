//go:build !js

package client

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// testStores are the stores of a native program; each can search.
func testStores() map[string]func(t *testing.T, file string) Store {
	return map[string]func(t *testing.T, file string) Store{
		"memory": func(*testing.T, string) Store { return NewMemoryStore() },
		"sqlite": func(t *testing.T, file string) Store {
			s, err := OpenSQLiteStore(filepath.Join(t.TempDir(), file))
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
}

// TestSQLiteStoreUpgrade opens a store written before search existed: the
// migration adds and fills the search columns, and the cache keeps working.
func TestSQLiteStoreUpgrade(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(clientSchema); err != nil { // the first schema, user_version 0
		t.Fatal(err)
	}
	for seq, text := range []string{"Kein Ärger", "你好世界", "later"} {
		m := core.Message{ID: proto.MessageID("p:a:b", uint64(seq+1)), ClientID: fmt.Sprint(seq), ConvID: "p:a:b", Seq: uint64(seq + 1),
			Text: text, CreatedAt: int64(100 + seq), Status: core.StatusSent}
		data, _ := json.Marshal(m)
		if _, err := db.Exec(`INSERT INTO messages (conv_id, seq, data) VALUES (?, ?, ?)`, m.ConvID, m.Seq, string(data)); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s, err := OpenSQLiteStore(path)
	if err != nil {
		t.Fatal(err)
	}
	q, _ := core.NewSearch("ÄRGER", core.SearchOptions{})
	got, err := s.Search(&q)
	if err != nil || len(got) != 1 || got[0].Seq != 1 {
		t.Fatalf("search after upgrade: %+v, %v", got, err)
	}
	if page, _ := s.Messages("p:a:b", 0, 10); len(page) != 3 {
		t.Fatalf("messages after upgrade: %d", len(page))
	}
	s.Close()
	// Opening again runs no migration twice.
	s, err = OpenSQLiteStore(path)
	if err != nil {
		t.Fatal(err)
	}
	q, _ = core.NewSearch("世界", core.SearchOptions{})
	if got, err := s.Search(&q); err != nil || len(got) != 1 || got[0].Seq != 2 {
		t.Fatalf("search after reopening: %+v, %v", got, err)
	}
	s.Close()
}

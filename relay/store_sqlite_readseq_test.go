//go:build !js

package relay

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/parley-im/parley/proto"
)

// TestSQLiteMigrateImpliedReads: a database of schema version 10, in which
// every message stored its sender's read cursor in the member row, opens
// with all it holds — each user's conversations as Sync lists them, read
// and peer cursors included, the history, exactly-once for an old client
// id — and the cursors move on from there. The data is written by this
// build and taken back to version 10 the way a version 10 relay would have
// stored it: the implied cursors written into the member rows, the
// conversation columns dropped.
func TestSQLiteMigrateImpliedReads(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	s, err := OpenSQLite(dir, SQLiteOptions{Synchronous: "NORMAL"})
	ok(t, err)
	ab, ac := proto.P2PID("alice", "bob"), proto.P2PID("alice", "carol")
	send := func(s Store, sender, conv, cid string) AppendResult {
		t.Helper()
		res, err := s.Append(ctx, []AppendRequest{textReq(sender, conv, cid)})
		ok(t, err)
		if res[0].Err != nil {
			t.Fatal(res[0].Err)
		}
		return res[0]
	}
	_, _, err = s.CreateGroup(ctx, GroupSpec{ID: "g:m", Creator: "alice", CreatedAt: 1, Members: []string{"alice", "bob", "carol"}})
	ok(t, err)
	for i, m := range [][2]string{{"alice", ab}, {"bob", ab}, {"alice", ab}, {"carol", ac}, {"bob", "g:m"}, {"alice", ac}, {"carol", "g:m"}, {"bob", ab}} {
		send(s, m[0], m[1], fmt.Sprint(i))
	}
	_, _, err = markRead(ctx, s, "carol", ac, 6)
	ok(t, err)
	users := []string{"alice", "bob", "carol"}
	views := func(s Store) map[string][]proto.Conversation {
		t.Helper()
		out := make(map[string][]proto.Conversation)
		for _, u := range users {
			for cursor, more := uint64(0), true; more; {
				var convs []proto.Conversation
				var err error
				convs, more, err = s.Sync(ctx, u, cursor, 10)
				ok(t, err)
				for _, c := range convs {
					cursor = c.Version
				}
				out[u] = append(out[u], convs...)
			}
		}
		return out
	}
	before := views(s)
	equal(t, [2]uint64{before["alice"][2].ReadSeq, before["alice"][2].PeerReadSeq}, [2]uint64{3, 4}, "alice's view of "+ab)
	history, err := s.History(ctx, "alice", proto.History{ConvID: ab, Limit: 100})
	ok(t, err)
	ok(t, s.Close())

	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "parley.db"))
	ok(t, err)
	for _, q := range []string{
		`UPDATE members AS m SET read_seq = ` + sqliteReadSeq + ` FROM conversations AS c WHERE c.id = m.conv_id`,
		`ALTER TABLE conversations DROP COLUMN sent_a`,
		`ALTER TABLE conversations DROP COLUMN sent_b`,
		`UPDATE meta SET value = '10' WHERE key = 'schema_version'`,
	} {
		_, err := db.Exec(q)
		ok(t, err)
	}
	var stored int64
	ok(t, db.QueryRow(`SELECT read_seq FROM members WHERE conv_id = ? AND user_id = 'bob'`, ab).Scan(&stored))
	equal(t, stored, int64(4), "bob's cursor stored as version 10 stored it")
	ok(t, db.Close())

	s, err = OpenSQLite(dir, SQLiteOptions{Synchronous: "NORMAL"})
	ok(t, err)
	defer s.Close()
	var v string
	ok(t, s.r.QueryRow(`SELECT value FROM meta WHERE key = 'schema_version'`).Scan(&v))
	equal(t, v, strconv.Itoa(schemaVersion), "schema version")
	equal(t, views(s), before, "conversations after the migration")
	again, err := s.History(ctx, "alice", proto.History{ConvID: ab, Limit: 100})
	ok(t, err)
	equal(t, again, history, "history after the migration")
	res, err := s.Append(ctx, []AppendRequest{textReq("bob", ab, "7")})
	ok(t, err)
	equal(t, res[0], AppendResult{Message: history.Messages[3], Duplicate: true}, "a retry of an old message")

	// The stored cursors hold until a member's own message passes them.
	send(s, "alice", ab, "new1")
	_, _, err = markRead(ctx, s, "bob", ab, 5)
	ok(t, err)
	send(s, "alice", ab, "new2")
	for _, tc := range []struct {
		user       string
		read, peer uint64
	}{{"alice", 6, 5}, {"bob", 5, 6}} {
		c, moved, err := markRead(ctx, s, tc.user, ab, 1)
		ok(t, err)
		equal(t, [3]any{moved, c.ReadSeq, c.PeerReadSeq}, [3]any{false, tc.read, tc.peer}, tc.user+"'s cursors after new messages")
	}
}

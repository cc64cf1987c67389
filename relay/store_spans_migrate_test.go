//go:build !js

package relay

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
)

// The history-visibility migration (schema 8) on data written before it: a
// group's first members read it all, a member added later reads from the
// first message at or after their joining time, and a former member's
// membership ends at the removal. The data is written by this build, then
// the schema is taken back to version 7 (the column and table dropped) and
// the history-visibility migration run on it.

// spansMigration returns the migration of list that creates member_spans.
func spansMigration(t *testing.T, list []string) string {
	t.Helper()
	for _, m := range list {
		if strings.Contains(m, "CREATE TABLE member_spans") {
			return m
		}
	}
	t.Fatal("no migration creates member_spans")
	return ""
}

// spansHistory writes the history: alice creates g with bob at 10; two
// messages; carol is added at 200 (seq 3); a message; bob is removed at 400
// (seq 5); a message.
func spansHistory(t *testing.T, s Store) {
	t.Helper()
	ctx := context.Background()
	_, _, err := s.CreateGroup(ctx, GroupSpec{ID: "g:m", Name: "m", Creator: "alice", Members: []string{"alice", "bob"}, CreatedAt: 10})
	ok(t, err)
	send := func(at int64) {
		t.Helper()
		res, err := s.Append(ctx, []AppendRequest{{Sender: "alice", Device: "d", CreatedAt: at,
			Send: proto.Send{ConvID: "g:m", ClientID: fmt.Sprintf("m%d", at), MsgType: proto.MsgText, Text: "x"}}})
		ok(t, err)
		if res[0].Err != nil {
			t.Fatal(res[0].Err)
		}
	}
	send(100)
	send(110)
	_, err = s.ChangeGroup(ctx, GroupRequest{Actor: "alice", Now: 200, Op: proto.GroupOp{ConvID: "g:m", Op: proto.OpAdd, Users: []string{"carol"}}})
	ok(t, err)
	send(300)
	_, err = s.ChangeGroup(ctx, GroupRequest{Actor: "alice", Now: 400, Op: proto.GroupOp{ConvID: "g:m", Op: proto.OpRemove, Users: []string{"bob"}}})
	ok(t, err)
	send(500)
}

func checkSpansMigrated(t *testing.T, s Store) {
	t.Helper()
	ctx := context.Background()
	for user, want := range map[string]rules.Spans{
		"alice": {{From: 1}}, "bob": {{From: 1, To: 5}}, "carol": {{From: 3}},
	} {
		got, err := s.ReadSpans(ctx, "g:m", user)
		ok(t, err)
		equal(t, got, want, user+"'s spans after the migration")
	}
	p, err := s.History(ctx, "carol", proto.History{ConvID: "g:m", Limit: 100})
	ok(t, err)
	equal(t, [2]any{len(p.Messages), p.Hidden}, [2]any{4, []proto.SeqRange{{From: 1, To: 2}}}, "carol's history")
}

func TestSQLiteSpansMigration(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := OpenSQLite(dir, SQLiteOptions{Synchronous: "NORMAL"})
	ok(t, err)
	spansHistory(t, s)
	ok(t, s.Close())
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "parley.db"))
	ok(t, err)
	for _, q := range []string{`ALTER TABLE members DROP COLUMN from_seq`, `DROP TABLE member_spans`, spansMigration(t, migrations)} {
		_, err := db.Exec(q)
		ok(t, err)
	}
	ok(t, db.Close())
	s, err = OpenSQLite(dir, SQLiteOptions{Synchronous: "NORMAL"})
	ok(t, err)
	defer s.Close()
	checkSpansMigrated(t, s)
}

func TestPostgresSpansMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := postgresDSN(t)
	s := openPostgres(t, dsn, PostgresOptions{MaxConns: 2})
	spansHistory(t, s)
	ok(t, s.Close())
	admin := pgAdmin(t, dsn)
	for _, q := range []string{`ALTER TABLE members DROP COLUMN from_seq`, `DROP TABLE member_spans`, spansMigration(t, postgresMigrations)} {
		_, err := admin.Exec(ctx, q)
		ok(t, err)
	}
	checkSpansMigrated(t, openPostgres(t, dsn, PostgresOptions{MaxConns: 2}))
}

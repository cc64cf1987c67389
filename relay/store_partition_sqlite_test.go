//go:build !js

package relay

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parley-im/parley/proto"
)

// TestOpenSQLitePartitions: a relay's data directory opened with n
// partitions records n and keeps partition 0 where a relay of one keeps
// its database; it opens again with n and refuses any other count, and a
// directory of one partition that holds data refuses more.
func TestOpenSQLitePartitions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	o := SQLiteOptions{Synchronous: "NORMAL"}
	dir := t.TempDir()
	s, err := OpenSQLitePartitions(dir, 3, o)
	ok(t, err)
	var stored []string
	for i := 0; len(stored) < 6; i++ {
		c := proto.P2PID("alice", "p"+string(rune('a'+i)))
		res, err := s.Append(ctx, []AppendRequest{textRequest("alice", c, "m"+string(rune('a'+i)))})
		ok(t, err)
		if res[0].Err != nil {
			t.Fatal(res[0].Err)
		}
		stored = append(stored, c)
	}
	ok(t, s.Close())
	n, err := StorePartitionsRecorded(dir)
	ok(t, err)
	equal(t, n, 3, "partitions recorded")
	for i := 1; i < 3; i++ {
		if _, err := os.Stat(filepath.Join(dir, "partitions", string(rune('0'+i)), "parley.db")); err != nil {
			t.Fatalf("partition %d: %v", i, err)
		}
	}
	for _, other := range []int{1, 2, 4} {
		if s, err := OpenSQLitePartitions(dir, other, o); err == nil || !strings.Contains(err.Error(), "is in 3 store partitions") {
			if s != nil {
				s.Close()
			}
			t.Fatalf("opened with %d partitions: %v", other, err)
		}
	}
	s, err = OpenSQLitePartitions(dir, 3, o)
	ok(t, err)
	for _, c := range stored {
		page, err := s.History(ctx, "alice", proto.History{ConvID: c, Limit: 5})
		ok(t, err)
		equal(t, len(page.Messages), 1, "messages of "+c+" after a reopen")
	}
	ok(t, s.Close())

	one := t.TempDir()
	s1, err := OpenSQLite(one, o)
	ok(t, err)
	_, err = s1.Append(ctx, []AppendRequest{textRequest("alice", proto.P2PID("alice", "bob"), "m")})
	ok(t, err)
	ok(t, s1.Close())
	if s, err := OpenSQLitePartitions(one, 2, o); err == nil || !strings.Contains(err.Error(), "is in 1 store partitions") {
		if s != nil {
			s.Close()
		}
		t.Fatalf("a store of one partition with data opened with 2: %v", err)
	}
	s, err = OpenSQLitePartitions(one, 1, o)
	ok(t, err)
	if _, isSQLite := s.(*SQLiteStore); !isSQLite {
		t.Fatalf("one partition opened as %T, not the SQLite store itself", s)
	}
	ok(t, s.Close())
	n, err = StorePartitionsRecorded(one)
	ok(t, err)
	equal(t, n, 0, "nothing recorded for one partition")
	if _, err := OpenSQLitePartitions(t.TempDir(), 65, o); err == nil {
		t.Fatal("65 partitions accepted")
	}
}

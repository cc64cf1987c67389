package relay

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/parley-im/parley/proto"
)

// partSuiteStore is a PartitionStore as the conformance suite opens it:
// the subtests that count or break what happens inside a store reach the
// partitions through it (servedFor).
type partSuiteStore struct {
	*PartitionStore
	served []Store
}

func (s *partSuiteStore) messagesRead() uint64 {
	var n uint64
	for _, p := range s.served {
		n += servedStore(p).(messageCounter).messagesRead()
	}
	return n
}

// failFeedWrites makes the feed writes of every partition fail.
func (s *partSuiteStore) failFeedWrites(t *testing.T) func() {
	var undo []func()
	for _, p := range s.served {
		u := failFeedWrites(t, p)
		if u == nil {
			return nil
		}
		undo = append(undo, u)
	}
	return func() {
		for _, u := range undo {
			u()
		}
	}
}

// samePartition reports whether conversations a and b are in one partition
// of s: always, for a store that is not a PartitionStore.
func samePartition(s Store, a, b string) bool {
	p, isPart := s.(*partSuiteStore)
	return !isPart || ConvPartition(a, len(p.parts)) == ConvPartition(b, len(p.parts))
}

// openPartitions returns a PartitionStore over n stores that open makes,
// each set to its partition.
func openPartitions(t *testing.T, n int, open func(t *testing.T, i int) PartStore) *partSuiteStore {
	t.Helper()
	parts := make([]PartStore, n)
	served := make([]Store, n)
	for i := range parts {
		parts[i] = open(t, i)
		served[i] = parts[i]
	}
	p, err := NewPartitionStore(parts)
	ok(t, err)
	return &partSuiteStore{PartitionStore: p, served: served}
}

func memoryPartition(t *testing.T, i, n int) *MemoryStore {
	m := NewMemoryStore()
	ok(t, m.SetPartition(i, n))
	t.Cleanup(func() { m.Close() })
	return m
}

// TestPartitionStore runs the conformance suite over three partitions:
// memory stores, memory stores each behind a RemoteStore (as the Workers
// relay's store objects are), and SQLite stores.
func TestPartitionStore(t *testing.T) {
	t.Parallel()
	const n = 3
	t.Run("memory", func(t *testing.T) {
		t.Parallel()
		testStore(t, func(t *testing.T) Store {
			return openPartitions(t, n, func(t *testing.T, i int) PartStore { return memoryPartition(t, i, n) })
		})
	})
	t.Run("remote", func(t *testing.T) {
		t.Parallel()
		testStore(t, func(t *testing.T) Store {
			return openPartitions(t, n, func(t *testing.T, i int) PartStore {
				m := memoryPartition(t, i, n)
				return &remoteSuiteStore{RemoteStore: openRemote(t, m), served: m}
			})
		})
	})
	t.Run("sqlite", func(t *testing.T) {
		if runtime.GOOS == "js" {
			t.Skip("a Durable Object's storage holds one database at a time; the partitions are other objects")
		}
		t.Parallel()
		testStore(t, func(t *testing.T) Store {
			return openPartitions(t, n, func(t *testing.T, i int) PartStore {
				s := openSuiteSQLite(t).(*SQLiteStore)
				ok(t, s.SetPartition(i, n))
				return s
			})
		})
	})
}

// TestPositions: a partition hands out only its own positions, in order,
// above any floor it was moved to.
func TestPositions(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 2, 3, 8} {
		for i := range n {
			p, err := partitionPositions(i, n)
			ok(t, err)
			var last uint64
			for range 50 {
				next := p.next(last)
				if next <= last || next%uint64(n) != uint64(i) || next-last > uint64(n) {
					t.Fatalf("partition %d of %d: %d after %d", i, n, next, last)
				}
				last = next
			}
			if got := p.next(1000); got <= 1000 || got%uint64(n) != uint64(i) {
				t.Fatalf("partition %d of %d: %d after 1000", i, n, got)
			}
		}
	}
	for _, bad := range [][2]int{{0, 0}, {3, 3}, {-1, 2}} {
		if _, err := partitionPositions(bad[0], bad[1]); err == nil {
			t.Fatalf("partition %d of %d accepted", bad[0], bad[1])
		}
	}
}

// TestPartitionSpread: conversations land on every partition, each
// conversation's messages in one, and the user-wide data in the
// directory only.
func TestPartitionSpread(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const n = 4
	ms := make([]*MemoryStore, n)
	p := openPartitions(t, n, func(t *testing.T, i int) PartStore { ms[i] = memoryPartition(t, i, n); return ms[i] })
	var batch []AppendRequest
	for i := range 40 {
		batch = append(batch, textRequest("alice", proto.P2PID("alice", fmt.Sprint("u", i)), fmt.Sprint("c", i)))
	}
	res, err := p.Append(ctx, batch)
	ok(t, err)
	for i, r := range res {
		if r.Err != nil || r.Message.Seq != 1 || r.Message.ConvID != batch[i].Send.ConvID {
			t.Fatalf("item %d: %+v", i, r)
		}
	}
	for k, m := range ms {
		held := 0
		for id := range m.convs {
			if ConvPartition(id, n) != k {
				t.Fatalf("partition %d holds %s, which hashes to %d", k, id, ConvPartition(id, n))
			}
			held++
		}
		if held == 0 {
			t.Fatalf("partition %d holds none of 40 conversations", k)
		}
	}
	nick := "Al"
	_, err = p.SetProfile(ctx, "alice", proto.SetProfile{Nickname: &nick}, 5)
	ok(t, err)
	for k, m := range ms[1:] {
		if prof, _ := m.Profiles(ctx, []string{"alice"}); prof[0].UpdatedAt != 0 {
			t.Fatalf("partition %d holds a profile", k+1)
		}
	}
}

// TestPartitionSyncMerge: devices of one user sync, at random page sizes,
// while conversations of every partition change at random rates (one
// partition far busier than the others); every device ends with every
// conversation at its latest state, no page lists a conversation at or
// below the cursor it was asked from, and each cursor handed out only
// grows. Seeded.
func TestPartitionSyncMerge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 7))
		n := 2 + rng.IntN(4)
		p := openPartitions(t, n, func(t *testing.T, i int) PartStore { return memoryPartition(t, i, n) })
		// Conversations of alice, grouped by partition.
		byPart := make([][]string, n)
		for i := 0; len(byPart[0]) < 3 || slices.ContainsFunc(byPart, func(l []string) bool { return len(l) == 0 }); i++ {
			c := proto.P2PID("alice", fmt.Sprint("peer", i))
			k := ConvPartition(c, n)
			byPart[k] = append(byPart[k], c)
		}
		busy := rng.IntN(n)
		type device struct {
			cursor uint64
			seen   map[string]uint64 // conversation → last seq synced
		}
		devs := []*device{{seen: map[string]uint64{}}, {seen: map[string]uint64{}}}
		last := map[string]uint64{}
		cid := 0
		syncDev := func(d *device) {
			limit := 1 + rng.IntN(4)
			for range 1000 {
				convs, more, err := p.Sync(ctx, "alice", d.cursor, limit)
				ok(t, err)
				if len(convs) > limit {
					t.Fatalf("seed %d: %d conversations for limit %d", seed, len(convs), limit)
				}
				for _, c := range convs {
					if c.Version <= d.cursor {
						t.Fatalf("seed %d: %s at version %d, not above cursor %d", seed, c.ID, c.Version, d.cursor)
					}
					d.cursor = c.Version
					d.seen[c.ID] = max(d.seen[c.ID], c.LastSeq)
				}
				if !more {
					return
				}
			}
			t.Fatalf("seed %d: sync did not end", seed)
		}
		for round := range 200 {
			k := rng.IntN(n)
			if rng.IntN(3) > 0 {
				k = busy
			}
			c := byPart[k][rng.IntN(len(byPart[k]))]
			cid++
			res, err := p.Append(ctx, []AppendRequest{textRequest("alice", c, fmt.Sprint("m", cid))})
			ok(t, err)
			last[c] = res[0].Message.Seq
			if round%7 == 0 {
				syncDev(devs[rng.IntN(len(devs))])
			}
		}
		for _, d := range devs {
			syncDev(d)
			for c, seq := range last {
				if d.seen[c] != seq {
					t.Fatalf("seed %d (%d partitions): a device holds %s at seq %d, the store at %d", seed, n, c, d.seen[c], seq)
				}
			}
		}
	}
}

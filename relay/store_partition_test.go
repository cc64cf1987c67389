package relay

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
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

// failingPart is a partition whose Appends and MarkReads fail while fail
// is set, storing nothing: a store object that cannot be reached.
type failingPart struct {
	PartStore
	fail atomic.Bool
}

func (f *failingPart) Append(ctx context.Context, batch []AppendRequest) ([]AppendResult, error) {
	if f.fail.Load() {
		return nil, errors.New("partition unreachable")
	}
	return f.PartStore.Append(ctx, batch)
}

func (f *failingPart) MarkReads(ctx context.Context, marks []ReadMark) ([]ReadResult, error) {
	if f.fail.Load() {
		return nil, errors.New("partition unreachable")
	}
	return f.PartStore.MarkReads(ctx, marks)
}

// TestPartitionAppendFailure: a batch whose one partition cannot be reached
// answers the items of the other partitions, stored, and gives each item
// of the unreachable one a temporary error (4300), which the client
// retries: the retry stores those and finds the others as duplicates (the
// same seqs), each message once. A batch whose every partition fails
// fails as a whole. The same holds for read marks.
func TestPartitionAppendFailure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const n = 3
	var bad *failingPart
	p := openPartitions(t, n, func(t *testing.T, i int) PartStore {
		m := memoryPartition(t, i, n)
		if i == 1 {
			bad = &failingPart{PartStore: m}
			return bad
		}
		return m
	})
	var batch []AppendRequest
	hit := map[int]bool{}
	for i := 0; len(hit) < n; i++ {
		c := proto.P2PID("alice", fmt.Sprint("u", i))
		hit[ConvPartition(c, n)] = true
		batch = append(batch, textRequest("alice", c, fmt.Sprint("c", i)))
	}
	bad.fail.Store(true)
	res, err := p.Append(ctx, batch)
	ok(t, err)
	var failedOnly []AppendRequest
	for i, r := range res {
		c := batch[i].Send.ConvID
		if ConvPartition(c, n) == 1 {
			if r.Err == nil || r.Err.Code != proto.CodeUnavailable {
				t.Fatalf("%s, in the unreachable partition: %+v; want 4300", c, r)
			}
			failedOnly = append(failedOnly, batch[i])
		} else if r.Err != nil || r.Message.Seq != 1 || r.Duplicate || len(r.Members) != 2 {
			t.Fatalf("%s, in a reachable partition: %+v; want it stored, for fan-out", c, r)
		}
	}
	if _, err := p.Append(ctx, failedOnly); err == nil {
		t.Fatal("a batch all in the unreachable partition succeeded")
	}
	reachable := batch[slices.IndexFunc(batch, func(r AppendRequest) bool { return ConvPartition(r.Send.ConvID, n) != 1 })].Send.ConvID
	marks, err := p.MarkReads(ctx, []ReadMark{{User: "alice", Conv: failedOnly[0].Send.ConvID, Seq: 1}, {User: "alice", Conv: reachable, Seq: 1}})
	ok(t, err)
	if marks[0].Err == nil || marks[0].Err.Code != proto.CodeUnavailable || marks[1].Err != nil {
		t.Fatalf("read marks with one partition unreachable: %+v", marks)
	}
	bad.fail.Store(false)
	res, err = p.Append(ctx, batch)
	ok(t, err)
	for i, r := range res {
		c := batch[i].Send.ConvID
		if r.Err != nil || r.Message.Seq != 1 || r.Message.ClientID != batch[i].Send.ClientID {
			t.Fatalf("retry of %s: %+v", c, r)
		}
		if want := ConvPartition(c, n) != 1; r.Duplicate != want {
			t.Fatalf("retry of %s (partition %d): duplicate %v", c, ConvPartition(c, n), r.Duplicate)
		}
		page, err := p.History(ctx, "alice", proto.History{ConvID: c, Limit: 10})
		ok(t, err)
		equal(t, len(page.Messages), 1, "messages of "+c)
	}
}

// TestPartitionSyncConcurrent: devices sync over and over while writers
// append to conversations of every partition at once; after the writers
// stop, one more sync brings each device every conversation at its last
// seq. A cursor taken while partitions commit concurrently never passes a
// change the page did not list.
func TestPartitionSyncConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, kind := range []string{"memory", "sqlite"} {
		t.Run(kind, func(t *testing.T) {
			if kind == "sqlite" && runtime.GOOS == "js" {
				t.Skip("a Durable Object's storage holds one database at a time")
			}
			t.Parallel()
			const n = 3
			p := openPartitions(t, n, func(t *testing.T, i int) PartStore {
				if kind == "memory" {
					return memoryPartition(t, i, n)
				}
				s := openSuiteSQLite(t).(*SQLiteStore)
				ok(t, s.SetPartition(i, n))
				return s
			})
			convs := make([]string, 12)
			for i := range convs {
				convs[i] = proto.P2PID("alice", fmt.Sprint("w", i))
			}
			var last sync.Map // conversation → last seq appended
			var writers, syncers sync.WaitGroup
			stop := make(chan struct{})
			for w := range 4 {
				writers.Go(func() {
					rng := rand.New(rand.NewPCG(uint64(w), 1))
					for i := range 60 {
						c := convs[rng.IntN(len(convs))]
						res, err := p.Append(ctx, []AppendRequest{textRequest("alice", c, fmt.Sprint(w, "-", i))})
						if err != nil {
							t.Error(err)
							return
						}
						for {
							old, _ := last.LoadOrStore(c, res[0].Message.Seq)
							if old.(uint64) >= res[0].Message.Seq || last.CompareAndSwap(c, old, res[0].Message.Seq) {
								break
							}
						}
					}
				})
			}
			type device struct {
				cursor uint64
				seen   map[string]uint64
			}
			devs := make([]*device, 3)
			syncOnce := func(d *device, limit int) {
				for range 10000 {
					page, more, err := p.Sync(ctx, "alice", d.cursor, limit)
					if err != nil {
						t.Error(err)
						return
					}
					for _, c := range page {
						if c.Version <= d.cursor {
							t.Errorf("%s at version %d, not above cursor %d", c.ID, c.Version, d.cursor)
						}
						d.cursor = c.Version
						d.seen[c.ID] = max(d.seen[c.ID], c.LastSeq)
					}
					if !more {
						return
					}
				}
				t.Error("sync did not end")
			}
			for i := range devs {
				devs[i] = &device{seen: map[string]uint64{}}
				syncers.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
							syncOnce(devs[i], 1+i)
						}
					}
				})
			}
			writers.Wait()
			close(stop)
			syncers.Wait()
			for i, d := range devs {
				syncOnce(d, 1+i)
				last.Range(func(c, seq any) bool {
					if d.seen[c.(string)] != seq.(uint64) {
						t.Errorf("device %d holds %s at seq %d, the store at %d", i, c, d.seen[c.(string)], seq)
					}
					return true
				})
			}
		})
	}
}

// hookedPart runs after, once, when a Sync of the partition has read its
// page: a commit that lands just after the page was read.
type hookedPart struct {
	PartStore
	after func()
}

func (h *hookedPart) Sync(ctx context.Context, user string, cursor uint64, limit int) ([]proto.Conversation, bool, error) {
	convs, more, err := h.PartStore.Sync(ctx, user, cursor, limit)
	if f := h.after; f != nil {
		h.after = nil
		f()
	}
	return convs, more, err
}

// TestPartitionSyncCommitAfterRead: a partition commits a change just after
// a sync read its page, and its counter moves far on (another shard's
// sync moved it); the merged page must not hand out a cursor above that
// change, or the device never learns of it. The partition's counter is
// read before its page for that reason.
// Over a RemoteStore, the served store does the same in one call
// (SyncAbove).
func TestPartitionSyncCommitAfterRead(t *testing.T) {
	t.Parallel()
	for _, remote := range []bool{false, true} {
		t.Run(fmt.Sprint("remote=", remote), func(t *testing.T) {
			t.Parallel()
			testPartitionSyncCommitAfterRead(t, remote)
		})
	}
}

func testPartitionSyncCommitAfterRead(t *testing.T, remote bool) {
	ctx := context.Background()
	const n = 2
	var a *hookedPart
	p := openPartitions(t, n, func(t *testing.T, i int) PartStore {
		m := memoryPartition(t, i, n)
		if i == 0 {
			a = &hookedPart{PartStore: m}
			if remote {
				return openRemote(t, a)
			}
			return a
		}
		return m
	})
	conv := func(part int, i int) string {
		for ; ; i++ {
			if c := proto.P2PID("alice", fmt.Sprint("x", i)); ConvPartition(c, n) == part {
				return c
			}
		}
	}
	a1, a2, b1 := conv(0, 0), conv(0, 100), conv(1, 0)
	appendOne := func(c, id string) {
		_, err := p.Append(ctx, []AppendRequest{textRequest("alice", c, id)})
		ok(t, err)
	}
	appendOne(a1, "1")
	_, err := p.parts[1].Advance(ctx, 1000)
	ok(t, err)
	appendOne(b1, "2") // above 1000
	a.after = func() {
		appendOne(a2, "3") // below b1's position
		_, err := a.PartStore.Advance(ctx, 5000)
		ok(t, err)
	}
	var cursor uint64
	seen := map[string]bool{}
	for range 10 {
		convs, more, err := p.Sync(ctx, "alice", cursor, 10)
		ok(t, err)
		for _, c := range convs {
			seen[c.ID] = true
			cursor = c.Version
		}
		if !more {
			break
		}
	}
	equal(t, [3]bool{seen[a1], seen[a2], seen[b1]}, [3]bool{true, true, true}, "conversations synced")
}

// TestSQLitePartitionCounter: an SQLite store made partition 1 of 3 hands
// out only positions ≡ 1 (mod 3), an Advance moves its counter durably
// (a change after a reopen is above it), and one below the counter
// changes nothing. Natively a file; under js/wasm a Durable Object's
// storage, reopened as after an eviction (the store objects of the
// Workers relay are such partitions).
func TestSQLitePartitionCounter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	open := sqliteReopener(t)
	s := open()
	ok(t, s.SetPartition(1, 3))
	ab := proto.P2PID("alice", "bob")
	var versions []uint64
	for i := range 4 {
		_, err := s.Append(ctx, []AppendRequest{textRequest("alice", ab, fmt.Sprint("m", i))})
		ok(t, err)
		convs, _, err := s.Sync(ctx, "alice", 0, 10)
		ok(t, err)
		versions = append(versions, convs[0].Version)
	}
	for i, v := range versions {
		if v%3 != 1 || (i > 0 && v <= versions[i-1]) {
			t.Fatalf("positions %v: not rising, or not ≡ 1 (mod 3)", versions)
		}
	}
	high, err := s.Advance(ctx, 1000)
	ok(t, err)
	equal(t, high, uint64(1000), "counter after Advance(1000)")
	high, err = s.Advance(ctx, 10)
	ok(t, err)
	equal(t, high, uint64(1000), "counter after Advance below it")
	ok(t, s.Close())

	s = open()
	ok(t, s.SetPartition(1, 3))
	high, err = s.Advance(ctx, 0)
	ok(t, err)
	equal(t, high, uint64(1000), "counter after a reopen")
	_, err = s.Append(ctx, []AppendRequest{textRequest("bob", ab, "after")})
	ok(t, err)
	convs, _, err := s.Sync(ctx, "alice", 1000, 10)
	ok(t, err)
	if len(convs) != 1 || convs[0].Version != 1003 {
		t.Fatalf("sync above 1000 after a reopen: %+v; want the conversation at 1003", convs)
	}
	if _, err := s.Advance(ctx, 1<<63); err != nil {
		t.Fatal(err)
	}
	high, err = s.Advance(ctx, 0)
	ok(t, err)
	equal(t, high, uint64(maxPos), "a floor beyond what SQLite stores is capped")
	ok(t, s.Close())
}

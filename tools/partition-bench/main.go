// Command partition-bench measures what the store's partitions
// (relay.PartitionStore) are for: that a busy conversation does not hold up
// the others. One store of 1 partition and one of 4, each partition an
// SQLite store with every commit synced to disk (as the relay runs it), take
// the same load in turn, round by round: writers keep one group busy with
// batches of sends as fast as the store takes them, while a probe sends
// one message at a time to other conversations and times each. The report
// gives the probe's latency and the busy group's throughput for each.
//
//	go run ./tools/partition-bench -out docs/benchmarks/partitions.md
//
// The Workers relay's store objects are such partitions, each in its own
// Durable Object; in local workerd every object shares one thread, so this
// is measured natively, where the partitions run in parallel as they do on
// Cloudflare.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay"
)

func main() {
	out := flag.String("out", "docs/benchmarks/partitions.md", "the Markdown report to write")
	rounds := flag.Int("rounds", 3, "measurements of each layout, taken in turn")
	dur := flag.Duration("duration", 10*time.Second, "length of each measurement")
	writers := flag.Int("writers", 4, "concurrent writers of the busy group (as many shards' group commits)")
	batch := flag.Int("batch", 32, "sends per batch of the busy group")
	flag.Parse()
	layouts := []int{1, 4}
	results := make([][]result, len(layouts))
	began := time.Now()
	cpu0 := cpuTime()
	for round := range *rounds {
		for i, n := range layouts {
			r, err := measure(n, *dur, *writers, *batch)
			if err != nil {
				fmt.Fprintf(os.Stderr, "partition-bench: %d partitions: %v\n", n, err)
				os.Exit(1)
			}
			fmt.Fprintf(os.Stderr, "round %d, %d partitions: %+v\n", round+1, n, r)
			results[i] = append(results[i], r)
		}
	}
	wall := time.Since(began)
	cpu := float64(cpuTime()-cpu0) / float64(wall)
	var b strings.Builder
	fmt.Fprintf(&b, "# A busy conversation beside the others: 1 store partition and 4\n\n")
	fmt.Fprintf(&b, "Written by `go run ./tools/partition-bench` at %s on %d CPUs (%s/%s). ", time.Now().UTC().Format("2006-01-02 15:04 UTC"), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(&b, "Each layout is a `relay.PartitionStore` over SQLite stores (synchronous FULL: every commit synced to disk), in this process. ")
	fmt.Fprintf(&b, "For %s, %d writers append batches of %d sends to one group as fast as the store takes them, while a probe appends one message at a time to 16 other conversations (one-to-one, spread over the partitions by their ids) and times each. ", *dur, *writers, *batch)
	fmt.Fprintf(&b, "The layouts were measured %d times in turn, round by round; each cell is the median of the rounds with their range. ", *rounds)
	fmt.Fprintf(&b, "The store and its load run in one process, which used %.0f%% of one CPU over the run (of %d).\n\n", 100*cpu, runtime.NumCPU())
	b.WriteString("| store partitions | probe p50 | probe p99 | probe max | probes | busy group, messages a second |\n|---|---|---|---|---|---|\n")
	for i, n := range layouts {
		rs := results[i]
		cell := func(f func(result) float64, unit string) string {
			var v []float64
			for _, r := range rs {
				v = append(v, f(r))
			}
			slices.Sort(v)
			prec := 1
			if unit == "" {
				prec = 0 // counts
			}
			if len(v) == 1 {
				return fmt.Sprintf("%.*f%s", prec, v[0], unit)
			}
			return fmt.Sprintf("%.*f%s (%.*f–%.*f)", prec, v[len(v)/2], unit, prec, v[0], prec, v[len(v)-1])
		}
		msf := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s |\n", n,
			cell(func(r result) float64 { return msf(r.probe[0]) }, " ms"),
			cell(func(r result) float64 { return msf(r.probe[1]) }, " ms"),
			cell(func(r result) float64 { return msf(r.probe[2]) }, " ms"),
			cell(func(r result) float64 { return float64(r.probes) }, ""),
			cell(func(r result) float64 { return r.busyRate }, ""))
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := os.WriteFile(*out, []byte(b.String()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Print(b.String())
}

type result struct {
	probe    [3]time.Duration // p50, p99, max
	probes   int
	busyRate float64 // messages a second stored in the busy group
}

// measure runs the load on a fresh store of n partitions.
func measure(n int, dur time.Duration, writers, batch int) (result, error) {
	dir, err := os.MkdirTemp("", "partition-bench-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	parts := make([]relay.PartStore, n)
	for i := range parts {
		s, err := relay.OpenSQLite(filepath.Join(dir, fmt.Sprint("p", i)), relay.SQLiteOptions{Synchronous: "FULL"})
		if err != nil {
			return result{}, err
		}
		defer s.Close()
		if err := s.SetPartition(i, n); err != nil {
			return result{}, err
		}
		parts[i] = s
	}
	store, err := relay.NewPartitionStore(parts)
	if err != nil {
		return result{}, err
	}
	ctx := context.Background()
	members := []string{"owner"}
	for i := range 20 {
		members = append(members, fmt.Sprint("m", i))
	}
	slices.Sort(members)
	const group = "g:busy"
	if _, _, err := store.CreateGroup(ctx, relay.GroupSpec{ID: group, Name: "busy", Creator: "owner", Members: members, CreatedAt: 1}); err != nil {
		return result{}, err
	}
	stop := make(chan struct{})
	var stored atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	for w := range writers {
		wg.Go(func() {
			sender := members[1+w%(len(members)-1)]
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				reqs := make([]relay.AppendRequest, batch)
				for j := range reqs {
					reqs[j] = relay.AppendRequest{Sender: sender, Device: "d", CreatedAt: time.Now().UnixMilli(),
						Send: proto.Send{ConvID: group, ClientID: fmt.Sprintf("w%d-%d-%d", w, k, j), MsgType: proto.MsgText, Text: "busy busy busy"}}
				}
				if _, err := store.Append(ctx, reqs); err != nil {
					failed.Store(err)
					return
				}
				stored.Add(int64(batch))
			}
		})
	}
	var lat []time.Duration
	began := time.Now()
	for i := 0; time.Since(began) < dur; i++ {
		conv := proto.P2PID("alice", fmt.Sprint("peer", i%16))
		t0 := time.Now()
		res, err := store.Append(ctx, []relay.AppendRequest{{Sender: "alice", Device: "d", CreatedAt: t0.UnixMilli(),
			Send: proto.Send{ConvID: conv, ClientID: fmt.Sprint("probe", i), MsgType: proto.MsgText, Text: "hello"}}})
		if err != nil {
			return result{}, err
		}
		if res[0].Err != nil {
			return result{}, res[0].Err
		}
		lat = append(lat, time.Since(t0))
	}
	elapsed := time.Since(began)
	close(stop)
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		return result{}, err
	}
	slices.Sort(lat)
	q := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	return result{probe: [3]time.Duration{q(0.5), q(0.99), lat[len(lat)-1]}, probes: len(lat),
		busyRate: float64(stored.Load()) / elapsed.Seconds()}, nil
}

// cpuTime is the CPU this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

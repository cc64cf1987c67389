package relay

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-im/parley/proto"
)

// metrics are the relay's counters, written in the Prometheus text exposition
// format (version 0.0.4) by hand: a client library would be the relay's
// largest dependency for a page of text.
type metrics struct {
	connections atomic.Int64
	framesIn    atomic.Uint64
	framesOut   atomic.Uint64
	stored      atomic.Uint64
	dedup       atomic.Uint64
	busLost     atomic.Uint64
	busErrors   atomic.Uint64
	// busRejected reads the bus's count of envelopes dropped for a bad
	// signature; nil for a bus that does not sign.
	busRejected func() uint64
	renewals    atomic.Uint64

	closesMu sync.Mutex
	closes   map[proto.Code]uint64

	batchSize  *histogram
	ackLatency *histogram
}

func newMetrics() *metrics {
	return &metrics{
		closes:     make(map[proto.Code]uint64),
		batchSize:  newHistogram(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
		ackLatency: newHistogram(.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5),
	}
}

// closed counts a close initiated by the relay.
func (m *metrics) closed(code proto.Code) {
	m.closesMu.Lock()
	m.closes[code]++
	m.closesMu.Unlock()
}

// closeCount returns how many closes with code the relay initiated.
func (m *metrics) closeCount(code proto.Code) uint64 {
	m.closesMu.Lock()
	defer m.closesMu.Unlock()
	return m.closes[code]
}

// histogram is a Prometheus histogram with fixed upper bounds.
type histogram struct {
	bounds []float64
	counts []atomic.Uint64 // one per bound, plus +Inf
	sum    atomic.Uint64   // float64 bits
}

func newHistogram(bounds ...float64) *histogram {
	return &histogram{bounds: bounds, counts: make([]atomic.Uint64, len(bounds)+1)}
}

func (h *histogram) observe(v float64) {
	i, _ := slices.BinarySearch(h.bounds, v)
	h.counts[i].Add(1)
	for {
		old := h.sum.Load()
		if h.sum.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

func (h *histogram) write(w io.Writer, name, help string) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name)
	var cum uint64
	for i, b := range h.bounds {
		cum += h.counts[i].Load()
		fmt.Fprintf(w, "%s_bucket{le=\"%s\"} %d\n", name, strconv.FormatFloat(b, 'g', -1, 64), cum)
	}
	cum += h.counts[len(h.bounds)].Load()
	fmt.Fprintf(w, "%s_bucket{le=\"+Inf\"} %d\n", name, cum)
	fmt.Fprintf(w, "%s_sum %s\n", name, strconv.FormatFloat(math.Float64frombits(h.sum.Load()), 'g', -1, 64))
	fmt.Fprintf(w, "%s_count %d\n", name, cum)
}

// write renders every metric.
func (m *metrics) write(out io.Writer) error {
	w := bufio.NewWriter(out)
	gauge := func(name, help string, v float64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %s\n", name, help, name, name, strconv.FormatFloat(v, 'g', -1, 64))
	}
	counter := func(name, help string, v uint64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", name, help, name, name, v)
	}
	gauge("parley_connections", "Open WebSocket connections.", float64(m.connections.Load()))
	counter("parley_frames_in_total", "Frames read from clients.", m.framesIn.Load())
	counter("parley_frames_out_total", "Frames written to clients.", m.framesOut.Load())
	counter("parley_messages_stored_total", "Messages committed to the store.", m.stored.Load())
	counter("parley_send_dedup_total", "Sends answered with the original ack of a duplicate.", m.dedup.Load())
	counter("parley_bus_lost_total", "Times the bus may have dropped pushes and every session was told to resync.", m.busLost.Load())
	counter("parley_bus_publish_errors_total", "Fan-outs the bus refused (the message is stored; clients catch up by sync).", m.busErrors.Load())
	if m.busRejected != nil {
		counter("parley_bus_rejected_total", "Bus envelopes dropped because they were unsigned or badly signed (bus key set).", m.busRejected())
	}
	counter("parley_token_renewals_total", "Sessions that renewed their token in-band.", m.renewals.Load())

	m.closesMu.Lock()
	codes := make([]proto.Code, 0, len(m.closes))
	for c := range m.closes {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	fmt.Fprintf(w, "# HELP parley_closes_total Connections closed by the relay, by close code.\n# TYPE parley_closes_total counter\n")
	for _, c := range codes {
		fmt.Fprintf(w, "parley_closes_total{code=\"%d\"} %d\n", uint16(c), m.closes[c])
	}
	m.closesMu.Unlock()

	m.batchSize.write(w, "parley_commit_batch_size", "Sends committed per store transaction.")
	m.ackLatency.write(w, "parley_ack_latency_seconds", "Time from reading a send to enqueueing its ack.")

	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	gauge("go_goroutines", "Number of goroutines that currently exist.", float64(runtime.NumGoroutine()))
	gauge("go_memstats_heap_inuse_bytes", "Number of heap bytes that are in use.", float64(ms.HeapInuse))
	gauge("go_memstats_heap_idle_bytes", "Number of heap bytes waiting to be used.", float64(ms.HeapIdle))
	gauge("go_memstats_heap_released_bytes", "Number of heap bytes released to the OS.", float64(ms.HeapReleased))
	gauge("go_memstats_stack_inuse_bytes", "Number of bytes in use by the stack allocator.", float64(ms.StackInuse))
	gauge("go_memstats_sys_bytes", "Number of bytes obtained from the OS.", float64(ms.Sys))
	if rss, ok := residentBytes(); ok {
		gauge("process_resident_memory_bytes", "Resident memory size in bytes.", float64(rss))
	}
	return w.Flush()
}

// residentBytes reads the resident set size from /proc/self/statm (Linux
// only: proc(5), field 2, in pages).
func residentBytes() (uint64, bool) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return 0, false
	}
	return pages * uint64(os.Getpagesize()), true
}

// since returns the seconds elapsed from t, for latency histograms.
func since(t time.Time) float64 { return time.Since(t).Seconds() }

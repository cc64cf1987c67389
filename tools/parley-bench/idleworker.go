package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/sys/unix"
)

// Idle connections live in worker processes, parley-bench re-executed with
// idleWorkerArg: one process may hold fewer descriptors than the relay can
// serve connections (RLIMIT_NOFILE), so the bench spreads them over as many
// workers as it needs, each holding at most maxPerWorker. Each connection
// dials from its own loopback source address (127.1.0.0/16, maxPerSource
// connections each), so the ephemeral ports of one address never run out.
//
// A worker and the bench speak in lines: the worker mints its tokens and
// says "ready"; the bench says "go"; the worker dials, reports a JSON
// workerReport, and holds its connections until its stdin closes.

const (
	idleWorkerArg = "__idle-worker"
	maxPerWorker  = 15_000
	maxPerSource  = 1000
)

// workerReport is what one worker's dialling achieved.
type workerReport struct {
	Connected int     `json:"connected"`
	Failed    int     `json:"failed"`
	FirstErr  string  `json:"first_error,omitempty"`
	Seconds   float64 `json:"seconds"`
}

// sourceAddr is the loopback address connection i dials from.
func sourceAddr(i int) net.IP {
	j := i / maxPerSource
	return net.IPv4(127, 1, byte(j/250), byte(j%250+1))
}

// workerCount is how many workers hold n connections.
func workerCount(n int) int { return max(1, (n+maxPerWorker-1)/maxPerWorker) }

// idleWorker is the worker process: args are the relay's WebSocket URL, the
// index of its first connection and how many it opens.
func idleWorker(args []string) int {
	if len(args) != 3 {
		fmt.Fprintln(os.Stderr, "parley-bench worker: want URL FIRST COUNT")
		return 2
	}
	url := args[0]
	first, err1 := strconv.Atoi(args[1])
	n, err2 := strconv.Atoi(args[2])
	if err := errors.Join(err1, err2); err != nil || first < 0 || n < 1 || n > maxPerWorker {
		fmt.Fprintln(os.Stderr, "parley-bench worker: bad FIRST or COUNT")
		return 2
	}
	if _, err := raiseNofile(); err != nil {
		fmt.Fprintln(os.Stderr, "parley-bench worker:", err)
		return 1
	}
	toks := make([]string, n)
	for i := range n {
		var err error
		if toks[i], err = token(fmt.Sprintf("idle-%05d", first+i), time.Hour); err != nil {
			fmt.Fprintln(os.Stderr, "parley-bench worker:", err)
			return 1
		}
	}
	in := bufio.NewScanner(os.Stdin)
	fmt.Println("ready")
	if !in.Scan() || in.Text() != "go" {
		return 1
	}
	ctx := context.Background()
	conns := make([]*websocket.Conn, n)
	var rep workerReport
	var next, failed atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	t0 := time.Now()
	for range min(64, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				c, err := dialIdle(ctx, url, toks[i], sourceAddr(first+i), 15*time.Second)
				if err != nil {
					failed.Add(1)
					mu.Lock()
					if rep.FirstErr == "" {
						rep.FirstErr = err.Error()
					}
					mu.Unlock()
					continue
				}
				conns[i] = c
			}
		})
	}
	wg.Wait()
	rep.Seconds = time.Since(t0).Seconds()
	rep.Failed = int(failed.Load())
	rep.Connected = n - rep.Failed
	b, _ := json.Marshal(rep)
	fmt.Println(string(b))
	// Hold the connections until the bench closes stdin.
	_, _ = io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		if c != nil {
			_ = c.CloseNow()
		}
	}
	return 0
}

// dialIdle opens one connection from source (nil: the system's choice),
// says Hello and waits for Welcome. After that the connection is never read
// or written again.
func dialIdle(ctx context.Context, url, tok string, source net.IP, timeout time.Duration) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var opts *websocket.DialOptions
	if source != nil {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: source}, Control: bindNoPort}
		opts = &websocket.DialOptions{HTTPClient: &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}}
	}
	c, _, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	if err := hello(ctx, c, tok); err != nil {
		c.CloseNow()
		return nil, err
	}
	return c, nil
}

// bindNoPort sets IP_BIND_ADDRESS_NO_PORT (ip(7)): the port of a socket
// bound to a source address is then picked at connect(2), per destination,
// instead of at bind(2) from the ports that address has free for everyone.
func bindNoPort(_, _ string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	})
	return errors.Join(err, serr)
}

// fleet is the worker processes holding one run's idle connections.
type fleet struct {
	procs []*workerProc
}

type workerProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
}

// startFleet starts the workers for n connections to url and waits until
// each has its tokens ready.
func startFleet(ctx context.Context, url string, n int) (*fleet, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	f := &fleet{}
	w := workerCount(n)
	first := 0
	for i := range w {
		count := n / w
		if i < n%w {
			count++
		}
		cmd := exec.Command(self, idleWorkerArg, url, strconv.Itoa(first), strconv.Itoa(count))
		cmd.Stderr = os.Stderr
		// A worker dies with the bench rather than holding connections.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		stdin, err1 := cmd.StdinPipe()
		stdout, err2 := cmd.StdoutPipe()
		if err := errors.Join(err1, err2); err != nil {
			f.close()
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			f.close()
			return nil, fmt.Errorf("start idle worker: %w", err)
		}
		p := &workerProc{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
		f.procs = append(f.procs, p)
		first += count
	}
	for _, p := range f.procs {
		if line, err := p.line(ctx, time.Minute); err != nil || line != "ready" {
			f.close()
			return nil, fmt.Errorf("idle worker not ready: %q %v", line, err)
		}
	}
	return f, nil
}

// line reads the worker's next line within timeout.
func (p *workerProc) line(ctx context.Context, timeout time.Duration) (string, error) {
	got := make(chan bool, 1)
	go func() { got <- p.out.Scan() }()
	select {
	case ok := <-got:
		if !ok {
			return "", fmt.Errorf("idle worker exited: %v", p.out.Err())
		}
		return p.out.Text(), nil
	case <-time.After(timeout):
		return "", errors.New("idle worker timed out")
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// pids returns the workers' process ids.
func (f *fleet) pids() []int {
	var out []int
	for _, p := range f.procs {
		out = append(out, p.cmd.Process.Pid)
	}
	return out
}

// dial tells every worker to dial and sums their reports.
func (f *fleet) dial(ctx context.Context) (workerReport, error) {
	for _, p := range f.procs {
		if _, err := io.WriteString(p.stdin, "go\n"); err != nil {
			return workerReport{}, err
		}
	}
	var sum workerReport
	for _, p := range f.procs {
		line, err := p.line(ctx, 3*time.Minute)
		if err != nil {
			return sum, err
		}
		var r workerReport
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return sum, fmt.Errorf("idle worker report %q: %w", line, err)
		}
		sum.Connected += r.Connected
		sum.Failed += r.Failed
		sum.Seconds = max(sum.Seconds, r.Seconds)
		if sum.FirstErr == "" {
			sum.FirstErr = r.FirstErr
		}
	}
	return sum, nil
}

// close has every worker close its connections and exit, killing one that
// takes longer than 10 s.
func (f *fleet) close() {
	for _, p := range f.procs {
		_ = p.stdin.Close()
	}
	for _, p := range f.procs {
		done := make(chan struct{})
		go func() { _ = p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-done
		}
	}
}

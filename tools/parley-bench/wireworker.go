package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/tools/parley-bench/internal/wiretext"
	"github.com/parley-im/parley/tools/parley-bench/internal/ws"
	"golang.org/x/sys/unix"
)

// The wire generator: the scenarios fanout, p2p2k and overload drive the
// relay with bare WebSocket clients in --procs worker processes
// (parley-bench re-executed with wireWorkerArg), all pinned with the bench to
// the generator's core. A wire client speaks the protocol itself: it says
// Hello, sends Send frames on its own ticker, and reads every frame with
// the proto peeks — type and request id from the envelope, and from a
// Deliver only the sender and the text — never decoding a whole frame. Its
// socket is not a library's connection but a bare non-blocking descriptor
// (internal/ws): one poll loop per worker reads whichever sockets have
// bytes, many frames per wake-up and no goroutine per connection. That
// keeps the receiving side, the costly half of a fan-out generator, cheap.
//
// A worker and the bench speak in lines. The bench writes the job (one JSON
// line); the worker connects its users, creates the groups it owns and says
// "ready"; the bench says "go <t0 unix ns>", and the worker sends until its
// window ends and says "sent <JSON wireSent>"; the bench asks "count" until
// the workers' unique deliveries add up to what was owed (each answers
// with its count), then "report", answered with one JSON wireReport. Send
// times travel in the text as unix nanoseconds, two of them: the message's
// first send and the attempt that carries it (a resend after a refusal is a
// later attempt), so a receiver measures both what the relay admitted and
// what the sender waited in all. Every worker reads the same clock.

const wireWorkerArg = "__wire-worker"

// wireJob is one worker's share of a run.
type wireJob struct {
	URL   string     `json:"url"`
	Users []string   `json:"users"` // the whole cast
	Convs []wireConv `json:"convs"`
	Talk  []bool     `json:"talk,omitempty"`  // nil: every user talks
	Own   []int      `json:"own"`             // indices into Users this worker connects
	Every int64      `json:"every_ns"`        // one talker's send interval
	Count int        `json:"count"`           // messages a talker may send
	Warm  int64      `json:"warm_ns"`         // from t0: samples sent before t0+Warm are discarded
	Dur   int64      `json:"dur_ns"`          // measured window after the warm-up
	First bool       `json:"first,omitempty"` // flag each sender's first message into a conversation
}

type wireConv struct {
	ID      string `json:"id"`
	Members []int  `json:"members"`
	Group   bool   `json:"group,omitempty"`
}

// wireSent is what a worker's talkers sent, warm-up included.
type wireSent struct {
	Sent int64 `json:"sent"`
	Owed int64 `json:"owed"` // deliveries those messages are owed
}

// wireReport is one worker's tally of a run.
type wireReport struct {
	SentWin  int64 `json:"sent_window"`    // sends in the window
	AckedWin int64 `json:"acked_window"`   // acks arriving in the window
	ArrWin   int64 `json:"arrived_window"` // deliveries arriving in the window
	Unique   int64 `json:"unique"`         // deliveries, warm-up included
	Dups     int64 `json:"dups"`
	Strange  int64 `json:"strange"`
	Unacked  int64 `json:"unacked"` // sends never answered
	// RefusedOwed is the deliveries the refused sends would have been owed:
	// their senders were told, so they are not lost.
	RefusedOwed int64            `json:"refused_owed"`
	Resent      int64            `json:"resent"` // refused sends written again (wireRetry)
	SendErrs    int64            `json:"send_errors"`
	Refused     map[string]int64 `json:"refused,omitempty"` // error replies by code
	Closed      map[string]int64 `json:"closed,omitempty"`  // connections the relay closed, by code
	// Deliver and Admitted are send → delivered of the messages first sent
	// in the window, µs: from the first send, and from the attempt the
	// relay admitted (the last one; they differ when the relay refused the
	// message and it was resent). Only admitted messages are delivered.
	Deliver  hist `json:"deliver"`
	Admitted hist `json:"admitted"`
	First    hist `json:"first"` // send → delivered of first messages, whenever sent, from the first send, µs
	Ack      hist `json:"ack"`   // attempt → ack of messages first sent in the window, µs
	// BySecond is Deliver by the second of the window the message was
	// first sent in: a tail that one second holds (a storm of writes at
	// the start, a checkpoint) tells apart from a steady one.
	BySecond  []hist  `json:"by_second,omitempty"`
	CPU       float64 `json:"cpu_s"` // this worker's CPU over the window
	PeekFails int64   `json:"peek_failures"`
}

// hist is a log-bucketed histogram of microseconds (1 % wide buckets) that
// merges by addition: percentiles over several workers without shipping
// samples.
type hist map[int]int64

const histBase = 1.01

func histBucket(us float64) int {
	if us < 1 {
		return 0
	}
	return int(math.Log(us)/math.Log(histBase)) + 1
}

func (h hist) add(us float64) { h[histBucket(us)]++ }

func (h hist) merge(o hist) {
	for k, v := range o {
		h[k] += v
	}
}

func (h hist) count() int64 {
	var n int64
	for _, v := range h {
		n += v
	}
	return n
}

// quantile returns the q-quantile (0..1) in milliseconds: the upper edge of
// its bucket, at most 1 % above the true value; NaN when empty.
func (h hist) quantile(q float64) float64 {
	n := h.count()
	if n == 0 {
		return math.NaN()
	}
	keys := make([]int, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sortInts(keys)
	rank := int64(math.Ceil(q * float64(n)))
	rank = max(rank, 1)
	var c int64
	for _, k := range keys {
		c += h[k]
		if c >= rank {
			if k == 0 {
				return 0.001
			}
			return math.Pow(histBase, float64(k)) / 1000
		}
	}
	return math.Pow(histBase, float64(keys[len(keys)-1])) / 1000
}

func sortInts(s []int) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// wireBot is one user's connection in a worker.
type wireBot struct {
	idx  int
	user string
	fd   int        // the socket, non-blocking; -1 once closed
	wmu  sync.Mutex // writes (the sender, the group creation before it, pongs) and closing fd
	wbuf []byte     // the frame being written, under wmu
	rd   *ws.Reader // by the poll loop only

	// Sending: message k goes to convs[convOf[k]].
	convs   []string
	fans    []int
	firsts  []bool // convs not yet sent to
	isFirst []bool // message k was its sender's first into its conversation
	n       int
	rng     *rand.Rand
	convOf  []uint16
	sentAt  []atomic.Int64 // unix ns of the first send; 0 until sent
	tryAt   []atomic.Int64 // unix ns of the latest attempt (a resend after a refusal, or the first send)
	ackAt   []atomic.Int64 // unix ns; 0 until acked; -1 refused

	// Receiving, by the reader goroutine only until the report.
	from map[string]int // sender → index into seen
	seen [][]bool
	in   map[string]bool

	created chan error // the reply to this bot's CreateGroup

	// Refused sends, as an SDK's outbox keeps them: resent oldest first
	// after the relay's retry hint, before anything new (wireRetry).
	retry wireRetry
}

// wireRetryAfter is how long a talker waits after a refusal (4301) before
// it resends: the relay's default retry hint, which the SDK honours.
const wireRetryAfter = 200 * time.Millisecond

// wireRetry is a talker's refused sends. The relay refuses every later send
// of a connection once one was refused, until the client resends one it was
// refused (its order guard), so a talker that sent on regardless would be
// refused for the rest of the run: like the SDK, it holds its new messages
// while it waits, then resends the refused ones oldest first.
type wireRetry struct {
	mu sync.Mutex
	ks []int     // refused message indexes, oldest first
	at time.Time // not before then
}

// refused records that message k was refused.
func (r *wireRetry) refused(k int, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.ks) == 0 {
		r.at = now.Add(wireRetryAfter)
	}
	r.ks = append(r.ks, k)
}

// next returns the refused message to resend now (ok), or whether the
// talker must hold its new messages (hold).
func (r *wireRetry) next(now time.Time) (k int, ok, hold bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.ks) == 0 {
		return 0, false, false
	}
	if now.Before(r.at) {
		return 0, false, true
	}
	slices.Sort(r.ks)
	k, r.ks = r.ks[0], r.ks[1:]
	return k, true, false
}

// wireWorker is the worker process.
func wireWorker() int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "parley-bench wire worker:", err)
		return 1
	}
	if _, err := raiseNofile(); err != nil {
		return fail(err)
	}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	if !in.Scan() {
		return fail(errors.New("no job"))
	}
	var job wireJob
	if err := json.Unmarshal(in.Bytes(), &job); err != nil {
		return fail(err)
	}
	w := newWireRun(job)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := w.connect(ctx); err != nil {
		return fail(err)
	}
	out := bufio.NewWriter(os.Stdout)
	say := func(s string) { out.WriteString(s + "\n"); out.Flush() }
	say("ready")
	for in.Scan() {
		cmd, arg, _ := strings.Cut(in.Text(), " ")
		switch cmd {
		case "go":
			t0, err := strconv.ParseInt(arg, 10, 64)
			if err != nil {
				return fail(err)
			}
			sent := w.run(ctx, t0)
			b, _ := json.Marshal(sent)
			say("sent " + string(b))
		case "count":
			say(strconv.FormatInt(w.unique.Load(), 10))
		case "report":
			b, _ := json.Marshal(w.report())
			say(string(b))
			return 0
		default:
			return fail(fmt.Errorf("unknown command %q", cmd))
		}
	}
	return 0
}

// genProfileEnv names the environment variable that has every wire worker
// write a CPU profile of its measured window to <value>.<pid>.pprof.
const genProfileEnv = "PARLEY_BENCH_GEN_CPUPROFILE"

// startGenProfile starts the worker's CPU profile if genProfileEnv asks for
// one, and returns what stops it.
func startGenProfile() (stop func()) {
	prefix := os.Getenv(genProfileEnv)
	if prefix == "" {
		return func() {}
	}
	f, err := os.Create(prefix + "." + strconv.Itoa(os.Getpid()) + ".pprof")
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "parley-bench wire worker: cpu profile:", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// wireRun is a worker's state over one run.
type wireRun struct {
	job    wireJob
	bots   []*wireBot
	unique atomic.Int64
	t0     int64
	w0, w1 int64 // the measured window, unix ns

	mu        sync.Mutex // the tallies below, and every bot's receive state at report time
	rep       wireReport
	cpu0, cpu float64
}

func newWireRun(job wireJob) *wireRun {
	w := &wireRun{job: job, rep: wireReport{Refused: map[string]int64{}, Closed: map[string]int64{},
		Deliver: hist{}, Admitted: hist{}, First: hist{}, Ack: hist{}}}
	talks := func(i int) bool { return job.Talk == nil || job.Talk[i] }
	byUser := make(map[int]*wireBot)
	for _, i := range job.Own {
		n := 0
		if talks(i) {
			n = job.Count
		}
		b := &wireBot{idx: i, user: job.Users[i], n: n, rng: rand.New(rand.NewPCG(uint64(i)+1, 0x9e3779b97f4a7c15)),
			convOf: make([]uint16, n), isFirst: make([]bool, n), sentAt: make([]atomic.Int64, n), tryAt: make([]atomic.Int64, n), ackAt: make([]atomic.Int64, n),
			from: map[string]int{}, in: map[string]bool{}, fd: -1, created: make(chan error, 1)}
		byUser[i] = b
		w.bots = append(w.bots, b)
	}
	for _, cv := range job.Convs {
		for _, m := range cv.Members {
			b := byUser[m]
			if b == nil {
				continue
			}
			b.in[cv.ID] = true
			if b.n > 0 {
				b.convs = append(b.convs, cv.ID)
				b.fans = append(b.fans, len(cv.Members)-1)
				b.firsts = append(b.firsts, true)
			}
			for _, s := range cv.Members {
				if s == m || !talks(s) {
					continue
				}
				if _, ok := b.from[job.Users[s]]; !ok {
					b.from[job.Users[s]] = len(b.seen)
					b.seen = append(b.seen, make([]bool, job.Count))
				}
			}
		}
	}
	return w
}

// connect dials every bot, says Hello, starts its reader, and has each
// group's first member create it.
func (w *wireRun) connect(ctx context.Context) error {
	sem := make(chan struct{}, 32)
	errs := make([]error, len(w.bots))
	var wg sync.WaitGroup
	for i, b := range w.bots {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = b.dial(ctx, w.job.URL)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, b := range w.bots {
			b.close()
		}
		return err
	}
	if err := w.startPoll(); err != nil {
		return err
	}
	byUser := make(map[int]*wireBot)
	for _, b := range w.bots {
		byUser[b.idx] = b
	}
	var cwg sync.WaitGroup
	var cerr []error
	var cmu sync.Mutex
	for _, cv := range w.job.Convs {
		b := byUser[cv.Members[0]]
		if !cv.Group || b == nil {
			continue
		}
		cwg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			others := make([]string, 0, len(cv.Members)-1)
			for _, m := range cv.Members[1:] {
				others = append(others, w.job.Users[m])
			}
			f := proto.MustEncode(proto.Frame{Type: proto.TypeCreateGroup, ID: math.MaxUint32,
				Body: &proto.CreateGroup{ConvID: cv.ID, Name: "bench " + cv.ID, Members: others}})
			err := b.write(f)
			if err == nil {
				select {
				case err = <-b.created:
				case <-time.After(60 * time.Second):
					err = errors.New("no reply")
				}
			}
			if err != nil {
				cmu.Lock()
				cerr = append(cerr, fmt.Errorf("create %s: %w", cv.ID, err))
				cmu.Unlock()
			}
		})
	}
	cwg.Wait()
	return errors.Join(cerr...)
}

// dial connects the bot and says Hello.
func (b *wireBot) dial(ctx context.Context, url string) error {
	tok, err := token(b.user, time.Hour)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	b.fd, b.rd, err = ws.Dial(ctx, url)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	if err := b.write(helloFrame(tok)); err != nil {
		return fmt.Errorf("hello: %w", err)
	}
	m, err := ws.ReadMessage(b.fd, b.rd, 30*time.Second)
	if err != nil {
		return fmt.Errorf("welcome: %w", err)
	}
	return welcomed(m)
}

// replied passes on the reply to the bot's CreateGroup; it never blocks the
// poll loop (a second reply, which the relay does not send, is dropped).
func (b *wireBot) replied(err error) {
	select {
	case b.created <- err:
	default:
	}
}

// wireWriteTimeout bounds a write's wait for room in a full socket buffer.
const wireWriteTimeout = 30 * time.Second

// write sends f as one binary message.
func (b *wireBot) write(f []byte) error { return b.writeFrame(ws.Binary, f) }

func (b *wireBot) writeFrame(op byte, p []byte) error {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	if b.fd < 0 {
		return ws.ErrClosedByPeer
	}
	b.wbuf = ws.AppendFrame(b.wbuf[:0], op, p)
	return ws.WriteAll(b.fd, b.wbuf, wireWriteTimeout)
}

// close closes the bot's socket; writes fail after it.
func (b *wireBot) close() {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	if b.fd >= 0 {
		unix.Close(b.fd)
		b.fd = -1
	}
}

// startPoll hands every bot's socket to one poll loop. The loop's epoll
// instance is itself registered with the runtime's poller, so the loop
// parks like any goroutine blocked on a read and wakes once for all the
// sockets that became readable meanwhile.
func (w *wireRun) startPoll() error {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return fmt.Errorf("epoll: %w", err)
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return err
	}
	ep := os.NewFile(uintptr(epfd), "epoll")
	rc, err := ep.SyscallConn()
	if err != nil {
		ep.Close()
		return err
	}
	byFD := make(map[int32]*wireBot, len(w.bots))
	for _, b := range w.bots {
		// Frames that came with the Welcome are there before any event.
		w.frames(b, time.Now().UnixNano())
		byFD[int32(b.fd)] = b
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(b.fd)}
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, b.fd, &ev); err != nil {
			ep.Close()
			return fmt.Errorf("epoll add: %w", err)
		}
	}
	go w.poll(ep, rc, byFD)
	return nil
}

// poll is the worker's one reader: it waits for sockets with bytes and
// reads each once (level-triggered: what a read leaves comes back in the
// next wait), until no socket is left open.
func (w *wireRun) poll(ep *os.File, rc syscall.RawConn, byFD map[int32]*wireBot) {
	defer ep.Close()
	events := make([]unix.EpollEvent, 256)
	for len(byFD) > 0 {
		var werr error
		err := rc.Read(func(epfd uintptr) bool {
			n, err := unix.EpollWait(int(epfd), events, 0)
			if err == unix.EINTR {
				return true
			}
			if err != nil {
				werr = err
				return true
			}
			if n == 0 {
				return false // park until the epoll instance is readable
			}
			for _, ev := range events[:n] {
				b := byFD[ev.Fd]
				if b != nil && !w.readSocket(b) {
					_ = unix.EpollCtl(int(epfd), unix.EPOLL_CTL_DEL, int(ev.Fd), nil)
					delete(byFD, ev.Fd)
					b.close()
				}
			}
			return true
		})
		if err = errors.Join(err, werr); err != nil {
			fmt.Fprintln(os.Stderr, "parley-bench wire worker: poll:", err)
			return
		}
		// Let the talkers' timers run between batches.
		runtime.Gosched()
	}
}

// readSocket reads what b's socket holds and handles every whole frame in
// it; false when the connection is over.
func (w *wireRun) readSocket(b *wireBot) bool {
	for {
		sp := b.rd.Space()
		n, err := unix.Read(b.fd, sp)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return true
		case err != nil || n == 0:
			return false
		}
		b.rd.Wrote(n)
		if !w.frames(b, time.Now().UnixNano()) {
			return false
		}
		if n < len(sp) {
			return true
		}
	}
}

// frames handles every whole message read from b, arrived at now; false
// when the connection is over.
func (w *wireRun) frames(b *wireBot, now int64) bool {
	for {
		op, m, ok, err := b.rd.Next()
		if err != nil {
			fmt.Fprintf(os.Stderr, "parley-bench wire worker: %s: %v\n", b.user, err)
			w.mu.Lock()
			w.rep.PeekFails++
			w.mu.Unlock()
			return false
		}
		if !ok {
			return true
		}
		switch op {
		case ws.Close:
			return false
		case ws.Ping:
			_ = b.writeFrame(ws.Pong, m)
		case ws.Text, ws.Binary:
			w.frame(b, m, now)
		}
	}
}

// frame handles one message: every frame is peeked, never decoded.
func (w *wireRun) frame(b *wireBot, m []byte, now int64) {
	p, err := proto.PeekFrame(m)
	if err != nil {
		w.mu.Lock()
		w.rep.PeekFails++
		w.mu.Unlock()
		return
	}
	switch p.Type {
	case proto.TypeDeliver:
		w.delivered(b, p.Body, now)
	case proto.TypeAck:
		if k := int(p.ID) - 1; k >= 0 && k < b.n {
			b.ackAt[k].Store(now)
		}
	case proto.TypeError:
		code, _ := proto.PeekErrorCode(p.Body)
		if p.ID == math.MaxUint32 {
			b.replied(fmt.Errorf("error %d", code))
			return
		}
		if k := int(p.ID) - 1; k >= 0 && k < b.n {
			b.ackAt[k].Store(-1)
			if code == proto.CodeBusy {
				b.retry.refused(k, time.Now())
			}
		}
		w.mu.Lock()
		w.rep.Refused[strconv.Itoa(int(code))]++
		w.mu.Unlock()
	case proto.TypeConvResult:
		if p.ID == math.MaxUint32 {
			b.replied(nil)
		}
	case proto.TypeClose:
		code, _ := proto.PeekErrorCode(p.Body)
		w.mu.Lock()
		w.rep.Closed[strconv.Itoa(int(code))]++
		w.mu.Unlock()
	}
}

// delivered counts one Deliver at its receiver.
func (w *wireRun) delivered(b *wireBot, body []byte, now int64) {
	d, err := proto.PeekDeliver(body)
	if err != nil {
		w.mu.Lock()
		w.rep.PeekFails++
		w.mu.Unlock()
		return
	}
	if string(d.Sender) == b.user {
		return
	}
	k, at, try, first, ok := wiretext.Parse(d.Text)
	p, known := b.from[string(d.Sender)]
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case !ok && string(d.Text) == "warm-up":
	case len(d.Text) == 0 && b.in[string(d.ConvID)]:
		// A group change notice (a system message: its content is in
		// Body, never in Text), such as the one that starts every group.
	case !ok || !known || !b.in[string(d.ConvID)] || k >= len(b.seen[p]):
		w.rep.Strange++
	case b.seen[p][k]:
		w.rep.Dups++
	default:
		b.seen[p][k] = true
		w.unique.Add(1)
		us := float64(now-at) / 1e3
		if at >= w.w0 && at < w.w1 {
			sec := int((at - w.w0) / 1e9)
			for len(w.rep.BySecond) <= sec {
				w.rep.BySecond = append(w.rep.BySecond, hist{})
			}
			w.rep.BySecond[sec].add(us)
			w.rep.Deliver.add(us)
			w.rep.Admitted.add(float64(now-try) / 1e3)
		}
		if first {
			w.rep.First.add(us)
		}
		if now >= w.w0 && now < w.w1 {
			w.rep.ArrWin++
		}
	}
}

// run sends from t0 until the window ends: talker i of the cast first at
// t0 + i/talkers of an interval, then once per interval, whatever the relay
// answers.
func (w *wireRun) run(ctx context.Context, t0 int64) wireSent {
	w.t0, w.w0, w.w1 = t0, t0+w.job.Warm, t0+w.job.Warm+w.job.Dur
	talkers := 0
	order := make(map[int]int)
	for i := range w.job.Users {
		if w.job.Talk == nil || w.job.Talk[i] {
			order[i] = talkers
			talkers++
		}
	}
	every := time.Duration(w.job.Every)
	end := time.Unix(0, w.w1)
	var wg sync.WaitGroup
	for _, b := range w.bots {
		if b.n == 0 {
			continue
		}
		first := time.Unix(0, t0+w.job.Every*int64(order[b.idx])/int64(max(1, talkers)))
		wg.Go(func() { w.talk(ctx, b, first, every, end) })
	}
	if d := time.Until(time.Unix(0, w.w0)); d > 0 {
		time.Sleep(d)
	}
	w.cpu0, _ = cpuSeconds(os.Getpid())
	stopProf := startGenProfile()
	if d := time.Until(end); d > 0 {
		time.Sleep(d)
	}
	w.cpu, _ = cpuSeconds(os.Getpid())
	stopProf()
	w.cpu -= w.cpu0
	wg.Wait()
	var s wireSent
	for _, b := range w.bots {
		for k := range b.n {
			if b.sentAt[k].Load() != 0 {
				s.Sent++
				s.Owed += int64(b.fans[b.convOf[k]])
			}
		}
	}
	return s
}

// talk is one talker's open loop.
func (w *wireRun) talk(ctx context.Context, b *wireBot, first time.Time, every time.Duration, end time.Time) {
	time.Sleep(time.Until(first))
	tick := time.NewTicker(every)
	defer tick.Stop()
	for k := 0; k < b.n && time.Now().Before(end); k++ {
		if rk, ok, hold := b.retry.next(time.Now()); ok || hold {
			if ok && !w.resend(b, rk) {
				return
			}
			k-- // this tick sent no new message
			<-tick.C
			continue
		}
		ci := 0
		if len(b.convs) > 1 {
			ci = b.rng.IntN(len(b.convs))
		}
		b.convOf[k] = uint16(ci)
		fst := w.job.First && b.firsts[ci]
		b.firsts[ci] = false
		b.isFirst[k] = fst
		at := time.Now().UnixNano()
		f := proto.MustEncode(proto.Frame{Type: proto.TypeSend, ID: uint64(k + 1), Body: &proto.Send{
			ConvID: b.convs[ci], ClientID: "c" + strconv.Itoa(k), MsgType: proto.MsgText, Text: wiretext.Format(k, at, at, fst)}})
		b.sentAt[k].Store(at)
		b.tryAt[k].Store(at)
		if err := b.write(f); err != nil {
			b.sentAt[k].Store(0)
			w.mu.Lock()
			w.rep.SendErrs++
			w.mu.Unlock()
			return
		}
		<-tick.C
	}
}

// resend writes refused message k again, with its client id, its first
// send time (the latency from it counts the refusals and the waits) and
// this attempt's (the latency of what the relay admits), and reports
// whether the talker may go on.
func (w *wireRun) resend(b *wireBot, k int) bool {
	ci := int(b.convOf[k])
	at, try := b.sentAt[k].Load(), time.Now().UnixNano()
	f := proto.MustEncode(proto.Frame{Type: proto.TypeSend, ID: uint64(k + 1), Body: &proto.Send{
		ConvID: b.convs[ci], ClientID: "c" + strconv.Itoa(k), MsgType: proto.MsgText, Text: wiretext.Format(k, at, try, b.isFirst[k])}})
	b.tryAt[k].Store(try)
	b.ackAt[k].Store(0)
	if err := b.write(f); err != nil {
		w.mu.Lock()
		w.rep.SendErrs++
		w.mu.Unlock()
		return false
	}
	w.mu.Lock()
	w.rep.Resent++
	w.mu.Unlock()
	return true
}

// report tallies the run.
func (w *wireRun) report() wireReport {
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.rep
	// The maps are the run's own, still written by the poll loop (a close
	// can arrive after the report): the report gets copies.
	r.Refused, r.Closed = maps.Clone(w.rep.Refused), maps.Clone(w.rep.Closed)
	r.Deliver, r.Admitted = maps.Clone(w.rep.Deliver), maps.Clone(w.rep.Admitted)
	r.First, r.Ack = maps.Clone(w.rep.First), maps.Clone(w.rep.Ack)
	r.BySecond = make([]hist, len(w.rep.BySecond))
	for i, h := range w.rep.BySecond {
		r.BySecond[i] = maps.Clone(h)
	}
	r.Unique = w.unique.Load()
	r.CPU = w.cpu
	for _, b := range w.bots {
		for k := range b.n {
			at, ack := b.sentAt[k].Load(), b.ackAt[k].Load()
			if at == 0 {
				continue
			}
			if ack == 0 {
				r.Unacked++
			}
			if ack < 0 {
				r.RefusedOwed += int64(b.fans[b.convOf[k]])
			}
			if ack > 0 && ack >= w.w0 && ack < w.w1 {
				r.AckedWin++
			}
			if at < w.w0 || at >= w.w1 {
				continue
			}
			r.SentWin++
			if ack > 0 {
				r.Ack.add(float64(ack-b.tryAt[k].Load()) / 1e3)
			}
		}
	}
	return r
}

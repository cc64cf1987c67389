package relay

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limitListener bounds the TCP connections a relay holds open: at most max
// in all and perIP from one remote address. It counts every accepted
// connection — plain HTTP keep-alives as well as upgraded WebSockets — until
// it is closed, so that no kind of connection can use up the process's file
// descriptors. A connection above a limit is accepted and closed at once:
// left in the kernel's backlog it would still hold a descriptor's worth of
// kernel memory and delay everyone queued behind it.
type limitListener struct {
	net.Listener
	max, perIP int
	metrics    *metrics
	log        *rateLog

	mu    sync.Mutex
	n     int
	byIP  map[string]int
	again time.Duration // backoff after a failing Accept
}

func newLimitListener(ln net.Listener, max, perIP int, m *metrics, log *rateLog) *limitListener {
	return &limitListener{Listener: ln, max: max, perIP: perIP, metrics: m, log: log, byIP: make(map[string]int)}
}

// Accept returns the next connection within the limits, closing those above
// them. An Accept error is logged at warn (rate-limited: EMFILE repeats as
// fast as the loop spins) and returned, so net/http backs off and retries
// the temporary ones.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				l.metrics.acceptErrors.Add(1)
				l.log.warn("accept failed", "err", err)
			}
			return nil, err
		}
		ip := remoteIP(c.RemoteAddr())
		l.mu.Lock()
		switch {
		case l.max > 0 && l.n >= l.max:
			l.mu.Unlock()
			l.metrics.limitHit(limitConns)
			l.log.warn("connection refused: relay at its connection limit", "remote", c.RemoteAddr().String(), "limit", l.max)
			_ = c.Close()
			continue
		case l.perIP > 0 && l.byIP[ip] >= l.perIP:
			l.mu.Unlock()
			l.metrics.limitHit(limitConnsPerIP)
			l.log.warn("connection refused: address at its connection limit", "remote", c.RemoteAddr().String(), "limit", l.perIP)
			_ = c.Close()
			continue
		}
		l.n++
		l.byIP[ip]++
		l.mu.Unlock()
		return &limitedConn{Conn: c, l: l, ip: ip}, nil
	}
}

func (l *limitListener) release(ip string) {
	l.mu.Lock()
	l.n--
	if l.byIP[ip]--; l.byIP[ip] <= 0 {
		delete(l.byIP, ip)
	}
	l.mu.Unlock()
}

// open returns the connections held, in all and from ip.
func (l *limitListener) open(ip string) (all, fromIP int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n, l.byIP[ip]
}

// limitedConn gives its slot back when closed, once.
type limitedConn struct {
	net.Conn
	l    *limitListener
	ip   string
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.ip) })
	return err
}

// remoteIP is the host part of addr: connections are counted per address,
// not per port.
func remoteIP(addr net.Addr) string {
	if ta, ok := addr.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	return host
}

// rateLog writes warnings that an attacker could otherwise multiply into a
// flood — a refused connection, a failed hello — at most a few a second.
// What it drops is counted and reported with the next line it writes.
type rateLog struct {
	log     *slog.Logger
	lim     *rate.Limiter
	mu      sync.Mutex
	dropped int
}

func newRateLog(log *slog.Logger, perSecond float64, burst int) *rateLog {
	return &rateLog{log: log, lim: rate.NewLimiter(rate.Limit(perSecond), burst)}
}

func (r *rateLog) warn(msg string, args ...any) { r.write(slog.LevelWarn, msg, args...) }
func (r *rateLog) info(msg string, args ...any) { r.write(slog.LevelInfo, msg, args...) }

func (r *rateLog) write(level slog.Level, msg string, args ...any) {
	if !r.lim.Allow() {
		r.mu.Lock()
		r.dropped++
		r.mu.Unlock()
		r.log.Debug(msg, args...)
		return
	}
	r.mu.Lock()
	dropped := r.dropped
	r.dropped = 0
	r.mu.Unlock()
	if dropped > 0 {
		args = append(args, "suppressed", dropped)
	}
	r.log.Log(context.Background(), level, msg, args...)
}

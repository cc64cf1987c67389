package client

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parley-im/parley/proto"
)

// Socket is one open connection to a relay: binary messages in order. The
// client reads it from one goroutine and writes it from another.
type Socket interface {
	// Read returns the next binary message. When the connection ends it
	// returns an error; a *CloseError carries the close code and reason
	// when there was one.
	Read(ctx context.Context) ([]byte, error)
	// Write sends one binary message; calls are made in order from one
	// goroutine.
	Write(ctx context.Context, b []byte) error
	// Close starts the closing handshake with code and reason (clipped by
	// proto.ClipReason). It may be called more than once, and while a Read
	// or Write is under way, which it ends.
	Close(code proto.Code, reason string) error
}

// CloseError is how a Socket's Read reports a connection that ended with
// a close code: the relay's, or the one the closing side gave.
type CloseError struct {
	Code   proto.Code
	Reason string
}

func (e *CloseError) Error() string {
	return "connection closed: " + strconv.Itoa(int(e.Code)) + " " + e.Reason
}

// dialTimeout bounds fetching the token and opening the socket.
const dialTimeout = 10 * time.Second

// dial runs on its own goroutine: fetch a token, open the socket, then
// report to the loop.
func (c *Client) dial(id uint64) {
	defer c.guard("dial")
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	defer cancel()
	token := c.opts.Token
	if c.opts.TokenFunc != nil {
		t, err := c.opts.TokenFunc(ctx)
		if err != nil {
			c.logf(LevelWarn, "parley: token fetch failed: %v", err)
			c.loop.gone(id, nil, 0, "token fetch failed: "+err.Error())
			return
		}
		token = t
		c.noteToken(t)
	}
	url := withUser(c.opts.URL, tokenSubject(token))
	c.logf(LevelInfo, "parley: dialing %s", url)
	s, err := c.opts.Dial(ctx, url)
	if err != nil {
		c.logf(LevelDebug, "parley: dial failed: %v", err)
		c.loop.gone(id, nil, 0, "dial failed: "+err.Error())
		return
	}
	cn := newConn(id, s, c)
	if !c.loop.opened(cn, token) { // the client stopped meanwhile
		cn.close(1000, "client closed")
		go cn.readLoop() // reads to the end, so the socket releases what it holds
	}
}

// withUser returns the WebSocket URL u with its query parameter user set
// to user, percent-encoded: the other parameters stay, and a user one
// already there is replaced. A relay split into shards routes the
// connection to the user's shard by it (a single relay ignores it); the
// token in hello still decides who the user is. u is returned unchanged
// when user is "" (a token whose user the client cannot read).
func withUser(u, user string) string {
	if user == "" {
		return u
	}
	rest, frag, hasFrag := strings.Cut(u, "#")
	base, query, _ := strings.Cut(rest, "?")
	b := make([]byte, 0, len(u)+len("?user=")+3*len(user))
	b = append(b, base...)
	b = append(b, '?')
	for query != "" {
		var param string
		param, query, _ = strings.Cut(query, "&")
		if key, _, _ := strings.Cut(param, "="); param == "" || key == "user" {
			continue
		}
		b = append(b, param...)
		b = append(b, '&')
	}
	b = append(b, "user="...)
	for i := 0; i < len(user); i++ {
		// RFC 3986 §2.3: unreserved characters go as they are, the rest
		// percent-encoded (a user id's '@' among them).
		switch c := user[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '.', c == '_', c == '~':
			b = append(b, c)
		default:
			b = append(b, '%', "0123456789ABCDEF"[c>>4], "0123456789ABCDEF"[c&15])
		}
	}
	if hasFrag {
		b = append(b, '#')
		b = append(b, frag...)
	}
	return string(b)
}

// renewToken runs on its own goroutine: fetch a fresh token and hand it to
// the core, which renews connection id's session with it. A failed fetch is
// only logged: the relay then ends the session when its token expires
// (4110), and the reconnect fetches again.
func (c *Client) renewToken(id uint64) {
	defer c.guard("renew")
	if c.opts.TokenFunc == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	defer cancel()
	t, err := c.opts.TokenFunc(ctx)
	if err != nil {
		c.logf(LevelWarn, "parley: token fetch for renewal failed: %v", err)
		return
	}
	c.loop.post(func(now time.Time) { c.loop.core.HandleToken(now, id, t) })
}

// conn is one connection: a reader goroutine that feeds the loop and a
// writer goroutine that drains one ordered queue. The queue is unbounded
// because the core bounds what it writes (the send window, one sync at a
// time); it never blocks the loop.
type conn struct {
	id uint64
	s  Socket
	c  *Client

	mu     sync.Mutex
	cond   *sync.Cond
	queue  [][]byte
	closed bool
}

func newConn(id uint64, s Socket, c *Client) *conn {
	cn := &conn{id: id, s: s, c: c}
	cn.cond = sync.NewCond(&cn.mu)
	return cn
}

// start runs the reader and the writer.
func (cn *conn) start() {
	go cn.writeLoop()
	go cn.readLoop()
}

// write queues one frame; it never blocks.
func (cn *conn) write(b []byte) {
	cn.mu.Lock()
	if !cn.closed {
		cn.queue = append(cn.queue, b)
	}
	cn.mu.Unlock()
	cn.cond.Signal()
}

// close closes the connection once; frames still queued are dropped (the
// core writes them again on the next connection if they matter). The
// reader then reports the end to the loop.
func (cn *conn) close(code proto.Code, reason string) {
	cn.mu.Lock()
	if cn.closed {
		cn.mu.Unlock()
		return
	}
	cn.closed = true
	cn.queue = nil
	cn.mu.Unlock()
	cn.cond.Broadcast()
	if code == 0 {
		code = 1000
	}
	// A closing handshake may wait for the peer; never on the loop.
	go func() { _ = cn.s.Close(code, proto.ClipReason(reason)) }()
}

func (cn *conn) writeLoop() {
	defer cn.c.guard("write")
	for {
		cn.mu.Lock()
		for len(cn.queue) == 0 && !cn.closed {
			cn.cond.Wait()
		}
		if cn.closed {
			cn.mu.Unlock()
			return
		}
		b := cn.queue[0]
		cn.queue[0] = nil
		cn.queue = cn.queue[1:]
		cn.mu.Unlock()
		if err := cn.send(b); err != nil {
			cn.c.logf(LevelDebug, "parley: write failed: %v", err)
			cn.close(1001, "write failed")
			return
		}
	}
}

// send writes one frame, within writeTimeout where the platform has one.
func (cn *conn) send(b []byte) error {
	ctx := context.Background()
	if writeTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, writeTimeout)
		defer cancel()
	}
	return cn.s.Write(ctx, b)
}

// readLoop posts every frame to the loop, then the end of the connection
// with its close code.
func (cn *conn) readLoop() {
	defer cn.c.guard("read")
	for {
		b, err := cn.s.Read(context.Background())
		if err != nil {
			code, reason := proto.Code(0), err.Error()
			var ce *CloseError
			if errors.As(err, &ce) {
				code, reason = ce.Code, ce.Reason
			}
			cn.close(1000, "") // stops the writer
			cn.c.loop.gone(cn.id, cn, code, reason)
			return
		}
		cn.c.loop.frame(cn.id, b)
	}
}

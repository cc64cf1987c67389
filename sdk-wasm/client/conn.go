package client

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/parley-im/parley/proto"
)

// wsConn is one WebSocket connection: a reader goroutine feeding the loop and
// a writer goroutine draining an unbounded queue in order. The core bounds
// what it writes (send window, one sync at a time), so the queue stays small.
type wsConn struct {
	ws     *websocket.Conn
	cancel context.CancelFunc

	mu     sync.Mutex
	cond   *sync.Cond
	queue  [][]byte
	closed bool
}

const dialTimeout = 10 * time.Second

// dial runs on its own goroutine: fetch a token, dial, then report to the loop.
func (c *Client) dial(conn uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	defer cancel()
	token := c.opts.Token
	if c.opts.TokenFunc != nil {
		t, err := c.opts.TokenFunc(ctx)
		if err != nil {
			c.log.Warn("parley: token fetch failed", "err", err)
			c.loop.Gone(conn, nil, 0, "token fetch failed: "+err.Error())
			return
		}
		token = t
	}
	ws, _, err := websocket.Dial(ctx, c.opts.URL, &websocket.DialOptions{HTTPClient: c.opts.HTTPClient})
	if err != nil {
		c.log.Debug("parley: dial failed", "err", err)
		c.loop.Gone(conn, nil, 0, "dial failed: "+err.Error())
		return
	}
	ws.SetReadLimit(16 << 20)
	rctx, rcancel := context.WithCancel(context.Background())
	wc := &wsConn{ws: ws, cancel: rcancel}
	wc.cond = sync.NewCond(&wc.mu)
	c.loop.Opened(conn, wc, token, func() {
		go wc.writeLoop()
		go c.readLoop(rctx, conn, wc)
	})
}

func (c *Client) readLoop(ctx context.Context, conn uint64, wc *wsConn) {
	for {
		typ, b, err := wc.ws.Read(ctx)
		if err != nil {
			code := proto.Code(0)
			reason := err.Error()
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				code, reason = proto.Code(ce.Code), ce.Reason
			}
			wc.Close(1000, "")
			c.loop.Gone(conn, wc, code, reason)
			return
		}
		if typ != websocket.MessageBinary {
			continue
		}
		c.loop.Frame(conn, b)
	}
}

// Write implements driver.Conn.
func (wc *wsConn) Write(b []byte) {
	wc.mu.Lock()
	if !wc.closed {
		wc.queue = append(wc.queue, b)
	}
	wc.mu.Unlock()
	wc.cond.Signal()
}

func (wc *wsConn) writeLoop() {
	for {
		wc.mu.Lock()
		for len(wc.queue) == 0 && !wc.closed {
			wc.cond.Wait()
		}
		if wc.closed {
			wc.mu.Unlock()
			return
		}
		b := wc.queue[0]
		wc.queue[0] = nil
		wc.queue = wc.queue[1:]
		wc.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := wc.ws.Write(ctx, websocket.MessageBinary, b)
		cancel()
		if err != nil {
			wc.Close(proto.Code(websocket.StatusGoingAway), "write failed")
			return
		}
	}
}

// Close implements driver.Conn: it closes the connection once; the reader
// then reports it to the loop.
func (wc *wsConn) Close(code proto.Code, reason string) {
	wc.mu.Lock()
	if wc.closed {
		wc.mu.Unlock()
		return
	}
	wc.closed = true
	wc.queue = nil
	wc.mu.Unlock()
	wc.cond.Broadcast()
	if code == 0 {
		code = proto.Code(websocket.StatusNormalClosure)
	}
	go func() {
		// Close waits for the peer's close frame up to 5 s; never on the loop.
		_ = wc.ws.Close(websocket.StatusCode(code), reason)
		wc.cancel()
	}()
}

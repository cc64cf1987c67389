package e2e

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/parley-im/parley/proto"
)

// rawConn speaks the wire protocol by hand, to send what a well-behaved
// client never would.
type rawConn struct {
	t  testing.TB
	ws *websocket.Conn
}

func dialRaw(t testing.TB, url string) *rawConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	ws.SetReadLimit(16 << 20)
	t.Cleanup(func() { ws.CloseNow() })
	return &rawConn{t: t, ws: ws}
}

func (r *rawConn) writeBytes(b []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return r.ws.Write(ctx, websocket.MessageBinary, b)
}

func (r *rawConn) send(t proto.Type, id uint64, body any) {
	r.t.Helper()
	if err := r.writeBytes(proto.MustEncode(proto.Frame{Type: t, ID: id, Body: body})); err != nil {
		r.t.Fatalf("write %s: %v", t, err)
	}
}

// recv reads the next frame; an error carries the close code when the relay
// closed the connection.
func (r *rawConn) recv(timeout time.Duration) (proto.Frame, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, b, err := r.ws.Read(ctx)
	if err != nil {
		return proto.Frame{}, err
	}
	return proto.Decode(b, 16<<20)
}

// hello authenticates and returns the welcome.
func (r *rawConn) hello(user, device string) *proto.Welcome {
	r.t.Helper()
	r.send(proto.TypeHello, 1, &proto.Hello{Version: proto.Version, Token: token(user, time.Hour), DeviceID: device})
	f, err := r.recv(5 * time.Second)
	if err != nil {
		r.t.Fatalf("hello: %v", err)
	}
	w, ok := f.Body.(*proto.Welcome)
	if !ok {
		r.t.Fatalf("hello answered with %s", f.Type)
	}
	return w
}

// reply reads frames until the reply to request id, skipping pushes.
func (r *rawConn) reply(id uint64) proto.Frame {
	r.t.Helper()
	for {
		f, err := r.recv(10 * time.Second)
		if err != nil {
			r.t.Fatalf("waiting for reply %d: %v", id, err)
		}
		if f.ID == id {
			return f
		}
	}
}

// expectClose reads until the relay closes and checks both the Close frame
// and the WebSocket close status carry code.
func (r *rawConn) expectClose(code proto.Code) {
	r.t.Helper()
	sawFrame := false
	for {
		f, err := r.recv(15 * time.Second)
		if err != nil {
			var ce websocket.CloseError
			if !errors.As(err, &ce) {
				r.t.Fatalf("want close %d, got %v", code, err)
			}
			if proto.Code(ce.Code) != code {
				r.t.Fatalf("close status %d (%s), want %d", ce.Code, ce.Reason, code)
			}
			if !sawFrame {
				r.t.Fatalf("closed with %d but no Close frame came first", code)
			}
			return
		}
		if c, ok := f.Body.(*proto.Close); ok {
			if c.Code != code {
				r.t.Fatalf("close frame code %d (%s), want %d", c.Code, c.Reason, code)
			}
			sawFrame = true
		}
	}
}

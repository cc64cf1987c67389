package e2e

import (
	"context"
	"errors"
	neturl "net/url"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
	"github.com/parley-im/parley/proto"
)

// rawConn speaks the wire protocol by hand, to send what a well-behaved
// client never would.
//
// On the Workers relay a connection goes to the shard of the user its URL
// names (?user=ID, as the SDK sends it), so there the socket is opened
// when the first frame is written, naming the user of the token in it
// when that frame is a hello; a frame read first opens it naming no one.
// On the native relay, which ignores the parameter, it is opened at once.
type rawConn struct {
	t   testing.TB
	url string
	ws  *websocket.Conn
}

func dialRaw(t testing.TB, url string) *rawConn {
	t.Helper()
	r := &rawConn{t: t, url: url}
	if !edgeTarget() {
		r.dial("")
	}
	return r
}

// dial opens the socket, naming user in the URL when not empty.
func (r *rawConn) dial(user string) {
	r.t.Helper()
	u := r.url
	if user != "" {
		u += "?user=" + neturl.QueryEscape(user)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		r.t.Fatalf("dial: %v", err)
	}
	ws.SetReadLimit(16 << 20)
	r.t.Cleanup(func() { ws.CloseNow() })
	r.ws = ws
}

// tokenUser is the user of the token in b when b is a hello frame, read
// without checking the token (the relay checks it); "" otherwise.
func tokenUser(b []byte) string {
	f, err := proto.Decode(b, len(b))
	if err != nil {
		return ""
	}
	h, isHello := f.Body.(*proto.Hello)
	if !isHello {
		return ""
	}
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(h.Token, claims); err != nil {
		return ""
	}
	sub, _ := claims.GetSubject()
	return sub
}

func (r *rawConn) writeBytes(b []byte) error {
	if r.ws == nil {
		r.dial(tokenUser(b))
	}
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
	if r.ws == nil {
		r.dial("")
	}
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

// dialRawAs opens a connection whose URL names user, whatever the token
// its hello will carry.
func dialRawAs(t testing.TB, url, user string) *rawConn {
	t.Helper()
	r := &rawConn{t: t, url: url}
	r.dial(user)
	return r
}

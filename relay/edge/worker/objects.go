//go:build js && wasm

package main

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall/js"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay"
	"github.com/parley-im/parley/relay/edge/dosql"
)

// object is one relay Durable Object as this Go instance serves it: its
// relay.Server on the object's own SQLite storage and its connections,
// keyed by the ids the JavaScript side gives its WebSockets.
type object struct {
	id    string
	srv   *relay.Server
	send  js.Value // send(conn, Uint8Array)
	close js.Value // close(conn, code, reason)
	mu    sync.Mutex
	conns map[string]*conn
	dead  bool // replaced by a newer incarnation of the same object
}

var (
	objMu   sync.Mutex
	objects = map[string]*object{}
)

// serveObjects publishes the functions the Durable Object calls on binding.
func serveObjects(binding js.Value) {
	fn := func(name string, f func(args []js.Value) any) {
		binding.Set(name, js.FuncOf(func(_ js.Value, args []js.Value) any { return f(args) }))
	}
	fn("open", func(a []js.Value) any { return jsErr(openObject(a[0].String(), a[1])) })
	fn("connect", func(a []js.Value) any {
		if o := lookup(a[0].String()); o != nil {
			o.connect(a[1].String(), nil)
		}
		return nil
	})
	fn("restore", func(a []js.Value) any {
		if o := lookup(a[0].String()); o != nil {
			o.connect(a[1].String(), bytesOf(a[2]))
		}
		return nil
	})
	fn("frame", func(a []js.Value) any {
		o := lookup(a[0].String())
		if o == nil {
			return nil
		}
		if save := o.frame(a[1].String(), bytesOf(a[2]), a[3].Bool()); save != nil {
			u := js.Global().Get("Uint8Array").New(len(save))
			js.CopyBytesToJS(u, save)
			return u
		}
		return nil
	})
	fn("gone", func(a []js.Value) any {
		if o := lookup(a[0].String()); o != nil {
			o.gone(a[1].String())
		}
		return nil
	})
	fn("http", func(a []js.Value) any {
		o := lookup(a[0].String())
		res := js.Global().Get("Object").New()
		if o == nil {
			res.Set("status", 503)
			res.Set("body", "relay object not open\n")
			return res
		}
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(a[1].String(), a[2].String(), nil)
		o.srv.Handler().ServeHTTP(rec, req)
		res.Set("status", rec.Code)
		res.Set("body", rec.Body.String())
		return res
	})
}

func jsErr(err error) any {
	if err != nil {
		return err.Error()
	}
	return nil
}

func bytesOf(v js.Value) []byte {
	if v.InstanceOf(js.Global().Get("ArrayBuffer")) {
		v = js.Global().Get("Uint8Array").New(v)
	}
	b := make([]byte, v.Get("length").Int())
	js.CopyBytesToGo(b, v)
	return b
}

func lookup(id string) *object {
	objMu.Lock()
	defer objMu.Unlock()
	return objects[id]
}

// openObject (re)builds the relay of one Durable Object from its storage.
// A Durable Object is constructed again after hibernation or eviction, and
// this instance may have outlived the old one: what it held for that
// object (sessions on sockets of the old incarnation) is dropped, and the
// new relay starts from the storage, where everything committed is.
func openObject(id string, host js.Value) error {
	objMu.Lock()
	old := objects[id]
	delete(objects, id)
	objMu.Unlock()
	if old != nil {
		old.retire()
	}
	dsn := "do:" + id
	dosql.Register(dsn, host.Get("exec"), host.Get("tx"))
	store, err := relay.OpenSQLiteDriver(dosql.Name, dsn)
	if err != nil {
		return err
	}
	opts := relay.Options{
		Secret: host.Get("secret").String(),
		Store:  store,
		// One node per object, which hibernates: a lease it cannot renew
		// while asleep would end its users' presence.
		NodeLease: -1,
		Logger:    slog.New(slog.NewTextHandler(consoleWriter{}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if v := host.Get("tokenAudience"); v.Type() == js.TypeString {
		opts.TokenAudience = v.String()
	}
	if v := host.Get("tokenIssuer"); v.Type() == js.TypeString {
		opts.TokenIssuer = v.String()
	}
	if v := host.Get("flags"); v.Type() == js.TypeString {
		if err := relayFlags(&opts, v.String()); err != nil {
			store.Close()
			return err
		}
	}
	srv, err := relay.New(opts)
	if err != nil {
		store.Close()
		return err
	}
	o := &object{id: id, srv: srv, send: host.Get("send"), close: host.Get("close"), conns: map[string]*conn{}}
	objMu.Lock()
	objects[id] = o
	objMu.Unlock()
	return nil
}

// retire ends an object's relay without touching its sockets, which
// belong to a Durable Object incarnation that is gone.
func (o *object) retire() {
	o.mu.Lock()
	o.dead = true
	conns := o.conns
	o.conns = map[string]*conn{}
	o.mu.Unlock()
	for _, c := range conns {
		c.end()
	}
	go o.srv.Shutdown(context.Background())
}

// connect opens a session for a new WebSocket, or, with hello, restores
// the session of a socket the object accepted before it hibernated: the
// hello it was opened with is read again, and its answer is not sent, as
// the client has it already.
func (o *object) connect(id string, hello []byte) {
	c := &conn{o: o, id: id, restoring: hello != nil}
	o.mu.Lock()
	if o.dead {
		o.mu.Unlock()
		return
	}
	if old := o.conns[id]; old != nil {
		o.mu.Unlock()
		old.end()
		o.mu.Lock()
	}
	o.conns[id] = c
	o.mu.Unlock()
	c.sess = o.srv.Open(c, relay.ConnInfo{Remote: "durable-object"})
	if c.sess == nil {
		return
	}
	if hello != nil {
		c.receive(hello, true)
	}
}

// frame hands one client message to its session. It returns the hello to
// keep with the socket (serializeAttachment) when this message opened the
// session or renewed its token, so a restore after hibernation reads the
// current one.
func (o *object) frame(id string, msg []byte, binary bool) []byte {
	o.mu.Lock()
	c := o.conns[id]
	o.mu.Unlock()
	if c == nil {
		return nil
	}
	return c.receive(msg, binary)
}

func (o *object) gone(id string) {
	o.mu.Lock()
	c := o.conns[id]
	delete(o.conns, id)
	o.mu.Unlock()
	if c != nil {
		c.end()
	}
}

// conn is the relay.Transport of one Durable Object WebSocket.
type conn struct {
	o         *object
	id        string
	sess      *relay.Session
	mu        sync.Mutex
	restoring bool // dropping the answer to a replayed hello
	hello     []byte
	closing   bool // Close was called: nothing more is sent
	ended     bool // Gone was called
}

func (c *conn) receive(msg []byte, binary bool) []byte {
	var save []byte
	if binary {
		if t, ok := proto.PeekType(msg); ok {
			switch t {
			case proto.TypeHello:
				save = msg
			case proto.TypeRenew:
				save = c.renewed(msg)
			}
		}
	}
	if !c.sess.Receive(msg, binary) {
		return nil // the session closed the connection
	}
	if save != nil {
		c.mu.Lock()
		c.hello = save
		c.mu.Unlock()
	}
	return save
}

// renewed is the saved hello with the token of a Renew frame.
func (c *conn) renewed(msg []byte) []byte {
	c.mu.Lock()
	hello := c.hello
	c.mu.Unlock()
	if hello == nil {
		return nil
	}
	rf, err := proto.Decode(msg, len(msg))
	if err != nil {
		return nil
	}
	hf, err := proto.Decode(hello, len(hello))
	if err != nil {
		return nil
	}
	r, isRenew := rf.Body.(*proto.Renew)
	h, isHello := hf.Body.(*proto.Hello)
	if !isRenew || !isHello {
		return nil
	}
	h.Token = r.Token
	out, err := proto.Encode(hf)
	if err != nil {
		return nil
	}
	return out
}

// Write sends a frame at once: a Durable Object's send queues it for the
// socket and never blocks.
func (c *conn) Write(frame []byte) bool {
	c.mu.Lock()
	if c.closing || c.o.dead {
		c.mu.Unlock()
		return true
	}
	if c.restoring {
		if t, ok := proto.PeekType(frame); ok && t == proto.TypeWelcome {
			c.restoring = false
		}
		c.mu.Unlock()
		return true
	}
	c.mu.Unlock()
	u := js.Global().Get("Uint8Array").New(len(frame))
	js.CopyBytesToJS(u, frame)
	c.o.send.Invoke(c.id, u)
	return true
}

// Close sends the Close frame and closes the socket with the same code;
// the session is gone once the socket is closed.
func (c *conn) Close(code proto.Code, reason string) {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	c.closing = true
	dead := c.o.dead
	c.mu.Unlock()
	if !dead {
		f := proto.MustEncode(proto.Frame{Type: proto.TypeClose, Body: &proto.Close{Code: code, Reason: proto.Clip(reason, proto.MaxReasonBytes)}})
		u := js.Global().Get("Uint8Array").New(len(f))
		js.CopyBytesToJS(u, f)
		c.o.send.Invoke(c.id, u)
		c.o.close.Invoke(c.id, int(code), proto.ClipReason(reason))
	}
	c.o.mu.Lock()
	if c.o.conns[c.id] == c {
		delete(c.o.conns, c.id)
	}
	c.o.mu.Unlock()
	go c.end()
}

// end tells the session its connection is over, once.
func (c *conn) end() {
	c.mu.Lock()
	if c.ended || c.sess == nil {
		c.ended = true
		c.mu.Unlock()
		return
	}
	c.ended = true
	c.closing = true
	c.mu.Unlock()
	c.sess.Gone()
}

// consoleWriter sends the relay's log lines to console.log.
type consoleWriter struct{}

func (consoleWriter) Write(p []byte) (int, error) {
	js.Global().Get("console").Call("log", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

var _ io.Writer = consoleWriter{}

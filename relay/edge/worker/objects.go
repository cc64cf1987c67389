//go:build js && wasm

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall/js"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay"
	"github.com/parley-im/parley/relay/edge/dosql"
	"github.com/parley-im/parley/relay/edge/internal/jsx"
	"github.com/parley-im/parley/relay/edge/r2blob"
	"github.com/syumai/workers/cloudflare"
)

// object is one Shard Durable Object as this Go instance serves it: its
// relay.Server (its store the Store object, its bus the other shards) and
// its connections, keyed by the ids the JavaScript side gives its
// WebSockets.
type object struct {
	id  string
	srv *relay.Server
	bus *relay.ShardBus
	// routes are what the front door forwards to the object: GET /healthz
	// and the admin API. The relay's other routes are not served here:
	// the WebSocket reaches the object through the JavaScript entry, and
	// the front door serves the uploads itself.
	routes http.Handler
	send   js.Value // send(conn, Uint8Array)
	close  js.Value // close(conn, code, reason)
	mu     sync.Mutex
	conns  map[string]*conn
	dead   bool // replaced by a newer incarnation of the same object
}

var (
	objMu   sync.Mutex
	objects = map[string]*object{}
	stores  = map[string]*storeObject{}
)

// serveObjects publishes the functions the Durable Object calls on binding.
func serveObjects(binding js.Value) {
	fn := func(name string, f func(args []js.Value) any) {
		binding.Set(name, js.FuncOf(func(_ js.Value, args []js.Value) any { return f(args) }))
	}
	// openShard resolves to null, or to why the shard could not open: it
	// reads the store's epoch from the Store object first.
	fn("openShard", func(a []js.Value) any {
		id, index, shards, parts, host := a[0].String(), a[1].Int(), a[2].Int(), a[3].Int(), a[4]
		return jsx.Promise(func() (any, error) { return jsErr(openShard(id, index, shards, parts, host)), nil })
	})
	fn("openStore", func(a []js.Value) any {
		return jsErr(openStore(a[0].String(), a[1], a[2].Int(), a[3].Int(), a[4].Int(), a[5].Int(), a[6].Int()))
	})
	// storeCall answers one relay.RemoteStore call of a shard.
	fn("storeCall", func(a []js.Value) any {
		id, method, req := a[0].String(), a[1].String(), jsx.Bytes(a[2])
		return jsx.Promise(func() (any, error) {
			st := lookupStore(id)
			if st == nil {
				return nil, errNotOpen
			}
			return jsx.Uint8Array(st.srv.Call(context.Background(), method, req)), nil
		})
	})
	// deliver hands the shard's bus a batch another shard sent it.
	fn("deliver", func(a []js.Value) any {
		o := lookup(a[0].String())
		if o == nil {
			return errNotOpen.Error()
		}
		return jsErr(o.bus.Receive(jsx.Bytes(a[1])))
	})
	fn("connect", func(a []js.Value) any {
		if o := lookup(a[0].String()); o != nil {
			o.connect(a[1].String())
		}
		return nil
	})
	// restore reads again the hello a socket accepted before the shard
	// hibernated was opened with (its answer is not sent: the client has
	// it); it resolves once the session is open or refused.
	fn("restore", func(a []js.Value) any {
		o := lookup(a[0].String())
		if o == nil {
			return nil
		}
		return o.restore(a[1].String(), jsx.Bytes(a[2]))
	})
	// A frame may wait for R2 (a Send naming an attachment), which a
	// callback must not: it is handled on a goroutine, after the
	// connection's earlier frames, and the Promise returned resolves to
	// the hello to keep with the socket (serializeAttachment), or null.
	fn("frame", func(a []js.Value) any {
		o := lookup(a[0].String())
		if o == nil {
			return nil
		}
		id, msg, binary := a[1].String(), jsx.Bytes(a[2]), a[3].Bool()
		return o.frame(id, msg, binary)
	})
	// settle is called once the sockets kept across hibernation are
	// restored: the presence counts become exactly their sessions.
	fn("settle", func(a []js.Value) any {
		if o := lookup(a[0].String()); o != nil {
			o.srv.RestartPresence() // returns at once: the store is written on the tracker's goroutine
		}
		return nil
	})
	fn("gone", func(a []js.Value) any {
		if o := lookup(a[0].String()); o != nil {
			o.gone(a[1].String())
		}
		return nil
	})
	// http serves a request the front door forwarded (method, path and
	// query, headers as [name, value] pairs, body or null): GET /healthz
	// and the admin API (object.routes). It resolves to {status, headers,
	// body}.
	fn("http", func(a []js.Value) any {
		o := lookup(a[0].String())
		method, target, headers, body := a[1].String(), a[2].String(), a[3], a[4]
		var in []byte
		if !body.IsNull() && !body.IsUndefined() {
			in = jsx.Bytes(body)
		}
		return jsx.Promise(func() (any, error) {
			res := js.Global().Get("Object").New()
			if o == nil {
				res.Set("status", 503)
				res.Set("headers", js.Global().Get("Array").New())
				res.Set("body", jsx.Uint8Array([]byte("relay shard not open\n")))
				return res, nil
			}
			req := httptest.NewRequest(method, target, bytes.NewReader(in))
			for i := 0; i < headers.Length(); i++ {
				req.Header.Add(headers.Index(i).Index(0).String(), headers.Index(i).Index(1).String())
			}
			req.RemoteAddr = "front-door"
			rec := httptest.NewRecorder()
			o.routes.ServeHTTP(rec, req)
			hs := js.Global().Get("Array").New()
			for k, vs := range rec.Header() {
				for _, v := range vs {
					hs.Call("push", js.ValueOf([]any{k, v}))
				}
			}
			res.Set("status", rec.Code)
			res.Set("headers", hs)
			res.Set("body", jsx.Uint8Array(rec.Body.Bytes()))
			return res, nil
		})
	})
	// The front door's questions for its upload handler (Workers RPC).
	fn("mayDownload", func(a []js.Value) any {
		o, user, conv, id := lookup(a[0].String()), a[1].String(), a[2].String(), a[3].String()
		return jsx.Promise(func() (any, error) {
			if o == nil {
				return nil, errNotOpen
			}
			return o.srv.MayDownload(context.Background(), user, conv, id)
		})
	})
	fn("isParty", func(a []js.Value) any {
		o, user, conv := lookup(a[0].String()), a[1].String(), a[2].String()
		return jsx.Promise(func() (any, error) {
			if o == nil {
				return nil, errNotOpen
			}
			return o.srv.IsParty(context.Background(), user, conv)
		})
	})
	fn("admitUpload", func(a []js.Value) any {
		o, user, size := lookup(a[0].String()), a[1].String(), int64(a[2].Float())
		return jsx.Promise(func() (any, error) {
			if o == nil {
				return nil, errNotOpen
			}
			// How long to wait, in milliseconds; 0: admitted.
			return float64(o.srv.AdmitUpload(user, size)) / float64(time.Millisecond), nil
		})
	})
	fn("signIn", func(a []js.Value) any {
		o, user, token := lookup(a[0].String()), a[1].String(), a[2].String()
		return jsx.Promise(func() (any, error) {
			if o == nil {
				return nil, errNotOpen
			}
			// null: let in; else the refusal's code and message.
			if perr := o.srv.SignIn(context.Background(), user, token); perr != nil {
				return map[string]any{"code": int(perr.Code), "message": perr.Message}, nil
			}
			return nil, nil
		})
	})
	fn("recordUpload", func(a []js.Value) any {
		o, user, id := lookup(a[0].String()), a[1].String(), a[2].String()
		return jsx.Promise(func() (any, error) {
			if o == nil {
				return nil, errNotOpen
			}
			return nil, o.srv.RecordUpload(context.Background(), user, id)
		})
	})
}

var errNotOpen = errors.New("relay object not open (a shard or the store)")

func jsErr(err error) any {
	if err != nil {
		return err.Error()
	}
	return nil
}

func lookup(id string) *object {
	objMu.Lock()
	defer objMu.Unlock()
	return objects[id]
}

// openShard (re)builds the relay of one Shard Durable Object. A Durable
// Object is constructed again after hibernation or eviction, and this
// instance may have outlived the old one: what it held for that object
// (sessions on sockets of the old incarnation) is dropped, and the new
// relay starts afresh; everything committed is in the Store object.
//
// The shard serves the users ShardOf gives it (a hello of another user is
// refused, 4015); its store is the Store objects (openPartitions) and its
// bus the other shards (relay.ShardBus over
// host.deliver). It runs on a goroutine of its own: reading the store's
// epoch waits for the Store object.
func openShard(id string, index, shards, parts int, host js.Value) error {
	if index < 0 || index >= shards {
		// A shard PARLEY_SHARDS no longer counts: the entry does not open
		// it (Shard.removed); this keeps a mistake from panicking the Go
		// instance every object of the isolate shares.
		return fmt.Errorf("shard %d is not one of the %d shards", index, shards)
	}
	objMu.Lock()
	old := objects[id]
	delete(objects, id)
	objMu.Unlock()
	if old != nil {
		old.retire()
	}
	opts, err := envOptions() // main.go: the Worker's variables and secrets
	if err != nil {
		return err
	}
	store, err := openPartitions(host, parts)
	if err != nil {
		return err
	}
	// The shard holds a lease that does not run out: a shard without one
	// would count as a dead node, whose users' presence counts another
	// node's restart removes (RestartNode reclaims the nodes without a
	// live lease), and a hibernating shard renews nothing. A shard dropped
	// by a smaller PARLEY_SHARDS loses its lease when the store next opens
	// (openStore).
	node := shardNode(index)
	now := time.Now()
	if _, err := store.RenewLease(context.Background(), node, now.Add(shardLease).UnixMilli(), now.UnixMilli()); err != nil {
		return err
	}
	bus := relay.NewShardBus(index, shards, func(_ context.Context, to int, batch []byte) error {
		_, err := awaitHost(host, "deliver", to, jsx.Uint8Array(batch))
		return err
	}, opts.Logger)
	opts.Store = store
	opts.Bus = bus
	opts.Serves = func(user string) bool { return relay.ShardOf(user, shards) == index }
	// A shard hibernates: a lease it cannot renew while asleep would end
	// its users' presence. Its node id stays the same across
	// incarnations, so that the counts an earlier one left are its own to
	// replace (settle).
	opts.NodeLease = -1
	opts.NodeID = node
	if cloudflare.GetBinding(uploadsBinding).Truthy() {
		// The same bucket as the front door's uploads: a Send naming an
		// attachment is checked against it, and a recall deletes its blob.
		if opts.Blobs, err = r2blob.New(uploadsBinding, ""); err != nil {
			bus.Close()
			return err
		}
	}
	srv, err := relay.New(opts)
	if err != nil {
		bus.Close()
		return err
	}
	routes := http.NewServeMux()
	routes.Handle("GET /healthz", srv.Handler())
	routes.Handle("/admin/", srv.AdminHandler())
	o := &object{id: id, srv: srv, bus: bus, routes: routes, send: host.Get("send"), close: host.Get("close"), conns: map[string]*conn{}}
	objMu.Lock()
	objects[id] = o
	objMu.Unlock()
	return nil
}

// openPartitions returns the store of a shard: a relay.PartitionStore over
// the parts Store objects, each reached by a relay.RemoteStore over
// host.store. Reading each partition's epoch wakes it.
func openPartitions(host js.Value, parts int) (*relay.PartitionStore, error) {
	stores := make([]relay.PartStore, parts)
	for i := range stores {
		r, err := relay.NewRemoteStore(context.Background(), func(_ context.Context, method string, req []byte) ([]byte, error) {
			v, err := awaitHost(host, "store", i, method, jsx.Uint8Array(req))
			if err != nil {
				return nil, err
			}
			return jsx.Bytes(v), nil
		})
		if err != nil {
			return nil, fmt.Errorf("store partition %d: %w", i, err)
		}
		stores[i] = r
	}
	return relay.NewPartitionStore(stores)
}

// awaitHost calls the host's function name, which returns a Promise, and
// waits for it. A host function that throws (no object of the isolate
// could make the call now) is an error like a rejection, not a panic of
// the Go instance every object of the isolate shares.
func awaitHost(host js.Value, name string, args ...any) (v js.Value, err error) {
	var p js.Value
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("%s: %v", name, r)
			}
		}()
		p = host.Call(name, args...)
	}()
	if err != nil {
		return js.Value{}, err
	}
	return jsx.Await(p)
}

// shardNode is shard i's relay node id.
func shardNode(i int) string { return fmt.Sprintf("shard-%d", i) }

// shardLease is how long a shard's node lease lasts: as long as the
// deployment, in practice (see openShard).
const shardLease = 100 * 365 * 24 * time.Hour

// storeObject is the Store Durable Object as this Go instance serves it:
// the relay's SQLite store on the object's storage, answering the shards.
type storeObject struct {
	store *relay.SQLiteStore
	srv   *relay.StoreServer
}

// openStore (re)opens the store of a Store Durable Object from its SQLite
// storage, as partition part of parts. Partition 0 checks the partition
// count against the one the deployment recorded (recorded; -1 for none
// yet: a store with data and no record ran as the only partition), and,
// for a deployment of shards shards that ran with before shards when the
// store last opened, drops the leases of the shards gone when
// PARLEY_SHARDS was made smaller: their counts go with the next shard's
// restart.
func openStore(id string, host js.Value, shards, before, part, parts, recorded int) error {
	objMu.Lock()
	old := stores[id]
	delete(stores, id)
	objMu.Unlock()
	if old != nil {
		old.store.Close()
	}
	dsn := "do:" + id
	dosql.Register(dsn, host.Get("exec"), host.Get("tx"))
	store, err := relay.OpenSQLiteDriver(dosql.Name, dsn)
	if err != nil {
		return err
	}
	if err := store.SetPartition(part, parts); err != nil {
		store.Close()
		return err
	}
	if part == 0 {
		if err := checkPartitions(store, parts, recorded); err != nil {
			store.Close()
			return err
		}
		for i := shards; i < before; i++ {
			if err := store.DropLease(context.Background(), shardNode(i)); err != nil {
				store.Close()
				return err // the count is not recorded: the next opening tries again
			}
		}
	}
	objMu.Lock()
	stores[id] = &storeObject{store: store, srv: relay.NewStoreServer(store)}
	objMu.Unlock()
	return nil
}

// checkPartitions refuses to open partition 0 for parts partitions when the
// deployment was created with another number: its conversations would be
// looked for in the wrong objects. A store that holds changes but no
// record was the only store of an earlier version.
func checkPartitions(store *relay.SQLiteStore, parts, recorded int) error {
	if recorded < 0 {
		counter, err := store.Advance(context.Background(), 0)
		if err != nil {
			return err
		}
		if counter == 0 {
			return nil // a new deployment: parts is recorded now
		}
		recorded = 1
	}
	if recorded != parts {
		return fmt.Errorf("PARLEY_STORES is %d but this deployment's data is in %d store partitions; it cannot change once the relay holds data", parts, recorded)
	}
	return nil
}

func lookupStore(id string) *storeObject {
	objMu.Lock()
	defer objMu.Unlock()
	return stores[id]
}

// retire ends an object's relay without touching its sockets, which
// belong to a Durable Object incarnation that is gone.
func (o *object) retire() {
	o.mu.Lock()
	o.dead = true
	conns := o.conns
	o.conns = map[string]*conn{}
	o.mu.Unlock()
	// The new incarnation owns the node id: nothing more of this one may
	// reach the store (its sessions ending would count its users offline).
	o.srv.Abandon()
	o.bus.Close()
	for _, c := range conns {
		c.end()
	}
}

// connect opens a session for a WebSocket: a new one, or one the shard
// accepted before it hibernated, whose hello restore reads again.
func (o *object) connect(id string) {
	c := &conn{o: o, id: id}
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
}

// restore reads hello again on the session of a socket the shard accepted
// before it hibernated; the answer is not sent, as the client has it
// already. It returns a Promise that resolves once the hello is handled.
func (o *object) restore(id string, hello []byte) any {
	o.mu.Lock()
	c := o.conns[id]
	o.mu.Unlock()
	if c == nil || c.sess == nil {
		return nil
	}
	c.mu.Lock()
	c.restoring = true
	c.mu.Unlock()
	return c.queue(func() any {
		c.receive(hello, true)
		return nil
	})
}

// frame hands one client message to its session, after the connection's
// earlier messages, and returns a Promise of the hello to keep with the
// socket (serializeAttachment) when this message opened the session or
// renewed its token, so a restore after hibernation reads the current
// one; of null otherwise.
func (o *object) frame(id string, msg []byte, binary bool) any {
	o.mu.Lock()
	c := o.conns[id]
	o.mu.Unlock()
	if c == nil {
		return nil
	}
	return c.queue(func() any {
		if save := c.receive(msg, binary); save != nil {
			return jsx.Uint8Array(save)
		}
		return nil
	})
}

func (o *object) gone(id string) {
	o.mu.Lock()
	c := o.conns[id]
	delete(o.conns, id)
	o.mu.Unlock()
	if c != nil {
		c.queue(func() any { c.end(); return nil })
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
	// tail is closed when the last queued message is handled: a message
	// may wait for R2, and the next one waits for it, so a connection's
	// messages reach its session one at a time and in order, as on the
	// native relay's reader.
	tail chan struct{}
}

// queue runs f on a goroutine once the connection's earlier messages are
// handled, and returns a Promise of its result.
func (c *conn) queue(f func() any) js.Value {
	done := make(chan struct{})
	c.mu.Lock()
	prev := c.tail
	c.tail = done
	c.mu.Unlock()
	return jsx.Promise(func() (any, error) {
		defer close(done)
		if prev != nil {
			<-prev
		}
		return f(), nil
	})
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
	c.o.send.Invoke(c.id, jsx.Uint8Array(frame))
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
		c.o.send.Invoke(c.id, jsx.Uint8Array(f))
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

package main

import (
	"context"
	"errors"
	"math"
	"sync"
	"syscall/js"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/client"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// Built-ins looked up once.
var (
	jsPromise = js.Global().Get("Promise")
	jsObject  = js.Global().Get("Object")
	jsArray   = js.Global().Get("Array")
)

func main() {
	b := newBridge()
	js.Global().Set("__parley_v1", b.object())
	if ready := js.Global().Get("__parley_ready"); ready.Type() == js.TypeFunction {
		client.CallHost(func() { ready.Invoke() })
	}
	select {}
}

// bridge is the WasmBridgeV1 object and the registry of live clients.
//
// A WasmClient's methods are not js.FuncOfs of their own: the module holds
// one js.Func per method for its whole lifetime, and each client object gets
// copies bound to itself (Function.prototype.bind). A method finds its Go
// client through a WeakMap keyed by that object, so closing a client
// releases nothing a stale reference could still call: a method of a closed
// client answers like a closed client, never with "call to released
// function".
type bridge struct {
	methods []method // owned by the bridge, for the module's lifetime
	ids     js.Value // WeakMap: client object → id, or its tombstone once closed

	mu      sync.Mutex
	clients map[int]*jsClient
	nextID  int
}

type method struct {
	name string
	fn   js.Func
}

// jsClient is a client.Client behind one WasmClient object.
type jsClient struct {
	*client.Client
	b         *bridge
	id        int
	self      js.Value // the WasmClient object
	closeOnce sync.Once
	closeErr  error
}

// close closes the client once and replaces it by its tombstone.
func (c *jsClient) close() error {
	c.closeOnce.Do(func() {
		c.closeErr = c.Client.Close()
		c.b.forget(c)
		// The js/wasm runtime keeps the host timeout it scheduled for the
		// loop's last deadline (up to the request timeout away) and only
		// replaces it when it goes idle with a sooner timer pending. A timer
		// that fires at once makes it replace that timeout with this one, so
		// a Node script can exit right after its last client closes.
		time.AfterFunc(time.Millisecond, func() {})
	})
	return c.closeErr
}

// The JSON text a Promise resolves with (an object once settled, see
// client.JSONToJS), or the error it rejects with.

func message(m core.Message, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	return client.AppendMessage(nil, &m), nil
}

func messages(ms []core.Message, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	return client.AppendMessages(nil, ms), nil
}

func conversation(c core.Conversation, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	return client.AppendConversation(nil, &c), nil
}

func newBridge() *bridge {
	b := &bridge{
		ids:     js.Global().Get("WeakMap").New(),
		clients: make(map[int]*jsClient),
	}
	// Synchronous methods: they read what the client's loop published and
	// never wait.
	b.sync("state", func(c *jsClient, t tomb, _ []js.Value) any {
		if c == nil {
			return string(core.StateClosed)
		}
		return string(c.State())
	})
	b.sync("userId", func(c *jsClient, t tomb, _ []js.Value) any {
		if c == nil {
			return t.user
		}
		return c.UserID()
	})
	b.sync("deviceId", func(c *jsClient, t tomb, _ []js.Value) any {
		if c == nil {
			return t.device
		}
		return c.DeviceID()
	})
	b.sync("p2p", func(c *jsClient, t tomb, args []js.Value) any {
		peer := arg(args, 0)
		if peer.Type() != js.TypeString {
			return ""
		}
		if c == nil { // a closed client still knows its user
			if t.user == "" || !proto.ValidName(peer.String()) {
				return ""
			}
			return proto.P2PID(t.user, peer.String())
		}
		return c.P2P(peer.String())
	})
	b.sync("probe", func(c *jsClient, _ tomb, args []js.Value) any {
		ms, err := argUint(args, 0, "timeoutMs")
		if c != nil && err == nil {
			c.Probe(time.Duration(ms) * time.Millisecond)
		}
		return nil
	})
	// typing answers "" when done (or dropped: it is best-effort), else the
	// message of the invalid argument, which the TypeScript side throws.
	b.sync("typing", func(c *jsClient, _ tomb, args []js.Value) any {
		conv := arg(args, 0)
		if conv.Type() != js.TypeString {
			return "typing() needs a conversation id"
		}
		if c == nil {
			return ""
		}
		if err := c.Typing(conv.String()); err != nil {
			return err.Error()
		}
		return ""
	})
	registerContacts(b)    // contacts_js.go
	registerGroups(b)      // groups_js.go
	registerAttachments(b) // attachments_js.go
	b.sync("reconnect", func(c *jsClient, _ tomb, _ []js.Value) any {
		if c != nil {
			c.Reconnect()
		}
		return nil
	})
	// Promise methods: arguments are read and copied on the caller's stack,
	// the work runs on a goroutine of its own.
	b.async("connect", func(c *jsClient, args []js.Value) (work, error) {
		return withSignal(args, 0, func(ctx context.Context) ([]byte, error) { return nil, c.Connect(ctx) })
	})
	b.async("close", func(c *jsClient, _ []js.Value) (work, error) {
		return func() ([]byte, error) { return nil, c.close() }, nil
	})
	b.async("send", func(c *jsClient, args []js.Value) (work, error) {
		conv, err := argString(args, 0, "conv")
		if err != nil {
			return nil, err
		}
		typ, err := argString(args, 1, "type")
		if err != nil {
			return nil, err
		}
		text, err := argString(args, 2, "text")
		if err != nil {
			return nil, err
		}
		body, err := argBytes(args, 3, "body")
		if err != nil {
			return nil, err
		}
		var clientID string
		if v := arg(args, 4); !v.IsUndefined() && !v.IsNull() {
			if clientID, err = argString(args, 4, "clientId"); err != nil {
				return nil, err
			}
		}
		opt, err := sendOptions(args, 6) // lifecycle_js.go
		if err != nil {
			return nil, err
		}
		// The pending message event goes out through the host queue ahead
		// of the settling of this Promise.
		return withSignal(args, 5, func(ctx context.Context) ([]byte, error) {
			pending, res, err := c.SendAsyncWith(clientID, conv, typ, text, body, opt)
			if err != nil {
				return nil, err
			}
			return awaitSend(ctx, c, pending.ClientID, res)
		})
	})
	b.async("resend", func(c *jsClient, args []js.Value) (work, error) {
		id, err := argString(args, 0, "clientId")
		if err != nil {
			return nil, err
		}
		return func() ([]byte, error) { return message(c.Resend(context.Background(), id)) }, nil
	})
	b.async("discard", func(c *jsClient, args []js.Value) (work, error) {
		id, err := argString(args, 0, "clientId")
		if err != nil {
			return nil, err
		}
		return func() ([]byte, error) { return nil, c.Discard(id) }, nil
	})
	b.async("devices", func(c *jsClient, args []js.Value) (work, error) {
		return func() ([]byte, error) {
			ds, err := c.Devices(context.Background())
			if err != nil {
				return nil, err
			}
			return client.AppendDevices(nil, ds), nil
		}, nil
	})
	b.async("kickDevice", func(c *jsClient, args []js.Value) (work, error) {
		id, err := argString(args, 0, "deviceId")
		if err != nil {
			return nil, err
		}
		return func() ([]byte, error) { return nil, c.KickDevice(context.Background(), id) }, nil
	})
	b.async("markRead", func(c *jsClient, args []js.Value) (work, error) {
		conv, err := argString(args, 0, "conv")
		if err != nil {
			return nil, err
		}
		seq, err := argUint(args, 1, "seq")
		if err != nil {
			return nil, err
		}
		return func() ([]byte, error) { return nil, c.MarkRead(context.Background(), conv, seq) }, nil
	})
	b.async("createGroup", func(c *jsClient, args []js.Value) (work, error) {
		id, err := argString(args, 0, "id")
		if err != nil {
			return nil, err
		}
		name, err := argString(args, 1, "name")
		if err != nil {
			return nil, err
		}
		members, err := argStrings(args, 2, "members")
		if err != nil {
			return nil, err
		}
		return withSignal(args, 3, func(ctx context.Context) ([]byte, error) {
			return conversation(c.CreateGroup(ctx, id, name, members))
		})
	})
	b.async("conversation", func(c *jsClient, args []js.Value) (work, error) {
		id, err := argString(args, 0, "id")
		if err != nil {
			return nil, err
		}
		return func() ([]byte, error) {
			cv, ok := c.Conversation(id)
			if !ok {
				return []byte("null"), nil
			}
			return client.AppendConversation(nil, &cv), nil
		}, nil
	})
	b.async("conversations", func(c *jsClient, _ []js.Value) (work, error) {
		return func() ([]byte, error) {
			convs, err := c.Conversations()
			if err != nil {
				return nil, err
			}
			return client.AppendConversations(nil, convs), nil
		}, nil
	})
	b.async("messages", func(c *jsClient, args []js.Value) (work, error) {
		conv, before, limit, err := pageArgs(args)
		if err != nil {
			return nil, err
		}
		return withSignal(args, 3, func(ctx context.Context) ([]byte, error) {
			msgs, err := c.Messages(ctx, conv, before, limit)
			return messages(msgs, err)
		})
	})
	b.async("history", func(c *jsClient, args []js.Value) (work, error) {
		conv, before, limit, err := pageArgs(args)
		if err != nil {
			return nil, err
		}
		return withSignal(args, 3, func(ctx context.Context) ([]byte, error) {
			p, err := c.History(ctx, conv, before, limit)
			if err != nil {
				return nil, err
			}
			return client.AppendHistoryPage(nil, &p), nil
		})
	})
	b.async("search", func(c *jsClient, args []js.Value) (work, error) {
		s, err := readSearch(arg(args, 0))
		if err != nil {
			return nil, err
		}
		return func() ([]byte, error) { return messages(c.Search(s.Text, s.SearchOptions)) }, nil
	})
	registerCalls(b) // calls_js.go
	b.async("waitSynced", func(c *jsClient, args []js.Value) (work, error) {
		return withSignal(args, 0, func(ctx context.Context) ([]byte, error) { return nil, c.WaitSynced(ctx) })
	})
	registerLifecycle(b) // lifecycle_js.go
	b.presenceMethods()  // presence_js.go
	return b
}

// object builds the WasmBridgeV1 value.
func (b *bridge) object() js.Value {
	o := jsObject.New()
	o.Set("version", 1)
	o.Set("protocol", proto.Version)
	newClient := js.FuncOf(func(_ js.Value, args []js.Value) any { return b.newClient(args) })
	o.Set("newClient", newClient) // owned by the bridge, for the module's lifetime
	return o
}

// newClient implements WasmBridgeV1.newClient. Go cannot throw into its JS
// caller (an exception cannot cross Go frames), so a bad config returns a
// WasmError instead of a client; the bindings throw it.
func (b *bridge) newClient(args []js.Value) (ret any) {
	defer func() {
		if r := recover(); r != nil {
			ret = errorObject(panicError("newClient", r), proto.CodePanic)
		}
	}()
	cfg, err := readConfig(arg(args, 0))
	if err != nil {
		return errorObject(err, proto.CodeInvalidArgument)
	}
	host := arg(args, 1)
	if host.Type() != js.TypeObject {
		return errorObject(invalidArg("newClient: host must be an object"), proto.CodeInvalidArgument)
	}
	for _, m := range []string{"onEvent", "token"} {
		if host.Get(m).Type() != js.TypeFunction {
			return errorObject(invalidArg("newClient: host."+m+" is not a function"), proto.CodeInvalidArgument)
		}
	}
	opts := cfg.options()
	if st := host.Get("storage"); !st.IsNull() && !st.IsUndefined() {
		// The events share the messages parsed for the adapter when the
		// adapter leaves its batches unchanged and the host takes those
		// messages with its events (onEvents' second argument).
		share := host.Get("sharesBatches").Truthy() && host.Get("onEvents").Type() == js.TypeFunction
		if opts.Store, err = client.NewJSStore(st, share); err != nil {
			return errorObject(err, proto.CodeInvalidArgument)
		}
	}
	if opts.Token == "" {
		opts.TokenFunc = tokenFunc(host)
	}
	// Encoded now, on the loop, so that an event shows the state of its
	// moment; delivered through the host queue, ahead of the settling of
	// the operation that produced it, with the events queued next to it.
	opts.OnEventJSON = func(e []byte, from *client.HostBatch) { client.CallHostEvent(host, e, from) }
	if host.Get("log").Type() == js.TypeFunction {
		opts.Logger = func(level client.LogLevel, msg string) {
			client.CallHost(func() { host.Call("log", level.String(), msg) })
		}
	}
	cl, err := client.New(opts)
	if err != nil {
		return errorObject(err, proto.CodeInvalidArgument)
	}
	c := &jsClient{Client: cl, b: b}
	obj := jsObject.New()
	for _, m := range b.methods {
		obj.Set(m.name, m.fn.Call("bind", obj))
	}
	b.mu.Lock()
	b.nextID++
	c.id = b.nextID
	b.clients[c.id] = c
	b.mu.Unlock()
	b.ids.Call("set", obj, c.id)
	c.self = obj
	return obj
}

// tomb is what a closed client still answers with.
type tomb struct{ user, device string }

// lookup finds the client behind a method's this: the live client, or nil
// and the tombstone of a closed one (or of something that is no client).
func (b *bridge) lookup(this js.Value) (*jsClient, tomb) {
	if this.Type() != js.TypeObject {
		return nil, tomb{}
	}
	v := b.ids.Call("get", this)
	switch v.Type() {
	case js.TypeNumber:
		b.mu.Lock()
		c := b.clients[v.Int()]
		b.mu.Unlock()
		return c, tomb{}
	case js.TypeObject:
		return nil, tomb{user: v.Get("userId").String(), device: v.Get("deviceId").String()}
	}
	return nil, tomb{}
}

// forget drops a closed client; its object keeps a tombstone.
func (b *bridge) forget(c *jsClient) {
	b.mu.Lock()
	delete(b.clients, c.id)
	b.mu.Unlock()
	t := jsObject.New()
	t.Set("userId", c.UserID())
	t.Set("deviceId", c.DeviceID())
	b.ids.Call("set", c.self, t)
}

// sync registers a method that answers at once.
func (b *bridge) sync(name string, fn func(c *jsClient, t tomb, args []js.Value) any) {
	f := js.FuncOf(func(this js.Value, args []js.Value) (ret any) {
		defer func() {
			if r := recover(); r != nil {
				client.ConsoleError(panicError(name, r).Message)
				ret = nil
			}
		}()
		c, t := b.lookup(this)
		return fn(c, t, args)
	})
	b.methods = append(b.methods, method{name, f})
}

// work is the part of a Promise method that runs on its own goroutine and
// returns the JSON text of the object to resolve with (nil: undefined).
type work func() ([]byte, error)

// async registers a method that returns a Promise. prepare runs on the
// caller's stack and must not block: it checks and copies the arguments.
func (b *bridge) async(name string, prepare func(c *jsClient, args []js.Value) (work, error)) {
	f := js.FuncOf(func(this js.Value, args []js.Value) (ret any) {
		defer func() {
			if r := recover(); r != nil {
				ret = rejected(panicError(name, r))
			}
		}()
		c, _ := b.lookup(this)
		if c == nil {
			if name == "close" {
				return jsPromise.Call("resolve")
			}
			return rejected(client.ErrClosed)
		}
		w, err := prepare(c, args)
		if err != nil {
			return rejected(err)
		}
		return b.promise(name, w)
	})
	b.methods = append(b.methods, method{name, f})
}

func rejected(err error) js.Value {
	return jsPromise.Call("reject", errorObject(err, proto.CodeInvalidArgument))
}

// promise returns a Promise settled with the outcome of w. The executor only
// keeps resolve and reject and starts the goroutine; it never blocks. The
// goroutine recovers a panic as a rejection with CodePanic, and settles
// through the host queue, behind the events the work produced.
func (b *bridge) promise(name string, w work) js.Value {
	executor := js.FuncOf(func(_ js.Value, args []js.Value) any {
		resolve, reject := arg(args, 0), arg(args, 1)
		go func() {
			out, err := runWork(name, w)
			client.CallHost(func() {
				switch {
				case err != nil:
					reject.Invoke(errorObject(err, proto.CodePanic))
				case out == nil:
					resolve.Invoke()
				default:
					resolve.Invoke(client.JSONToJS(out))
				}
			})
		}()
		return nil
	})
	defer executor.Release() // the constructor calls it synchronously
	return jsPromise.New(executor)
}

func runWork(name string, w work) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, panicError(name, r)
		}
	}()
	return w()
}

// withSignal makes the work of a call that takes an AbortSignal at args[i]
// (undefined: none): the work's context ends when the signal aborts, and a
// context error becomes CodeAborted. An already aborted signal rejects at
// once. The listener is a js.Func owned by the work: removed and released
// on the host queue once the work ends.
func withSignal(args []js.Value, i int, f func(ctx context.Context) ([]byte, error)) (work, error) {
	sig := arg(args, i)
	if sig.IsUndefined() || sig.IsNull() {
		return func() ([]byte, error) { return f(context.Background()) }, nil
	}
	if sig.Type() != js.TypeObject || sig.Get("addEventListener").Type() != js.TypeFunction {
		return nil, invalidArg("signal must be an AbortSignal")
	}
	if sig.Get("aborted").Truthy() {
		return nil, errAborted
	}
	ctx, cancel := context.WithCancel(context.Background())
	onAbort := js.FuncOf(func(js.Value, []js.Value) any { cancel(); return nil })
	sig.Call("addEventListener", "abort", onAbort)
	return func() ([]byte, error) {
		defer client.CallHost(func() {
			sig.Call("removeEventListener", "abort", onAbort)
			onAbort.Release()
		})
		defer cancel()
		out, err := f(ctx)
		if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
			err = errAborted
		}
		return out, err
	}, nil
}

var errAborted = &proto.Error{Code: proto.CodeAborted, Message: "operation aborted"}

// Argument readers: a wrong type rejects the call with CodeInvalidArgument.

// readConfig reads and checks a BridgeConfig. Unknown fields are ignored,
// as unknown frame fields are on the wire, so bindings may run ahead of the
// module.
func readConfig(v js.Value) (bridgeConfig, error) {
	var cfg bridgeConfig
	if v.Type() != js.TypeObject {
		return cfg, invalidArg("newClient: config must be an object")
	}
	r := client.NewObjectReader("config")
	cfg = bridgeConfig{
		URL:              r.Str(v, "url"),
		DeviceID:         r.Str(v, "deviceId"),
		HeartbeatMs:      r.Int(v, "heartbeatMs"),
		RequestTimeoutMs: r.Int(v, "requestTimeoutMs"),
		ConnectTimeoutMs: r.Int(v, "connectTimeoutMs"),
		Token:            r.Str(v, "token"),
		MinDelayMs:       r.Int(v, "minDelayMs"),
		MaxDelayMs:       r.Int(v, "maxDelayMs"),
		MaxAttempts:      int(r.Int(v, "maxAttempts")),
		SendWindow:       int(r.Int(v, "sendWindow")),
		TokenRefresh:     r.Bool(v, "tokenRefresh"),
		Seed:             r.Uint(v, "seed"),
		LogLevel:         r.Str(v, "logLevel"),
		Platform:         r.Str(v, "platform"),
	}
	if err := r.Err(); err != nil {
		return cfg, err
	}
	return cfg, cfg.check()
}

// readSearch reads and checks the argument of WasmClient.search.
func readSearch(v js.Value) (searchArgs, error) {
	var a searchArgs
	if v.Type() != js.TypeObject {
		return a, invalidArg("search must be an object")
	}
	r := client.NewObjectReader("search")
	a.Text = r.Str(v, "text")
	a.ConvID = r.Str(v, "conversationId")
	a.Limit = int(r.Int(v, "limit"))
	a.Before = r.Cursor(v, "before")
	if err := r.Err(); err != nil {
		return a, err
	}
	return a, a.check()
}

// pageArgs reads the (conv, before, limit) of messages and history; a
// limit above a page's is a page.
func pageArgs(args []js.Value) (conv string, before uint64, limit int, err error) {
	if conv, err = argString(args, 0, "conv"); err != nil {
		return "", 0, 0, err
	}
	if before, err = argUint(args, 1, "before"); err != nil {
		return "", 0, 0, err
	}
	n, err := argUint(args, 2, "limit")
	if err != nil {
		return "", 0, 0, err
	}
	return conv, before, int(min(n, proto.MaxPageLimit)), nil
}

func argString(args []js.Value, i int, name string) (string, error) {
	v := arg(args, i)
	if v.Type() != js.TypeString {
		return "", invalidArg(name + " must be a string")
	}
	return v.String(), nil
}

// argUint reads a non-negative integer no larger than 2^53, the largest a
// JS number holds exactly.
func argUint(args []js.Value, i int, name string) (uint64, error) {
	v := arg(args, i)
	if v.Type() != js.TypeNumber {
		return 0, invalidArg(name + " must be a number")
	}
	f := v.Float()
	if f < 0 || f > 1<<53 || f != math.Trunc(f) {
		return 0, invalidArg(name + " must be a non-negative integer")
	}
	return uint64(f), nil
}

func argBytes(args []js.Value, i int, name string) ([]byte, error) {
	v := arg(args, i)
	if v.IsNull() || v.IsUndefined() {
		return nil, nil
	}
	b, ok := client.BytesFromJS(v)
	if !ok {
		return nil, invalidArg(name + " must be a Uint8Array or null")
	}
	return b, nil
}

func argStrings(args []js.Value, i int, name string) ([]string, error) {
	v := arg(args, i)
	if v.Type() != js.TypeObject || !jsArray.Call("isArray", v).Bool() {
		return nil, invalidArg(name + " must be an array of strings")
	}
	out := make([]string, v.Length())
	for j := range out {
		e := v.Index(j)
		if e.Type() != js.TypeString {
			return nil, invalidArg(name + " must be an array of strings")
		}
		out[j] = e.String()
	}
	return out, nil
}

func arg(args []js.Value, i int) js.Value {
	if i < len(args) {
		return args[i]
	}
	return js.Undefined()
}

// errorObject builds a WasmError {code, message}.
func errorObject(err error, fallback proto.Code) js.Value {
	we := toWasmError(err, fallback)
	o := jsObject.New()
	o.Set("code", int(we.Code))
	o.Set("message", we.Message)
	return o
}

// tokenFunc fetches each dial's token from host.token().
func tokenFunc(host js.Value) func(context.Context) (string, error) {
	return func(context.Context) (string, error) {
		tv, err := client.AwaitHost(proto.CodeUnauthorized, func() js.Value { return host.Call("token") })
		if err == nil && (tv.Type() != js.TypeString || tv.String() == "") {
			err = errors.New("host.token() did not resolve with a non-empty string")
		}
		if err != nil {
			return "", err
		}
		return tv.String(), nil
	}
}

// awaitSend settles a send's Promise with its result. Aborted first, it takes
// the message out of the outbox if it is still there; one acknowledged
// meanwhile keeps that result.
func awaitSend(ctx context.Context, c *jsClient, clientID string, res <-chan client.SendResult) ([]byte, error) {
	select {
	case r := <-res:
		return message(r.Message, r.Err)
	case <-ctx.Done():
	}
	_ = c.Discard(clientID)
	r := <-res
	return message(r.Message, r.Err)
}

package main

import (
	"context"
	"encoding/json"
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

// encode is the JSON a Promise resolves with, or the error it rejects with.
func encode(v any, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
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
	b.sync("reconnect", func(c *jsClient, _ tomb, _ []js.Value) any {
		if c != nil {
			c.Reconnect()
		}
		return nil
	})
	// Promise methods: arguments are read and copied on the caller's stack,
	// the work runs on a goroutine of its own.
	b.async("connect", func(c *jsClient, _ []js.Value) (work, error) {
		return func() ([]byte, error) { return nil, c.Connect(context.Background()) }, nil
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
		return func() ([]byte, error) {
			return encode(c.Send(context.Background(), conv, typ, text, body))
		}, nil
	})
	b.async("resend", func(c *jsClient, args []js.Value) (work, error) {
		id, err := argString(args, 0, "clientId")
		if err != nil {
			return nil, err
		}
		return func() ([]byte, error) { return encode(c.Resend(context.Background(), id)) }, nil
	})
	b.async("discard", func(c *jsClient, args []js.Value) (work, error) {
		id, err := argString(args, 0, "clientId")
		if err != nil {
			return nil, err
		}
		return func() ([]byte, error) { return nil, c.Discard(id) }, nil
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
		return func() ([]byte, error) { return encode(c.CreateGroup(context.Background(), id, name, members)) }, nil
	})
	b.async("conversations", func(c *jsClient, _ []js.Value) (work, error) {
		return func() ([]byte, error) {
			convs, err := c.Conversations()
			return encode(orEmpty(convs), err)
		}, nil
	})
	b.async("messages", func(c *jsClient, args []js.Value) (work, error) {
		conv, err := argString(args, 0, "conv")
		if err != nil {
			return nil, err
		}
		before, err := argUint(args, 1, "before")
		if err != nil {
			return nil, err
		}
		limit, err := argUint(args, 2, "limit")
		if err != nil {
			return nil, err
		}
		if limit > proto.MaxPageLimit {
			limit = proto.MaxPageLimit
		}
		return func() ([]byte, error) {
			msgs, err := c.Messages(context.Background(), conv, before, int(limit))
			return encode(orEmpty(msgs), err)
		}, nil
	})
	b.async("search", func(c *jsClient, args []js.Value) (work, error) {
		raw, ok := client.BytesFromJS(arg(args, 0))
		if !ok {
			return nil, invalidArg("search must be a Uint8Array of JSON")
		}
		s, err := parseSearch(raw)
		if err != nil {
			return nil, err
		}
		return func() ([]byte, error) {
			msgs, err := c.Search(s.Text, s.SearchOptions)
			return encode(orEmpty(msgs), err)
		}, nil
	})
	b.async("waitSynced", func(c *jsClient, _ []js.Value) (work, error) {
		return func() ([]byte, error) { return nil, c.WaitSynced(context.Background()) }, nil
	})
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
	raw, ok := client.BytesFromJS(arg(args, 0))
	if !ok {
		return errorObject(invalidArg("newClient: config must be a Uint8Array of JSON"), proto.CodeInvalidArgument)
	}
	cfg, err := parseConfig(raw)
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
		if opts.Store, err = client.NewJSStore(st); err != nil {
			return errorObject(err, proto.CodeInvalidArgument)
		}
	}
	opts.TokenFunc = func(context.Context) (string, error) {
		tv, err := client.AwaitHost(proto.CodeUnauthorized, func() js.Value { return host.Call("token") })
		if err == nil && (tv.Type() != js.TypeString || tv.String() == "") {
			err = errors.New("host.token() did not resolve with a non-empty string")
		}
		if err != nil {
			return "", err
		}
		return tv.String(), nil
	}
	// Encoded now, on the loop, so that an event shows the state of its
	// moment; delivered through the host queue, ahead of the settling of
	// the operation that produced it.
	opts.OnEvent = func(e core.Event) {
		data, err := json.Marshal(e)
		if err != nil {
			client.ConsoleError("parley: encode event: " + err.Error())
			return
		}
		client.CallHost(func() { host.Call("onEvent", client.BytesToJS(data)) })
	}
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
// returns the JSON to resolve with (nil: undefined).
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
					resolve.Invoke(client.BytesToJS(out))
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

// Argument readers: a wrong type rejects the call with CodeInvalidArgument.

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

package client

import (
	"strconv"
	"sync"
	"syscall/js"
	"time"

	"github.com/parley-im/parley/proto"
)

// What differs under js/wasm.
const (
	// clientName goes into Hello, with the Version.
	clientName = "parley-wasm"
	// deviceIDPrefix starts a generated device id.
	deviceIDPrefix = "w-"
	// newWaitsForLoad: New runs on a JavaScript callback, which must not
	// wait for the host's storage, so the store loads on the loop.
	newWaitsForLoad = false
	// writeTimeout is none: the host's WebSocket buffers what it is given,
	// and the socket waits for that buffer to drain below a high-water mark
	// as long as the connection lives, however slow the link.
	writeTimeout time.Duration = 0
)

// Built-ins looked up once.
var (
	jsPromise    = js.Global().Get("Promise")
	jsUint8Array = js.Global().Get("Uint8Array")
	jsObjectCtor = js.Global().Get("Object")
)

// hostValue is what HostBatch keeps of a parsed batch: its messages array.
type hostValue = js.Value

// host is the module's one queue of calls into the host's JavaScript. It
// starts with the package, so it is there before any client and outlives
// them all.
var host = newHostQueue()

// hostQueue makes every call into the host's JavaScript — storage, token,
// events, logs, and the settling of the bridge's Promises — from one
// goroutine, in the order the calls were queued.
//
// Go runs every runnable goroutine before it returns from any call JS makes
// into it, so a goroutine that simply called host.onEvent could run while
// the application is inside client.send(). The queue's goroutine instead
// waits for a microtask (Promise.resolve().then) before each batch: then
// the only JS frame below it is that microtask, never an application call.
// A settle is queued behind the events of the same input, so a send's
// Promise resolves after its message events were delivered.
type hostQueue struct {
	mu   sync.Mutex
	jobs []hostJob
	// text holds the JSON of the queued events back to back, each after a
	// comma (hostJob.at), so that a run of them is an array's text once
	// its first comma is a '[' and a ']' follows it: one JSON.parse, no
	// copy (deliverEvents).
	text []byte
	// spareJobs and spareText are the emptied slices of the batch the host
	// goroutine ran last, which the next batch fills: once they have grown
	// to a sync page's events, queuing an event allocates nothing.
	spareJobs []hostJob
	spareText []byte

	wake     chan struct{} // a job was queued; capacity 1
	ticked   chan struct{} // the microtask ran; capacity 1
	tick     js.Func       // owned by the queue, for the module's lifetime
	resolved js.Value      // Promise.resolve()
}

func newHostQueue() *hostQueue {
	q := &hostQueue{
		wake:     make(chan struct{}, 1),
		ticked:   make(chan struct{}, 1),
		resolved: jsPromise.Call("resolve"),
	}
	q.tick = js.FuncOf(func(js.Value, []js.Value) any {
		select {
		case q.ticked <- struct{}{}:
		default:
		}
		return nil
	})
	go q.run()
	return q
}

// hostJob is one call into the host: f, or an event for to (see
// CallHostEvent), whose JSON is the queue's text[at+1:end] (end 0: none),
// naming its message in batch when that is not nil.
type hostJob struct {
	f       func()
	to      js.Value
	at, end int
	batch   *HostBatch
}

// maxSpareText is the most event text the queue keeps for reuse.
const maxSpareText = 1 << 20

// CallHost queues f to run on the host goroutine, behind every call queued
// before it. It never blocks, so it may be called from anywhere, a
// js.FuncOf callback included.
func CallHost(f func()) { host.push(hostJob{f: f}) }

// CallHostEvent queues an event for the host object to, like a CallHost
// that calls to.onEvent(event): event is a BridgeEvent's JSON text (see
// AppendEvent), copied before CallHostEvent returns, so the caller may
// reuse it. Events queued one after another for one host cross together:
// one JSON.parse of them all, and one call of to.onEvents(array, stored)
// when the host has that method (else onEvent once each). A sync page's
// hundreds of message events then cost what one did. An event that names
// its message in a batch the host parsed for its storage (from, see
// Options.OnEventJSON) gets it from there: stored maps each such batch's
// ID to its messages, and the host takes the message from it, so the
// message is parsed once, for the storage adapter and the event alike.
func CallHostEvent(to js.Value, event []byte, from *HostBatch) {
	q := host
	q.mu.Lock()
	at := len(q.text)
	q.text = append(q.text, ',')
	q.text = append(q.text, event...)
	q.jobs = append(q.jobs, hostJob{to: to, at: at, end: len(q.text), batch: from})
	q.mu.Unlock()
	q.signal()
}

func (q *hostQueue) push(j hostJob) {
	q.mu.Lock()
	q.jobs = append(q.jobs, j)
	q.mu.Unlock()
	q.signal()
}

func (q *hostQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *hostQueue) run() {
	for {
		<-q.wake
		q.resolved.Call("then", q.tick)
		<-q.ticked
		// Jobs queued while a batch runs (an onEvent handler that calls
		// into Go) join it: by the time they run that call has returned.
		for {
			q.mu.Lock()
			jobs, text := q.jobs, q.text
			q.jobs, q.text = q.spareJobs, q.spareText
			q.mu.Unlock()
			q.spareJobs, q.spareText = nil, nil
			for i := 0; i < len(jobs); {
				n := 1
				if j := jobs[i]; j.end != 0 {
					for i+n < len(jobs) && jobs[i+n].end != 0 && jobs[i+n].to.Equal(j.to) {
						n++
					}
					evs := jobs[i : i+n]
					runJob(func() { deliverEvents(evs, text) })
				} else {
					runJob(j.f)
				}
				clear(jobs[i : i+n])
				i += n
			}
			if cap(text) > maxSpareText {
				text = nil
			}
			q.spareJobs, q.spareText = jobs[:0], text[:0]
			if len(jobs) == 0 {
				break
			}
		}
	}
}

// runJob runs one host call; a host function that throws costs that call,
// never the queue.
func runJob(f func()) {
	defer func() {
		if r := recover(); r != nil {
			ConsoleError("parley: host callback failed: " + panicText(r))
		}
	}()
	f()
}

// deliverEvents hands the events of jobs, all for one host and queued one
// after another, to it in order: their JSON texts, back to back in text
// with a comma before each, become one array with one JSON.parse. The
// array's brackets are written over the comma before the first and the
// one after the last (the next run writes its own '[' there). The batches
// the events name their messages in go with them (CallHostEvent).
func deliverEvents(jobs []hostJob, text []byte) {
	at, end := jobs[0].at, jobs[len(jobs)-1].end
	b := append(text[at:end], ']')
	b[0] = '['
	to, evs := jobs[0].to, JSONToJS(b)
	stored := js.Undefined()
	var last *HostBatch
	for i := range jobs {
		if hb := jobs[i].batch; hb != nil && hb != last {
			if last == nil {
				stored = jsObjectCtor.New()
			}
			stored.Set(strconv.FormatUint(hb.ID, 10), hb.messages)
			last = hb
		}
	}
	if to.Get("onEvents").Type() == js.TypeFunction {
		to.Call("onEvents", evs, stored)
		return
	}
	for i := range jobs {
		ev := evs.Index(i)
		if hb := jobs[i].batch; hb != nil {
			ev.Set("message", hb.messages.Index(ev.Get("stored").Index(1).Int()))
			ev.Delete("stored")
		}
		to.Call("onEvent", ev)
	}
}

// ConsoleError writes msg to the host's console.error, for what has no
// caller left to tell.
func ConsoleError(msg string) {
	defer func() { _ = recover() }()
	js.Global().Get("console").Call("error", msg)
}

func panicText(r any) string {
	switch v := r.(type) {
	case js.Error:
		return v.Error()
	case error:
		return v.Error()
	case string:
		return v
	}
	return "unknown panic"
}

// settled is what a host Promise settled with.
type settled struct {
	v   js.Value
	err error
}

// AwaitHost calls call on the host goroutine, which returns a Promise (or a
// plain value, taken as resolved), and blocks the calling goroutine until
// it settles. It must not run on a js.FuncOf callback's stack: the settling
// needs the JS event loop that such a callback holds. A rejection becomes a
// *proto.Error with the host's code when it gave one (4000–4999), else with
// fallback.
func AwaitHost(fallback proto.Code, call func() js.Value) (js.Value, error) {
	ch, release := startHost(fallback, call)
	r := <-ch
	release()
	return r.v, r.err
}

// startHost is AwaitHost without the waiting: it queues call behind every
// host call queued before it and returns the channel its outcome comes on
// and the release of its callbacks, for after that. It never blocks.
func startHost(fallback proto.Code, call func() js.Value) (<-chan settled, func()) {
	ch := make(chan settled, 1)
	// The first outcome wins; a callback never blocks on the channel.
	done := func(s settled) {
		select {
		case ch <- s:
		default:
		}
	}
	failed := func(r any) { done(settled{err: &proto.Error{Code: fallback, Message: panicText(r)}}) }
	then := funcOf(func(args []js.Value) { done(settled{v: arg(args, 0)}) }, failed)
	catch := funcOf(func(args []js.Value) { done(settled{err: hostError(arg(args, 0), fallback)}) }, failed)
	CallHost(func() {
		defer func() {
			if r := recover(); r != nil { // call threw synchronously
				failed(r)
			}
		}()
		jsPromise.Call("resolve", call()).Call("then", then, catch)
	})
	return ch, func() {
		then.Release()
		catch.Release()
	}
}

// funcOf is js.FuncOf for callbacks the host's JS invokes: a panic in one
// would end the Go program, so it is recovered and handed to onPanic.
func funcOf(fn func(args []js.Value), onPanic func(r any)) js.Func {
	return js.FuncOf(func(_ js.Value, args []js.Value) any {
		defer func() {
			if r := recover(); r != nil {
				onPanic(r)
			}
		}()
		fn(args)
		return nil
	})
}

func arg(args []js.Value, i int) js.Value {
	if i < len(args) {
		return args[i]
	}
	return js.Undefined()
}

// hostError reads a rejection reason: a {code, message} object keeps its
// code when it is one of ours (4000–4999), anything else gets fallback.
func hostError(v js.Value, fallback proto.Code) *proto.Error {
	e := &proto.Error{Code: fallback}
	switch v.Type() {
	case js.TypeObject:
		if c := v.Get("code"); c.Type() == js.TypeNumber && c.Float() >= 4000 && c.Float() < 5000 {
			e.Code = proto.Code(c.Int())
		}
		if m := v.Get("message"); m.Type() == js.TypeString {
			e.Message = m.String()
		} else {
			e.Message = safeString(v)
		}
	case js.TypeString:
		e.Message = v.String()
	default:
		e.Message = safeString(v)
	}
	return e
}

// safeString is JS String(v), which can throw (a null-prototype object).
func safeString(v js.Value) (s string) {
	defer func() {
		if recover() != nil {
			s = "(unprintable value)"
		}
	}()
	return js.Global().Call("String", v).String()
}

// BytesToJS copies b into a new Uint8Array: one copy per value.
func BytesToJS(b []byte) js.Value {
	u := jsUint8Array.New(len(b))
	js.CopyBytesToJS(u, b)
	return u
}

// BytesFromJS copies a Uint8Array (a Node Buffer is one) into Go.
func BytesFromJS(v js.Value) ([]byte, bool) {
	if v.Type() != js.TypeObject || !v.InstanceOf(jsUint8Array) {
		return nil, false
	}
	b := make([]byte, v.Length())
	js.CopyBytesToGo(b, v)
	return b, true
}

package client

import (
	"sync/atomic"
	"syscall/js"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// jsStore is a Store over the host's storage adapter (WasmStorage in
// bindings/src/wasm.d.ts: IndexedDB in browsers, files in mini-programs,
// …): every method is one call with plain objects of the shapes in
// bridge.gen.ts (see jsvalue_js.go), whose Promise the calling goroutine
// waits for. Like every Store it is called by the client's loop
// and operations, never from a js.FuncOf callback.
type jsStore struct {
	v js.Value // the WasmStorage object
	// share: the events of a write's messages take them from the batch
	// parsed for storage.apply (HostBatch) instead of carrying their JSON.
	share bool
}

var (
	_ Store        = (*jsStore)(nil)
	_ Searcher     = (*jsStore)(nil)
	_ writeStarter = (*jsStore)(nil)
)

// storageCode is what a storage failure rejects with when the host gave no
// code of its own: the cache could not be read or written, try again later.
const storageCode = proto.CodeUnavailable

// NewJSStore returns a Store over the host's storage adapter v, after
// checking that it has the four required methods (search is optional).
// With share, a write hands back its batch as the host parsed it
// (HostBatch), whose messages their events then share: for a host whose
// onEvents takes the messages that go with the events (CallHostEvent),
// and an adapter that leaves the batches it is given unchanged.
func NewJSStore(v js.Value, share bool) (Store, error) {
	for _, m := range []string{"load", "apply", "messages", "close"} {
		if v.Get(m).Type() != js.TypeFunction {
			return nil, invalidArg("host.storage." + m + " is not a function")
		}
	}
	return &jsStore{v: v, share: share}, nil
}

// call calls storage.method(args...); an argument that is a func() js.Value
// is called first, on the host goroutine.
func (s *jsStore) call(method string, args ...any) (js.Value, error) {
	ch, release := s.start(method, args...)
	r := <-ch
	release()
	return r.v, storageError(method, r.err)
}

// start is call without the waiting (startHost).
func (s *jsStore) start(method string, args ...any) (<-chan settled, func()) {
	return startHost(storageCode, func() js.Value {
		for i, a := range args {
			if f, ok := a.(func() js.Value); ok {
				args[i] = f()
			}
		}
		return s.v.Call(method, args...)
	})
}

// storageError names the storage method in a host error.
func storageError(method string, err error) error {
	if pe, ok := err.(*proto.Error); ok {
		pe.Message = "storage." + method + ": " + pe.Message
	}
	return err
}

// Load implements Store.
func (s *jsStore) Load() (core.Snapshot, error) {
	v, err := s.call("load")
	if err != nil || v.IsNull() || v.IsUndefined() {
		return core.Snapshot{}, err
	}
	r := jsReader{what: "storage.load"}
	snap := r.snapshot(v)
	return snap, r.err
}

// Apply implements Store. The batch is encoded before the host call, off
// the host goroutine; it becomes an object there.
func (s *jsStore) Apply(b *core.Batch) error {
	done, _, _ := s.startApply(b)
	return <-done
}

// batchIDs numbers the HostBatches of the module.
var batchIDs atomic.Uint64

// startApply implements writeStarter: storage.apply is called from the
// host queue in the order of the calls to startApply, and the adapter
// takes its batches in the order it is called (StorageAdapter.apply:
// IndexedDB creates the transactions in that order, and runs readwrite
// transactions over the same stores, and any read after them, in the order
// they were created). The messages' JSON, written once into the batch's,
// is handed back for their events, and with share the batch as parsed for
// the adapter: its messages are taken on the host goroutine before the
// adapter is called, so before any event queued after this call.
func (s *jsStore) startApply(b *core.Batch) (<-chan error, [][]byte, *HostBatch) {
	data, msgs := appendBatch(nil, b, true)
	var hb *HostBatch
	if s.share && len(msgs) > 0 {
		hb = &HostBatch{ID: batchIDs.Add(1)}
	}
	ch, release := s.start("apply", func() js.Value {
		v := JSONToJS(data)
		if hb != nil {
			hb.messages = v.Get("messages")
		}
		return v
	})
	out := make(chan error, 1)
	go func() {
		r := <-ch
		release()
		out <- storageError("apply", r.err)
	}()
	return out, msgs, hb
}

// Messages implements Store.
func (s *jsStore) Messages(conv string, before uint64, limit int) ([]core.Message, error) {
	v, err := s.call("messages", conv, float64(before), limit)
	if err != nil {
		return nil, err
	}
	r := jsReader{what: "storage.messages"}
	ms := r.messages(v)
	return ms, r.err
}

// Search implements Searcher through storage.search, which gets the
// validated query (its text already folded) and resolves with the matches,
// newest first. A storage without search cannot search.
func (s *jsStore) Search(q *core.SearchQuery) ([]core.Message, error) {
	if s.v.Get("search").Type() != js.TypeFunction {
		return nil, &proto.Error{Code: proto.CodeNotSupported, Message: "the storage adapter has no search()"}
	}
	data := AppendSearchQuery(nil, q)
	v, err := s.call("search", func() js.Value { return JSONToJS(data) })
	if err != nil {
		return nil, err
	}
	r := jsReader{what: "storage.search"}
	ms := r.messages(v)
	return ms, r.err
}

// Close implements Store.
func (s *jsStore) Close() error {
	_, err := s.call("close")
	return err
}

package client

import (
	"encoding/json"
	"syscall/js"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// jsStore is a Store over the host's storage adapter (WasmStorage in
// bindings/src/wasm.d.ts: IndexedDB in browsers, files in mini-programs,
// …): every method is one call with JSON bytes, whose Promise the calling
// goroutine waits for. Like every Store it is called by the client's loop
// and operations, never from a js.FuncOf callback.
type jsStore struct {
	v js.Value // the WasmStorage object
}

var (
	_ Store    = (*jsStore)(nil)
	_ Searcher = (*jsStore)(nil)
)

// storageCode is what a storage failure rejects with when the host gave no
// code of its own: the cache could not be read or written, try again later.
const storageCode = proto.CodeUnavailable

// NewJSStore returns a Store over the host's storage adapter v, after
// checking that it has the four required methods (search is optional).
func NewJSStore(v js.Value) (Store, error) {
	for _, m := range []string{"load", "apply", "messages", "close"} {
		if v.Get(m).Type() != js.TypeFunction {
			return nil, invalidArg("host.storage." + m + " is not a function")
		}
	}
	return &jsStore{v: v}, nil
}

func (s *jsStore) call(method string, args ...any) (js.Value, error) {
	v, err := AwaitHost(storageCode, func() js.Value { return s.v.Call(method, args...) })
	if pe, ok := err.(*proto.Error); ok {
		pe.Message = "storage." + method + ": " + pe.Message
	}
	return v, err
}

// Load implements Store.
func (s *jsStore) Load() (core.Snapshot, error) {
	var snap core.Snapshot
	v, err := s.call("load")
	if err != nil || v.IsNull() || v.IsUndefined() {
		return snap, err
	}
	b, ok := BytesFromJS(v)
	if !ok {
		return snap, &proto.Error{Code: storageCode, Message: "storage.load: resolved with neither a Uint8Array nor null"}
	}
	if err := json.Unmarshal(b, &snap); err != nil {
		return snap, &proto.Error{Code: storageCode, Message: "storage.load: " + err.Error()}
	}
	return snap, nil
}

// Apply implements Store.
func (s *jsStore) Apply(b *core.Batch) error {
	data, err := json.Marshal(b)
	if err != nil {
		return err
	}
	_, err = s.call("apply", BytesToJS(data))
	return err
}

// Messages implements Store.
func (s *jsStore) Messages(conv string, before uint64, limit int) ([]core.Message, error) {
	v, err := s.call("messages", conv, float64(before), limit)
	if err != nil {
		return nil, err
	}
	return decodeMessages("messages", v)
}

// decodeMessages reads what storage.method resolved with: JSON messages in
// a Uint8Array.
func decodeMessages(method string, v js.Value) ([]core.Message, error) {
	b, ok := BytesFromJS(v)
	if !ok {
		return nil, &proto.Error{Code: storageCode, Message: "storage." + method + ": did not resolve with a Uint8Array"}
	}
	var out []core.Message
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, &proto.Error{Code: storageCode, Message: "storage." + method + ": " + err.Error()}
	}
	return out, nil
}

// Search implements Searcher through storage.search, which gets the
// validated query (its text already folded) as JSON and resolves with the
// matches as JSON, newest first. A storage without search cannot search.
func (s *jsStore) Search(q *core.SearchQuery) ([]core.Message, error) {
	if s.v.Get("search").Type() != js.TypeFunction {
		return nil, &proto.Error{Code: proto.CodeNotSupported, Message: "the storage adapter has no search()"}
	}
	data, err := json.Marshal(q)
	if err != nil {
		return nil, err
	}
	v, err := s.call("search", BytesToJS(data))
	if err != nil {
		return nil, err
	}
	return decodeMessages("search", v)
}

// Close implements Store.
func (s *jsStore) Close() error {
	_, err := s.call("close")
	return err
}

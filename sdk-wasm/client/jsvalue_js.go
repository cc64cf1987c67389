package client

import (
	"encoding/base64"
	"math"
	"slices"
	"strconv"
	"syscall/js"
	"unicode/utf8"
	"unsafe"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// The shapes that cross the bridge (bindings/src/bridge.gen.ts, generated
// from the json tags of the core's types) cross as plain JavaScript
// objects, without encoding/json and its reflection in the module.
//
// Out of Go, a value is written as JSON text by the append functions below
// (no reflection, one pass) and becomes an object with one JSON.parse on
// the host's side: one crossing per value however many fields it has, where
// building it with js.Value.Set would cross once per field. Into Go, the
// few values the host hands over (a snapshot, a page of messages, a config)
// are read field by field with js.Value.Get.

var jsJSON = js.Global().Get("JSON")

// JSONToJS turns JSON text built by the append functions into the object
// it describes. Call it on the host goroutine (CallHost, AwaitHost). b is
// read in place, not copied into a string first: it must not change
// during the call (the host decodes it into a JavaScript string before
// JSON.parse runs, and nothing keeps it after).
func JSONToJS(b []byte) js.Value {
	if b == nil {
		return js.Undefined()
	}
	return jsJSON.Call("parse", unsafe.String(unsafe.SliceData(b), len(b)))
}

// jsonw writes JSON objects one field per call: its methods stay out of
// line, so each field costs parley.wasm a call rather than an inlined
// append.
type jsonw struct{ b []byte }

// key starts the field k, after a comma unless it is the object's first.
//
//go:noinline
func (w *jsonw) key(k string) {
	if n := len(w.b); n > 0 && w.b[n-1] != '{' && w.b[n-1] != '[' {
		w.b = append(w.b, ',')
	}
	w.b = append(w.b, '"')
	w.b = append(w.b, k...)
	w.b = append(w.b, '"', ':')
}

//go:noinline
func (w *jsonw) str(k, v string) {
	w.key(k)
	w.b = appendString(w.b, v)
}

// strOmit writes a string field unless it is empty (omitempty).
//
//go:noinline
func (w *jsonw) strOmit(k, v string) {
	if v != "" {
		w.str(k, v)
	}
}

//go:noinline
func (w *jsonw) uint(k string, v uint64) {
	w.key(k)
	w.b = strconv.AppendUint(w.b, v, 10)
}

//go:noinline
func (w *jsonw) int(k string, v int64) {
	w.key(k)
	w.b = strconv.AppendInt(w.b, v, 10)
}

// intOmit writes an integer field unless it is 0 (omitempty).
//
//go:noinline
func (w *jsonw) intOmit(k string, v int64) {
	if v != 0 {
		w.int(k, v)
	}
}

//go:noinline
func (w *jsonw) strings(k string, ss []string) {
	w.key(k)
	w.b = append(w.b, '[')
	for i, s := range ss {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.b = appendString(w.b, s)
	}
	w.b = append(w.b, ']')
}

func (w *jsonw) open()  { w.b = append(w.b, '{') }
func (w *jsonw) close() { w.b = append(w.b, '}') }

// elem starts the next element of an array.
func (w *jsonw) elem(i int) {
	if i > 0 {
		w.b = append(w.b, ',')
	}
}

func (w *jsonw) message(m *core.Message) {
	w.open()
	w.str("id", m.ID)
	w.str("clientId", m.ClientID)
	w.str("conversationId", m.ConvID)
	w.uint("seq", m.Seq)
	w.str("sender", m.Sender)
	w.strOmit("device", m.Device)
	w.str("type", m.Type)
	w.strOmit("text", m.Text)
	if len(m.Body) > 0 {
		w.key("body")
		w.b = append(w.b, '"')
		w.b = base64.StdEncoding.AppendEncode(w.b, m.Body)
		w.b = append(w.b, '"')
	}
	w.int("createdAt", m.CreatedAt)
	w.intOmit("localTime", m.LocalTime)
	w.str("status", string(m.Status))
	w.intOmit("errorCode", int64(m.ErrorCode))
	w.messageLifecycle(m) // jsvalue_lifecycle_js.go
	if a := m.Attachment; a != nil {
		w.key("attachment")
		w.open()
		w.str("id", a.ID)
		w.str("name", a.Name)
		w.int("size", a.Size)
		w.str("mime", a.Mime)
		w.intOmit("width", int64(a.Width))
		w.intOmit("height", int64(a.Height))
		w.intOmit("durationMs", int64(a.DurationMs))
		w.close()
	}
	w.close()
}

func (w *jsonw) messages(ms []core.Message) {
	w.b = append(w.b, '[')
	for i := range ms {
		w.elem(i)
		w.message(&ms[i])
	}
	w.b = append(w.b, ']')
}

func (w *jsonw) conversation(c *core.Conversation) {
	w.open()
	w.str("id", c.ID)
	w.str("type", c.Kind)
	w.strOmit("name", c.Name)
	if len(c.Members) > 0 {
		w.strings("members", c.Members)
	}
	if c.LastMessage != nil {
		w.key("lastMessage")
		w.message(c.LastMessage)
	}
	w.uint("lastSeq", c.LastSeq)
	w.uint("readSeq", c.ReadSeq)
	w.uint("unread", c.Unread)
	w.uint("syncedSeq", c.SyncedSeq)
	w.uint("version", c.Version)
	w.convLifecycle(c) // jsvalue_lifecycle_js.go
	w.convSettings(c)  // jscontacts_js.go
	w.groupState(c)    // jsgroups_js.go
	w.close()
}

func (w *jsonw) conversations(cs []core.Conversation) {
	w.b = append(w.b, '[')
	for i := range cs {
		w.elem(i)
		w.conversation(&cs[i])
	}
	w.b = append(w.b, ']')
}

// AppendMessage appends m as a StoredMessage.
func AppendMessage(b []byte, m *core.Message) []byte {
	w := jsonw{b}
	w.message(m)
	return w.b
}

// AppendMessages appends ms as an array of StoredMessage ([] when empty).
func AppendMessages(b []byte, ms []core.Message) []byte {
	w := jsonw{b}
	w.messages(ms)
	return w.b
}

// AppendHistoryPage appends p as { messages: StoredMessage[], hasMore }.
func AppendHistoryPage(b []byte, p *HistoryPage) []byte {
	w := jsonw{b}
	w.open()
	w.key("messages")
	w.messages(p.Messages)
	w.key("hasMore")
	if p.HasMore {
		w.b = append(w.b, "true"...)
	} else {
		w.b = append(w.b, "false"...)
	}
	w.close()
	return w.b
}

// AppendConversation appends c as a StoredConversation.
func AppendConversation(b []byte, c *core.Conversation) []byte {
	w := jsonw{b}
	w.conversation(c)
	return w.b
}

// AppendConversations appends cs as an array of StoredConversation.
func AppendConversations(b []byte, cs []core.Conversation) []byte {
	w := jsonw{b}
	w.conversations(cs)
	return w.b
}

// messageSize is about the length of m's JSON: what to make room for
// before writing it, instead of growing the buffer as it is written.
func messageSize(m *core.Message) int {
	return 192 + len(m.ID) + len(m.ClientID) + len(m.ConvID) + len(m.Sender) + len(m.Device) +
		len(m.Type) + len(m.Text) + len(m.Body)*4/3
}

// AppendBatch appends a StorageBatch.
func AppendBatch(b []byte, x *core.Batch) []byte {
	b, _ = appendBatch(b, x, false)
	return b
}

// appendBatch appends a StorageBatch and, with msgs, the JSON of each of
// its messages as they are written in it (slices of the result, in the
// order of x.Messages), for the events that announce them.
func appendBatch(b []byte, x *core.Batch, msgs bool) ([]byte, [][]byte) {
	n := 512
	for i := range x.Messages {
		n += messageSize(&x.Messages[i])
	}
	w := jsonw{slices.Grow(b, n)}
	w.open()
	if x.Reset {
		w.key("reset")
		w.b = append(w.b, "true"...)
	}
	if m := x.Meta; m != nil {
		w.key("meta")
		w.open()
		w.str("deviceId", m.DeviceID)
		w.str("userId", m.UserID)
		w.str("epoch", m.Epoch)
		w.uint("syncCursor", m.SyncCursor)
		w.uint("nextOrder", m.NextOrder)
		if m.Account != nil {
			w.key("account")
			w.account(m.Account) // jscontacts_js.go
		}
		if len(m.Profiles) > 0 {
			w.key("profiles")
			w.b = AppendProfiles(w.b, m.Profiles) // presence_js.go
		}
		w.close()
	}
	if len(x.Conversation) > 0 {
		w.key("conversations")
		w.conversations(x.Conversation)
	}
	var at []int // where each message starts, then where the last ends
	if len(x.Messages) > 0 {
		w.key("messages")
		if !msgs {
			w.messages(x.Messages)
		} else {
			at = make([]int, len(x.Messages)+1)
			w.b = append(w.b, '[')
			for i := range x.Messages {
				w.elem(i)
				at[i] = len(w.b)
				w.message(&x.Messages[i])
			}
			at[len(x.Messages)] = len(w.b)
			w.b = append(w.b, ']')
		}
	}
	if len(x.OutboxPut) > 0 {
		w.key("outboxPut")
		w.b = append(w.b, '[')
		for i := range x.OutboxPut {
			w.elem(i)
			w.open()
			w.uint("order", x.OutboxPut[i].Order)
			w.key("message")
			w.message(&x.OutboxPut[i].Message)
			w.close()
		}
		w.b = append(w.b, ']')
	}
	if len(x.OutboxDelete) > 0 {
		w.strings("outboxDelete", x.OutboxDelete)
	}
	w.close()
	if at == nil {
		return w.b, nil
	}
	out := make([][]byte, len(x.Messages))
	for i := range out {
		// A message is followed by a comma or the array's end.
		end := at[i+1]
		if i+1 < len(out) {
			end--
		}
		out[i] = w.b[at[i]:end:end]
	}
	return w.b, out
}

// AppendSearchQuery appends a StorageSearchQuery.
func AppendSearchQuery(b []byte, q *core.SearchQuery) []byte {
	w := jsonw{b}
	w.open()
	w.str("text", q.Text)
	w.strOmit("conversationId", q.ConvID)
	if c := q.Before; c != nil {
		w.key("before")
		w.open()
		w.int("createdAt", c.CreatedAt)
		w.str("conversationId", c.ConvID)
		w.uint("seq", c.Seq)
		w.strOmit("clientId", c.ClientID)
		w.close()
	}
	w.int("limit", int64(q.Limit))
	w.close()
	return w.b
}

// appendEventJSON appends a BridgeEvent's JSON for Options.OnEventJSON
// (appendEvent).
func appendEventJSON(b []byte, e *core.Event, msg storedMsg) []byte { return appendEvent(b, e, msg) }

// AppendEvent appends a BridgeEvent.
func AppendEvent(b []byte, e *core.Event) []byte { return appendEvent(b, e, storedMsg{}) }

// appendEvent appends a BridgeEvent whose message, when msg.json is not
// nil, is msg.json: e.Message's JSON as a store write already encoded it;
// and when the host keeps that write's batch parsed (msg.batch), the
// event names the message there instead: "stored":[batch, index] in place
// of "message".
func appendEvent(b []byte, e *core.Event, msg storedMsg) []byte {
	switch {
	case msg.batch != nil:
	case msg.json != nil:
		b = slices.Grow(b, 64+len(msg.json))
	case e.Message != nil:
		b = slices.Grow(b, 64+messageSize(e.Message))
	}
	w := jsonw{b}
	w.open()
	w.str("kind", string(e.Kind))
	w.strOmit("state", string(e.State))
	w.intOmit("code", int64(e.Code))
	w.strOmit("reason", e.Reason)
	if e.Message != nil {
		switch {
		case msg.batch != nil && msg.json != nil:
			w.key("stored")
			w.b = append(w.b, '[')
			w.b = strconv.AppendUint(w.b, msg.batch.ID, 10)
			w.b = append(w.b, ',')
			w.b = strconv.AppendInt(w.b, int64(msg.at), 10)
			w.b = append(w.b, ']')
		case msg.json != nil:
			w.key("message")
			w.b = append(w.b, msg.json...)
		default:
			w.key("message")
			w.message(e.Message)
		}
	}
	if e.Conversation != nil {
		w.key("conversation")
		w.conversation(e.Conversation)
	}
	w.callEvent(e) // calls_js.go
	if e.Typing != nil {
		w.key("typing")
		w.open()
		w.str("conversationId", e.Typing.ConvID)
		w.str("user", e.Typing.User)
		w.close()
	}
	w.feedEvent(e) // jscontacts_js.go
	if e.Notice != nil {
		w.key("notice")
		w.notice(e.Notice) // jsgroups_js.go
	}
	w.presenceEvent(e) // presence_js.go
	w.close()
	return w.b
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string (RFC 8259 §7). Invalid UTF-8
// becomes U+FFFD, as encoding/json writes it.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// jsReader reads the fields of host objects. Absent (undefined) and null
// fields read as their zero value, as they decoded from JSON; a field of
// the wrong type is an error, the first one sticks. what names the value
// for that error ("storage.load").
type jsReader struct {
	what string
	err  error
}

func (r *jsReader) fail(field, want string) {
	if r.err == nil {
		r.err = &proto.Error{Code: storageCode, Message: r.what + ": " + field + " is not " + want}
	}
}

func absent(v js.Value) bool { return v.IsUndefined() || v.IsNull() }

func (r *jsReader) str(o js.Value, field string) string {
	v := o.Get(field)
	if absent(v) {
		return ""
	}
	if v.Type() != js.TypeString {
		r.fail(field, "a string")
		return ""
	}
	return v.String()
}

// num reads an integer in ±2^53, the integers a JS number holds exactly.
func (r *jsReader) num(o js.Value, field string) float64 {
	v := o.Get(field)
	if absent(v) {
		return 0
	}
	if v.Type() != js.TypeNumber {
		r.fail(field, "a number")
		return 0
	}
	f := v.Float()
	if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		r.fail(field, "an integer")
		return 0
	}
	return f
}

func (r *jsReader) uint(o js.Value, field string) uint64 {
	f := r.num(o, field)
	if f < 0 {
		r.fail(field, "a non-negative integer")
		return 0
	}
	return uint64(f)
}

func (r *jsReader) int(o js.Value, field string) int64 { return int64(r.num(o, field)) }

func (r *jsReader) bool(o js.Value, field string) bool {
	v := o.Get(field)
	if absent(v) {
		return false
	}
	if v.Type() != js.TypeBoolean {
		r.fail(field, "a boolean")
		return false
	}
	return v.Bool()
}

// object reads a field that must be an object when present; ok is false
// when it is absent.
func (r *jsReader) object(o js.Value, field string) (js.Value, bool) {
	v := o.Get(field)
	if absent(v) {
		return v, false
	}
	if v.Type() != js.TypeObject {
		r.fail(field, "an object")
		return v, false
	}
	return v, true
}

// array reads a field that must be an array when present: its length, 0
// when absent.
func (r *jsReader) array(o js.Value, field string) (js.Value, int) {
	v := o.Get(field)
	if absent(v) {
		return v, 0
	}
	if !isArray(v) {
		r.fail(field, "an array")
		return v, 0
	}
	return v, v.Length()
}

var jsArrayIsArray = js.Global().Get("Array").Get("isArray")

func isArray(v js.Value) bool { return v.Type() == js.TypeObject && jsArrayIsArray.Invoke(v).Bool() }

func (r *jsReader) strings(o js.Value, field string) []string {
	a, n := r.array(o, field)
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		e := a.Index(i)
		if e.Type() != js.TypeString {
			r.fail(field, "an array of strings")
			return nil
		}
		out[i] = e.String()
	}
	return out
}

func (r *jsReader) message(o js.Value, m *core.Message) {
	if o.Type() != js.TypeObject {
		r.fail("message", "an object")
		return
	}
	m.ID = r.str(o, "id")
	m.ClientID = r.str(o, "clientId")
	m.ConvID = r.str(o, "conversationId")
	m.Seq = r.uint(o, "seq")
	m.Sender = r.str(o, "sender")
	m.Device = r.str(o, "device")
	m.Type = r.str(o, "type")
	m.Text = r.str(o, "text")
	if body := r.str(o, "body"); body != "" {
		var err error
		if m.Body, err = base64.StdEncoding.DecodeString(body); err != nil {
			r.fail("body", "base64")
		}
	}
	m.CreatedAt = r.int(o, "createdAt")
	m.LocalTime = r.int(o, "localTime")
	m.Status = core.Status(r.str(o, "status"))
	m.ErrorCode = proto.Code(r.int(o, "errorCode"))
	r.messageLifecycle(o, m) // jsvalue_lifecycle_js.go
	if a, ok := r.object(o, "attachment"); ok {
		m.Attachment = &core.Attachment{ID: r.str(a, "id"), Name: r.str(a, "name"), Size: r.int(a, "size"), Mime: r.str(a, "mime"),
			Width: uint32(r.uint(a, "width")), Height: uint32(r.uint(a, "height")), DurationMs: r.uint(a, "durationMs")}
	}
}

func (r *jsReader) messages(a js.Value) []core.Message {
	if !isArray(a) {
		r.fail("the result", "an array")
		return nil
	}
	out := make([]core.Message, a.Length())
	for i := range out {
		r.message(a.Index(i), &out[i])
		if r.err != nil {
			return nil
		}
	}
	return out
}

func (r *jsReader) conversation(o js.Value, c *core.Conversation) {
	if o.Type() != js.TypeObject {
		r.fail("conversation", "an object")
		return
	}
	c.ID = r.str(o, "id")
	c.Kind = r.str(o, "type")
	c.Name = r.str(o, "name")
	c.Members = r.strings(o, "members")
	if lm, ok := r.object(o, "lastMessage"); ok {
		c.LastMessage = new(core.Message)
		r.message(lm, c.LastMessage)
	}
	c.LastSeq = r.uint(o, "lastSeq")
	c.ReadSeq = r.uint(o, "readSeq")
	c.Unread = r.uint(o, "unread")
	c.SyncedSeq = r.uint(o, "syncedSeq")
	c.Version = r.uint(o, "version")
	r.convLifecycle(o, c) // jsvalue_lifecycle_js.go
	r.convSettings(o, c)  // jscontacts_js.go
	r.groupState(o, c)    // jsgroups_js.go
}

// snapshot reads a StorageSnapshot.
func (r *jsReader) snapshot(o js.Value) core.Snapshot {
	var s core.Snapshot
	if o.Type() != js.TypeObject || o.InstanceOf(jsUint8Array) {
		// A Uint8Array is what adapters resolved with when the shapes
		// crossed as JSON bytes.
		r.fail("the result", "a StorageSnapshot object or null (not a Uint8Array)")
		return s
	}
	if m, ok := r.object(o, "meta"); ok {
		s.Meta = core.Meta{
			DeviceID:   r.str(m, "deviceId"),
			UserID:     r.str(m, "userId"),
			Epoch:      r.str(m, "epoch"),
			SyncCursor: r.uint(m, "syncCursor"),
			NextOrder:  r.uint(m, "nextOrder"),
		}
		s.Meta.Account = r.account(m)   // jscontacts_js.go
		s.Meta.Profiles = r.profiles(m) // presence_js.go
	}
	if a, n := r.array(o, "conversations"); n > 0 {
		s.Conversations = make([]core.Conversation, n)
		for i := range s.Conversations {
			r.conversation(a.Index(i), &s.Conversations[i])
		}
	}
	if a, n := r.array(o, "outbox"); n > 0 {
		s.Outbox = make([]core.OutboxEntry, n)
		for i := range s.Outbox {
			e := a.Index(i)
			if e.Type() != js.TypeObject {
				r.fail("outbox", "an array of objects")
				break
			}
			s.Outbox[i].Order = r.uint(e, "order")
			if m, ok := r.object(e, "message"); ok {
				r.message(m, &s.Outbox[i].Message)
			}
		}
	}
	return s
}

// cursor reads a SearchCursor field of o; nil when absent.
func (r *jsReader) cursor(o js.Value, field string) *core.SearchCursor {
	c, ok := r.object(o, field)
	if !ok {
		return nil
	}
	return &core.SearchCursor{
		CreatedAt: r.int(c, "createdAt"),
		ConvID:    r.str(c, "conversationId"),
		Seq:       r.uint(c, "seq"),
		ClientID:  r.str(c, "clientId"),
	}
}

// ObjectReader reads the fields of an object the host passed to the
// bridge; its errors carry proto.CodeInvalidArgument and start with what.
type ObjectReader struct{ r jsReader }

// NewObjectReader returns a reader whose errors start with what.
func NewObjectReader(what string) *ObjectReader { return &ObjectReader{jsReader{what: what}} }

// Str reads a string field ("" when absent).
func (o *ObjectReader) Str(v js.Value, field string) string { return o.r.str(v, field) }

// Int reads an integer field (0 when absent).
func (o *ObjectReader) Int(v js.Value, field string) int64 { return o.r.int(v, field) }

// Uint reads a non-negative integer field (0 when absent).
func (o *ObjectReader) Uint(v js.Value, field string) uint64 { return o.r.uint(v, field) }

// Bool reads a boolean field (false when absent).
func (o *ObjectReader) Bool(v js.Value, field string) bool { return o.r.bool(v, field) }

// Cursor reads a SearchCursor field (nil when absent).
func (o *ObjectReader) Cursor(v js.Value, field string) *core.SearchCursor {
	return o.r.cursor(v, field)
}

// Err is the first error met, with proto.CodeInvalidArgument.
func (o *ObjectReader) Err() error {
	if o.r.err == nil {
		return nil
	}
	pe := o.r.err.(*proto.Error)
	return &proto.Error{Code: proto.CodeInvalidArgument, Message: pe.Message}
}

package client

import (
	"encoding/base64"
	"math"
	"strconv"
	"syscall/js"
	"unicode/utf8"

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
// it describes. Call it on the host goroutine (CallHost, AwaitHost).
func JSONToJS(b []byte) js.Value {
	if b == nil {
		return js.Undefined()
	}
	return jsJSON.Call("parse", string(b))
}

// AppendMessage appends m as a StoredMessage.
func AppendMessage(b []byte, m *core.Message) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, m.ID)
	b = append(b, `,"clientId":`...)
	b = appendString(b, m.ClientID)
	b = append(b, `,"conversationId":`...)
	b = appendString(b, m.ConvID)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, m.Seq, 10)
	b = append(b, `,"sender":`...)
	b = appendString(b, m.Sender)
	if m.Device != "" {
		b = append(b, `,"device":`...)
		b = appendString(b, m.Device)
	}
	b = append(b, `,"type":`...)
	b = appendString(b, m.Type)
	if m.Text != "" {
		b = append(b, `,"text":`...)
		b = appendString(b, m.Text)
	}
	if len(m.Body) > 0 {
		b = append(b, `,"body":"`...)
		b = base64.StdEncoding.AppendEncode(b, m.Body)
		b = append(b, '"')
	}
	b = append(b, `,"createdAt":`...)
	b = strconv.AppendInt(b, m.CreatedAt, 10)
	if m.LocalTime != 0 {
		b = append(b, `,"localTime":`...)
		b = strconv.AppendInt(b, m.LocalTime, 10)
	}
	b = append(b, `,"status":`...)
	b = appendString(b, string(m.Status))
	if m.ErrorCode != 0 {
		b = append(b, `,"errorCode":`...)
		b = strconv.AppendInt(b, int64(m.ErrorCode), 10)
	}
	return append(b, '}')
}

// AppendMessages appends ms as an array of StoredMessage ([] when empty).
func AppendMessages(b []byte, ms []core.Message) []byte {
	b = append(b, '[')
	for i := range ms {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendMessage(b, &ms[i])
	}
	return append(b, ']')
}

// AppendConversation appends c as a StoredConversation.
func AppendConversation(b []byte, c *core.Conversation) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, c.ID)
	b = append(b, `,"type":`...)
	b = appendString(b, c.Kind)
	if c.Name != "" {
		b = append(b, `,"name":`...)
		b = appendString(b, c.Name)
	}
	if len(c.Members) > 0 {
		b = append(b, `,"members":`...)
		b = appendStrings(b, c.Members)
	}
	if c.LastMessage != nil {
		b = append(b, `,"lastMessage":`...)
		b = AppendMessage(b, c.LastMessage)
	}
	b = append(b, `,"lastSeq":`...)
	b = strconv.AppendUint(b, c.LastSeq, 10)
	b = append(b, `,"readSeq":`...)
	b = strconv.AppendUint(b, c.ReadSeq, 10)
	b = append(b, `,"unread":`...)
	b = strconv.AppendUint(b, c.Unread, 10)
	b = append(b, `,"syncedSeq":`...)
	b = strconv.AppendUint(b, c.SyncedSeq, 10)
	b = append(b, `,"version":`...)
	b = strconv.AppendUint(b, c.Version, 10)
	return append(b, '}')
}

// AppendConversations appends cs as an array of StoredConversation.
func AppendConversations(b []byte, cs []core.Conversation) []byte {
	b = append(b, '[')
	for i := range cs {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendConversation(b, &cs[i])
	}
	return append(b, ']')
}

func appendMeta(b []byte, m *core.Meta) []byte {
	b = append(b, `{"deviceId":`...)
	b = appendString(b, m.DeviceID)
	b = append(b, `,"userId":`...)
	b = appendString(b, m.UserID)
	b = append(b, `,"epoch":`...)
	b = appendString(b, m.Epoch)
	b = append(b, `,"syncCursor":`...)
	b = strconv.AppendUint(b, m.SyncCursor, 10)
	b = append(b, `,"nextOrder":`...)
	b = strconv.AppendUint(b, m.NextOrder, 10)
	return append(b, '}')
}

func appendOutboxEntry(b []byte, e *core.OutboxEntry) []byte {
	b = append(b, `{"order":`...)
	b = strconv.AppendUint(b, e.Order, 10)
	b = append(b, `,"message":`...)
	b = AppendMessage(b, &e.Message)
	return append(b, '}')
}

// AppendBatch appends a StorageBatch.
func AppendBatch(b []byte, x *core.Batch) []byte {
	b = append(b, '{')
	comma := false
	key := func(k string) {
		if comma {
			b = append(b, ',')
		}
		comma = true
		b = append(b, '"')
		b = append(b, k...)
		b = append(b, `":`...)
	}
	if x.Reset {
		key("reset")
		b = append(b, "true"...)
	}
	if x.Meta != nil {
		key("meta")
		b = appendMeta(b, x.Meta)
	}
	if len(x.Conversation) > 0 {
		key("conversations")
		b = AppendConversations(b, x.Conversation)
	}
	if len(x.Messages) > 0 {
		key("messages")
		b = AppendMessages(b, x.Messages)
	}
	if len(x.OutboxPut) > 0 {
		key("outboxPut")
		b = append(b, '[')
		for i := range x.OutboxPut {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendOutboxEntry(b, &x.OutboxPut[i])
		}
		b = append(b, ']')
	}
	if len(x.OutboxDelete) > 0 {
		key("outboxDelete")
		b = appendStrings(b, x.OutboxDelete)
	}
	return append(b, '}')
}

func appendCursor(b []byte, c *core.SearchCursor) []byte {
	b = append(b, `{"createdAt":`...)
	b = strconv.AppendInt(b, c.CreatedAt, 10)
	b = append(b, `,"conversationId":`...)
	b = appendString(b, c.ConvID)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, c.Seq, 10)
	if c.ClientID != "" {
		b = append(b, `,"clientId":`...)
		b = appendString(b, c.ClientID)
	}
	return append(b, '}')
}

// AppendSearchQuery appends a StorageSearchQuery.
func AppendSearchQuery(b []byte, q *core.SearchQuery) []byte {
	b = append(b, `{"text":`...)
	b = appendString(b, q.Text)
	if q.ConvID != "" {
		b = append(b, `,"conversationId":`...)
		b = appendString(b, q.ConvID)
	}
	if q.Before != nil {
		b = append(b, `,"before":`...)
		b = appendCursor(b, q.Before)
	}
	b = append(b, `,"limit":`...)
	b = strconv.AppendInt(b, int64(q.Limit), 10)
	return append(b, '}')
}

// AppendEvent appends a BridgeEvent.
func AppendEvent(b []byte, e *core.Event) []byte {
	b = append(b, `{"kind":`...)
	b = appendString(b, string(e.Kind))
	if e.State != "" {
		b = append(b, `,"state":`...)
		b = appendString(b, string(e.State))
	}
	if e.Code != 0 {
		b = append(b, `,"code":`...)
		b = strconv.AppendInt(b, int64(e.Code), 10)
	}
	if e.Reason != "" {
		b = append(b, `,"reason":`...)
		b = appendString(b, e.Reason)
	}
	if e.Message != nil {
		b = append(b, `,"message":`...)
		b = AppendMessage(b, e.Message)
	}
	if e.Conversation != nil {
		b = append(b, `,"conversation":`...)
		b = AppendConversation(b, e.Conversation)
	}
	return append(b, '}')
}

func appendStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
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

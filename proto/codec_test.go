package proto

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	frames := []Frame{
		{Type: TypeHello, ID: 1, Body: &Hello{Version: Version, Token: "t", DeviceID: "d1"}},
		{Type: TypeSend, ID: 2, Body: &Send{ConvID: P2PID("bob", "alice"), ClientID: "c1", MsgType: MsgText, Text: "hi"}},
		{Type: TypeOK, ID: 3},
		{Type: TypeDeliver, Body: &Deliver{Message: Message{ConvID: "g:x", Seq: 9, Sender: "a", ClientID: "c", MsgType: MsgCustom, Body: []byte{1, 2}}}},
	}
	for _, f := range frames {
		b, err := Encode(f)
		if err != nil {
			t.Fatalf("encode %s: %v", f.Type, err)
		}
		got, err := Decode(b, 0)
		if err != nil {
			t.Fatalf("decode %s: %v", f.Type, err)
		}
		if !reflect.DeepEqual(got, f) {
			t.Fatalf("round trip %s: got %#v want %#v", f.Type, got, f)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		in   []byte
		code Code
	}{
		"garbage":        {[]byte{0xff, 0x00}, CodeProtocolError},
		"unknown type":   {[]byte{0xa1, 0x01, 0x18, 0x63}, CodeProtocolError},
		"duplicate key":  {[]byte{0xa2, 0x01, 0x0d, 0x01, 0x0d}, CodeProtocolError},
		"too large":      {make([]byte, DefaultMaxFrame+1), CodeFrameTooLarge},
		"ok with body":   {[]byte{0xa2, 0x01, 0x0b, 0x03, 0xa0}, CodeProtocolError},
		"send sans body": {[]byte{0xa1, 0x01, 0x03}, CodeProtocolError},
	}
	for name, c := range cases {
		_, err := Decode(c.in, 0)
		if !errors.Is(err, &Error{Code: c.code}) {
			t.Errorf("%s: got %v, want code %d", name, err, c.code)
		}
	}
}

func TestEncodeRejects(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		f    Frame
	}{
		{"unknown type", Frame{Type: 99, Body: &Ping{}}},
		{"type zero", Frame{}},
		{"missing body", Frame{Type: TypeSend}},
		{"typed nil body", Frame{Type: TypeSend, Body: (*Send)(nil)}},
		{"wrong body", Frame{Type: TypeSend, Body: &Hello{}}},
		{"body by value", Frame{Type: TypePing, Body: Ping{}}},
		{"body on ok", Frame{Type: TypeOK, ID: 1, Body: &Ping{}}},
		{"invalid utf-8", Frame{Type: TypeSend, ID: 1, Body: &Send{ConvID: "g:x", ClientID: "c", MsgType: MsgText, Text: "\xff"}}},
		{"invalid utf-8 nested", Frame{Type: TypeDeliver, Body: &Deliver{Message: Message{Sender: "a\xc3"}}}},
	}
	for _, c := range cases {
		if b, err := Encode(c.f); err == nil {
			t.Errorf("%s: encoded to %x, want error", c.name, b)
		}
	}
}

func TestDecodeSizeLimit(t *testing.T) {
	t.Parallel()
	frame := func(size int) []byte {
		for n := size - 64; ; n++ {
			b := MustEncode(Frame{Type: TypeSend, ID: 1, Body: &Send{ConvID: "g:x", ClientID: "c", MsgType: MsgCustom,
				Body: bytes.Repeat([]byte{1}, n)}})
			if len(b) == size {
				return b
			}
		}
	}
	atLimit := frame(DefaultMaxFrame)
	if _, err := Decode(atLimit, 0); err != nil {
		t.Errorf("frame of DefaultMaxFrame bytes: %v", err)
	}
	if _, err := Decode(frame(DefaultMaxFrame+1), 0); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("frame above DefaultMaxFrame: %v", err)
	}
	if _, err := Decode(atLimit, DefaultMaxFrame-1); codeOf(err) != CodeFrameTooLarge {
		t.Errorf("frame above a negotiated limit: %v", err)
	}
	if _, err := Decode(frame(2*DefaultMaxFrame), 2*DefaultMaxFrame); err != nil {
		t.Errorf("frame within a larger negotiated limit: %v", err)
	}
}

// TestDecodeTolerates pins the forward-compatibility rules of doc.go: keys a
// version does not know are ignored, and a decoder accepts any well-formed
// encoding, not only the deterministic one Encode writes.
func TestDecodeTolerates(t *testing.T) {
	t.Parallel()
	ping := Frame{Type: TypePing, ID: 7, Body: &Ping{Time: 5}}
	cases := map[string][]byte{
		"unknown envelope key":    hx("a4 01 0d 02 07 03 a1 01 05 18 63 83 01 02 03"), // {…, 99: [1, 2, 3]}
		"unknown body key":        hx("a3 01 0d 02 07 03 a2 01 05 09 a1 01 61 78"),    // body {1: 5, 9: {1: "x"}}
		"text keys are unknown":   hx("a3 01 0d 02 07 03 a2 01 05 64 54 69 6d 65 06"), // body {1: 5, "Time": 6}
		"negative unknown key":    hx("a3 01 0d 02 07 03 a2 20 00 01 05"),             // body {-1: 0, 1: 5}
		"keys out of order":       hx("a3 03 a1 01 05 02 07 01 0d"),                   // {3: …, 2: 7, 1: 13}
		"non-minimal integers":    hx("a3 18 01 0d 02 1b 0000000000000007 03 a1 01 19 0005"),
		"unknown key holds null":  hx("a3 01 0d 02 07 03 a2 01 05 18 63 f6"),
		"unknown key holds float": hx("a3 01 0d 02 07 03 a2 01 05 18 63 fb 3ff8000000000000"),
	}
	for name, in := range cases {
		got, err := Decode(in, 0)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !reflect.DeepEqual(got, ping) {
			t.Errorf("%s: got %s", name, renderJSON(got))
		}
	}
	got, err := Decode(hx("a3 01 0d 02 00 03 a0"), 0)
	if err != nil || got.ID != 0 {
		t.Errorf("explicit zero id: %v %v", got, err)
	}
}

func TestDecodeNilSlices(t *testing.T) {
	t.Parallel()
	// Nil slices go out as empty arrays so that no peer ever reads null
	// where the schema says array.
	b := MustEncode(Frame{Type: TypeHistoryPage, ID: 1, Body: &HistoryPage{ConvID: "g:x"}})
	if !bytes.Equal(b, hx("a3 01 09 02 01 03 a2 01 63 673a78 02 80")) {
		t.Errorf("got %x", b)
	}
	b = MustEncode(Frame{Type: TypeCreateGroup, ID: 1, Body: &CreateGroup{}})
	if !bytes.Equal(b, hx("a3 01 11 02 01 03 a1 03 80")) {
		t.Errorf("got %x", b)
	}
}

func TestDecodeCaps(t *testing.T) {
	t.Parallel()
	// nested returns a ping whose unknown key 99 holds depth arrays inside
	// one another; the envelope and body maps are two more levels.
	nested := func(depth int) []byte {
		b := hx("a2 01 0d 03 a1 18 63")
		b = append(b, bytes.Repeat([]byte{0x81}, depth-1)...)
		return append(b, 0x80)
	}
	if _, err := Decode(nested(MaxNestedLevels-2), 0); err != nil {
		t.Errorf("%d levels: %v", MaxNestedLevels, err)
	}
	if _, err := Decode(nested(MaxNestedLevels-1), 0); codeOf(err) != CodeProtocolError {
		t.Errorf("%d levels: %v", MaxNestedLevels+1, err)
	}
	members := func(n int) []byte {
		b := hx("a2 01 11 03 a1 03 99")
		b = append(b, byte(n>>8), byte(n))
		for range n {
			b = append(b, 0x61, 'x')
		}
		return b
	}
	f, err := Decode(members(MaxArrayElements), 0)
	if err != nil {
		t.Fatalf("%d members: %v", MaxArrayElements, err)
	}
	if err := Validate(f.Body); err == nil || err.Code != CodeTooLarge {
		t.Errorf("validate %d members: %v", MaxArrayElements, err)
	}
	if _, err := Decode(members(MaxArrayElements+1), 0); codeOf(err) != CodeProtocolError {
		t.Errorf("%d members: %v", MaxArrayElements+1, err)
	}
}

func TestTypeString(t *testing.T) {
	t.Parallel()
	equal(t, "send", TypeSend.String(), "send")
	equal(t, "conv-result", TypeConvResult.String(), "conv-result")
	equal(t, "zero", Type(0).String(), "unknown")
	equal(t, "next", Type(26).String(), "unknown")
	equal(t, "max", Type(255).String(), "unknown")
}

package proto

import (
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

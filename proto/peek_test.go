package proto

import (
	"testing"
)

// checkPeek holds a peek of b to what Decode made of it: when Decode
// accepts b, every peek must succeed and agree with the decoded frame.
func checkPeek(t *testing.T, b []byte) {
	t.Helper()
	f, err := Decode(b, 0)
	p, perr := PeekFrame(b)
	if err != nil {
		return // a peek may accept what Decode refuses; it must only not panic
	}
	if perr != nil {
		t.Fatalf("Decode accepted %x, PeekFrame refused it: %v", b, perr)
	}
	equal(t, "type", p.Type, f.Type)
	equal(t, "id", p.ID, f.ID)
	if (f.Body == nil) != (p.Body == nil) {
		t.Fatalf("%s: body present %v, peeked body %x", f.Type, f.Body != nil, p.Body)
	}
	switch body := f.Body.(type) {
	case *Deliver:
		d, err := PeekDeliver(p.Body)
		if err != nil {
			t.Fatalf("Decode accepted deliver %x, PeekDeliver refused it: %v", b, err)
		}
		m := body.Message
		equal(t, "conv", string(d.ConvID), m.ConvID)
		equal(t, "seq", d.Seq, m.Seq)
		equal(t, "sender", string(d.Sender), m.Sender)
		equal(t, "text", string(d.Text), m.Text)
	case *ErrorBody:
		c, err := PeekErrorCode(p.Body)
		if err != nil {
			t.Fatalf("Decode accepted error %x, PeekErrorCode refused it: %v", b, err)
		}
		equal(t, "code", c, body.Code)
	case *Close:
		c, err := PeekErrorCode(p.Body)
		if err != nil {
			t.Fatalf("Decode accepted close %x, PeekErrorCode refused it: %v", b, err)
		}
		equal(t, "code", c, body.Code)
	}
}

// TestPeekAgreesOnVectors: on every valid wire vector the peek reads what
// Decode reads, and on every invalid one and every truncation it returns
// rather than panics.
func TestPeekAgreesOnVectors(t *testing.T) {
	t.Parallel()
	delivers := 0
	for _, v := range validVectors() {
		b := MustEncode(v.frame)
		t.Run(v.name, func(t *testing.T) { checkPeek(t, b) })
		if v.frame.Type == TypeDeliver {
			delivers++
		}
		for i := range b {
			if _, err := PeekFrame(b[:i]); err == nil && i == 0 {
				t.Errorf("%s: PeekFrame accepted empty input", v.name)
			}
		}
	}
	if delivers == 0 {
		t.Fatal("no deliver vectors: the agreement test would check nothing")
	}
	for _, v := range invalidVectors() {
		checkPeek(t, v.in)
	}
}

// TestPeekRefuses: what a peek cannot walk is ErrPeek, never a panic or a
// partial value passed off as whole.
func TestPeekRefuses(t *testing.T) {
	t.Parallel()
	deliver := MustEncode(Frame{Type: TypeDeliver, Body: &Deliver{Message: vMsgText()}})
	p, err := PeekFrame(deliver)
	if err != nil {
		t.Fatal(err)
	}
	for name, in := range map[string][]byte{
		"empty":              {},
		"not a map":          {0x01},
		"no type":            {0xa1, 0x02, 0x05},
		"type not uint":      {0xa1, 0x01, 0x61, 0x78},
		"type too large":     {0xa1, 0x01, 0x19, 0x01, 0x00},
		"indefinite map":     {0xbf, 0x01, 0x05, 0xff},
		"tag in body":        {0xa2, 0x01, 0x05, 0x03, 0xc1, 0x00},
		"trailing byte":      append(append([]byte{}, deliver...), 0x00),
		"short string":       {0xa2, 0x01, 0x05, 0x03, 0x65, 0x61},
		"huge count":         {0xa2, 0x01, 0x05, 0x03, 0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"deep nesting":       {0xa2, 0x01, 0x05, 0x03, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x00},
		"reserved info (28)": {0xa1, 0x01, 0x1c},
	} {
		if _, err := PeekFrame(in); err != ErrPeek {
			t.Errorf("%s: PeekFrame(%x) = %v, want ErrPeek", name, in, err)
		}
	}
	for name, in := range map[string][]byte{
		"empty":           {},
		"message not map": {0xa1, 0x01, 0x01},
		"sender not text": {0xa1, 0x01, 0xa1, 0x03, 0x01},
		"truncated":       p.Body[:len(p.Body)-1],
	} {
		if _, err := PeekDeliver(in); err != ErrPeek {
			t.Errorf("%s: PeekDeliver(%x) = %v, want ErrPeek", name, in, err)
		}
	}
	if _, err := PeekErrorCode([]byte{0xa1, 0x01, 0x61, 0x78}); err != ErrPeek {
		t.Errorf("error body with a text code: %v, want ErrPeek", err)
	}
}

// TestPeekAllocates: peeking a deliver allocates nothing.
func TestPeekAllocates(t *testing.T) {
	b := MustEncode(Frame{Type: TypeDeliver, Body: &Deliver{Message: vMsgText()}})
	n := testing.AllocsPerRun(100, func() {
		p, _ := PeekFrame(b)
		_, _ = PeekDeliver(p.Body)
	})
	equal(t, "allocations per peek", n, 0.0)
}

// FuzzPeek feeds arbitrary bytes to the peeks: they must never panic, and
// on whatever Decode accepts they must agree with it.
func FuzzPeek(f *testing.F) {
	for _, v := range validVectors() {
		f.Add(MustEncode(v.frame))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if p, err := PeekFrame(b); err == nil && p.Body != nil {
			_, _ = PeekDeliver(p.Body)
			_, _ = PeekErrorCode(p.Body)
		}
		_, _ = PeekDeliver(b)
		_, _ = PeekErrorCode(b)
		checkPeek(t, b)
	})
}

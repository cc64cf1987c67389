package wasmbin

import (
	"errors"
	"io"
	"testing"
)

func TestReader(t *testing.T) {
	r := &Reader{B: []byte{0xe5, 0x8e, 0x26, 0x7f, 0x80, 0x7f, 3, 'a', 'b', 'c', 9}}
	if v := r.ULEB(); v != 624485 {
		t.Fatalf("ULEB = %d, want 624485", v)
	}
	if v := r.SLEB(); v != -1 {
		t.Fatalf("SLEB = %d, want -1", v)
	}
	if v := r.SLEB(); v != -128 {
		t.Fatalf("SLEB = %d, want -128", v)
	}
	if s := r.Name(); s != "abc" || r.Err != nil {
		t.Fatalf("Name = %q (%v), want abc", s, r.Err)
	}
	if s := r.Name(); s != "" || !errors.Is(r.Err, io.ErrUnexpectedEOF) {
		t.Fatalf("a name past the end: %q, %v", s, r.Err)
	}
	if r.Byte() != 0 || r.ULEB() != 0 || !errors.Is(r.Err, io.ErrUnexpectedEOF) {
		t.Fatal("reads after an error must return zeros and keep the first error")
	}
	long := &Reader{B: []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}}
	if long.ULEB(); !errors.Is(long.Err, ErrLEB128) {
		t.Fatalf("an 11-byte LEB128: %v", long.Err)
	}
}

func FuzzReader(f *testing.F) {
	f.Add([]byte{0xe5, 0x8e, 0x26, 3, 'a', 'b', 'c'})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := &Reader{B: b}
		for r.Err == nil && r.Off < len(b) {
			switch b[r.Off] % 4 {
			case 0:
				r.Byte()
			case 1:
				r.ULEB()
			case 2:
				r.SLEB()
			default:
				r.Name()
			}
		}
		if r.Off > len(b) {
			t.Fatalf("offset %d past %d bytes", r.Off, len(b))
		}
	})
}

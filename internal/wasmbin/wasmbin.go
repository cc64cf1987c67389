// Package wasmbin reads the WebAssembly binary encoding: bytes, LEB128
// numbers and names, for the tools that take parley.wasm apart
// (internal/wasmsize, internal/wasmtrim).
package wasmbin

import (
	"errors"
	"io"
)

// ErrLEB128 is a LEB128 number longer than 64 bits.
var ErrLEB128 = errors.New("wasm: LEB128 number too long")

// Reader reads B from Off; the first error sticks in Err (io.ErrUnexpectedEOF
// for a read past the end), and reads after it return zeros.
type Reader struct {
	B   []byte
	Off int
	Err error
}

// Byte reads one byte.
func (r *Reader) Byte() byte {
	if r.Off >= len(r.B) {
		if r.Err == nil {
			r.Err = io.ErrUnexpectedEOF
		}
		return 0
	}
	r.Off++
	return r.B[r.Off-1]
}

// ULEB reads an unsigned LEB128 number.
func (r *Reader) ULEB() uint64 {
	var v uint64
	for shift := 0; shift < 64; shift += 7 {
		c := r.Byte()
		if r.Err != nil {
			return 0
		}
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v
		}
	}
	r.Err = ErrLEB128
	return 0
}

// SLEB reads a signed LEB128 number.
func (r *Reader) SLEB() int64 {
	var v int64
	for shift := 0; shift < 64; shift += 7 {
		c := r.Byte()
		if r.Err != nil {
			return 0
		}
		v |= int64(c&0x7f) << shift
		if c < 0x80 {
			if shift+7 < 64 && c&0x40 != 0 {
				v |= -1 << (shift + 7)
			}
			return v
		}
	}
	r.Err = ErrLEB128
	return 0
}

// Name reads a name: its length in bytes, then its bytes.
func (r *Reader) Name() string {
	n := int(r.ULEB())
	if r.Err != nil {
		return ""
	}
	if n < 0 || n > len(r.B)-r.Off {
		r.Err = io.ErrUnexpectedEOF
		return ""
	}
	s := string(r.B[r.Off : r.Off+n])
	r.Off += n
	return s
}

package proto

// refCheckValid is checkValid as it was before the generated codec, on
// which the reference Decode and Encode (codec_ref_test.go) stand; the
// fuzz target holds today's to it.

import (
	"errors"
	"unicode/utf8"
)

// The CBOR library checks UTF-8 and duplicate keys only in the values it
// decodes into fields; the value of a key this version does not know is
// skipped unchecked. checkValid closes that gap so that a frame is valid CBOR
// (RFC 8949 §5.3: text is UTF-8, map keys are unique) in every corner, and a
// decoder that reads the whole item, as JavaScript ones do, agrees with this
// one about which frames to reject.

var (
	refErrTruncated  = errors.New("truncated item")
	refErrIndefinite = errors.New("indefinite length or reserved value")
	refErrTag        = errors.New("tag")
	refErrUTF8       = errors.New("invalid UTF-8 in a text string")
	refErrDupKey     = errors.New("duplicate map key")
	refErrNesting    = errors.New("nesting too deep")
)

// checkValid walks the single CBOR data item b and reports the first text
// string that is not UTF-8 or map with two equal keys. Decode calls it on
// input the library has already found well-formed, so its other errors are a
// second line of defence that never panics on any input.
func refCheckValid(b []byte) error {
	w := refWalker{b: b}
	if _, err := w.item(0, false); err != nil {
		return err
	}
	if w.off != len(b) {
		return errors.New("trailing bytes")
	}
	return nil
}

type refWalker struct {
	b   []byte
	off int
}

// refMapKey identifies a map key by value: integers by sign and magnitude and
// strings by content, so that a non-minimal encoding of a key still counts as
// a duplicate; other keys by their encoded bytes.
type refMapKey struct {
	major byte
	arg   uint64
	raw   string
}

func (w *refWalker) head() (major byte, arg uint64, err error) {
	if w.off >= len(w.b) {
		return 0, 0, refErrTruncated
	}
	ib := w.b[w.off]
	w.off++
	major, info := ib>>5, ib&0x1f
	switch {
	case info < 24:
		return major, uint64(info), nil
	case info <= 27:
		n := 1 << (info - 24)
		if len(w.b)-w.off < n {
			return 0, 0, refErrTruncated
		}
		for _, c := range w.b[w.off : w.off+n] {
			arg = arg<<8 | uint64(c)
		}
		w.off += n
		return major, arg, nil
	}
	return 0, 0, refErrIndefinite
}

// item consumes one data item and, when asKey, returns its identity.
func (w *refWalker) item(depth int, asKey bool) (refMapKey, error) {
	// The library caps nesting before checkValid runs; this bound only keeps
	// the recursion finite on any input.
	if depth > 2*MaxNestedLevels {
		return refMapKey{}, refErrNesting
	}
	start := w.off
	major, arg, err := w.head()
	if err != nil {
		return refMapKey{}, err
	}
	left := uint64(len(w.b) - w.off)
	switch major {
	case 0, 1: // integers
		return refMapKey{major: major, arg: arg}, nil
	case 2, 3: // byte and text strings
		if arg > left {
			return refMapKey{}, refErrTruncated
		}
		s := w.b[w.off : w.off+int(arg)]
		w.off += int(arg)
		if major == 3 && !utf8.Valid(s) {
			return refMapKey{}, refErrUTF8
		}
		if asKey {
			return refMapKey{major: major, raw: string(s)}, nil
		}
		return refMapKey{}, nil
	case 4: // array: every element takes at least one byte
		if arg > left {
			return refMapKey{}, refErrTruncated
		}
		for range arg {
			if _, err := w.item(depth+1, false); err != nil {
				return refMapKey{}, err
			}
		}
	case 5: // map
		if arg > left/2 {
			return refMapKey{}, refErrTruncated
		}
		keys := make([]refMapKey, 0, arg)
		for range arg {
			k, err := w.item(depth+1, true)
			if err != nil {
				return refMapKey{}, err
			}
			for _, seen := range keys {
				if seen == k {
					return refMapKey{}, refErrDupKey
				}
			}
			keys = append(keys, k)
			if _, err := w.item(depth+1, false); err != nil {
				return refMapKey{}, err
			}
		}
	case 6:
		return refMapKey{}, refErrTag
	}
	// Arrays, maps and simple values or floats (major 7, whose argument
	// head() consumed) are keys only by their bytes.
	if asKey {
		return refMapKey{major: 0xff, raw: string(w.b[start:w.off])}, nil
	}
	return refMapKey{}, nil
}

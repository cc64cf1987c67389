package proto

import "errors"

// Peeking reads the few fields a load generator or a router needs from a
// frame without decoding it: the envelope's type and request id, and from a
// Deliver body the message's conversation, sequence number, sender and text.
// It allocates nothing; the byte slices it returns alias the input.
//
// A peek is not a validator. It walks the deterministic CBOR the codec
// writes (RFC 8949: definite lengths, no tags) with bounds checked at every
// step and a nesting limit, and refuses what it cannot walk, but it does not
// check UTF-8, duplicate keys or the body's other fields: input Decode
// rejects may still peek. What Decode accepts always peeks, to the same
// values (the wire vectors and FuzzPeek hold it to that).

// ErrPeek is returned for input a peek cannot walk.
var ErrPeek = errors.New("proto: peek: malformed frame")

// Peeked is a frame's envelope: its type, request id and the raw CBOR of
// its body (nil when it has none).
type Peeked struct {
	Type Type
	ID   uint64
	Body []byte
}

// PeekFrame reads the envelope of one frame. Unknown envelope keys are
// skipped, as Decode skips them.
func PeekFrame(b []byte) (Peeked, error) {
	var p Peeked
	r := peekReader{b: b}
	n, ok := r.head(5)
	if !ok {
		return p, ErrPeek
	}
	seenType := false
	for range n {
		k, ok := r.key()
		if !ok {
			return p, ErrPeek
		}
		switch k {
		case 1:
			v, ok := r.uint()
			if !ok || v > 0xff {
				return p, ErrPeek
			}
			p.Type, seenType = Type(v), true
		case 2:
			v, ok := r.uint()
			if !ok {
				return p, ErrPeek
			}
			p.ID = v
		case 3:
			start := r.i
			if !r.skip(0) {
				return p, ErrPeek
			}
			p.Body = b[start:r.i]
		default:
			if !r.skip(0) {
				return p, ErrPeek
			}
		}
	}
	if !seenType || r.i != len(b) {
		return p, ErrPeek
	}
	return p, nil
}

// DeliverPeek is what PeekDeliver reads from a Deliver body. Its slices
// alias the frame.
type DeliverPeek struct {
	ConvID []byte
	Seq    uint64
	Sender []byte
	Text   []byte
}

// PeekDeliver reads a Deliver body (Peeked.Body of a TypeDeliver frame).
// A field the body lacks is zero, as Decode leaves it.
func PeekDeliver(body []byte) (DeliverPeek, error) {
	var d DeliverPeek
	r := peekReader{b: body}
	n, ok := r.head(5)
	if !ok {
		return d, ErrPeek
	}
	for range n {
		k, ok := r.key()
		if !ok {
			return d, ErrPeek
		}
		if k != 1 {
			if !r.skip(0) {
				return d, ErrPeek
			}
			continue
		}
		m, ok := r.head(5)
		if !ok {
			return d, ErrPeek
		}
		for range m {
			f, ok := r.key()
			if !ok {
				return d, ErrPeek
			}
			switch f {
			case 1:
				d.ConvID, ok = r.text()
			case 2:
				d.Seq, ok = r.uint()
			case 3:
				d.Sender, ok = r.text()
			case 6:
				d.Text, ok = r.text()
			default:
				ok = r.skip(1)
			}
			if !ok {
				return d, ErrPeek
			}
		}
	}
	if r.i != len(body) {
		return d, ErrPeek
	}
	return d, nil
}

// PeekErrorCode reads the code of an Error body (TypeError) or of a Close
// body (TypeClose): both keep it under key 1. A body without one is code 0,
// as Decode reads it.
func PeekErrorCode(body []byte) (Code, error) {
	r := peekReader{b: body}
	n, ok := r.head(5)
	if !ok {
		return 0, ErrPeek
	}
	var code uint64
	for range n {
		k, ok := r.key()
		if !ok {
			return 0, ErrPeek
		}
		if k == 1 {
			if code, ok = r.uint(); !ok || code > 0xffff {
				return 0, ErrPeek
			}
			continue
		}
		if !r.skip(0) {
			return 0, ErrPeek
		}
	}
	if r.i != len(body) {
		return 0, ErrPeek
	}
	return Code(code), nil
}

// peekReader walks CBOR data items in b from i.
type peekReader struct {
	b []byte
	i int
}

// arg reads the initial byte and argument of the next item: its major type
// and its argument (a value, a length or a count). Indefinite lengths and
// reserved additional information are refused.
func (r *peekReader) arg() (major byte, v uint64, ok bool) {
	if r.i >= len(r.b) {
		return 0, 0, false
	}
	ib := r.b[r.i]
	r.i++
	major, ai := ib>>5, ib&0x1f
	var size int
	switch {
	case ai < 24:
		return major, uint64(ai), true
	case ai == 24:
		size = 1
	case ai == 25:
		size = 2
	case ai == 26:
		size = 4
	case ai == 27:
		size = 8
	default: // 28–30 reserved, 31 indefinite length
		return 0, 0, false
	}
	if len(r.b)-r.i < size {
		return 0, 0, false
	}
	for _, c := range r.b[r.i : r.i+size] {
		v = v<<8 | uint64(c)
	}
	r.i += size
	return major, v, true
}

// head reads the next item's argument and requires its major type.
func (r *peekReader) head(major byte) (uint64, bool) {
	m, v, ok := r.arg()
	if !ok || m != major {
		return 0, false
	}
	return v, true
}

// uint reads an unsigned integer field the way the codec's decoder does: an
// unsigned integer; null or undefined, which leave it zero; or another
// simple value other than false and true, which it reads as its number.
func (r *peekReader) uint() (uint64, bool) {
	if r.i >= len(r.b) {
		return 0, false
	}
	ib := r.b[r.i]
	if ib == 0xf6 || ib == 0xf7 { // null, undefined: Decode leaves the field zero
		r.i++
		return 0, true
	}
	if ib>>5 == 7 {
		if ai := ib & 0x1f; ai > 24 || (ai >= 20 && ai <= 23) {
			return 0, false
		}
		_, v, ok := r.arg()
		return v, ok
	}
	return r.head(0)
}

// key reads a map key: an unsigned integer's value, or noKey for a key of
// any other kind (skipped whole), which matches no field.
func (r *peekReader) key() (uint64, bool) {
	if r.i < len(r.b) && r.b[r.i]>>5 == 0 {
		return r.head(0)
	}
	return noKey, r.skip(1)
}

// noKey stands for a map key that is not an unsigned integer.
const noKey = ^uint64(0)

// text reads a text string and returns its bytes.
func (r *peekReader) text() ([]byte, bool) {
	n, ok := r.head(3)
	if !ok || n > uint64(len(r.b)-r.i) {
		return nil, false
	}
	s := r.b[r.i : r.i+int(n)]
	r.i += int(n)
	return s, true
}

// skip steps over one whole data item at nesting depth. Tags are refused,
// as Decode refuses them, and so is nesting deeper than MaxNestedLevels.
func (r *peekReader) skip(depth int) bool {
	if depth >= MaxNestedLevels {
		return false
	}
	m, v, ok := r.arg()
	if !ok {
		return false
	}
	switch m {
	case 0, 1: // integers: the argument is the value
		return true
	case 2, 3: // byte and text strings
		if v > uint64(len(r.b)-r.i) {
			return false
		}
		r.i += int(v)
		return true
	case 4, 5: // arrays and maps
		items := v
		if m == 5 {
			if v > MaxMapPairs {
				return false
			}
			items = 2 * v
		} else if v > MaxArrayElements {
			return false
		}
		// Every item takes at least one byte: a count beyond what is left
		// cannot be met.
		if items > uint64(len(r.b)-r.i) {
			return false
		}
		for range items {
			if !r.skip(depth + 1) {
				return false
			}
		}
		return true
	case 7: // simple values and floats; arg has read their bytes
		return true
	}
	return false // 6: tags
}

package proto

import (
	"errors"
	"math"
	"strings"
	"unicode/utf8"
)

// The runtime of the generated codec (codec_gen.go, written by
// internal/gencbor). Every struct the protocol encodes has an encodeCBOR
// method that writes it in core deterministic encoding (RFC 8949 §4.2.1:
// shortest heads, map keys sorted by their encoded bytes, nil slices as
// empty arrays, omitempty fields left out when zero, empty or nil) and a
// decodeCBOR method that reads it. Together they do, byte for byte and value
// for value, what github.com/fxamacker/cbor/v2 did with the options this
// package used (refEnc and refDec in codec_ref_test.go), without reflection
// and without linking the library and the math/big it brings: the SDK's
// wasm binary is 170 KB (18 %) smaller after brotli.
// FuzzCodecMatchesReference holds the two to the same results on arbitrary
// input, and the library stays the reference in tests.
//
// Decoding takes two passes, as the library's does: wellFormed checks the
// whole item against the limits (nesting of arrays and maps, array and map
// sizes, no indefinite lengths, no tags, no reserved values, no trailing
// bytes), then the typed pass reads the fields, trusting the first pass for
// bounds. (Decode's first pass, validFrame, checks validity too.) The typed
// pass follows the library's rules for each Go kind:
//
//   - integers accept unsigned and negative integers in range, and the
//     simple values 0-19 and 32-255 as their numbers; a bool accepts false
//     and true; a string accepts a text string; a []byte accepts a byte
//     string or an array of integers 0-255; a struct accepts a map;
//   - null and undefined leave any field at its zero value (a pointer or
//     slice nil); an empty array is an empty, non-nil slice;
//   - map keys are integers (int-keyed structs) or text strings (name-keyed
//     structs, matched exactly, else case-insensitively); a key of another
//     kind, an integer beyond int64 or invalid UTF-8 fails the decode; a
//     key that matches no field is skipped with its value unchecked, and a
//     field or an unknown key seen twice fails it.
//
// What it accepts is exactly what the library accepts. Where the two
// differ, no caller can tell: the typed pass stops at the first failure,
// where the library goes on to the end of the map and reports the first
// (the decode fails either way, and no caller uses the value of a failed
// decode); and the error messages are this package's.

var (
	errCBORSyntax  = errors.New("proto: malformed CBOR")
	errCBORLimit   = errors.New("proto: CBOR nesting, array or map beyond the limits")
	errCBORType    = errors.New("proto: CBOR item of the wrong type or out of range")
	errCBORKey     = errors.New("proto: CBOR map key that names no field")
	errCBORDupKey  = errors.New("proto: duplicate CBOR map key")
	errCBORUTF8    = errors.New("proto: invalid UTF-8 in a CBOR text string")
	errCBORIndef   = errors.New("proto: indefinite-length CBOR item")
	errCBORTag     = errors.New("proto: CBOR tag")
	errCBORTrailer = errors.New("proto: bytes after the CBOR item")
)

// Major types (RFC 8949 §3.1), shifted into the initial byte.
const (
	majUint  = 0 << 5
	majNeg   = 1 << 5
	majBytes = 2 << 5
	majText  = 3 << 5
	majArray = 4 << 5
	majMap   = 5 << 5
)

// cborUnmarshaler and cborMarshaler are the generated methods.
type cborUnmarshaler interface{ decodeCBOR(*decoder) }
type cborMarshaler interface{ encodeCBOR(*encoder) }

// unmarshal decodes the single CBOR data item b into v, a pointer to a
// generated type whose fields are zero.
func unmarshal(b []byte, v any) error {
	if err := wellFormed(b); err != nil {
		return err
	}
	d := decoder{b: b}
	return d.decode(v)
}

// decode decodes the item at d.i into v, a pointer to a generated type
// whose fields are zero. d.b must pass wellFormed. (v is an any, and not a
// cborUnmarshaler, here and in marshal and appendItem so that this package
// compiles without codec_gen.go and the generator can always run.)
func (d *decoder) decode(v any) error {
	v.(cborUnmarshaler).decodeCBOR(d)
	return d.err
}

// marshal returns the encoding of v, a pointer to a generated type.
func marshal(v any) []byte {
	return appendItem(make([]byte, 0, 64), v)
}

// appendItem appends the encoding of v, a pointer to a generated type.
func appendItem(b []byte, v any) []byte {
	e := encoder{b: b}
	v.(cborMarshaler).encodeCBOR(&e)
	return e.b
}

// encoder appends the fields of structs to b. The generated code calls one
// method per field, which writes the key and the value: the calls are what
// keeps the generated code small, and the methods are kept out of line
// (go:noinline) because, inlined into every field of every struct, they
// were most of the codec's size in the wasm binary. Every struct has fewer than 24 fields, so
// a map's head is one byte, written when the map ends and the count of its
// fields is known.
type encoder struct {
	b []byte
	n int // fields written in the innermost map
}

// begin starts a map, returning what end needs.
//
//go:noinline
func (e *encoder) begin() int {
	m := len(e.b)<<5 | e.n
	e.b = append(e.b, majMap)
	e.n = 0
	return m
}

// end writes the head of the map begin started.
//
//go:noinline
func (e *encoder) end(m int) {
	e.b[m>>5] = majMap | byte(e.n)
	e.n = m & 31
}

//go:noinline
func (e *encoder) key(k string) {
	e.b = append(e.b, k...)
	e.n++
}

func (e *encoder) null() { e.b = append(e.b, 0xf6) }

//go:noinline
func (e *encoder) uint(k string, v uint64) {
	e.key(k)
	e.b = appendHead(e.b, majUint, v)
}

//go:noinline
func (e *encoder) int(k string, v int64) {
	e.key(k)
	if v < 0 {
		e.b = appendHead(e.b, majNeg, uint64(-1-v))
	} else {
		e.b = appendHead(e.b, majUint, uint64(v))
	}
}

//go:noinline
func (e *encoder) bool(k string, v bool) {
	e.key(k)
	if v {
		e.b = append(e.b, 0xf5)
	} else {
		e.b = append(e.b, 0xf4)
	}
}

//go:noinline
func (e *encoder) text(k, s string) {
	e.key(k)
	e.b = append(appendHead(e.b, majText, uint64(len(s))), s...)
}

//go:noinline
func (e *encoder) bytes(k string, s []byte) {
	e.key(k)
	e.b = append(appendHead(e.b, majBytes, uint64(len(s))), s...)
}

// texts writes a []string; nil is an empty array.
//
//go:noinline
func (e *encoder) texts(k string, s []string) {
	e.key(k)
	e.b = appendHead(e.b, majArray, uint64(len(s)))
	for _, v := range s {
		e.b = append(appendHead(e.b, majText, uint64(len(v))), v...)
	}
}

// raw writes an encoded item as it is, and an empty one as null, as
// cbor.RawMessage does.
//
//go:noinline
func (e *encoder) raw(k string, v []byte) {
	e.key(k)
	if len(v) == 0 {
		e.null()
		return
	}
	e.b = append(e.b, v...)
}

// encodeSlice writes a slice of structs; nil is an empty array.
func encodeSlice[T any, P interface {
	*T
	cborMarshaler
}](e *encoder, s []T) {
	e.b = appendHead(e.b, majArray, uint64(len(s)))
	for i := range s {
		P(&s[i]).encodeCBOR(e)
	}
}

// appendHead appends an initial byte of major type m (majUint, …) with the
// argument n in its shortest form (RFC 8949 §4.2.1).
func appendHead(b []byte, m byte, n uint64) []byte {
	switch {
	case n < 24:
		return append(b, m|byte(n))
	case n <= math.MaxUint8:
		return append(b, m|24, byte(n))
	case n <= math.MaxUint16:
		return append(b, m|25, byte(n>>8), byte(n))
	case n <= math.MaxUint32:
		return append(b, m|26, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, m|27, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32),
		byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// wellFormed checks that b is exactly one CBOR data item within the
// decoder's limits.
func wellFormed(b []byte) error {
	c := checker{b: b}
	return c.check()
}

// validFrame is wellFormed and checkValid in one pass: b is one item within
// the limits, every text string in it is UTF-8 and no map in it holds two
// equal keys (equal as checkValid compares them).
func validFrame(b []byte) error {
	c := checker{b: b, valid: true}
	return c.check()
}

// checker walks one item for wellFormed and validFrame.
type checker struct {
	b         []byte
	i         int
	err       error
	valid     bool // check text and keys too
	unlimited bool // do not apply the decoder's limits (checkValid)
	// The keys of the maps being walked, innermost last: nkeys of them,
	// the first in keys and the rest in more, so that a frame of small
	// maps is checked without allocating.
	nkeys int
	keys  [24]keyRef
	more  []keyRef
}

// keyRef identifies a map key as checkValid does: integers by sign and
// value, strings by kind and content b[lo:hi], other items by their bytes.
type keyRef struct {
	n      uint64
	lo, hi int
	major  byte
}

// over reports an array or map of n elements or pairs at depth beyond the
// limits.
func (c *checker) over(depth int, n, max uint64) bool {
	if c.unlimited {
		return depth > 2*MaxNestedLevels
	}
	return depth > MaxNestedLevels || n > max
}

func (c *checker) key(j int) *keyRef {
	if j < len(c.keys) {
		return &c.keys[j]
	}
	return &c.more[j-len(c.keys)]
}

func (c *checker) check() error {
	if len(c.b) == 0 {
		return errCBORSyntax
	}
	c.item(0)
	if c.err == nil && c.i != len(c.b) {
		return errCBORTrailer
	}
	return c.err
}

func (c *checker) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

// item steps over one item at nesting depth (the number of arrays and maps
// around it), recording the first problem in c.err.
func (c *checker) item(depth int) {
	if c.i >= len(c.b) {
		c.fail(errCBORSyntax)
		return
	}
	ib := c.b[c.i]
	c.i++
	major, ai := ib>>5, ib&0x1f
	n := uint64(ai)
	switch {
	case ai == 31:
		c.fail(errCBORIndef)
		return
	case ai > 27:
		c.fail(errCBORSyntax)
		return
	case ai >= 24:
		size := 1 << (ai - 24)
		if len(c.b)-c.i < size {
			c.fail(errCBORSyntax)
			return
		}
		n = 0
		for _, b := range c.b[c.i : c.i+size] {
			n = n<<8 | uint64(b)
		}
		c.i += size
		if major == 7 && ai == 24 && n < 32 && !c.unlimited { // RFC 8949 §3.3
			c.fail(errCBORSyntax)
			return
		}
	}
	switch major {
	case 2, 3:
		if n > uint64(len(c.b)-c.i) {
			c.fail(errCBORSyntax)
			return
		}
		if major == 3 && c.valid && !utf8.Valid(c.b[c.i:c.i+int(n)]) {
			c.fail(errCBORUTF8)
			return
		}
		c.i += int(n)
	case 4:
		if depth++; c.over(depth, n, MaxArrayElements) {
			c.fail(errCBORLimit)
			return
		}
		for ; n > 0 && c.err == nil; n-- {
			c.item(depth)
		}
	case 5:
		if depth++; c.over(depth, n, MaxMapPairs) {
			c.fail(errCBORLimit)
			return
		}
		base := c.nkeys
		for ; n > 0 && c.err == nil; n-- {
			start := c.i
			c.item(depth)
			if c.valid && c.err == nil {
				c.addKey(base, start)
			}
			if c.err == nil {
				c.item(depth)
			}
		}
		c.nkeys = base
	case 6:
		c.fail(errCBORTag)
	}
}

// addKey records the key that starts at start and ends at c.i among the
// keys of the map whose first key is c.keys[base], failing on a duplicate.
func (c *checker) addKey(base, start int) {
	k := keyRef{major: c.b[start] >> 5, lo: start, hi: c.i}
	switch k.major {
	case 0, 1:
		d := decoder{b: c.b, i: start}
		_, _, k.n = d.head()
		k.lo = k.hi
	case 2, 3:
		d := decoder{b: c.b, i: start}
		d.head()
		k.lo = d.i
	default:
		k.major = 0xff
	}
	for j := base; j < c.nkeys; j++ {
		if o := c.key(j); o.major == k.major && o.n == k.n && string(c.b[o.lo:o.hi]) == string(c.b[k.lo:k.hi]) {
			c.fail(errCBORDupKey)
			return
		}
	}
	if c.nkeys < len(c.keys) {
		c.keys[c.nkeys] = k
	} else {
		c.more = append(c.more[:c.nkeys-len(c.keys)], k)
	}
	c.nkeys++
}

// decoder reads the items of b from i. The typed readers run only on input
// wellFormed accepted, and each consumes one whole item even when it fails,
// so that no read goes out of bounds.
type decoder struct {
	b   []byte
	i   int
	err error
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

// head reads the next item's initial byte and argument.
func (d *decoder) head() (major, ai byte, n uint64) {
	ib := d.b[d.i]
	d.i++
	major, ai = ib>>5, ib&0x1f
	if ai < 24 {
		return major, ai, uint64(ai)
	}
	size := 1 << (ai - 24)
	for _, c := range d.b[d.i : d.i+size] {
		n = n<<8 | uint64(c)
	}
	d.i += size
	return major, ai, n
}

// skip steps over the next item.
func (d *decoder) skip() {
	major, _, n := d.head()
	switch major {
	case 2, 3:
		d.i += int(n)
	case 5:
		n *= 2
		fallthrough
	case 4:
		for ; n > 0; n-- {
			d.skip()
		}
	}
}

// mismatch skips the item that starts at start and fails the decode.
func (d *decoder) mismatch(start int) {
	d.i = start
	d.skip()
	d.fail(errCBORType)
}

// null consumes a null or an undefined, which leave a field at its zero
// value.
func (d *decoder) null() bool {
	if c := d.b[d.i]; c == 0xf6 || c == 0xf7 {
		d.i++
		return true
	}
	return false
}

// uint reads an unsigned integer up to max: an unsigned integer, or a
// simple value other than false, true, null and undefined as its number.
func (d *decoder) uint(max uint64) uint64 {
	if d.null() {
		return 0
	}
	start := d.i
	major, ai, n := d.head()
	if (major == 0 || major == 7 && (ai < 20 || ai == 24)) && n <= max {
		return n
	}
	d.mismatch(start)
	return 0
}

// int reads a signed integer in [min, max], as uint also simple values.
func (d *decoder) int(min, max int64) int64 {
	if d.null() {
		return 0
	}
	start := d.i
	major, ai, n := d.head()
	switch {
	case (major == 0 || major == 7 && (ai < 20 || ai == 24)) && n <= uint64(max):
		return int64(n)
	case major == 1 && n <= math.MaxInt64 && -1^int64(n) >= min:
		return -1 ^ int64(n)
	}
	d.mismatch(start)
	return 0
}

func (d *decoder) bool() bool {
	switch d.b[d.i] {
	case 0xf4, 0xf6, 0xf7:
		d.i++
		return false
	case 0xf5:
		d.i++
		return true
	}
	d.mismatch(d.i)
	return false
}

// textBytes reads a text string, aliasing the input.
func (d *decoder) textBytes() []byte {
	start := d.i
	major, _, n := d.head()
	if major != 3 {
		d.mismatch(start)
		return nil
	}
	s := d.b[d.i : d.i+int(n)]
	d.i += int(n)
	if !utf8.Valid(s) {
		d.fail(errCBORUTF8)
	}
	return s
}

func (d *decoder) text() string {
	if d.null() {
		return ""
	}
	return string(d.textBytes())
}

// bytes reads a byte string, or an array of integers 0-255, into a new slice.
func (d *decoder) bytes() []byte {
	if d.null() {
		return nil
	}
	start := d.i
	major, _, n := d.head()
	switch major {
	case 2:
		s := make([]byte, n)
		d.i += copy(s, d.b[d.i:])
		return s
	case 4:
		s := make([]byte, n)
		for i := range s {
			s[i] = byte(d.uint(math.MaxUint8))
		}
		return s
	}
	d.mismatch(start)
	return nil
}

// The setters store what a reader reads into a field: the generated code
// calls one per field, and the store (with its write barrier) is written
// once here instead of in every case of every struct.

//go:noinline
func (d *decoder) setU8(p *uint8) { *p = uint8(d.uint(math.MaxUint8)) }

//go:noinline
func (d *decoder) setU16(p *uint16) { *p = uint16(d.uint(math.MaxUint16)) }

//go:noinline
func (d *decoder) setU32(p *uint32) { *p = uint32(d.uint(math.MaxUint32)) }

//go:noinline
func (d *decoder) setU64(p *uint64) { *p = d.uint(math.MaxUint64) }

//go:noinline
func (d *decoder) setI64(p *int64) { *p = d.int(math.MinInt64, math.MaxInt64) }

//go:noinline
func (d *decoder) setBool(p *bool) { *p = d.bool() }

//go:noinline
func (d *decoder) setText(p *string) { *p = d.text() }

//go:noinline
func (d *decoder) setBytes(p *[]byte) { *p = d.bytes() }

//go:noinline
func (d *decoder) setTexts(p *[]string) { *p = d.texts() }

// arrayHead reads the head of an array, or a null or undefined as -1.
func (d *decoder) arrayHead() int {
	if d.null() {
		return -1
	}
	start := d.i
	major, _, n := d.head()
	if major != 4 {
		d.mismatch(start)
		return -1
	}
	return int(n)
}

func (d *decoder) texts() []string {
	n := d.arrayHead()
	if n < 0 {
		return nil
	}
	s := make([]string, n)
	for i := range s {
		s[i] = d.text()
	}
	return s
}

func decodeSlice[T any, P interface {
	*T
	cborUnmarshaler
}](d *decoder, p *[]T) {
	n := d.arrayHead()
	if n < 0 {
		return
	}
	s := make([]T, n)
	for i := range s {
		P(&s[i]).decodeCBOR(d)
	}
	*p = s
}

// raw returns the next item's bytes, aliasing the input.
func (d *decoder) raw() []byte {
	start := d.i
	d.skip()
	return d.b[start:d.i:d.i]
}

// structMap reads the head of a map that holds a struct's fields, or a
// null or undefined, which leaves the struct zero, as -1.
//
//go:noinline
func (d *decoder) structMap() int {
	if d.null() {
		return -1
	}
	start := d.i
	major, _, n := d.head()
	if major != 5 {
		d.mismatch(start)
		return -1
	}
	return int(n)
}

// fieldKey is a key of a struct's map: an integer, or a text string that
// aliases the input.
type fieldKey struct {
	n    int64
	s    []byte
	text bool
}

// structFields holds the state of one struct's decode: which fields were
// set, and the keys that matched none.
type structFields struct {
	seen    uint64
	unknown []fieldKey
}

// key reads a map key. Integers beyond int64 and keys other than integers
// and text strings fail the decode.
func (d *decoder) key() (k fieldKey) {
	start := d.i
	major, _, n := d.head()
	switch {
	case major <= 1 && n <= math.MaxInt64:
		k.n = int64(n)
		if major == 1 {
			k.n = -1 ^ k.n
		}
	case major == 3:
		d.i = start
		k.s, k.text = d.textBytes(), true
	case major <= 1:
		d.fail(errCBORType)
	default:
		d.mismatch(start)
		d.fail(errCBORKey)
	}
	return k
}

// name returns the index in names of the field a text key names, exactly or
// else case-insensitively, or -1.
func (k *fieldKey) name(names []string) int {
	if !k.text {
		return -1
	}
	for i, n := range names {
		if string(k.s) == n {
			return i
		}
	}
	for i, n := range names {
		if len(n) == len(k.s) && strings.EqualFold(n, string(k.s)) {
			return i
		}
	}
	return -1
}

// field reads the next key of a struct's map and returns the index of the
// field it names: the index of the key in ints for an int-keyed struct, or
// of the name in names for a name-keyed one. It returns -1, with the value
// skipped, for a key that names no field, and for a field named twice,
// which fails the decode.
//
//go:noinline
func (d *decoder) field(f *structFields, ints []int64, names []string) int {
	k := d.key()
	if d.err != nil {
		return -1
	}
	i := -1
	if names != nil {
		i = k.name(names)
	} else if !k.text {
		for j, n := range ints {
			if n == k.n {
				i = j
				break
			}
		}
	}
	if i < 0 {
		d.unknown(f, k)
		return -1
	}
	if !d.set(f, uint(i)) {
		return -1
	}
	return i
}

// set marks field i as seen; a second time it fails the decode and the
// caller skips the value.
func (d *decoder) set(f *structFields, i uint) bool {
	if f.seen&(1<<i) != 0 {
		d.fail(errCBORDupKey)
		d.skip()
		return false
	}
	f.seen |= 1 << i
	return true
}

// unknown skips the value of a key that matches no field, failing the
// decode when the key came before.
func (d *decoder) unknown(f *structFields, k fieldKey) {
	for _, u := range f.unknown {
		if u.text == k.text && u.n == k.n && string(u.s) == string(k.s) {
			d.fail(errCBORDupKey)
		}
	}
	f.unknown = append(f.unknown, k)
	d.skip()
}

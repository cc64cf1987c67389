package proto

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

// The generated codec is held to the library it replaced: refEnc and refDec
// are github.com/fxamacker/cbor/v2 with the options proto used, and
// refEncode, refDecode and refPeekType are Encode, Decode and PeekType as
// they were written on it, with refEnvelope, the envelope as it was.

type refEnvelope struct {
	Type Type            `cbor:"1,keyasint"`
	ID   uint64          `cbor:"2,keyasint,omitempty"`
	Body cbor.RawMessage `cbor:"3,keyasint,omitempty"`
}

var refEnc, refDec = func() (cbor.EncMode, cbor.DecMode) {
	eo := cbor.CoreDetEncOptions()
	eo.NilContainers = cbor.NilContainerAsEmpty
	enc, err := eo.EncMode()
	if err != nil {
		panic(err)
	}
	dec, err := cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:  MaxNestedLevels,
		MaxArrayElements: MaxArrayElements,
		MaxMapPairs:      MaxMapPairs,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsForbidden,
		UTF8:             cbor.UTF8RejectInvalid,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return enc, dec
}()

func refEncode(f Frame) ([]byte, error) {
	want, ok := NewBody(f.Type)
	if !ok {
		return nil, fmt.Errorf("proto: encode: unknown frame type %d", f.Type)
	}
	env := refEnvelope{Type: f.Type, ID: f.ID}
	if want == nil && f.Body != nil {
		return nil, fmt.Errorf("proto: encode %s: body is %T, want none", f.Type, f.Body)
	}
	if want != nil {
		if v := reflect.ValueOf(f.Body); f.Body == nil || v.Type() != reflect.TypeOf(want) || v.IsNil() {
			return nil, fmt.Errorf("proto: encode %s: body is %T, want non-nil %T", f.Type, f.Body, want)
		}
		b, err := refEnc.Marshal(f.Body)
		if err != nil {
			return nil, err
		}
		env.Body = b
	}
	out, err := refEnc.Marshal(env)
	if err != nil {
		return nil, err
	}
	if err := refCheckValid(out); err != nil {
		return nil, err
	}
	return out, nil
}

func refDecode(b []byte, maxFrame int) (Frame, error) {
	if maxFrame <= 0 {
		maxFrame = DefaultMaxFrame
	}
	if len(b) > maxFrame {
		return Frame{}, ErrFrameTooLarge
	}
	var env refEnvelope
	if err := refDec.Unmarshal(b, &env); err != nil {
		return Frame{}, protocolError("envelope", err)
	}
	if err := refCheckValid(b); err != nil {
		return Frame{}, Errorf(CodeProtocolError, "proto: decode: %v", err)
	}
	body, ok := NewBody(env.Type)
	if !ok {
		return Frame{}, Errorf(CodeProtocolError, "proto: unknown frame type %d", env.Type)
	}
	f := Frame{Type: env.Type, ID: env.ID}
	if body == nil {
		if len(env.Body) != 0 {
			return Frame{}, Errorf(CodeProtocolError, "proto: %s frame has a body", env.Type)
		}
		return f, nil
	}
	if len(env.Body) == 0 {
		return Frame{}, Errorf(CodeProtocolError, "proto: %s frame without body", env.Type)
	}
	if env.Body[0]>>5 != 5 {
		return Frame{}, Errorf(CodeProtocolError, "proto: %s body is not a map", env.Type)
	}
	if err := refDec.Unmarshal(env.Body, body); err != nil {
		return Frame{}, protocolError(env.Type.String(), err)
	}
	f.Body = body
	return f, nil
}

func refPeekType(b []byte) (Type, bool) {
	if len(b) >= 3 && b[0] >= 0xa1 && b[0] <= 0xa3 && b[1] == 0x01 {
		switch v := b[2]; {
		case v <= 0x17:
			return Type(v), true
		case v == 0x18 && len(b) >= 4:
			return Type(b[3]), true
		}
	}
	var env struct {
		Type *Type `cbor:"1,keyasint"`
	}
	if err := refDec.Unmarshal(b, &env); err != nil || env.Type == nil {
		return 0, false
	}
	return *env.Type, true
}

// codecTypes lists every struct type of the generated codec.
func codecTypes() []reflect.Type {
	seen := map[reflect.Type]bool{}
	var out []reflect.Type
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		switch t.Kind() {
		case reflect.Pointer, reflect.Slice:
			walk(t.Elem())
		case reflect.Struct:
			if seen[t] {
				return
			}
			seen[t] = true
			out = append(out, t)
			for i := range t.NumField() {
				walk(t.Field(i).Type)
			}
		}
	}
	for _, t := range codecRoots() {
		walk(t)
	}
	return out
}

var allCodecTypes = codecTypes()

// refMarshal encodes v with the reference, an envelope as refEnvelope.
func refMarshal(v any) ([]byte, error) {
	if env, ok := v.(*envelope); ok {
		return refEnc.Marshal(refEnvelope{Type: env.Type, ID: env.ID, Body: cbor.RawMessage(env.Body)})
	}
	return refEnc.Marshal(v)
}

// checkCodec decodes b into every type with both codecs, and b as a frame
// with Decode and refDecode, and fails on any difference: acceptance, error
// code, value, or the encoding of what was decoded.
func checkCodec(t *testing.T, b []byte) {
	t.Helper()
	for _, typ := range allCodecTypes {
		got, want := reflect.New(typ), reflect.New(typ)
		gerr := unmarshal(b, got.Interface())
		var rerr error
		if typ == reflect.TypeFor[envelope]() {
			var env refEnvelope
			rerr = refDec.Unmarshal(b, &env)
			want = reflect.ValueOf(&envelope{Type: env.Type, ID: env.ID, Body: rawItem(env.Body)})
		} else {
			rerr = refDec.Unmarshal(b, want.Interface())
		}
		if (gerr == nil) != (rerr == nil) {
			t.Fatalf("%v from %x: generated: %v; reference: %v", typ, b, gerr, rerr)
		}
		if gerr != nil {
			continue
		}
		if !reflect.DeepEqual(got.Interface(), want.Interface()) {
			t.Fatalf("%v from %x:\ngenerated %#v\nreference %#v", typ, b, got.Elem(), want.Elem())
		}
		genc := marshal(got.Interface())
		renc, err := refMarshal(got.Interface())
		if err != nil || !bytes.Equal(genc, renc) {
			t.Fatalf("%v %#v encodes as %x; reference %x (%v)", typ, got.Elem(), genc, renc, err)
		}
	}
	// checkValid is checkValid as it was for what passes wellFormed, as
	// every input it sees does (Encode's output; DecodeEntry's input, which
	// the decode then holds to wellFormed).
	if err, rerr := errors.Join(wellFormed(b), checkValid(b)), errors.Join(refDec.Wellformed(b), refCheckValid(b)); (err == nil) != (rerr == nil) {
		t.Fatalf("checkValid(%x): %v; reference %v", b, err, rerr)
	}
	f, err := Decode(b, 0)
	rf, rerr := refDecode(b, 0)
	if codeOf(err) != codeOf(rerr) || (err == nil) != (rerr == nil) {
		t.Fatalf("Decode(%x): %v; reference: %v", b, err, rerr)
	}
	if err == nil {
		if !reflect.DeepEqual(f, rf) {
			t.Fatalf("Decode(%x) = %#v; reference %#v", b, f, rf)
		}
		enc, err := Encode(f)
		renc, rerr := refEncode(f)
		if (err == nil) != (rerr == nil) || !bytes.Equal(enc, renc) {
			t.Fatalf("Encode(%#v) = %x, %v; reference %x, %v", f, enc, err, renc, rerr)
		}
	}
	pt, ok := PeekType(b)
	rpt, rok := refPeekType(b)
	if pt != rpt || ok != rok {
		t.Fatalf("PeekType(%x) = %v, %v; reference %v, %v", b, pt, ok, rpt, rok)
	}
}

// codecCorners are inputs at the edges of the library's rules, each a
// case where a hand-written decoder is easily looser or stricter.
var codecCorners = []string{
	"",         // nothing
	"f6", "f7", // null and undefined: a zero struct
	"a0", "80", // an empty map; an array, not a struct
	"a0 00",                                                           // trailing bytes
	"a1 01 f6",                                                        // null field
	"a1 01 f7",                                                        // undefined field
	"a1 01 e0",                                                        // simple value 0 into every field 1
	"a1 01 f0",                                                        // simple value 16
	"a1 01 f8 20",                                                     // simple value 32, one byte
	"a1 01 f8 ff",                                                     // simple value 255
	"a1 01 f8 10",                                                     // simple value 16 in two bytes: not well-formed
	"a1 01 f9 3c00", "a1 01 fa 3f800000", "a1 01 fb 3ff0000000000000", // floats
	"a1 01 f4", "a1 01 f5", // false, true
	"a1 01 18 ff", "a1 01 19 0100", "a1 01 19 ffff", "a1 01 1a 00010000", "a1 01 1a ffffffff",
	"a1 01 1b 00000000ffffffff", "a1 01 1b 0000000100000000", "a1 01 1b 7fffffffffffffff",
	"a1 01 1b 8000000000000000", "a1 01 1b ffffffffffffffff",
	"a1 01 20", "a1 01 3b 7fffffffffffffff", "a1 01 3b 8000000000000000", // negative
	"a1 01 40", "a1 01 43 010203", "a1 01 60", "a1 01 63 616263", "a1 01 62 c328", // byte and text strings
	"a1 01 80", "a1 01 83 01 02 03", "a1 01 83 01 f6 18ff", "a1 01 82 19 0100 00", // arrays
	"a1 01 82 61 61 f6", "a1 01 81 a0", "a1 01 81 f6", "a1 01 81 80",
	"a1 01 a0", "a1 01 a1 01 61 61", "a1 01 a1 01 a1 01 f6",
	"a1 05 43 010203", "a1 05 83 01 02 03", "a1 05 83 01 f6 e0", "a1 05 82 18 ff 19 0100", // []byte from arrays
	"a1 05 40", "a1 05 80", "a1 07 40", "a1 07 80", "a1 05 f6", // empty []byte: not nil
	"a2 01 00 01 00", "a2 01 00 18 01 00", // duplicate fields, one not minimal
	"a2 18 63 00 18 63 00", "a2 18 63 00 19 0063 00", // duplicate unknown keys
	"a2 61 78 00 61 78 00", "a2 61 78 00 61 58 00", // duplicate unknown text keys; not by case
	"a1 20 00", "a2 20 00 20 00", "a1 3b 7fffffffffffffff 00", "a1 3b 8000000000000000 00",
	"a1 1b ffffffffffffffff 00", "a1 41 01 00", "a1 f6 00", "a1 f4 00", "a1 80 00", "a1 a0 00", "a1 fb 3ff0000000000000 00",
	"a1 62 c328 00",                                                              // invalid UTF-8 in a key
	"a1 18 63 62 c328",                                                           // invalid UTF-8 in an unknown key's value: skipped unchecked
	"a1 65 6576656e74 61 78", "a1 65 4556454e54 61 78", "a1 65 4576656e74 61 78", // "event", "EVENT", "Event"
	"a2 65 6576656e74 61 78 65 4576656e74 61 79",                           // "event" and "Event": the same field twice
	"a1 6a 6a6f696e506f6c696379 61 78", "a1 6a 4a4f494e504f4c494359 61 78", // "joinPolicy", "JOINPOLICY"
	"a1 66 7573c5bf7273 80",                  // "uſers": folds to "users" but is longer
	"a1 64 6e616d65 f6", "a1 64 6e616d65 60", // GroupEvent.Name null and ""
	"a1 01 c0 00", "a1 01 d9d9f7 00", // tags
	"a1 01 5f ff", "a1 01 9f ff", "a1 01 bf ff", "bf ff", "a1 01 1f", "a1 01 1c", // indefinite, reserved
	"a1 01 ff", "ff",
	"a3 01 03 02 01 03 f6", "a3 01 03 02 01 03 a0", "a2 01 0b 03 f6", "a2 01 0b 03 80", // envelope bodies
	"a1 01 f6", "a1 01 e0", "a1 01 f8 20", "a2 01 0d 01 f6", // PeekType's slow path
	"a3 02 01 01 03 03 a0", "a3 03 a0 02 01 01 03", // keys out of order
}

func TestCodecMatchesReferenceCorners(t *testing.T) {
	t.Parallel()
	for _, c := range codecCorners {
		checkCodec(t, hx(c))
	}
	nest := func(depth int, open byte) []byte {
		b := bytes.Repeat([]byte{0xa1, 0x01}, depth-1)
		return append(b, open)
	}
	for depth := MaxNestedLevels - 1; depth <= MaxNestedLevels+1; depth++ {
		checkCodec(t, nest(depth, 0xa0))
		checkCodec(t, nest(depth, 0x80))
	}
	for _, n := range []int{MaxMapPairs, MaxMapPairs + 1} {
		b := appendHead(nil, majMap, uint64(n))
		for i := range n {
			b = appendHead(b, majUint, uint64(i+20))
			b = append(b, 0x00)
		}
		checkCodec(t, b)
	}
	for _, n := range []int{MaxArrayElements, MaxArrayElements + 1} {
		b := append(hx("a1 01"), appendHead(nil, majArray, uint64(n))...)
		checkCodec(t, append(b, bytes.Repeat([]byte{0x60}, n)...))
	}
}

// TestCodecMatchesReferenceFilled fills every field of every type with a
// value that is not zero and holds the encoding to the reference's, then
// decodes it both ways.
func TestCodecMatchesReferenceFilled(t *testing.T) {
	t.Parallel()
	for _, typ := range allCodecTypes {
		for seed := range 3 {
			v := reflect.New(typ)
			fill(v.Elem(), seed)
			got := marshal(v.Interface())
			want, err := refMarshal(v.Interface())
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%v %#v: generated %x, reference %x (%v)", typ, v.Elem(), got, want, err)
			}
			back := reflect.New(typ)
			if err := unmarshal(got, back.Interface()); err != nil {
				t.Fatalf("%v: decode %x: %v", typ, got, err)
			}
			if !reflect.DeepEqual(back.Interface(), v.Interface()) {
				t.Fatalf("%v: round trip:\n got %#v\nwant %#v", typ, back.Elem(), v.Elem())
			}
			checkCodec(t, got)
		}
		// The zero value: omitempty and nil containers.
		zero := reflect.New(typ)
		got := marshal(zero.Interface())
		want, _ := refMarshal(zero.Interface())
		if !bytes.Equal(got, want) {
			t.Fatalf("zero %v: generated %x, reference %x", typ, got, want)
		}
		checkCodec(t, got)
	}
}

// fill sets every field under v to a value that is not zero, with sizes
// and magnitudes that vary with seed so that every head length is used.
func fill(v reflect.Value, seed int) {
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt([]int64{-1 << (v.Type().Bits() - 1), 23, -25}[seed])
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint([]uint64{1<<v.Type().Bits() - 1, 24, 255}[seed])
	case reflect.String:
		v.SetString([]string{"x", strings.Repeat("é", 200), "ü" + strconv.Itoa(seed)}[seed])
	case reflect.Slice:
		n := seed + 1
		if v.Type().Elem().Kind() == reflect.Uint8 {
			n = []int{1, 300, 23}[seed]
		}
		v.Set(reflect.MakeSlice(v.Type(), n, n))
		for i := range n {
			fill(v.Index(i), (seed+i)%3)
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), seed)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), seed)
			}
		}
	}
	if v.Type() == reflect.TypeFor[rawItem]() {
		v.SetBytes(hx("a1 01 61 78"))
	}
}

// FuzzCodecMatchesReference decodes arbitrary bytes with the generated
// codec and with the reference into every type, and as a frame: both must
// accept the same input, to the same values, which must encode to the same
// bytes (checkCodec).
func FuzzCodecMatchesReference(f *testing.F) {
	for _, c := range codecCorners {
		f.Add(hx(c))
	}
	for _, v := range validVectors() {
		b := MustEncode(v.frame)
		f.Add(b)
		if p, err := PeekFrame(b); err == nil && p.Body != nil {
			f.Add(p.Body)
		}
	}
	for _, v := range invalidVectors() {
		f.Add(v.in)
	}
	for _, target := range []string{"FuzzDecode", "FuzzGroupEvent", "FuzzPeek", "FuzzPeekType", "FuzzValidate"} {
		for _, b := range corpus(f, target) {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > DefaultMaxFrame {
			return
		}
		checkCodec(t, b)
	})
}

// corpus reads the []byte inputs of a fuzz target's seed corpus.
func corpus(f *testing.F, target string) [][]byte {
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", target, "*"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no corpus for %s: %v", target, err)
	}
	var out [][]byte
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			if q, ok := strings.CutPrefix(line, "[]byte("); ok {
				s, err := strconv.Unquote(strings.TrimSuffix(q, ")"))
				if err != nil {
					f.Fatalf("%s: %v", name, err)
				}
				out = append(out, []byte(s))
			}
		}
	}
	return out
}

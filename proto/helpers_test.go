package proto

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// update rewrites generated files (wire vectors, fuzz seeds, the generated
// blocks of docs/protocol.md) instead of checking them:
//
//	go test ./proto -run 'TestVectors|TestProtocolDoc' -update
var update = flag.Bool("update", false, "rewrite generated test data and docs instead of comparing")

// checkGolden compares got with the file at path, or writes it under -update.
func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./proto -run %s -update)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is out of date with the Go values that generate it; run go test ./proto -run %s -update and review the diff",
			path, strings.SplitN(t.Name(), "/", 2)[0])
	}
}

// equal fails the test when got and want differ.
func equal[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
}

// hx parses hex with spaces and line breaks allowed, so byte layouts can be
// written one CBOR item per group.
func hx(s string) []byte {
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		panic(fmt.Sprintf("hx(%q): %v", s, err))
	}
	return b
}

// codeOf returns the Code of an *Error inside err, or 0.
func codeOf(err error) Code {
	var pe *Error
	if !errors.As(err, &pe) {
		return 0
	}
	return pe.Code
}

// jsonObject is a JSON object whose keys keep their insertion order, so that
// generated files list struct fields in declaration order.
type jsonObject []jsonMember

type jsonMember struct {
	Key   string
	Value any
}

func (o jsonObject) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, err := json.Marshal(m.Key)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(m.Value)
		if err != nil {
			return nil, err
		}
		buf.Write(k)
		buf.WriteByte(':')
		buf.Write(v)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// maxSafeJSONInt is the largest integer a JavaScript number holds exactly
// (Number.MAX_SAFE_INTEGER).
const maxSafeJSONInt = 1<<53 - 1

// renderFrame is the JSON form of a frame used by the wire vectors: fields
// named like the Go struct fields, every field present (absent on the wire
// means the zero value), []byte as lowercase hex, nil and empty slices both
// as [], and integers beyond ±(2^53−1) as decimal strings so that a
// JavaScript reader loses no precision. Two frames that render alike are
// equal on the wire.
func renderFrame(f Frame) jsonObject {
	return jsonObject{
		{"Type", uint64(f.Type)},
		{"ID", renderValue(reflect.ValueOf(f.ID))},
		{"Body", renderValue(reflect.ValueOf(f.Body))},
	}
}

func renderValue(v reflect.Value) any {
	if !v.IsValid() {
		return nil
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return renderValue(v.Elem())
	case reflect.Struct:
		obj := make(jsonObject, 0, v.NumField())
		for i := range v.NumField() {
			obj = append(obj, jsonMember{v.Type().Field(i).Name, renderValue(v.Field(i))})
		}
		return obj
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return hex.EncodeToString(v.Bytes())
		}
		out := make([]any, v.Len())
		for i := range out {
			out[i] = renderValue(v.Index(i))
		}
		return out
	case reflect.String:
		return v.String()
	case reflect.Bool:
		return v.Bool()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if n := v.Uint(); n > maxSafeJSONInt {
			return strconv.FormatUint(n, 10)
		} else {
			return n
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if n := v.Int(); n > maxSafeJSONInt || n < -maxSafeJSONInt {
			return strconv.FormatInt(n, 10)
		} else {
			return n
		}
	}
	panic(fmt.Sprintf("renderValue: unsupported kind %s", v.Kind()))
}

// renderJSON is renderFrame as compact JSON text.
func renderJSON(f Frame) string {
	b, err := json.Marshal(renderFrame(f))
	if err != nil {
		panic(err)
	}
	return string(b)
}

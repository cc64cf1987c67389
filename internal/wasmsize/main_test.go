package main

import (
	"bytes"
	"testing"
)

// module builds a wasm module with one imported function and the given
// function bodies, named in a name section (indices after the import).
func module(names []string, bodies [][]byte) []byte {
	var b bytes.Buffer
	b.WriteString("\x00asm\x01\x00\x00\x00")
	sec := func(id byte, payload []byte) {
		b.WriteByte(id)
		b.Write(uleb(uint64(len(payload))))
		b.Write(payload)
	}
	str := func(s string) []byte { return append(uleb(uint64(len(s))), s...) }
	var imp []byte
	imp = append(imp, uleb(1)...)
	imp = append(imp, str("go")...)
	imp = append(imp, str("debug")...)
	imp = append(imp, 0, 0) // function of type 0
	sec(2, imp)
	var code []byte
	code = append(code, uleb(uint64(len(bodies)))...)
	for _, body := range bodies {
		code = append(code, uleb(uint64(len(body)))...)
		code = append(code, body...)
	}
	sec(10, code)
	var fn []byte
	fn = append(fn, uleb(uint64(len(names)))...)
	for i, n := range names {
		fn = append(fn, uleb(uint64(1+i))...)
		fn = append(fn, str(n)...)
	}
	var name []byte
	name = append(name, str("name")...)
	name = append(name, 1)
	name = append(name, uleb(uint64(len(fn)))...)
	name = append(name, fn...)
	sec(0, name)
	return b.Bytes()
}

func uleb(v uint64) []byte {
	var out []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			out = append(out, c|0x80)
			continue
		}
		return append(out, c)
	}
}

func TestAnalyzeSumsCodeByPackage(t *testing.T) {
	t.Parallel()
	bin := module(
		[]string{"github.com_a_b_c.__T_.M", "github.com_a_b_c.F", "runtime.mallocgc", "type_.eq.x", "github.com_a_b.G"},
		[][]byte{make([]byte, 10), make([]byte, 200), make([]byte, 3), make([]byte, 4), make([]byte, 5)},
	)
	r, err := analyze(bin, newNamer([]string{"runtime", "github.com/a/b", "github.com/a/b-c"}))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"github.com/a/b-c": 10 + 200, "runtime": 3, "(runtime-generated)": 4, "github.com/a/b": 5}
	if len(r.packages) != len(want) {
		t.Fatalf("packages %v, want %v", r.packages, want)
	}
	for p, n := range want {
		if r.packages[p] != n {
			t.Fatalf("%s: %d bytes, want %d (packages %v)", p, r.packages[p], n, r.packages)
		}
	}
	if !r.named || r.total != len(bin) {
		t.Fatalf("named %v total %d, want true %d", r.named, r.total, len(bin))
	}
}

func TestAnalyzeRefusesGarbage(t *testing.T) {
	t.Parallel()
	for _, b := range [][]byte{nil, []byte("not wasm at all"), []byte("\x00asm\x01\x00\x00\x00\x0a\xff\xff")} {
		if _, err := analyze(b, newNamer(nil)); err == nil {
			t.Fatalf("analyze(%q) succeeded", b)
		}
	}
}

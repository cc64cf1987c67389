package main

import (
	"bytes"
	"encoding/binary"
	"github.com/parley-im/parley/internal/wasmbin"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// build compiles testdata/prog to js/wasm as build.sh builds parley.wasm.
func build(t *testing.T) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "prog.wasm")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "./testdata/prog")
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// run runs a js/wasm module in Node and returns what it printed.
func run(t *testing.T, mod []byte) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("SKIPPED: `node` is not on PATH — trimmed modules are NOT run. Install Node.js ≥ 20.")
	}
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "m.wasm")
	if err := os.WriteFile(f, mod, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, filepath.Join(strings.TrimSpace(string(goroot)), "lib", "wasm", "wasm_exec_node.js"), f)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	return string(out)
}

// dataSize is the size of the module's data section.
func dataSize(t *testing.T, b []byte) int {
	t.Helper()
	p := &wasmbin.Reader{B: b, Off: 8}
	for p.Off < len(b) && p.Err == nil {
		id := p.Byte()
		n := int(p.ULEB())
		if id == sectionData {
			return n
		}
		p.Off += n
	}
	t.Fatal("no data section")
	return 0
}

func TestTrimmedModuleRuns(t *testing.T) {
	t.Parallel()
	orig := build(t)
	if out := run(t, orig); !strings.Contains(out, "caller main.main main.go:") || !strings.HasSuffix(out, "ok\n") {
		t.Fatalf("untrimmed module printed:\n%s", out)
	}

	trimmed, st, err := trim(orig, false)
	if err != nil {
		t.Fatal(err)
	}
	if st.dropped == 0 || st.funcs == 0 {
		t.Fatalf("stats %+v: nothing dropped", st)
	}
	// The function names stay, the file and line are gone.
	if out := run(t, trimmed); !strings.Contains(out, "caller main.main ?:0\n") || !strings.HasSuffix(out, "ok\n") {
		t.Fatalf("trimmed module printed:\n%s", out)
	}

	kept, st, err := trim(orig, true)
	if err != nil {
		t.Fatal(err)
	}
	if st.dropped != 0 {
		t.Fatalf("-lines dropped %d bytes", st.dropped)
	}
	if out := run(t, kept); !strings.Contains(out, "caller main.main main.go:") || !strings.HasSuffix(out, "ok\n") {
		t.Fatalf("module cut again with its line tables printed:\n%s", out)
	}
	if dataSize(t, trimmed) >= dataSize(t, kept) {
		t.Errorf("data section: %d bytes without line tables, %d with", dataSize(t, trimmed), dataSize(t, kept))
	}

	again, st, err := trim(trimmed, false)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, trimmed) || st.dropped != 0 {
		t.Errorf("trimming twice changed the module (%d bytes dropped the second time)", st.dropped)
	}
}

func TestCut(t *testing.T) {
	t.Parallel()
	mem := make([]byte, 200)
	copy(mem[5:], "ab")
	copy(mem[15:], "cd")           // 8 zeros before: same segment
	copy(mem[17+minZeroRun:], "e") // minZeroRun zeros before: a new one
	mem[199] = 'f'
	got := cut(mem, 1000)
	want := []segment{
		{1005, []byte("ab\x00\x00\x00\x00\x00\x00\x00\x00cd")},
		{1017 + minZeroRun, []byte("e")},
		{1199, []byte("f")},
	}
	if len(got) != len(want) {
		t.Fatalf("cut: %d segments %v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i].off != want[i].off || !bytes.Equal(got[i].data, want[i].data) {
			t.Errorf("segment %d: %d %q, want %d %q", i, got[i].off, got[i].data, want[i].off, want[i].data)
		}
	}
	if got := cut(make([]byte, 64), 0); len(got) != 0 {
		t.Errorf("all zeros: %d segments", len(got))
	}
}

// module is a wasm module with one empty function and one data segment.
func module(data []byte) []byte {
	b := []byte("\x00asm\x01\x00\x00\x00")
	b = append(b, 1, 4, 1, 0x60, 0, 0)  // type: func() ()
	b = append(b, 3, 2, 1, 0)           // function 0 has type 0
	b = append(b, 10, 4, 1, 2, 0, 0x0b) // code: one body, no locals, end
	var seg []byte
	seg = append(seg, 1, 0, 0x41, 0x80, 0x08, 0x0b) // one active segment at 1024
	seg = binary.AppendUvarint(seg, uint64(len(data)))
	seg = append(seg, data...)
	b = append(b, 11)
	b = binary.AppendUvarint(b, uint64(len(seg)))
	return append(b, seg...)
}

func TestTrimRefuses(t *testing.T) {
	t.Parallel()
	for name, b := range map[string][]byte{
		"not wasm":          []byte("#!/bin/sh\n"),
		"no function table": module([]byte("hello")),
		"truncated header":  module(append([]byte{0}, pcHeaderMagic...)),
		"two headers":       module(append(append(make([]byte, 80), pcHeaderMagic...), append(make([]byte, 80), pcHeaderMagic...)...)),
	} {
		if _, _, err := trim(b, false); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func FuzzTrim(f *testing.F) {
	f.Add(module([]byte("hello")))
	hdr := make([]byte, 200)
	copy(hdr[8:], pcHeaderMagic)
	binary.LittleEndian.PutUint64(hdr[16:], 1)  // nfunc
	binary.LittleEndian.PutUint64(hdr[64:], 80) // pctab
	binary.LittleEndian.PutUint64(hdr[72:], 90) // pclntab
	f.Add(module(hdr))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, _, err := trim(b, false)
		if err != nil {
			return
		}
		// What it accepts it accepts again, unchanged.
		again, st, err := trim(out, false)
		if err != nil || st.dropped != 0 || !bytes.Equal(again, out) {
			t.Fatalf("second trim: err %v, %d bytes dropped, changed %v", err, st.dropped, !bytes.Equal(again, out))
		}
	})
}

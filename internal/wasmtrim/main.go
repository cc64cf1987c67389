// Command wasmtrim makes a Go js/wasm module smaller to download, in
// place:
//
//	GOOS=js GOARCH=wasm go build -trimpath -ldflags="-s -w" -o parley.wasm ./sdk-wasm/wasm
//	go run ./internal/wasmtrim [-lines] parley.wasm
//
// It does two things to the data section; the code is not touched.
//
// It drops the line tables. A Go binary's function table (the runtime's
// pclntab) holds, for every function, a table mapping each instruction to
// its source file and one to its source line. The runtime reads them only
// to print a stack trace and to answer runtime.Caller and
// runtime.CallersFrames; the garbage collector, stack growth, defer and
// recover read the stack-pointer and stack-map tables, which stay.
// wasmtrim sets each function's file and line table offsets to 0, which the
// runtime reads as "no table" (runtime.pcvalue): a stack trace still names
// every function but shows its file as "?" and its line as 0, and
// runtime.Caller answers "?", 0. The bytes of the tables that no other
// field shares are zeroed. -lines keeps them.
//
// It cuts the data segments again (see minZeroRun), from the memory image
// they initialize, so the zeros stay out of the file and the rest keeps its
// layout, which compresses better than Go's linker's finer cut.
//
// It knows the layout of the function table of the Go releases from 1.20
// (pcHeader magic 0xFFFFFFF1) and refuses a module it cannot match: one
// pcHeader, as many functions as the code section holds. Running it twice
// changes nothing the second time.
package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"github.com/parley-im/parley/internal/wasmbin"
	"os"
	"slices"
)

func main() {
	lines := flag.Bool("lines", false, "keep the line tables; only cut the data segments again")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: wasmtrim [-lines] file.wasm...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	for _, name := range flag.Args() {
		b, err := os.ReadFile(name)
		if err == nil {
			var out []byte
			var st stats
			if out, st, err = trim(b, *lines); err == nil {
				err = os.WriteFile(name, out, 0o644)
				fmt.Printf("wasmtrim: %s: %d → %d bytes (%d functions, %d bytes of line tables dropped)\n",
					name, len(b), len(out), st.funcs, st.dropped)
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "wasmtrim:", name+":", err)
			os.Exit(1)
		}
	}
}

type stats struct {
	funcs   int // functions in the table
	dropped int // bytes of pctab zeroed
}

// The Go 1.20+ function table header (runtime.pcHeader) as the wasm
// linker writes it: magic, two zero pad bytes, the PC quantum (1) and the
// pointer size (8).
var pcHeaderMagic = []byte{0xf1, 0xff, 0xff, 0xff, 0, 0, 1, 8}

const (
	sectionCode      = 10
	sectionData      = 11
	sectionDataCount = 12

	// Fields of runtime._func: pcfile and pcln are the offsets into pctab
	// of the file and line tables; pcsp and the pcdata offsets (after the
	// fixed part) are the tables that stay.
	funcPCSP     = 16
	funcPCFile   = 20
	funcPCLn     = 24
	funcNPCData  = 28
	funcFixedLen = 44

	// A data segment ends at a run of at least minZeroRun zeros. Go's
	// linker ends one at 8 (the bytes a segment header costs), which
	// leaves the raw file smallest, but every header is an address that
	// compresses worse than the zeros it replaces: at 32, parley.wasm's
	// brotli download is 6 % smaller and the raw file 7 % larger. At most
	// maxSegments segments, as Go's linker writes.
	minZeroRun  = 32
	maxSegments = 100000
)

type segment struct {
	off  int // memory address
	data []byte
}

// trim returns the module b with its data segments cut again and, unless
// keepLines, without its line tables.
func trim(b []byte, keepLines bool) ([]byte, stats, error) {
	var st stats
	if len(b) < 8 || !bytes.Equal(b[:8], []byte("\x00asm\x01\x00\x00\x00")) {
		return nil, st, errors.New("not a WebAssembly 1.0 module")
	}
	// a section: its header at start, its payload [body, end)
	type span struct {
		id               byte
		start, body, end int
	}
	var secs []span
	for p := (&wasmbin.Reader{B: b, Off: 8}); p.Off < len(b); {
		start := p.Off
		id := p.Byte()
		n := p.ULEB()
		if p.Err != nil || n > uint64(len(b)-p.Off) {
			return nil, st, errors.New("truncated section")
		}
		secs = append(secs, span{id, start, p.Off, p.Off + int(n)})
		p.Off += int(n)
	}
	var code, data *span
	for i := range secs {
		switch secs[i].id {
		case sectionCode:
			code = &secs[i]
		case sectionData:
			data = &secs[i]
		}
	}
	if code == nil || data == nil {
		return nil, st, errors.New("no code or data section")
	}
	cr := &wasmbin.Reader{B: b[code.body:code.end]}
	nbodies := cr.ULEB()
	if cr.Err != nil {
		return nil, st, errors.New("code section: " + cr.Err.Error())
	}
	segs, err := readSegments(b[data.body:data.end])
	if err != nil {
		return nil, st, err
	}

	// The memory image the segments initialize, from the lowest address.
	base, end := segs[0].off, 0
	for _, s := range segs {
		base = min(base, s.off)
		end = max(end, s.off+len(s.data))
	}
	if end-base > 1<<30 {
		return nil, st, errors.New("data segments span more than 1 GiB")
	}
	// Memory past the last segment is zero too: the image runs 64 KiB
	// beyond, for tables that end in zeros the last cut left out.
	mem := make([]byte, end-base+64<<10)
	for _, s := range segs {
		copy(mem[s.off-base:], s.data)
	}

	hdr := bytes.Index(mem, pcHeaderMagic)
	if hdr < 0 || bytes.Contains(mem[hdr+1:], pcHeaderMagic) {
		return nil, st, errors.New("no single Go function table (pcHeader) in the data: not a Go 1.20+ js/wasm module")
	}
	if hdr+72 > len(mem) {
		return nil, st, errors.New("function table header truncated")
	}
	u64 := func(i int) uint64 { return binary.LittleEndian.Uint64(mem[hdr+8+8*i:]) }
	nfunc, pctabOff, pclnOff := u64(0), u64(6), u64(7)
	if nfunc != nbodies {
		return nil, st, fmt.Errorf("function table has %d functions, the code section %d", nfunc, nbodies)
	}
	if pctabOff > pclnOff || pclnOff > uint64(len(mem)-hdr) || (nfunc+1)*8 > uint64(len(mem)-hdr)-pclnOff {
		return nil, st, errors.New("function table offsets out of range")
	}
	pctab := mem[hdr+int(pctabOff) : hdr+int(pclnOff)]
	pcln := mem[hdr+int(pclnOff):] // ftab, then the _func records (and beyond)
	u32 := func(b []byte, i int) uint32 { return binary.LittleEndian.Uint32(b[i:]) }

	// Every table offset, with whether a kept field (pcsp, pcdata) names it.
	kept := map[uint32]bool{}
	funcs := make([]int, nfunc) // offset of each _func in pcln
	for f := range int(nfunc) {
		off := int(u32(pcln, 8*f+4))
		if off < 0 || off+funcFixedLen > len(pcln) {
			return nil, st, fmt.Errorf("function %d: record out of range", f)
		}
		// The record starts with the entry the lookup table gives: a
		// record layout this does not know fails here.
		if u32(pcln, off) != u32(pcln, 8*f) {
			return nil, st, fmt.Errorf("function %d: record does not match the function table (a Go release whose layout this does not know?)", f)
		}
		funcs[f] = off
		npc := int(u32(pcln, off+funcNPCData))
		if npc > 64 || off+funcFixedLen+4*npc > len(pcln) {
			return nil, st, fmt.Errorf("function %d: %d pcdata tables", f, npc)
		}
		fields := []int{funcPCSP, funcPCFile, funcPCLn}
		for i := range npc {
			fields = append(fields, funcFixedLen+4*i)
		}
		for _, fi := range fields {
			t := u32(pcln, off+fi)
			if t == 0 {
				continue
			}
			if int(t) >= len(pctab) {
				return nil, st, fmt.Errorf("function %d: table offset %d beyond pctab (%d bytes)", f, t, len(pctab))
			}
			keep := fi != funcPCFile && fi != funcPCLn
			kept[t] = kept[t] || keep
		}
	}
	// The linker writes the tables one after another: a table ends where
	// the next begins.
	offs := make([]uint32, 0, len(kept)+1)
	for t := range kept {
		offs = append(offs, t)
	}
	offs = append(offs, uint32(len(pctab)))
	slices.Sort(offs)
	for i, t := range offs[:len(offs)-1] {
		if !kept[t] && !keepLines {
			clear(pctab[t:offs[i+1]])
			st.dropped += int(offs[i+1] - t)
		}
	}
	if !keepLines {
		for _, off := range funcs {
			clear(pcln[off+funcPCFile : off+funcPCLn+4])
		}
	}
	st.funcs = int(nfunc)

	// Cut every segment again around its runs of zeros.
	out := cut(mem, base)

	var payload []byte
	payload = binary.AppendUvarint(payload, uint64(len(out)))
	for _, s := range out {
		payload = append(payload, 0, 0x41) // active, memory 0, i32.const
		payload = appendSleb(payload, int64(int32(s.off)))
		payload = append(payload, 0x0b)
		payload = binary.AppendUvarint(payload, uint64(len(s.data)))
		payload = append(payload, s.data...)
	}
	res := make([]byte, 0, len(b))
	res = append(res, b[:8]...)
	for _, s := range secs {
		switch s.id {
		case sectionData:
			res = append(res, sectionData)
			res = binary.AppendUvarint(res, uint64(len(payload)))
			res = append(res, payload...)
		case sectionDataCount:
			var c []byte
			c = binary.AppendUvarint(c, uint64(len(out)))
			res = append(res, sectionDataCount)
			res = binary.AppendUvarint(res, uint64(len(c)))
			res = append(res, c...)
		default:
			res = append(res, b[s.start:s.end]...)
		}
	}
	return res, st, nil
}

// cut makes the data segments of the memory image mem, loaded at base: a
// segment ends at a run of at least minZeroRun zeros, which stays out of
// the file. The last segment takes the rest when there would be more than
// maxSegments.
func cut(mem []byte, base int) []segment {
	var out []segment
	d, off := mem, base
	for len(d) > 0 {
		i := 0
		for i < len(d) && d[i] == 0 {
			i++
		}
		d, off = d[i:], off+i
		if len(d) == 0 {
			break
		}
		end, next := len(d), len(d)
		if len(out) < maxSegments-1 {
			for end = 0; ; end = next {
				for end < len(d) && d[end] != 0 {
					end++
				}
				next = end
				for next < len(d) && d[next] == 0 {
					next++
				}
				if next-end >= minZeroRun || next == len(d) {
					break
				}
			}
		}
		out = append(out, segment{off, d[:end]})
		d, off = d[next:], off+next
	}
	return out
}

// readSegments reads the data section (WebAssembly Core §5.5.14). Go's
// linker writes only active segments of memory 0 at an i32.const address.
func readSegments(b []byte) ([]segment, error) {
	p := &wasmbin.Reader{B: b}
	n := p.ULEB()
	if p.Err != nil || n == 0 || n > uint64(len(b)) {
		return nil, errors.New("data section: no segments")
	}
	segs := make([]segment, 0, n)
	for range n {
		if p.Byte() != 0 || p.Byte() != 0x41 {
			return nil, errors.New("data section: a segment that is not active at an i32.const address")
		}
		off := p.SLEB()
		if p.Byte() != 0x0b {
			return nil, errors.New("data section: segment address is not a constant")
		}
		l := p.ULEB()
		if p.Err != nil || off < 0 || off > 1<<31 || l > uint64(len(b)-p.Off) {
			return nil, errors.New("data section: truncated segment")
		}
		segs = append(segs, segment{int(off), b[p.Off : p.Off+int(l)]})
		p.Off += int(l)
	}
	if p.Err != nil || p.Off != len(b) {
		return nil, errors.New("data section: trailing bytes")
	}
	return segs, nil
}

func appendSleb(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

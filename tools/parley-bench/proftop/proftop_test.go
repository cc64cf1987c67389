package proftop

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"runtime"
	"runtime/pprof"
	"slices"
	"testing"
)

// pb builds protobuf messages for the tests.
type pb struct{ b []byte }

func (p *pb) key(num, wire int) { p.b = binary.AppendUvarint(p.b, uint64(num<<3|wire)) }
func (p *pb) varint(num int, v uint64) *pb {
	p.key(num, 0)
	p.b = binary.AppendUvarint(p.b, v)
	return p
}
func (p *pb) bytes(num int, b []byte) *pb {
	p.key(num, 2)
	p.b = binary.AppendUvarint(p.b, uint64(len(b)))
	p.b = append(p.b, b...)
	return p
}
func (p *pb) packed(num int, vs ...uint64) *pb {
	var q []byte
	for _, v := range vs {
		q = binary.AppendUvarint(q, v)
	}
	return p.bytes(num, q)
}

// synthetic is a CPU profile of three stacks over main → a → b, with b
// inlined into a at one location and a recursion of a:
//
//	main → a → b   (leaf b)          10
//	main → a       (leaf a)           5
//	main → a → a   (leaf a, recursive) 3
func synthetic(t *testing.T, zip bool) []byte {
	t.Helper()
	strs := []string{"", "samples", "count", "cpu", "nanoseconds", "main", "a", "b"}
	var p pb
	p.bytes(1, (&pb{}).varint(1, 1).varint(2, 2).b) // samples/count
	p.bytes(1, (&pb{}).varint(1, 3).varint(2, 4).b) // cpu/nanoseconds
	fn := func(id, name uint64) { p.bytes(5, (&pb{}).varint(1, id).varint(2, name).b) }
	fn(1, 5)
	fn(2, 6)
	fn(3, 7)
	line := func(f uint64) []byte { return (&pb{}).varint(1, f).varint(2, 1).b }
	p.bytes(4, (&pb{}).varint(1, 1).bytes(4, line(1)).b)                   // main
	p.bytes(4, (&pb{}).varint(1, 2).bytes(4, line(3)).bytes(4, line(2)).b) // b inlined into a
	p.bytes(4, (&pb{}).varint(1, 3).bytes(4, line(2)).b)                   // a
	p.bytes(2, (&pb{}).packed(1, 2, 1).packed(2, 1, 10).b)
	p.bytes(2, (&pb{}).packed(1, 3, 1).packed(2, 1, 5).b)
	// Unpacked repeated fields decode too.
	p.bytes(2, (&pb{}).varint(1, 3).varint(1, 3).varint(1, 1).varint(2, 1).varint(2, 3).b)
	for _, s := range strs {
		p.bytes(6, []byte(s))
	}
	p.varint(10, 20e9)
	if !zip {
		return p.b
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(p.b)
	zw.Close()
	return buf.Bytes()
}

func TestTopSynthetic(t *testing.T) {
	t.Parallel()
	for _, zip := range []bool{false, true} {
		p, err := Parse(synthetic(t, zip))
		if err != nil {
			t.Fatal(err)
		}
		if vi := p.Index("cpu"); vi != 1 || p.SampleTypes[1].Unit != "nanoseconds" || p.DurationNanos != 20e9 {
			t.Fatalf("types %v, index %d, duration %d", p.SampleTypes, vi, p.DurationNanos)
		}
		if got := p.Total(1); got != 18 {
			t.Errorf("total = %d, want 18", got)
		}
		flat := p.Top(1, 10, false)
		want := []Row{
			{Func: "b", Flat: 10, Cum: 10},
			{Func: "a", Flat: 8, Cum: 18}, // the recursive sample counts once
			{Func: "main", Flat: 0, Cum: 18},
		}
		for i := range want {
			want[i].FlatPct, want[i].CumPct = float64(want[i].Flat)/18*100, float64(want[i].Cum)/18*100
		}
		if !slices.Equal(flat, want) {
			t.Errorf("by flat = %+v\nwant %+v", flat, want)
		}
		cum := p.Top(1, 2, true)
		if len(cum) != 2 || cum[0].Func != "a" || cum[1].Func != "main" {
			t.Errorf("by cum = %+v", cum)
		}
	}
}

func TestParseRejectsGarbage(t *testing.T) {
	t.Parallel()
	for _, b := range [][]byte{{0x0a, 0x05, 0x01}, {0x0f}, {0x1f, 0x8b, 0x00}} {
		if _, err := Parse(b); err == nil {
			t.Errorf("Parse(%x) succeeded", b)
		}
	}
}

var sink [][]byte

func allocate() {
	for range 1000 {
		sink = append(sink, make([]byte, 1024))
	}
}

// A profile written by the runtime parses, and names the function that
// allocated.
func TestRuntimeProfile(t *testing.T) {
	old := runtime.MemProfileRate
	runtime.MemProfileRate = 1
	defer func() { runtime.MemProfileRate = old }()
	allocate()
	runtime.GC()
	var buf bytes.Buffer
	if err := pprof.Lookup("allocs").WriteTo(&buf, 0); err != nil {
		t.Fatal(err)
	}
	p, err := Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	vi := p.Index("alloc_space")
	if vi < 0 {
		t.Fatalf("no alloc_space in %v", p.SampleTypes)
	}
	for _, r := range p.Top(vi, 50, true) {
		if r.Func == "github.com/parley-im/parley/tools/parley-bench/proftop.allocate" && r.Cum >= 1000*1024 {
			return
		}
	}
	t.Errorf("allocate not among the top allocators: %+v", p.Top(vi, 10, true))
}

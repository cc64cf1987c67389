// Package proftop reads a pprof profile (profile.proto, gzipped or not) and
// ranks its functions by flat and cumulative value, as `go tool pprof -top`
// does, so a benchmark report can say where the time went without the pprof
// tool. It decodes only what ranking needs: sample types, samples,
// locations with their (inlined) lines, functions and the string table.
//
// Flat is the value of samples whose innermost frame is the function; cum
// is the value of samples with the function anywhere on the stack, counted
// once per sample. Functions are told apart by name.
package proftop

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// ValueType names one value of every sample, such as cpu/nanoseconds.
type ValueType struct {
	Type, Unit string
}

// Profile is a decoded profile.
type Profile struct {
	SampleTypes   []ValueType
	DurationNanos int64
	samples       []sample
	funcs         map[uint64]string   // function id → name
	locs          map[uint64][]uint64 // location id → function ids, innermost first
}

type sample struct {
	locs   []uint64 // leaf first
	values []int64
}

// Row is one function's share of a value.
type Row struct {
	Func            string
	Flat, Cum       int64
	FlatPct, CumPct float64 // of the total
}

// Parse decodes a profile, gunzipping it first when it is compressed.
func Parse(b []byte) (*Profile, error) {
	if len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("proftop: %w", err)
		}
		if b, err = io.ReadAll(zr); err != nil {
			return nil, fmt.Errorf("proftop: %w", err)
		}
	}
	p := &Profile{funcs: make(map[uint64]string), locs: make(map[uint64][]uint64)}
	var strs []string
	type vt struct{ typ, unit int64 }
	var types []vt
	funcNames := make(map[uint64]int64)
	err := fields(b, func(num int, wire int, v uint64, data []byte) error {
		switch num {
		case 1: // sample_type
			var t vt
			if err := fields(data, func(n, _ int, v uint64, _ []byte) error {
				switch n {
				case 1:
					t.typ = int64(v)
				case 2:
					t.unit = int64(v)
				}
				return nil
			}); err != nil {
				return err
			}
			types = append(types, t)
		case 2: // sample
			var s sample
			if err := fields(data, func(n, w int, v uint64, d []byte) error {
				switch n {
				case 1:
					return varints(w, v, d, func(x uint64) { s.locs = append(s.locs, x) })
				case 2:
					return varints(w, v, d, func(x uint64) { s.values = append(s.values, int64(x)) })
				}
				return nil
			}); err != nil {
				return err
			}
			p.samples = append(p.samples, s)
		case 4: // location
			var id uint64
			var fns []uint64
			if err := fields(data, func(n, _ int, v uint64, d []byte) error {
				switch n {
				case 1:
					id = v
				case 4: // line
					return fields(d, func(n, _ int, v uint64, _ []byte) error {
						if n == 1 {
							fns = append(fns, v)
						}
						return nil
					})
				}
				return nil
			}); err != nil {
				return err
			}
			p.locs[id] = fns
		case 5: // function
			var id uint64
			var name int64
			if err := fields(data, func(n, _ int, v uint64, _ []byte) error {
				switch n {
				case 1:
					id = v
				case 2:
					name = int64(v)
				}
				return nil
			}); err != nil {
				return err
			}
			funcNames[id] = name
		case 6: // string_table
			strs = append(strs, string(data))
		case 10:
			p.DurationNanos = int64(v)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("proftop: %w", err)
	}
	str := func(i int64) string {
		if i < 0 || int(i) >= len(strs) {
			return ""
		}
		return strs[i]
	}
	for _, t := range types {
		p.SampleTypes = append(p.SampleTypes, ValueType{str(t.typ), str(t.unit)})
	}
	for id, n := range funcNames {
		p.funcs[id] = str(n)
	}
	return p, nil
}

// Index returns the index of the sample type named typ, or -1.
func (p *Profile) Index(typ string) int {
	return slices.IndexFunc(p.SampleTypes, func(v ValueType) bool { return v.Type == typ })
}

// Total is the sum of value vi over all samples.
func (p *Profile) Total(vi int) int64 {
	var t int64
	for _, s := range p.samples {
		if vi < len(s.values) {
			t += s.values[vi]
		}
	}
	return t
}

// Top returns the n functions with the largest flat value vi, or the
// largest cumulative one when byCum; ties go by name.
func (p *Profile) Top(vi, n int, byCum bool) []Row {
	rows := make(map[string]*Row)
	row := func(name string) *Row {
		r := rows[name]
		if r == nil {
			r = &Row{Func: name}
			rows[name] = r
		}
		return r
	}
	var onStack []string
	for _, s := range p.samples {
		if vi >= len(s.values) || s.values[vi] == 0 {
			continue
		}
		v := s.values[vi]
		onStack = onStack[:0]
		for i, loc := range s.locs {
			for j, fid := range p.locs[loc] {
				name := p.funcs[fid]
				if name == "" {
					name = "?"
				}
				if i == 0 && j == 0 {
					row(name).Flat += v
				}
				if !slices.Contains(onStack, name) {
					onStack = append(onStack, name)
					row(name).Cum += v
				}
			}
		}
	}
	total := p.Total(vi)
	out := make([]Row, 0, len(rows))
	for _, r := range rows {
		if total != 0 {
			r.FlatPct = float64(r.Flat) / float64(total) * 100
			r.CumPct = float64(r.Cum) / float64(total) * 100
		}
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b Row) int {
		ka, kb := a.Flat, b.Flat
		if byCum {
			ka, kb = a.Cum, b.Cum
		}
		if ka != kb {
			if ka > kb {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Func, b.Func)
	})
	return out[:min(n, len(out))]
}

// fields calls f for every field of the protobuf message b: its number,
// wire type, and the varint (wire types 0, 1, 5) or bytes (wire type 2).
func fields(b []byte, f func(num, wire int, v uint64, data []byte) error) error {
	for len(b) > 0 {
		key, n := binary.Uvarint(b)
		if n <= 0 {
			return errors.New("bad field key")
		}
		b = b[n:]
		num, wire := int(key>>3), int(key&7)
		var v uint64
		var data []byte
		switch wire {
		case 0:
			if v, n = binary.Uvarint(b); n <= 0 {
				return errors.New("bad varint")
			}
			b = b[n:]
		case 1:
			if len(b) < 8 {
				return errors.New("short fixed64")
			}
			for i := range 8 {
				v |= uint64(b[i]) << (8 * i)
			}
			b = b[8:]
		case 2:
			l, n := binary.Uvarint(b)
			if n <= 0 || uint64(len(b)-n) < l {
				return errors.New("bad length")
			}
			data, b = b[n:n+int(l)], b[n+int(l):]
		case 5:
			if len(b) < 4 {
				return errors.New("short fixed32")
			}
			for i := range 4 {
				v |= uint64(b[i]) << (8 * i)
			}
			b = b[4:]
		default:
			return fmt.Errorf("wire type %d", wire)
		}
		if err := f(num, wire, v, data); err != nil {
			return err
		}
	}
	return nil
}

// varints hands f the values of a repeated integer field, packed (wire
// type 2) or not.
func varints(wire int, v uint64, data []byte, f func(uint64)) error {
	if wire != 2 {
		f(v)
		return nil
	}
	for len(data) > 0 {
		x, n := binary.Uvarint(data)
		if n <= 0 {
			return errors.New("bad packed varint")
		}
		f(x)
		data = data[n:]
	}
	return nil
}

// Command wasmsize prints where the bytes of a Go js/wasm binary go: the
// size of each section, and the code section summed by Go package, from
// the function bodies and the wasm name section (WebAssembly Core §7.4.2
// names each function; Go's linker writes it unless -s is given):
//
//	GOOS=js GOARCH=wasm go build -trimpath -o /tmp/parley.wasm ./sdk-wasm/wasm
//	go run ./internal/wasmsize -deps ./sdk-wasm/wasm /tmp/parley.wasm
//
// The linker writes names with every character other than letters, digits,
// '_' and '.' replaced by '_' (github.com/a/b-c.(*T).M becomes
// github.com_a_b_c.__T_.M); -deps names the main package, whose js/wasm
// dependencies (go list -deps) map the names back to import paths.
//
// Build without -ldflags=-s for the breakdown: stripping drops the name
// section, not code, so the code sizes are those of the shipped binary.
// The output is a Markdown table, the form docs/benchmarks/browser.md
// keeps.
package main

import (
	"errors"
	"flag"
	"fmt"
	"github.com/parley-im/parley/internal/wasmbin"
	"io"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
)

func main() {
	top := flag.Int("top", 30, "packages to list; the rest are summed as one row")
	deps := flag.String("deps", "", "the main package built (e.g. ./sdk-wasm/wasm), to name packages by import path")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: wasmsize [-top N] file.wasm")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	b, err := os.ReadFile(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "wasmsize:", err)
		os.Exit(1)
	}
	var pkgs []string
	if *deps != "" {
		cmd := exec.Command("go", "list", "-deps", *deps)
		cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			fmt.Fprintln(os.Stderr, "wasmsize: go list:", err)
			os.Exit(1)
		}
		pkgs = strings.Fields(string(out))
	}
	r, err := analyze(b, newNamer(pkgs))
	if err != nil {
		fmt.Fprintln(os.Stderr, "wasmsize:", err)
		os.Exit(1)
	}
	r.write(os.Stdout, *top)
}

// report is what a binary is made of.
type report struct {
	total    int
	sections []section
	packages map[string]int // code bytes by package
	named    bool           // the binary had a name section
}

type section struct {
	name string
	size int
}

var sectionNames = []string{"custom", "type", "import", "function", "table", "memory", "global",
	"export", "start", "element", "code", "data", "data count"}

// analyze reads a wasm module (WebAssembly Core §5.5).
func analyze(b []byte, pkgOf func(string) string) (*report, error) {
	if len(b) < 8 || string(b[:4]) != "\x00asm" {
		return nil, errors.New("not a WebAssembly module")
	}
	r := &report{total: len(b), packages: map[string]int{}}
	var (
		bodies  []int // code size of each defined function
		imports int   // imported functions, numbered before the defined ones
		names   = map[int]string{}
	)
	p := &wasmbin.Reader{B: b, Off: 8}
	for p.Off < len(b) {
		id := p.Byte()
		n := int(p.ULEB())
		if p.Err != nil || p.Off+n > len(b) {
			return nil, errors.New("truncated section")
		}
		body := &wasmbin.Reader{B: b[p.Off : p.Off+n]}
		p.Off += n
		name := fmt.Sprintf("section %d", id)
		if int(id) < len(sectionNames) {
			name = sectionNames[id]
		}
		switch id {
		case 0:
			cname := body.Name()
			name = "custom " + cname
			if cname == "name" {
				r.named = true
				readNames(body, names)
			}
		case 2:
			imports = countFuncImports(body)
		case 10:
			for range body.ULEB() {
				size := int(body.ULEB())
				bodies = append(bodies, size)
				body.Off += size
			}
		}
		if body.Err != nil {
			return nil, fmt.Errorf("%s section: %w", name, body.Err)
		}
		r.sections = append(r.sections, section{name, n})
	}
	for i, size := range bodies {
		r.packages[pkgOf(names[imports+i])] += size
	}
	return r, nil
}

// readNames reads the function names subsection (id 1) of a name section.
func readNames(p *wasmbin.Reader, names map[int]string) {
	for p.Off < len(p.B) && p.Err == nil {
		id := p.Byte()
		n := int(p.ULEB())
		end := p.Off + n
		if id == 1 {
			for range p.ULEB() {
				idx := int(p.ULEB())
				names[idx] = p.Name()
			}
		}
		p.Off = end
	}
}

// countFuncImports counts the imported functions (kind 0).
func countFuncImports(p *wasmbin.Reader) int {
	n := 0
	for range p.ULEB() {
		p.Name()
		p.Name()
		switch p.Byte() {
		case 0:
			p.ULEB()
			n++
		case 1: // table: reftype, limits
			p.Byte()
			limits(p)
		case 2:
			limits(p)
		case 3:
			p.Byte()
			p.Byte()
		}
	}
	return n
}

// mangle is what the linker makes of a symbol name.
var mangle = regexp.MustCompile(`[^\w.]`)

// newNamer returns the function that maps a symbol to its package: the
// longest of pkgs whose mangled path, then '.', starts the symbol; else
// the symbol up to its first '.'.
func newNamer(pkgs []string) func(string) string {
	mangled := map[string]string{}
	for _, p := range pkgs {
		mangled[mangle.ReplaceAllString(p, "_")] = p
	}
	return func(sym string) string {
		if sym == "" {
			return "(unnamed)"
		}
		if strings.HasPrefix(sym, "type_.") || strings.HasPrefix(sym, "go_.") {
			return "(runtime-generated)"
		}
		best := ""
		for i := 0; i < len(sym); i++ {
			if sym[i] == '.' {
				if p, ok := mangled[sym[:i]]; ok && len(p) > len(best) {
					best = p
				}
			}
		}
		if best != "" {
			return best
		}
		p, _, _ := strings.Cut(sym, ".")
		return p
	}
}

func (r *report) write(w io.Writer, top int) {
	fmt.Fprintf(w, "| section | bytes | share |\n|---|---:|---:|\n")
	for _, s := range r.sections {
		fmt.Fprintf(w, "| %s | %d | %.1f %% |\n", s.name, s.size, pct(s.size, r.total))
	}
	fmt.Fprintf(w, "| **total** | %d | |\n\n", r.total)
	if !r.named {
		fmt.Fprintln(w, "(no name section: build without -ldflags=-s for the per-package breakdown)")
		return
	}
	type row struct {
		pkg  string
		size int
	}
	var rows []row
	code := 0
	for p, s := range r.packages {
		rows = append(rows, row{p, s})
		code += s
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].size != rows[j].size {
			return rows[i].size > rows[j].size
		}
		return rows[i].pkg < rows[j].pkg
	})
	fmt.Fprintf(w, "| package (code section) | bytes | share of code |\n|---|---:|---:|\n")
	rest := 0
	for i, x := range rows {
		if i >= top {
			rest += x.size
			continue
		}
		fmt.Fprintf(w, "| %s | %d | %.1f %% |\n", x.pkg, x.size, pct(x.size, code))
	}
	if rest > 0 {
		fmt.Fprintf(w, "| %d others | %d | %.1f %% |\n", len(rows)-top, rest, pct(rest, code))
	}
	fmt.Fprintf(w, "| **code** | %d | |\n", code)
}

func pct(n, of int) float64 { return 100 * float64(n) / float64(of) }

// limits skips a table or memory type's limits.
func limits(p *wasmbin.Reader) {
	if p.Byte()&1 != 0 {
		p.ULEB()
	}
	p.ULEB()
}

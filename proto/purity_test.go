package proto

import (
	"bytes"
	"encoding/json"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The inner rings of the architecture (docs/architecture.md) do no I/O, start no goroutines
// and read no clock, so one build serves the relay, the native client and
// the js/wasm client. purePackages lists them. An entry whose package does
// not exist fails the test: a package renamed or moved must be renamed here
// too, or it would silently leave the check.
var purePackages = []string{
	"github.com/parley-im/parley/proto",
	"github.com/parley-im/parley/sdk-wasm/core",
	"github.com/parley-im/parley/relay/rules",
}

// forbiddenImports may not be imported by a pure package, by anything it
// pulls in, except along the standard-library edges in stdEdges.
var forbiddenImports = []string{"syscall/js", "net", "net/http", "os", "os/exec", "io/fs"}

// stdEdges are the importers through which a forbidden package may enter the
// graph. fmt imports os for Print (to os.Stdout) and Fprint; Sprintf and
// Errorf, which proto uses, touch neither. Under js/wasm the runtime's own
// syscall and time packages sit on syscall/js. No such edge exists to net,
// net/http or os/exec. A new Go release that adds an edge fails this test
// with the edge named; add it here only if it, too, does no I/O on its own.
var stdEdges = map[string][]string{
	"os":         {"fmt"},
	"io/fs":      {"os", "internal/filepathlite"},
	"syscall/js": {"syscall", "time"},
}

// clockCalls read or wait on the wall clock; pure code takes time as input.
var clockCalls = []string{"Now", "Since", "Until", "Sleep", "After", "AfterFunc", "Tick", "NewTimer", "NewTicker"}

// purityTargets are the platforms each package is checked for: the host
// (relay, native client) and the browser build.
var purityTargets = []struct{ name, goos, goarch string }{
	{"host", "", ""},
	{"js-wasm", "js", "wasm"},
}

type listedPackage struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	Imports    []string
	Standard   bool
	Error      *struct{ Err string }
}

func TestPurity(t *testing.T) {
	t.Parallel()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command on PATH: %v", err)
	}
	for _, pkg := range purePackages {
		for _, target := range purityTargets {
			t.Run(strings.TrimPrefix(pkg, "github.com/parley-im/parley/")+"/"+target.name, func(t *testing.T) {
				t.Parallel()
				graph, ok := listDeps(t, goTool, pkg, target.goos, target.goarch)
				if !ok {
					t.Fatalf("%s is listed as pure but has no Go files for %s: was it renamed or moved? Update purePackages", pkg, target.name)
				}
				checkImports(t, pkg, graph)
				checkSource(t, graph[pkg])
			})
		}
	}
}

// listDeps returns the import graph of pkg for a platform, by import path,
// and false when the package does not exist.
func listDeps(t *testing.T, goTool, pkg, goos, goarch string) (map[string]*listedPackage, bool) {
	t.Helper()
	cmd := exec.Command(goTool, "list", "-e", "-deps", "-json=ImportPath,Dir,GoFiles,Imports,Standard,Error", pkg)
	cmd.Env = os.Environ()
	if goos != "" {
		cmd.Env = append(cmd.Env, "GOOS="+goos, "GOARCH="+goarch)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", pkg, err, stderr.Bytes())
	}
	graph := map[string]*listedPackage{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		p := new(listedPackage)
		if err := dec.Decode(p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		graph[p.ImportPath] = p
	}
	root := graph[pkg]
	if root == nil {
		t.Fatalf("go list %s: package missing from its own graph", pkg)
	}
	if root.Error != nil {
		msg := root.Error.Err
		if len(root.GoFiles) == 0 && (strings.Contains(msg, "no Go files") || strings.Contains(msg, "cannot find") ||
			strings.Contains(msg, "is not in std") || strings.Contains(msg, "no required module")) {
			return nil, false
		}
		t.Fatalf("go list %s: %s", pkg, msg)
	}
	return graph, true
}

// checkImports fails for every import of a forbidden package that is not a
// standard-library edge in stdEdges, naming the chain that leads to it.
func checkImports(t *testing.T, root string, graph map[string]*listedPackage) {
	t.Helper()
	for _, p := range graph {
		if slices.Contains(forbiddenImports, p.ImportPath) {
			continue // the edge into p is the one to report
		}
		for _, imp := range p.Imports {
			if !slices.Contains(forbiddenImports, imp) {
				continue
			}
			if p.Standard && slices.Contains(stdEdges[imp], p.ImportPath) {
				continue
			}
			t.Errorf("%s imports %s (via %s)", p.ImportPath, imp, strings.Join(importChain(graph, root, p.ImportPath), " → "))
		}
	}
}

// importChain returns a shortest import path from root to pkg.
func importChain(graph map[string]*listedPackage, root, pkg string) []string {
	prev := map[string]string{root: ""}
	queue := []string{root}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if cur == pkg {
			var chain []string
			for p := pkg; p != ""; p = prev[p] {
				chain = append(chain, p)
			}
			slices.Reverse(chain)
			return chain
		}
		if graph[cur] == nil {
			continue
		}
		for _, next := range graph[cur].Imports {
			if _, seen := prev[next]; !seen {
				prev[next] = cur
				queue = append(queue, next)
			}
		}
	}
	return []string{root, "…", pkg}
}

// checkSource fails for go statements and clock calls in the package's own
// files for the platform.
func checkSource(t *testing.T, p *listedPackage) {
	t.Helper()
	fset := token.NewFileSet()
	for _, name := range p.GoFiles {
		file, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		timeName := ""
		for _, imp := range file.Imports {
			if path, _ := strconv.Unquote(imp.Path.Value); path == "time" {
				timeName = "time"
				if imp.Name != nil {
					timeName = imp.Name.Name
				}
			}
		}
		ast.Inspect(file, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.GoStmt:
				t.Errorf("%s: go statement: pure packages start no goroutines", fset.Position(n.Pos()))
			case *ast.SelectorExpr:
				if x, ok := n.X.(*ast.Ident); ok && timeName != "" && x.Name == timeName && slices.Contains(clockCalls, n.Sel.Name) {
					t.Errorf("%s: time.%s: pure packages take the time as input", fset.Position(n.Pos()), n.Sel.Name)
				}
			}
			return true
		})
	}
}

// TestWasmWithoutCBORLibrary keeps the CBOR library, and the math/big it
// brings, out of the SDK's wasm binary: the generated codec (cbor.go) is
// there to save those bytes, and one import of the library anywhere in
// the SDK would bring them back.
func TestWasmWithoutCBORLibrary(t *testing.T) {
	t.Parallel()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command on PATH: %v", err)
	}
	const sdk = "github.com/parley-im/parley/sdk-wasm/wasm"
	graph, ok := listDeps(t, goTool, sdk, "js", "wasm")
	if !ok {
		t.Fatalf("%s has no Go files for js/wasm: was it renamed or moved?", sdk)
	}
	for _, banned := range []string{"github.com/fxamacker/cbor/v2", "math/big"} {
		if graph[banned] != nil {
			for path, p := range graph {
				if slices.Contains(p.Imports, banned) {
					t.Errorf("%s imports %s", path, banned)
				}
			}
		}
	}
}

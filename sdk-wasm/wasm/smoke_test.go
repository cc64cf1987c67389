package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNodeSmoke builds parley.wasm and the relay, then runs
// testdata/node_smoke.mjs: two clients in Node over a real relay, the whole
// WasmBridgeV1 contract, and a JS storage adapter across a reload.
//
// It needs Node ≥ 20 and the ws package: PARLEY_NODE_MODULES names a
// node_modules folder that holds ws@8 (build.sh sets it; by hand:
// npm install --prefix /tmp/wsdeps ws@8 and
// PARLEY_NODE_MODULES=/tmp/wsdeps/node_modules). Without them it skips,
// loudly.
func TestNodeSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the Node smoke test builds the module and a relay")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("SKIPPED: `node` is not on PATH — the js/wasm client is NOT tested end to end. Install Node.js ≥ 20.")
	}
	modules := os.Getenv("PARLEY_NODE_MODULES")
	if modules == "" {
		t.Skip("SKIPPED: PARLEY_NODE_MODULES is not set — the js/wasm client is NOT tested end to end. " +
			"Run: npm install --prefix /tmp/wsdeps ws@8 && PARLEY_NODE_MODULES=/tmp/wsdeps/node_modules go test ./sdk-wasm/wasm")
	}
	modules, _ = filepath.Abs(modules)
	if out, err := exec.Command(node, "-e", `require(require("path").join(process.argv[1], "ws"))`, modules).CombinedOutput(); err != nil {
		t.Skipf("SKIPPED: the ws module cannot be loaded from PARLEY_NODE_MODULES=%s — the js/wasm client is NOT tested end to end.\n%s", modules, out)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("SKIPPED: `go` is not on PATH; it is needed to build parley.wasm")
	}
	t.Parallel()

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()
	wasm := filepath.Join(dir, "parley.wasm")
	relay := filepath.Join(dir, "parley-relay")
	root := moduleRoot(t)

	build := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-o", wasm, "./sdk-wasm/wasm")
	build.Dir = root
	build.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	run(t, build)
	trim := exec.CommandContext(ctx, goBin, "run", "./internal/wasmtrim", wasm) // as build.sh ships it
	trim.Dir = root
	run(t, trim)
	build = exec.CommandContext(ctx, goBin, "build", "-o", relay, "./relay/cmd/parley-relay")
	build.Dir = root
	run(t, build)

	goroot := strings.TrimSpace(string(output(t, exec.CommandContext(ctx, goBin, "env", "GOROOT"))))
	wasmExec := filepath.Join(goroot, "lib", "wasm", "wasm_exec.js") // Go 1.24+
	if _, err := os.Stat(wasmExec); err != nil {
		wasmExec = filepath.Join(goroot, "misc", "wasm", "wasm_exec.js")
	}

	cmd := exec.CommandContext(ctx, node, "testdata/node_smoke.mjs")
	cmd.Env = append(os.Environ(),
		"PARLEY_WASM="+wasm, "PARLEY_WASM_EXEC="+wasmExec, "PARLEY_RELAY_BIN="+relay, "PARLEY_NODE_MODULES="+modules)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	for _, line := range strings.Split(strings.TrimRight(out.String(), "\n"), "\n") {
		t.Log(line)
	}
	if err != nil {
		t.Fatalf("node testdata/node_smoke.mjs: %v", err)
	}
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("module root not found at %s: %v", dir, err)
	}
	return dir
}

func run(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
	}
}

func output(t *testing.T, cmd *exec.Cmd) []byte {
	t.Helper()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", strings.Join(cmd.Args, " "), err)
	}
	return out
}

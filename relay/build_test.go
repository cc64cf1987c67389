//go:build !js

package relay

import (
	"os"
	"os/exec"
	"testing"
)

// TestBuildsForJSWasm: the relay's engine builds for js/wasm, where the
// host brings the connections (Server.Open) and the store (Options.Store).
// Whatever needs the network or a C library — the WebSocket edge, SQLite,
// PostgreSQL, NATS — stays in !js files.
func TestBuildsForJSWasm(t *testing.T) {
	t.Parallel()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go command on PATH: %v", err)
	}
	for _, pkg := range []string{".", "./rules"} {
		cmd := exec.Command(goTool, "build", "-trimpath", "-o", os.DevNull, pkg) // -trimpath as build.sh builds: one cache entry per package
		cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("GOOS=js GOARCH=wasm go build %s: %v\n%s", pkg, err, out)
		}
	}
	// The package's tests build there too (go vet type-checks them): the
	// store conformance suite runs on a Durable Object's storage
	// (./build.sh edge-store). A test file that needs a native process (a
	// relay on a port, PostgreSQL, NATS, a SQLite file) carries
	// //go:build !js.
	cmd := exec.Command(goTool, "vet", "-trimpath", ".")
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("GOOS=js GOARCH=wasm go vet . (the tests for js/wasm): %v\n%s", err, out)
	}
}

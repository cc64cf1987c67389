//go:build !js

package main

import (
	"fmt"
	"os"
)

// main exists so that `go build ./...` and `go vet ./...` work on every
// platform; the module is only useful compiled for js/wasm.
func main() {
	fmt.Fprintln(os.Stderr, "parley.wasm is built with: GOOS=js GOARCH=wasm go build -o parley.wasm ./sdk-wasm/wasm (or ./build.sh wasm)")
	os.Exit(2)
}

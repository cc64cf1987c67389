// Package gensrc is what the source generators (internal/gencodes,
// internal/genfold) share: finding the module root and describing how a
// generated file drifted from what its generator prints.
package gensrc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ModuleRoot walks up from the working directory to the directory holding
// go.mod.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Drift compares the checked-in file output (relative to root) with want,
// what its generator prints, and describes the difference, with cmd, the
// command that regenerates it; nil when they are equal.
func Drift(root, output string, want []byte, cmd string) error {
	got, err := os.ReadFile(filepath.Join(root, output))
	if err != nil {
		return fmt.Errorf("%w\nregenerate with: %s > %s", err, cmd, output)
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("%s is stale (%s); regenerate with: %s > %s", output, FirstDiff(got, want), cmd, output)
	}
	return nil
}

// FirstDiff describes the first line where got and want differ.
func FirstDiff(got, want []byte) string {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d: have %q, want %q", i+1, gl, wl)
		}
	}
	return "no line differs"
}

package main

import (
	"testing"
	"unicode"

	"github.com/parley-im/parley/internal/gensrc"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// TestFoldTSUpToDate is the drift check: bindings/src/fold.ts must be
// exactly what the generator prints for the current core.FoldRune.
func TestFoldTSUpToDate(t *testing.T) {
	t.Parallel()
	root, err := gensrc.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	if err := gensrc.Drift(root, Output, generate(), "go run ./internal/genfold"); err != nil {
		t.Fatal(err)
	}
}

// TestRunsCoverFoldRune replays the runs the way foldCodePoint reads them
// and compares with FoldRune at every code point.
func TestRunsCoverFoldRune(t *testing.T) {
	t.Parallel()
	rs := runs()
	fold := func(r rune) rune {
		for _, x := range rs {
			if x.lo <= r && r <= x.hi && (r-x.lo)%x.stride == 0 {
				return r + x.delta
			}
		}
		return r
	}
	for i := 1; i < len(rs); i++ {
		if rs[i].lo <= rs[i-1].hi {
			t.Fatalf("runs %d and %d overlap", i-1, i)
		}
	}
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if got, want := fold(r), core.FoldRune(r); got != want {
			t.Fatalf("runs fold %U to %U, FoldRune to %U", r, got, want)
		}
	}
}

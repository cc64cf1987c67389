package main

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/parley-im/parley/internal/gensrc"
	"github.com/parley-im/parley/proto"
)

// TestCodesTSUpToDate is the drift check: bindings/src/codes.ts must be
// exactly what the generator prints for the current proto/codes.go.
func TestCodesTSUpToDate(t *testing.T) {
	t.Parallel()
	root, err := gensrc.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	want, err := generate(root)
	if err != nil {
		t.Fatal(err)
	}
	if err := gensrc.Drift(root, Output, want, "go run ./internal/gencodes"); err != nil {
		t.Fatal(err)
	}
}

// TestGenerateCoversEveryCode checks the generated text names every code
// with its value and short name, so a change to the template cannot drop
// one silently.
func TestGenerateCoversEveryCode(t *testing.T) {
	t.Parallel()
	root, err := gensrc.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	out, err := generate(root)
	if err != nil {
		t.Fatal(err)
	}
	consts, _, err := parseCodes(filepath.Join(root, "proto", "codes.go"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, c := range consts {
		for _, frag := range []string{
			"  " + c.tsName + ": " + itoa(c.value) + ",\n",
			"  " + itoa(c.value) + ": \"" + c.value.String() + "\",\n",
		} {
			if !strings.Contains(s, frag) {
				t.Errorf("generated codes.ts lacks %q", frag)
			}
		}
	}
	if len(consts) != len(proto.Codes()) {
		t.Errorf("parsed %d constants, proto.Codes() has %d", len(consts), len(proto.Codes()))
	}
}

// TestRanges checks the range rendering against the predicate it came from.
func TestRanges(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		pred func(proto.Code) bool
		want string
	}{
		{"terminal", proto.Code.Terminal, "[[4000, 4099], [4907, 4907]]"},
		{"retryable", proto.Code.Retryable, "[[0, 3999], [4100, 4199], [4300, 4899], [4906, 4906]]"},
		{"none", func(proto.Code) bool { return false }, "[]"},
		{"all", func(proto.Code) bool { return true }, "[[0, 65535]]"},
	} {
		if got := ranges(tc.pred); got != tc.want {
			t.Errorf("%s: ranges = %s, want %s", tc.name, got, tc.want)
		}
	}
}

func itoa(c proto.Code) string { return strconv.Itoa(int(c)) }

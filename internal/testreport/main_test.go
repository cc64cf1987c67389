package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// goTestJSON runs `go test -json` on a throwaway module with one passing,
// one failing and two skipped tests (one skip needs a service, one has no
// reason), so the report is checked against what go test really prints.
func goTestJSON(t *testing.T) []byte {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go is needed to produce go test -json: %v", err)
	}
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/sample\n\ngo 1.22\n")
	write("sample_test.go", `package sample

import "testing"

func TestPasses(t *testing.T) {}
func TestFails(t *testing.T)  { t.Fatal("broken") }
func TestNeedsService(t *testing.T) { t.Skip("SKIPPED LOUDLY: no PostgreSQL at 127.0.0.1:5432") }
func TestSkipsQuietly(t *testing.T) { t.SkipNow() }
`)
	cmd := exec.Command(goTool, "test", "-json", "-count=1", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off")
	out, _ := cmd.Output() // exits 1: one test fails
	if !bytes.Contains(out, []byte(`"Action":"skip"`)) {
		t.Fatalf("go test -json printed no skip:\n%s", out)
	}
	return out
}

func TestReportCountsAndSkips(t *testing.T) {
	t.Parallel()
	events := goTestJSON(t)
	for _, tc := range []struct {
		name      string
		allow     string
		unallowed int
		lines     []string
	}{
		{"no skip allowed", "", 2, []string{
			"SKIP NOT ALLOWED example.com/sample TestNeedsService: sample_test.go:7: SKIPPED LOUDLY: no PostgreSQL at 127.0.0.1:5432",
			"SKIP NOT ALLOWED example.com/sample TestSkipsQuietly: (no reason given)",
			"2 of the skips are not allowed",
		}},
		{"a missing service allowed", "no PostgreSQL", 1, []string{
			"skip (allowed) example.com/sample TestNeedsService:",
			"SKIP NOT ALLOWED example.com/sample TestSkipsQuietly",
			"1 of the skips are not allowed",
		}},
		{"both allowed by name", `sample (TestNeedsService|TestSkipsQuietly):`, 0, []string{
			"skip (allowed) example.com/sample TestNeedsService:",
			"skip (allowed) example.com/sample TestSkipsQuietly:",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var allow *regexp.Regexp
			if tc.allow != "" {
				allow = regexp.MustCompile(tc.allow)
			}
			var out bytes.Buffer
			c := report(bytes.NewReader(events), &out, "go", allow)
			want := counts{passed: 1, failed: 1, skipped: 2, unallowed: tc.unallowed}
			if c != want {
				t.Fatalf("counts %+v, want %+v\n%s", c, want, &out)
			}
			text := out.String()
			for _, l := range append(tc.lines, "go: 1 passed, 1 failed, 2 skipped", "--- FAIL example.com/sample TestFails") {
				if !strings.Contains(text, l) {
					t.Errorf("report lacks %q:\n%s", l, text)
				}
			}
			if tc.unallowed == 0 && strings.Contains(text, "not allowed") {
				t.Errorf("report calls an allowed skip not allowed:\n%s", text)
			}
		})
	}
}

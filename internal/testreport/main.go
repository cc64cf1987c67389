// Command testreport reads `go test -json` events on stdin, prints one line
// per package and every failing test's output as it goes, and ends with the
// summary line "N passed, N failed, N skipped". It exits 1 when anything
// failed, including a package that did not build, and when a test was
// skipped without leave.
//
// A skip is allowed only when -allow-skip, an RE2 regular expression, matches
// "<package> <test>: <reason>" (the reason is what the test passed to
// t.Skip). Every skip is listed with its reason and whether it was allowed;
// without -allow-skip no skip is, so a suite this machine could run never
// goes missing silently.
//
// With -counts FILE it also writes "passed failed skipped unallowed" to FILE,
// for a caller that sums several runners; -label names the summary line
// ("go: 3 passed, …").
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
)

type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

// counts is what a run came to.
type counts struct {
	passed, failed, skipped int
	unallowed               int // skips -allow-skip does not cover
}

func main() {
	countsFile := flag.String("counts", "", "also write `passed failed skipped unallowed` to this file")
	label := flag.String("label", "", "a word to put before the summary line")
	allow := flag.String("allow-skip", "", "a regular expression over `<package> <test>: <reason>` naming the skips that are allowed")
	flag.Parse()
	var allowRE *regexp.Regexp
	if *allow != "" {
		var err error
		if allowRE, err = regexp.Compile(*allow); err != nil {
			fmt.Fprintf(os.Stderr, "testreport: -allow-skip: %v\n", err)
			os.Exit(2)
		}
	}
	c := report(os.Stdin, os.Stdout, *label, allowRE)
	if *countsFile != "" {
		_ = os.WriteFile(*countsFile, []byte(fmt.Sprintf("%d %d %d %d\n", c.passed, c.failed, c.skipped, c.unallowed)), 0o644)
	}
	if c.failed > 0 || c.unallowed > 0 {
		os.Exit(1)
	}
}

// report reads go test -json from r and writes the report to w.
func report(r io.Reader, w io.Writer, label string, allow *regexp.Regexp) counts {
	var c counts
	pkgFailed := 0
	var skips []string
	outputs := map[string][]string{} // package/test → output lines
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if err := json.Unmarshal(line, &e); err != nil {
			fmt.Fprintln(w, string(line)) // build errors arrive as plain text
			continue
		}
		key := e.Package + "/" + e.Test
		switch e.Action {
		case "output":
			if len(outputs[key]) < 400 {
				outputs[key] = append(outputs[key], e.Output)
			}
		case "pass", "fail", "skip":
			if e.Test == "" {
				status := map[string]string{"pass": "ok  ", "fail": "FAIL", "skip": "skip"}[e.Action]
				fmt.Fprintf(w, "%s %s (%.1fs)\n", status, e.Package, e.Elapsed)
				if e.Action == "fail" {
					pkgFailed++
					fmt.Fprint(w, strings.Join(outputs[key], ""))
				}
				delete(outputs, key)
				continue
			}
			switch e.Action {
			case "pass":
				c.passed++
			case "fail":
				c.failed++
				fmt.Fprintf(w, "--- FAIL %s %s\n%s", e.Package, e.Test, strings.Join(outputs[key], ""))
			case "skip":
				c.skipped++
				what := e.Package + " " + e.Test + ": " + skipReason(outputs[key])
				if allow != nil && allow.MatchString(what) {
					skips = append(skips, "skip (allowed) "+what)
				} else {
					c.unallowed++
					skips = append(skips, "SKIP NOT ALLOWED "+what)
				}
			}
			delete(outputs, key)
		}
	}
	if c.failed == 0 && pkgFailed > 0 {
		c.failed = pkgFailed // a package that failed to build or panicked outside a test
	}
	for _, s := range skips {
		fmt.Fprintln(w, s)
	}
	prefix := ""
	if label != "" {
		prefix = label + ": "
	}
	fmt.Fprintf(w, "%s%d passed, %d failed, %d skipped\n", prefix, c.passed, c.failed, c.skipped)
	if c.unallowed > 0 {
		fmt.Fprintf(w, "%s%d of the skips are not allowed: a suite this machine can run did not run\n", prefix, c.unallowed)
	}
	return c
}

// skipReason is what a skipped test said, without go test's own lines.
func skipReason(lines []string) string {
	var out []string
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "=== ") || strings.HasPrefix(l, "--- SKIP") {
			continue
		}
		out = append(out, l)
	}
	if len(out) == 0 {
		return "(no reason given)"
	}
	return strings.Join(out, " ")
}

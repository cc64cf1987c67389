// Command testreport reads `go test -json` events on stdin, prints one line
// per package and every failing test's output as it goes, and ends with the
// summary line "N passed, N failed, N skipped". It exits 1 when anything
// failed, including a package that did not build. With -counts FILE it also
// writes "passed failed skipped" to FILE, for a caller that sums several
// runners; -label names the summary line ("go: 3 passed, …").
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
)

type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

func main() {
	countsFile := flag.String("counts", "", "also write `passed failed skipped` to this file")
	label := flag.String("label", "", "a word to put before the summary line")
	flag.Parse()
	var passed, failed, skipped, pkgFailed int
	outputs := map[string][]string{} // package/test → output lines
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if err := json.Unmarshal(line, &e); err != nil {
			fmt.Println(string(line)) // build errors arrive as plain text
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
				fmt.Printf("%s %s (%.1fs)\n", status, e.Package, e.Elapsed)
				if e.Action == "fail" {
					pkgFailed++
					fmt.Print(strings.Join(outputs[key], ""))
				}
				delete(outputs, key)
				continue
			}
			switch e.Action {
			case "pass":
				passed++
			case "fail":
				failed++
				fmt.Printf("--- FAIL %s %s\n%s", e.Package, e.Test, strings.Join(outputs[key], ""))
			case "skip":
				skipped++
			}
			delete(outputs, key)
		}
	}
	if failed == 0 && pkgFailed > 0 {
		failed = pkgFailed // a package that failed to build or panicked outside a test
	}
	prefix := ""
	if *label != "" {
		prefix = *label + ": "
	}
	fmt.Printf("%s%d passed, %d failed, %d skipped\n", prefix, passed, failed, skipped)
	if *countsFile != "" {
		_ = os.WriteFile(*countsFile, []byte(fmt.Sprintf("%d %d %d\n", passed, failed, skipped)), 0o644)
	}
	if failed > 0 || pkgFailed > 0 {
		os.Exit(1)
	}
}

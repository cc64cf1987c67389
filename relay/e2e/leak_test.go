package e2e

import (
	"fmt"
	"runtime"
	"strings"
	"time"
)

func countGoroutines() int { return runtime.NumGoroutine() }

// checkLeaks waits for the goroutine count to settle back to what it was
// before the tests and reports the stacks of any that stayed behind.
func checkLeaks(before int) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= before {
			return nil
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			var leaked []string
			for _, g := range strings.Split(string(buf), "\n\n") {
				if strings.Contains(g, "parley") && !strings.Contains(g, "checkLeaks") {
					leaked = append(leaked, g)
				}
			}
			if len(leaked) == 0 { // only runtime/test-framework goroutines remain
				return nil
			}
			return fmt.Errorf("goroutine leak: %d before, %d after:\n%s", before, n, strings.Join(leaked, "\n\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

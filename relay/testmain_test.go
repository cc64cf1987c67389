package relay

import (
	"flag"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"testing"
	"time"
)

// TestMain fails the run if goroutines outlive the tests: every session,
// committer and store must wind down by itself.
func TestMain(m *testing.M) {
	before := runtime.NumGoroutine()
	code := m.Run()
	// Under go test -fuzz the fuzzing engine keeps a goroutine of its own
	// (os/signal's) past the tests: only plain runs are held to it.
	if f := flag.Lookup("test.fuzz"); code == 0 && (f == nil || f.Value.String() == "") {
		if err := settle(before, 15*time.Second); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// settle waits until at most want goroutines run, or reports the extra ones.
func settle(want int, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		n := runtime.NumGoroutine()
		if n <= want {
			return nil
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			return fmt.Errorf("goroutine leak: %d running after the tests, %d before\n%s", n, want, buf)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// equal fails t unless got and want are deeply equal.
func equal[T any](t testing.TB, got, want T, what string) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: got %+v, want %+v", what, got, want)
	}
}

// ok fails t on err.
func ok(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

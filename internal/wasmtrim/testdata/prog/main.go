// Command prog exercises what a Go js/wasm program needs from the function
// table once wasmtrim has run: goroutines and stack growth, the garbage
// collector scanning deep stacks, defer, panic and recover, and
// runtime.Caller. It prints what runtime.Caller answered and "ok".
package main

import (
	"fmt"
	"runtime"
	"strings"
)

type node struct {
	next *node
	buf  []byte
}

// deep recurses n times holding a pointer in every frame, collects garbage
// at the bottom and checks that every frame's pointer survived.
func deep(n int, keep *node) int {
	if n == 0 {
		runtime.GC()
		sum := 0
		for p := keep; p != nil; p = p.next {
			sum += len(p.buf)
		}
		return sum
	}
	return deep(n-1, &node{next: keep, buf: make([]byte, n%7)})
}

func recovers() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("recovered: %v", r)
		}
	}()
	var m map[string]int
	m["x"] = 1 // panics: assignment to entry in nil map
	return nil
}

func main() {
	done := make(chan int)
	for i := range 8 {
		go func() { done <- deep(2000+i, nil) }()
	}
	want := 0
	for n := 1; n <= 2000; n++ {
		want += n % 7
	}
	for range 8 {
		if got := <-done; got < want {
			panic(fmt.Sprintf("deep: %d bytes reachable, want at least %d", got, want))
		}
	}
	if err := recovers(); err == nil || !strings.Contains(err.Error(), "nil map") {
		panic(fmt.Sprintf("recover: %v", err))
	}
	pc, file, line, _ := runtime.Caller(0)
	name := runtime.FuncForPC(pc).Name()
	if i := strings.LastIndexByte(file, '/'); i >= 0 {
		file = file[i+1:]
	}
	fmt.Printf("caller %s %s:%d\n", name, file, line)
	fmt.Println("ok")
}

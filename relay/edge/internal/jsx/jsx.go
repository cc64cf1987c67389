//go:build js && wasm

// Package jsx holds the few syscall/js helpers the Worker's Go code shares:
// awaiting a Promise from a goroutine, answering JavaScript with one, and
// moving bytes across.
//
// Await blocks its goroutine until the Promise settles, which needs the
// JavaScript event loop to run: it must never be called on the goroutine of
// a js.FuncOf callback (Go's wasm runtime would deadlock), only on one of
// its own, such as the goroutine Promise starts.
package jsx

import (
	"errors"
	"syscall/js"
)

// Await waits for p and returns its value, or its rejection as an error.
func Await(p js.Value) (js.Value, error) {
	type settled struct {
		v   js.Value
		err error
	}
	ch := make(chan settled, 1)
	then := js.FuncOf(func(_ js.Value, a []js.Value) any {
		ch <- settled{v: arg(a)}
		return nil
	})
	catch := js.FuncOf(func(_ js.Value, a []js.Value) any {
		ch <- settled{err: Error(arg(a))}
		return nil
	})
	p.Call("then", then, catch)
	s := <-ch
	then.Release()
	catch.Release()
	return s.v, s.err
}

func arg(a []js.Value) js.Value {
	if len(a) == 0 {
		return js.Undefined()
	}
	return a[0]
}

// Error turns a JavaScript exception or rejection reason into an error.
func Error(v js.Value) error {
	if v.Type() == js.TypeObject {
		if m := v.Get("message"); m.Type() == js.TypeString {
			return errors.New(m.String())
		}
	}
	if v.Type() == js.TypeString {
		return errors.New(v.String())
	}
	return errors.New(js.Global().Get("String").Invoke(v).String())
}

// Promise runs f on a goroutine of its own and returns a Promise of its
// result: a js.FuncOf callback answers with it instead of blocking.
func Promise(f func() (any, error)) js.Value {
	var exec js.Func
	exec = js.FuncOf(func(_ js.Value, a []js.Value) any {
		resolve, reject := a[0], a[1]
		go func() {
			v, err := f()
			if err != nil {
				reject.Invoke(js.Global().Get("Error").New(err.Error()))
				return
			}
			resolve.Invoke(v)
		}()
		return nil
	})
	p := js.Global().Get("Promise").New(exec)
	exec.Release() // the executor runs at once, inside New
	return p
}

// Bytes copies a Uint8Array or an ArrayBuffer into Go.
func Bytes(v js.Value) []byte {
	if v.InstanceOf(js.Global().Get("ArrayBuffer")) {
		v = js.Global().Get("Uint8Array").New(v)
	}
	b := make([]byte, v.Get("length").Int())
	js.CopyBytesToGo(b, v)
	return b
}

// Uint8Array copies b into a new Uint8Array.
func Uint8Array(b []byte) js.Value {
	u := js.Global().Get("Uint8Array").New(len(b))
	js.CopyBytesToJS(u, b)
	return u
}

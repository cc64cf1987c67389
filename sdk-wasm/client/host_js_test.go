package client

import (
	"reflect"
	"syscall/js"
	"testing"
)

// recordingHosts makes two JavaScript hosts that log every call into one
// list: a has onEvents (and an onEvent that must not be called), b has
// onEvent only.
const recordingHosts = `
const calls = [];
const a = {
  onEvents: (evs) => calls.push('a.onEvents ' + evs.map((e) => e.kind).join(',')),
  onEvent: (e) => calls.push('a.onEvent ' + e.kind),
};
const b = { onEvent: (e) => calls.push('b.onEvent ' + e.kind) };
return { calls, a, b };`

// TestHostEventsCrossTogether queues events for two hosts with other host
// calls between them: each run of events for one host crosses in one call
// (onEvents when the host has it, else onEvent once each), and every call
// keeps its place in the queue. The queue copies each event's text: the
// caller writes every one into the same buffer. Two rounds: the second
// reuses what the first grew.
func TestHostEventsCrossTogether(t *testing.T) {
	for round := range 2 {
		hostEventsRound(t, round)
	}
}

func hostEventsRound(t *testing.T, round int) {
	hs := js.Global().Get("Function").New(recordingHosts).Invoke()
	a, b, calls := hs.Get("a"), hs.Get("b"), hs.Get("calls")
	var buf []byte
	ev := func(kind string) []byte {
		buf = append(buf[:0], `{"kind":"`+kind+`"}`...)
		return buf
	}
	done := make(chan struct{})
	CallHostEvent(a, ev("a1"), nil)
	CallHostEvent(a, ev("a2"), nil)
	CallHost(func() { calls.Call("push", "other") })
	CallHostEvent(a, ev("a3"), nil)
	CallHostEvent(b, ev("b1"), nil)
	CallHostEvent(b, ev("b2"), nil)
	CallHostEvent(a, ev("a4"), nil)
	CallHost(func() { close(done) })
	<-done
	var got []string
	for i := 0; i < calls.Length(); i++ {
		got = append(got, calls.Index(i).String())
	}
	want := []string{"a.onEvents a1,a2", "other", "a.onEvents a3", "b.onEvent b1", "b.onEvent b2", "a.onEvents a4"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round %d: host calls:\n got %q\nwant %q", round, got, want)
	}
}

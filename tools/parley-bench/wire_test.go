package main

import (
	"math"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/tools/parley-bench/internal/wiretext"
	"github.com/parley-im/parley/tools/parley-bench/internal/ws"
	"golang.org/x/sys/unix"
)

// TestHistQuantile: a quantile lands within one bucket (1 %) above the
// true value, and merged histograms give the quantiles of the union.
func TestHistQuantile(t *testing.T) {
	t.Parallel()
	a, b := hist{}, hist{}
	for i := 1; i <= 1000; i++ {
		a.add(float64(i) * 1000) // 1..1000 ms in µs
		b.add(float64(i+1000) * 1000)
	}
	a.merge(b)
	if n := a.count(); n != 2000 {
		t.Fatalf("count %d", n)
	}
	for _, c := range []struct{ q, want float64 }{{0.5, 1000}, {0.99, 1980}, {1, 2000}} {
		got := a.quantile(c.q)
		if got < c.want || got > c.want*histBase*1.0001 {
			t.Errorf("q%v = %v ms, want %v ms within 1 %%", c.q, got, c.want)
		}
	}
	if !math.IsNaN(hist{}.quantile(0.5)) {
		t.Error("empty histogram has a quantile")
	}
}

func TestFanKnee(t *testing.T) {
	t.Parallel()
	mk := func(rate, p99, lost, del float64) *scenarioResult {
		s := &scenarioResult{Name: "fanout " + fmtNum(rate, 0), defs: wireDefs}
		r := newRun(1)
		r.set("offered_per_s", rate)
		r.set("deliver_p99_ms", p99)
		r.set("lost", lost)
		r.set("delivered_per_s", del)
		s.Runs = []*runResult{r}
		s.summarize()
		return s
	}
	rate, del := fanKnee([]*scenarioResult{mk(2000, 10, 0, 18000), mk(5000, 20, 0, 45000), mk(10000, 300, 0, 60000), mk(20000, 5, 3, 1)})
	if rate != 5000 || del != 45000 {
		t.Fatalf("knee %v at %v deliveries/s, want 5000 at 45000", rate, del)
	}
	if rate, _ := fanKnee([]*scenarioResult{mk(2000, 30, 0, 1)}); rate != 0 {
		t.Fatalf("knee %v, want none", rate)
	}
}

// TestWireFrames: the poll loop's frame handling counts each delivery once,
// tells duplicates and deliveries the bench did not send apart, skips group
// notices, and records acks and refusals — from WebSocket bytes as they
// come off the socket.
func TestWireFrames(t *testing.T) {
	t.Parallel()
	job := wireJob{Users: []string{"a", "b"}, Convs: []wireConv{{ID: "g1", Members: []int{0, 1}, Group: true}}, Own: []int{1}, Count: 3}
	w := newWireRun(job)
	w.w0, w.w1 = 1_000_000, 2_000_000 // ns
	b := w.bots[0]
	b.rd = ws.NewReader(16)
	deliver := func(conv, sender, text string) []byte {
		return proto.MustEncode(proto.Frame{Type: proto.TypeDeliver, Body: &proto.Deliver{Message: proto.Message{
			ConvID: conv, Seq: 1, Sender: sender, ClientID: "c", MsgType: proto.MsgText, Text: text}}})
	}
	var in []byte
	for _, m := range [][]byte{
		deliver("g1", "a", wiretext.Format(0, 1_200_000, 1_500_000, false)), // counted, in the window, admitted on its second attempt
		deliver("g1", "a", wiretext.Format(0, 1_200_000, 1_500_000, false)), // duplicate
		deliver("g1", "a", wiretext.Format(1, 500_000, 500_000, true)),      // counted, before the window, first
		deliver("g1", "z", wiretext.Format(2, 1_500_000, 1_500_000, false)), // unknown sender
		deliver("g9", "a", wiretext.Format(2, 1_500_000, 1_500_000, false)), // not b's conversation
		deliver("g1", "a", wiretext.Format(3, 1_500_000, 1_500_000, false)), // beyond what a may send
		deliver("g1", "a", ""), // group notice
		deliver("g1", "b", wiretext.Format(0, 1_500_000, 1_500_000, false)), // b's own message
		proto.MustEncode(proto.Frame{Type: proto.TypeAck, ID: 1, Body: &proto.Ack{ConvID: "g1", ClientID: "c0", Seq: 2}}),
		proto.MustEncode(proto.Frame{Type: proto.TypeError, ID: 2, Body: &proto.ErrorBody{Code: 4301}}),
		{0xff},
	} {
		in = ws.AppendServerFrame(in, true, ws.Binary, m)
	}
	for len(in) > 0 { // in 16-byte reads, so frames straddle reads
		n := copy(b.rd.Space(), in[:min(16, len(in))])
		b.rd.Wrote(n)
		in = in[n:]
		if !w.frames(b, 1_800_000) {
			t.Fatal("connection dropped")
		}
	}
	r := w.report()
	if r.Unique != 2 || r.Dups != 1 || r.Strange != 3 || r.PeekFails != 1 || r.Refused["4301"] != 1 {
		t.Fatalf("unique %d dups %d strange %d peek failures %d refused %v", r.Unique, r.Dups, r.Strange, r.PeekFails, r.Refused)
	}
	if r.Deliver.count() != 1 || r.Admitted.count() != 1 || r.First.count() != 1 || r.ArrWin != 2 {
		t.Fatalf("deliver samples %d, admitted %d, first %d, arrived in the window %d",
			r.Deliver.count(), r.Admitted.count(), r.First.count(), r.ArrWin)
	}
	if len(r.BySecond) != 1 || r.BySecond[0].count() != 1 {
		t.Fatalf("by second: %v, want the one delivery in the window's first second", r.BySecond)
	}
	// Message 0 was first sent at 1.2 ms and admitted at 1.5 ms; it
	// arrived at 1.8 ms.
	if got := r.Deliver.quantile(1); got < 0.6 || got > 0.6*histBase {
		t.Errorf("from the first send: %v ms, want 0.6", got)
	}
	if got := r.Admitted.quantile(1); got < 0.3 || got > 0.3*histBase {
		t.Errorf("from the admitted attempt: %v ms, want 0.3", got)
	}
	if b.ackAt[0].Load() != 1_800_000 || b.ackAt[1].Load() != -1 || b.ackAt[2].Load() != 0 {
		t.Fatalf("acks %d %d %d", b.ackAt[0].Load(), b.ackAt[1].Load(), b.ackAt[2].Load())
	}
	// A protocol error ends the connection, loudly.
	b.rd.Wrote(copy(b.rd.Space(), []byte{0x82, 0x81, 0, 0, 0, 0, 0}))
	if w.frames(b, 1_900_000) {
		t.Fatal("a masked server frame was read")
	}
}

// A talker holds its new messages for the retry hint after a refusal, then
// resends the refused ones oldest first, as the SDK's outbox does.
func TestWireRetry(t *testing.T) {
	t.Parallel()
	var r wireRetry
	t0 := time.Unix(100, 0)
	if _, ok, hold := r.next(t0); ok || hold {
		t.Fatalf("nothing refused: ok %v hold %v", ok, hold)
	}
	r.refused(7, t0)
	r.refused(3, t0.Add(time.Millisecond))
	if _, ok, hold := r.next(t0.Add(wireRetryAfter - time.Millisecond)); ok || !hold {
		t.Fatalf("within the hint: ok %v hold %v, want a hold", ok, hold)
	}
	for _, want := range []int{3, 7} {
		k, ok, _ := r.next(t0.Add(wireRetryAfter))
		if !ok || k != want {
			t.Fatalf("resend %d %v, want %d", k, ok, want)
		}
	}
	if _, ok, hold := r.next(t0.Add(wireRetryAfter)); ok || hold {
		t.Fatalf("all resent: ok %v hold %v", ok, hold)
	}
}

// TestWireResend: a resend carries the message's client id, its first send
// time and its own attempt time, so a receiver can measure both; a first
// message stays flagged; the refusal it answers is forgotten.
func TestWireResend(t *testing.T) {
	t.Parallel()
	job := wireJob{Users: []string{"a", "b"}, Convs: []wireConv{{ID: "g1", Members: []int{0, 1}, Group: true}}, Own: []int{0}, Count: 3, First: true}
	w := newWireRun(job)
	b := w.bots[0]
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	b.fd = fds[0]
	defer b.close()
	defer unix.Close(fds[1])
	const first = int64(1764072000123456789)
	b.sentAt[2].Store(first)
	b.tryAt[2].Store(first)
	b.ackAt[2].Store(-1)
	b.isFirst[2] = true
	if !w.resend(b, 2) {
		t.Fatal("resend failed")
	}
	buf := make([]byte, 512)
	n, err := unix.Read(fds[1], buf)
	if err != nil {
		t.Fatal(err)
	}
	// A client frame: FIN|binary, MASK|length (short here), the key, the
	// masked payload.
	m := buf[:n]
	if m[0] != 0x80|ws.Binary || m[1]&0x80 == 0 || int(m[1]&0x7f) != n-6 {
		t.Fatalf("frame head %x", m[:2])
	}
	p := m[6:]
	for i := range p {
		p[i] ^= m[2+i&3]
	}
	f, err := proto.Decode(p, 0)
	if err != nil {
		t.Fatal(err)
	}
	s, ok := f.Body.(*proto.Send)
	if !ok || f.ID != 3 || s.ClientID != "c2" || s.ConvID != "g1" {
		t.Fatalf("resent %+v %+v", f, f.Body)
	}
	k, at, try, fst, ok := wiretext.Parse([]byte(s.Text))
	if !ok || k != 2 || at != first || try <= first || try != b.tryAt[2].Load() || !fst {
		t.Fatalf("resent text %q: k %d first send %d attempt %d (recorded %d) first %v", s.Text, k, at, try, b.tryAt[2].Load(), fst)
	}
	if b.ackAt[2].Load() != 0 || b.sentAt[2].Load() != first {
		t.Fatalf("after the resend: ack %d, first send %d", b.ackAt[2].Load(), b.sentAt[2].Load())
	}
}

package main

import (
	"context"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestWireRunAgainstRelay runs the wire generator's worker side in process
// against a real parley-relay process: group fan-out and first messages
// into p2p conversations, at a rate this machine carries whatever else
// runs. Every delivery owed arrives exactly once, every send is acked, no
// frame goes unread, and the histograms hold one sample per message (per
// delivery: one from the first send, one from the admitted attempt).
func TestWireRunAgainstRelay(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "parley-relay")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/parley-im/parley/relay/cmd/parley-relay")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("building parley-relay: %v", err)
	}
	burst, admin, _, err := relayFeatures(ctx, bin)
	if err != nil {
		t.Fatal(err)
	}
	rp, err := startRelay(ctx, relayConfig{bin: bin, burst: burst, admin: admin})
	if err != nil {
		t.Fatal(err)
	}
	defer rp.stop()

	for _, c := range []struct {
		name  string
		cast  cast
		first bool
	}{
		{"fanout 5 rooms × 6", roomsCast(5, 6, 0), false},
		{"p2p 40 users", contactsCast(40, 1, 7), true},
	} {
		job := wireJob{URL: rp.wsURL(), Users: c.cast.users, Talk: c.cast.talks, First: c.first,
			Warm: int64(200 * time.Millisecond), Dur: int64(time.Second)}
		for _, cv := range c.cast.convs {
			job.Convs = append(job.Convs, wireConv{ID: cv.id, Members: cv.members, Group: cv.group})
		}
		const rate = 150.0 // msg/s over all talkers
		every := time.Duration(float64(c.cast.senders()) / rate * float64(time.Second))
		job.Every = int64(every)
		job.Count = int(time.Duration(job.Warm+job.Dur)/every) + 2
		for i := range job.Users {
			job.Own = append(job.Own, i)
		}
		w := newWireRun(job)
		if err := w.connect(ctx); err != nil {
			t.Fatalf("%s: connect: %v", c.name, err)
		}
		sent := w.run(ctx, time.Now().Add(50*time.Millisecond).UnixNano())
		// Wait for what is owed, or until nothing arrives for 5 s.
		for last, moved := int64(-1), time.Now(); w.unique.Load() < sent.Owed && time.Since(moved) < 5*time.Second; {
			if n := w.unique.Load(); n != last {
				last, moved = n, time.Now()
			}
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(300 * time.Millisecond) // room for a duplicate to show
		r := w.report()
		if sent.Sent == 0 || r.Unique != sent.Owed || r.Dups != 0 || r.Strange != 0 || r.PeekFails != 0 ||
			r.Unacked != 0 || len(r.Refused) != 0 || len(r.Closed) != 0 || r.SendErrs != 0 {
			t.Fatalf("%s: sent %d owed %d: %+v", c.name, sent.Sent, sent.Owed, r)
		}
		fan := int64(c.cast.fan())
		if r.SentWin == 0 || r.Ack.count() != r.SentWin || r.Deliver.count() != r.SentWin*fan {
			t.Fatalf("%s: %d sent in the window, %d ack samples, %d delivery samples (fan %d)",
				c.name, r.SentWin, r.Ack.count(), r.Deliver.count(), fan)
		}
		// Nothing was refused, so every message was admitted on its first
		// send: the two measures are the same samples.
		if r.Admitted.count() != r.Deliver.count() || !maps.Equal(r.Admitted, r.Deliver) {
			t.Fatalf("%s: nothing refused, yet %d samples from the admitted attempt differ from %d from the first send",
				c.name, r.Admitted.count(), r.Deliver.count())
		}
		if c.first && r.First.count() != int64(len(job.Users)) {
			t.Fatalf("%s: %d first-message samples for %d talkers", c.name, r.First.count(), len(job.Users))
		}
		if p99 := r.Deliver.quantile(0.99); !(p99 > 0 && p99 < 10_000) {
			t.Fatalf("%s: send → delivered p99 %v ms", c.name, p99)
		}
	}
	// Stopping the relay ends every connection, and with them the poll
	// loops.
}

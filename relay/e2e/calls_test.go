package e2e

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/callpeer"
	"github.com/parley-im/parley/sdk-wasm/callpeer/callpeertest"
	"github.com/parley-im/parley/sdk-wasm/core"
	"github.com/pion/webrtc/v4"
)

// Calls whose devices are on different relay nodes: two relay processes on
// one PostgreSQL schema and one NATS server, native pion peers
// (sdk-wasm/callpeer) for the media.

// videoTracks sends a VP8 track of dummy frames for as long as the call
// lasts.
func videoTracks(t *testing.T) func(c *callpeer.Call) []webrtc.TrackLocal {
	return func(c *callpeer.Call) []webrtc.TrackLocal {
		track, err := callpeertest.VideoTrack(c.Ended())
		if err != nil {
			t.Error(err)
			return nil
		}
		return []webrtc.TrackLocal{track}
	}
}

// callee is a device answering calls with pion: incoming calls arrive on
// rings, RTP packets from the caller are counted.
type callee struct {
	peer    *callpeer.Peer
	rings   chan *callpeer.Call
	packets atomic.Int64
}

func newCallee(t *testing.T, d *device) *callee {
	ce := &callee{rings: make(chan *callpeer.Call, 4)}
	ce.peer = callpeer.New(d.c, callpeer.Options{API: callpeertest.LoopbackAPI(),
		OnIncoming: func(c *callpeer.Call) { ce.rings <- c },
		OnTrack: func(_ *callpeer.Call, _ string, tr *webrtc.TrackRemote) {
			for {
				if _, _, err := tr.ReadRTP(); err != nil {
					return
				}
				ce.packets.Add(1)
			}
		}})
	t.Cleanup(ce.peer.Close)
	return ce
}

func (ce *callee) ring(t *testing.T, what string) *callpeer.Call {
	t.Helper()
	select {
	case c := <-ce.rings:
		return c
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: no ring", what)
		return nil
	}
}

func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(45 * time.Second):
		t.Fatalf("%s: timed out", what)
	}
}

// waitPackets waits until ce counted more than n RTP packets.
func (ce *callee) waitPackets(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for ce.packets.Load() <= n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d RTP packets received", ce.packets.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitOnline waits until watcher's relay says user is online: the store's
// presence, written by the node holding user's session, is what tells
// another node that a callee it holds no session of can be rung.
func waitOnline(t *testing.T, ctx context.Context, watcher *device, user string) {
	t.Helper()
	for {
		ps, err := watcher.c.SubscribePresence(ctx, []string{user}, 0)
		if err == nil && len(ps) == 1 && ps[0].Online {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s never online: %v %+v", user, err, ps)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// recordOf waits for the call record in d's history of conv.
func recordOf(t *testing.T, ctx context.Context, d *device, conv string) proto.CallRecord {
	t.Helper()
	for {
		ms, err := d.c.Messages(ctx, conv, 0, 10)
		if err == nil {
			for _, m := range ms {
				if m.Type == proto.MsgCall {
					var r proto.CallRecord
					if err := json.Unmarshal(m.Body, &r); err != nil {
						t.Fatal(err)
					}
					return r
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: no call record in %s (%v)", d.name, conv, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func connectAll(t *testing.T, ctx context.Context, ds ...*device) {
	t.Helper()
	for _, d := range ds {
		if err := d.c.Connect(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCallAcrossRelays: alice on relay A calls bob, whose devices are one
// on A and one on relay B. Both ring; bob answers on B, so his device on A
// stops with answeredElsewhere. The offer, answer and candidates cross the
// relays through NATS, the media flows between the pion peers, alice hangs
// up and both bob's devices and alice's hold the call record.
func TestCallAcrossRelays(t *testing.T) {
	c := startCluster(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	alice := newDevice(t, c.relays[0].wsURL(), "alice", "alice-a", 1, nil)
	bobA := newDevice(t, c.relays[0].wsURL(), "bob", "bob-a", 2, nil)
	bobB := newDevice(t, c.relays[1].wsURL(), "bob", "bob-b", 3, nil)
	connectAll(t, ctx, alice, bobA, bobB)
	onA, onB := newCallee(t, bobA), newCallee(t, bobB)
	caller := callpeer.New(alice.c, callpeer.Options{API: callpeertest.LoopbackAPI(), Tracks: videoTracks(t)})
	t.Cleanup(caller.Close)

	conv := proto.P2PID("alice", "bob")
	out, err := caller.PlaceCall(ctx, conv, true, true)
	if err != nil {
		t.Fatal(err)
	}
	ringA, ringB := onA.ring(t, "bob on A"), onB.ring(t, "bob on B")
	for _, r := range []*callpeer.Call{ringA, ringB} {
		if info := r.Info(); info.ID != out.ID || info.From != "alice" || info.State != core.CallRinging || !info.Video {
			t.Fatalf("ring %+v", info)
		}
	}
	if err := ringB.Accept(ctx, true, true); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, ringA.Ended(), "bob's device on A stops ringing")
	if r, _ := ringA.Reason(); r != proto.CallAnsweredElsewhere {
		t.Fatalf("bob's device on A ended with %q", r)
	}
	waitClosed(t, out.Connected(), "caller connected")
	waitClosed(t, ringB.Connected(), "callee connected")
	onB.waitPackets(t, 25)
	if n := onA.packets.Load(); n != 0 {
		t.Fatalf("the device that did not answer received %d packets", n)
	}
	if st, _ := alice.c.Call(out.ID); st.State != core.CallConnected {
		t.Fatalf("caller's call state %s", st.State)
	}
	if err := out.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, out.Ended(), "caller's end")
	waitClosed(t, ringB.Ended(), "callee's end on B")
	for _, call := range []*callpeer.Call{out, ringB} {
		if r, d := call.Reason(); r != proto.CallHangup || d <= 0 {
			t.Fatalf("ended %q after %d ms", r, d)
		}
	}
	for _, d := range []*device{alice, bobA, bobB} {
		rec := recordOf(t, ctx, d, conv)
		if rec.CallID != out.ID || rec.Outcome != "completed" || rec.Media != "video" || rec.DurationMs <= 0 {
			t.Fatalf("%s: record %+v", d.name, rec)
		}
	}
}

// TestCallAcrossRelaysNodeLost: a relay killed mid-call ends the call for
// the devices on the surviving relay within --call-node-timeout, with
// reason failed. When the callee's relay dies, the caller's relay (which
// owns the call) ends it and writes the record; when the caller's relay
// dies, the call's state dies with it and the callee's relay ends the call
// for the callee (no record: the owner is gone).
func TestCallAcrossRelaysNodeLost(t *testing.T) {
	for _, lost := range []string{"callee's relay", "caller's relay"} {
		t.Run(lost, func(t *testing.T) {
			c := startCluster(t, 2, "--call-node-timeout", "3s")
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			alice := newDevice(t, c.relays[0].wsURL(), "alice", "alice-a", 1, nil)
			bob := newDevice(t, c.relays[1].wsURL(), "bob", "bob-b", 2, nil)
			connectAll(t, ctx, alice, bob)
			waitOnline(t, ctx, alice, "bob")
			onB := newCallee(t, bob)
			caller := callpeer.New(alice.c, callpeer.Options{API: callpeertest.LoopbackAPI(), Tracks: videoTracks(t)})
			t.Cleanup(caller.Close)
			conv := proto.P2PID("alice", "bob")
			out, err := caller.PlaceCall(ctx, conv, false, true)
			if err != nil {
				t.Fatal(err)
			}
			in := onB.ring(t, "bob on B")
			if err := in.Accept(ctx, false, true); err != nil {
				t.Fatal(err)
			}
			waitClosed(t, out.Connected(), "caller connected")
			onB.waitPackets(t, 10)

			survivor := out
			if lost == "caller's relay" {
				survivor = in
				c.relays[0].kill9()
			} else {
				c.relays[1].kill9()
			}
			waitClosed(t, survivor.Ended(), "the survivor's end")
			if r, _ := survivor.Reason(); r != proto.CallFailed {
				t.Fatalf("the survivor's call ended with %q", r)
			}
			if lost == "callee's relay" {
				rec := recordOf(t, ctx, alice, conv)
				if rec.CallID != out.ID || rec.Outcome != "completed" || rec.DurationMs <= 0 {
					t.Fatalf("record %+v", rec)
				}
			}
		})
	}
}

//go:build !js

package callpeer

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay"
	"github.com/parley-im/parley/relay/turnserver"
	"github.com/parley-im/parley/sdk-wasm/callpeer/callpeertest"
	"github.com/parley-im/parley/sdk-wasm/client"
	"github.com/parley-im/parley/sdk-wasm/core"
	"github.com/pion/webrtc/v4"
)

const secret = "callpeer-test-secret-0123456789abcdef"

// startRelay runs an in-process relay with a memory store on loopback.
func startRelay(t *testing.T, calls relay.CallOptions) string {
	t.Helper()
	srv, err := relay.New(relay.Options{Data: t.TempDir(), Secret: secret, Store: relay.NewMemoryStore(), Calls: calls})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-served
	})
	return "ws://" + ln.Addr().String() + "/v1/ws"
}

func connect(t *testing.T, url, user, device string) *client.Client {
	t.Helper()
	tok, err := relay.MintToken(secret, user, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Options{URL: url, Token: tok, Config: core.Config{DeviceID: device}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

// videoSender returns Tracks that send a VP8 track of dummy frames for as
// long as the call lasts.
func videoSender(t *testing.T) func(c *Call) []webrtc.TrackLocal {
	return func(c *Call) []webrtc.TrackLocal {
		track, err := callpeertest.VideoTrack(c.Ended())
		if err != nil {
			t.Error(err)
			return nil
		}
		return []webrtc.TrackLocal{track}
	}
}

func wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: timed out", what)
	}
}

// TestCallMedia: two native clients call through the real relay, ICE
// connects, the caller's video track reaches the callee (RTP packets
// counted), hang-up ends both sides, and both have the call record. The
// "turn" case runs the embedded TURN server and allows relayed candidates
// only: the media flows through TURN or not at all.
func TestCallMedia(t *testing.T) {
	for _, viaTURN := range []bool{false, true} {
		name := "host"
		if viaTURN {
			name = "turn"
		}
		t.Run(name, func(t *testing.T) {
			var calls relay.CallOptions
			if viaTURN {
				ts, err := turnserver.Start(turnserver.Config{Listen: "127.0.0.1:0", PublicIP: "127.0.0.1",
					Secret: "turn-secret", AllowPrivatePeers: true})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = ts.Close() })
				calls = relay.CallOptions{TURNURLs: ts.URLs(), TURNSecret: "turn-secret"}
			}
			url := startRelay(t, calls)
			alice := connect(t, url, "alice", "a1")
			bob := connect(t, url, "bob", "b1")
			conv := proto.P2PID("alice", "bob")

			var packets atomic.Int64
			incoming := make(chan *Call, 1)
			bobPeer := New(bob, Options{API: callpeertest.LoopbackAPI(), RelayOnly: viaTURN,
				OnIncoming: func(c *Call) { incoming <- c },
				OnTrack: func(_ *Call, peer string, tr *webrtc.TrackRemote) {
					if peer != "alice" {
						t.Errorf("track from %q", peer)
					}
					for {
						if _, _, err := tr.ReadRTP(); err != nil {
							return
						}
						packets.Add(1)
					}
				}})
			defer bobPeer.Close()
			alicePeer := New(alice, Options{API: callpeertest.LoopbackAPI(), RelayOnly: viaTURN, Tracks: videoSender(t)})
			defer alicePeer.Close()

			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			out, err := alicePeer.PlaceCall(ctx, conv, true, true)
			if err != nil {
				t.Fatal(err)
			}
			if viaTURN && len(out.Info().ICEServers) != 1 {
				t.Fatalf("ICE servers %+v", out.Info().ICEServers)
			}
			var in *Call
			select {
			case in = <-incoming:
			case <-time.After(10 * time.Second):
				t.Fatal("no ring")
			}
			if info := in.Info(); info.From != "alice" || info.State != core.CallRinging || !info.Video {
				t.Fatalf("incoming call %+v", info)
			}
			if err := in.Accept(ctx, true, true); err != nil {
				t.Fatal(err)
			}
			wait(t, out.Connected(), "caller connected")
			wait(t, in.Connected(), "callee connected")
			for packets.Load() < 25 {
				select {
				case <-ctx.Done():
					t.Fatalf("only %d RTP packets received", packets.Load())
				case <-time.After(20 * time.Millisecond):
				}
			}
			pair, err := out.PeerConnection("bob").GetSenders()[0].Transport().ICETransport().GetSelectedCandidatePair()
			if err != nil || pair == nil {
				t.Fatalf("selected pair %v %v", pair, err)
			}
			if viaTURN && pair.Local.Typ != webrtc.ICECandidateTypeRelay {
				t.Fatalf("relay-only call connected over %s", pair.Local.Typ)
			}
			t.Logf("%s: %d RTP packets, pair %s → %s", name, packets.Load(), pair.Local.Typ, pair.Remote.Typ)

			if st, _ := alice.Call(out.ID); st.State != core.CallConnected {
				t.Fatalf("caller's call state %s", st.State)
			}
			if err := out.Hangup(ctx); err != nil {
				t.Fatal(err)
			}
			wait(t, out.Ended(), "caller's end")
			wait(t, in.Ended(), "callee's end")
			for _, c := range []*Call{out, in} {
				if r, d := c.Reason(); r != proto.CallHangup || d <= 0 {
					t.Fatalf("ended %q after %d ms", r, d)
				}
			}
			for _, cl := range []*client.Client{alice, bob} {
				rec := callRecord(t, ctx, cl, conv)
				if rec.Outcome != "completed" || rec.Media != "video" || rec.CallID != out.ID || rec.DurationMs <= 0 {
					t.Fatalf("record %+v", rec)
				}
			}
		})
	}
}

// callRecord waits for the call record in conv.
func callRecord(t *testing.T, ctx context.Context, cl *client.Client, conv string) proto.CallRecord {
	t.Helper()
	for {
		ms, err := cl.Messages(ctx, conv, 0, 10)
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatal(err)
		}
		for _, m := range ms {
			if m.Type == proto.MsgCall {
				var r proto.CallRecord
				if err := json.Unmarshal(m.Body, &r); err != nil {
					t.Fatal(err)
				}
				return r
			}
		}
		select {
		case <-ctx.Done():
			t.Fatal("no call record")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

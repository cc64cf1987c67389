//go:build !js

package callpeer

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/callpeer/callpeertest"
	"github.com/parley-im/parley/sdk-wasm/client"
	"github.com/parley-im/parley/sdk-wasm/core"
	"github.com/pion/webrtc/v4"
)

// pipe is an in-memory connection to a client; the test plays the relay
// on the other end, frame by frame.
type pipe struct {
	toClient   chan []byte
	fromClient chan []byte
	ended      chan struct{}
	once       sync.Once
}

var _ client.Socket = (*pipe)(nil)

func (p *pipe) Read(ctx context.Context) ([]byte, error) {
	select {
	case b := <-p.toClient:
		return b, nil
	case <-p.ended:
		return nil, errors.New("pipe closed")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *pipe) Write(_ context.Context, b []byte) error {
	select {
	case p.fromClient <- b:
		return nil
	case <-p.ended:
		return errors.New("pipe closed")
	}
}

func (p *pipe) Close(proto.Code, string) error {
	p.once.Do(func() { close(p.ended) })
	return nil
}

// scripted is a client connected to a relay the test plays, with a
// callpeer on it. seen gets every event once the peer was handed it:
// handlers run in the order they were added, on one goroutine.
type scripted struct {
	t    *testing.T
	p    *pipe
	cl   *client.Client
	peer *Peer
	seen chan core.Event
}

func newScripted(t *testing.T, user string, opts Options) *scripted {
	t.Helper()
	s := &scripted{t: t, p: &pipe{toClient: make(chan []byte, 64), fromClient: make(chan []byte, 64), ended: make(chan struct{})},
		seen: make(chan core.Event, 64)}
	dialed := false
	cl, err := client.New(client.Options{URL: "ws://scripted", Token: "t", Seed: 1,
		Config: core.Config{DeviceID: user + "-1"},
		Dial: func(context.Context, string) (client.Socket, error) {
			if dialed {
				return nil, errors.New("one connection only")
			}
			dialed = true
			return s.p, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	s.cl = cl
	s.peer = New(cl, opts)
	t.Cleanup(s.peer.Close)
	cl.On(func(e core.Event) { s.seen <- e })

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	connected := make(chan error, 1)
	go func() { connected <- cl.Connect(ctx) }()
	hello := s.next()
	if hello.Type != proto.TypeHello {
		t.Fatalf("first frame %s", hello.Type)
	}
	s.send(proto.TypeWelcome, hello.ID, &proto.Welcome{Version: proto.Version, UserID: user, Epoch: "e1"})
	sync := s.next()
	if sync.Type != proto.TypeSync {
		t.Fatalf("frame after welcome %s", sync.Type)
	}
	s.send(proto.TypeSyncResult, sync.ID, &proto.SyncResult{})
	if err := <-connected; err != nil {
		t.Fatal(err)
	}
	return s
}

// next returns the next frame the client wrote, heartbeats left out.
func (s *scripted) next() proto.Frame {
	s.t.Helper()
	for {
		select {
		case b := <-s.p.fromClient:
			f, err := proto.Decode(b, 0)
			if err != nil {
				s.t.Fatal(err)
			}
			if f.Type != proto.TypePing && f.Type != proto.TypePong {
				return f
			}
		case <-time.After(10 * time.Second):
			s.t.Fatal("the client wrote nothing")
		}
	}
}

// nextOf returns the next frame of type typ the client wrote; what the
// client asks for meanwhile (its user feed) stays unanswered.
func (s *scripted) nextOf(typ proto.Type) proto.Frame {
	s.t.Helper()
	for {
		if f := s.next(); f.Type == typ {
			return f
		}
	}
}

func (s *scripted) send(t proto.Type, id uint64, body any) {
	s.p.toClient <- proto.MustEncode(proto.Frame{Type: t, ID: id, Body: body})
}

// handed waits until the peer was handed an event of kind.
func (s *scripted) handed(kind core.EventKind) {
	s.t.Helper()
	for {
		select {
		case e := <-s.seen:
			if e.Kind == kind {
				return
			}
		case <-time.After(10 * time.Second):
			s.t.Fatalf("no %s event", kind)
		}
	}
}

// signalOf waits for the peer to send a signal of kind, answering every
// signal as the relay does.
func (s *scripted) signalOf(kind string) *proto.CallSignal {
	s.t.Helper()
	for {
		f := s.nextOf(proto.TypeCallSignal)
		s.send(proto.TypeOK, f.ID, nil)
		if b := f.Body.(*proto.CallSignal); b.Kind == kind {
			return b
		}
	}
}

// TestEventsBeforeTheAnswer: the client returns a request's answer to the
// caller of PlaceCall or Accept on one goroutine and hands the events that
// follow it to the peer on another, so the peer can hear of what the
// answer allowed before the request returns. The scripted relay sends
// those events ahead of the answer and lets the answer go only once the
// peer has them: the order a loaded machine can make of the real one. The
// caller still offers to a callee whose join came first, the callee still
// answers an offer that came first, and a call that ended before PlaceCall
// returned still ends.
func TestEventsBeforeTheAnswer(t *testing.T) {
	t.Parallel()
	conv := proto.P2PID("alice", "bob")

	t.Run("place/joined first/offered", func(t *testing.T) {
		t.Parallel()
		ctx := testContext(t)
		s := newScripted(t, "alice", Options{API: callpeertest.LoopbackAPI()})
		placed := make(chan error, 1)
		go func() {
			_, err := s.peer.PlaceCall(ctx, conv, true, false)
			placed <- err
		}()
		inv := s.nextOf(proto.TypeCallInvite)
		id := inv.Body.(*proto.CallInvite).CallID
		s.send(proto.TypeCallState, 0, &proto.CallState{CallID: id, State: proto.CallStateJoined, User: "bob"})
		s.handed(core.EventCall)
		s.send(proto.TypeCallInfo, inv.ID, &proto.CallInfo{CallID: id, Peers: []string{"bob"}})
		if err := <-placed; err != nil {
			t.Fatal(err)
		}
		if o := s.signalOf(proto.SignalOffer); o.Peer != "bob" || o.CallID != id {
			t.Fatalf("offer %+v", o)
		}
	})

	t.Run("accept/offer first/answered", func(t *testing.T) {
		t.Parallel()
		ctx := testContext(t)
		rings := make(chan *Call, 1)
		s := newScripted(t, "bob", Options{API: callpeertest.LoopbackAPI(), OnIncoming: func(c *Call) { rings <- c }})
		s.send(proto.TypeCallRing, 0, &proto.CallRing{CallID: "c1", ConvID: conv, From: "alice", Audio: true,
			Peers: []string{"alice", "bob"}})
		var in *Call
		select {
		case in = <-rings:
		case <-time.After(10 * time.Second):
			t.Fatal("no ring")
		}
		accepted := make(chan error, 1)
		go func() { accepted <- in.Accept(ctx, true, false) }()
		acc := s.nextOf(proto.TypeCallAccept)
		s.send(proto.TypeCallSignal, 0, &proto.CallSignal{CallID: "c1", Peer: "alice", Kind: proto.SignalOffer, Data: offerSDP(t)})
		s.handed(core.EventCallSignal)
		s.send(proto.TypeCallInfo, acc.ID, &proto.CallInfo{CallID: "c1", Peers: []string{"alice"}})
		if err := <-accepted; err != nil {
			t.Fatal(err)
		}
		if a := s.signalOf(proto.SignalAnswer); a.Peer != "alice" || a.CallID != "c1" {
			t.Fatalf("answer %+v", a)
		}
	})

	// The relay's own order (answer, then the end of a call nobody can
	// answer): whether the end reaches the peer before PlaceCall returns
	// is left to the scheduler.
	t.Run("place/ended after the answer/ended", func(t *testing.T) {
		t.Parallel()
		ctx := testContext(t)
		s := newScripted(t, "alice", Options{API: callpeertest.LoopbackAPI()})
		placed := make(chan *Call, 1)
		go func() {
			c, err := s.peer.PlaceCall(ctx, conv, true, false)
			if err != nil {
				t.Error(err)
			}
			placed <- c
		}()
		inv := s.nextOf(proto.TypeCallInvite)
		id := inv.Body.(*proto.CallInvite).CallID
		s.send(proto.TypeCallInfo, inv.ID, &proto.CallInfo{CallID: id, Peers: []string{"bob"}})
		s.send(proto.TypeCallState, 0, &proto.CallState{CallID: id, State: proto.CallStateEnded, Reason: proto.CallUnavailable})
		c := <-placed
		if c == nil {
			return
		}
		select {
		case <-c.Ended():
		case <-time.After(10 * time.Second):
			t.Fatal("the call never ended")
		}
		if r, _ := c.Reason(); r != proto.CallUnavailable {
			t.Fatalf("ended with %q", r)
		}
	})
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// offerSDP is an audio offer of a pion peer connection.
func offerSDP(t *testing.T) string {
	t.Helper()
	pc, err := callpeertest.LoopbackAPI().NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	o, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetLocalDescription(o); err != nil {
		t.Fatal(err)
	}
	return o.SDP
}

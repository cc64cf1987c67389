//go:build !js

// Package callpeer lets a native Go client take part in calls: it answers
// the call signaling of a client.Client with pion/webrtc peer connections,
// one per other participant (a full mesh). Bots, recorders and tests use
// it; the browser build never imports it, so pion stays out of parley.wasm
// (browsers use their own RTCPeerConnection from TypeScript).
package callpeer

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/client"
	"github.com/parley-im/parley/sdk-wasm/core"
	"github.com/pion/webrtc/v4"
)

// Options configure a Peer. Zero fields take the documented defaults.
type Options struct {
	// API builds the peer connections. Defaults to webrtc.NewAPI() with
	// pion's default codecs and interceptors.
	API *webrtc.API
	// RelayOnly gathers and uses relayed (TURN) candidates only, hiding
	// this device's addresses from its peers. Defaults to false.
	RelayOnly bool
	// Tracks returns the local tracks to send in a call, once per call
	// when it is placed or accepted. Defaults to none: receive only.
	Tracks func(c *Call) []webrtc.TrackLocal
	// OnIncoming is called, on its own goroutine, for each call ringing
	// on this device; answer with Call.Accept or Call.Hangup.
	OnIncoming func(c *Call)
	// OnTrack is called, on pion's goroutine, for each remote track.
	OnTrack func(c *Call, peer string, t *webrtc.TrackRemote)
	// SignalTimeout bounds each signaling request. Defaults to 10 s.
	SignalTimeout time.Duration
}

// Peer runs the calls of one client.
type Peer struct {
	cl   *client.Client
	opts Options
	off  func()

	work chan func() // signaling, in order, on one goroutine
	quit chan struct{}
	done chan struct{}

	mu    sync.Mutex
	calls map[string]*Call

	// Owned by the signaling goroutine (hold).
	joining int                 // PlaceCall and Accept requests in flight
	held    map[string][]func() // call id → its events held meanwhile
}

// New attaches a Peer to cl. Close detaches it and ends its calls' media.
func New(cl *client.Client, opts Options) *Peer {
	if opts.API == nil {
		opts.API = webrtc.NewAPI()
	}
	if opts.SignalTimeout <= 0 {
		opts.SignalTimeout = 10 * time.Second
	}
	p := &Peer{cl: cl, opts: opts, work: make(chan func(), 4096), quit: make(chan struct{}), done: make(chan struct{}),
		calls: make(map[string]*Call), held: make(map[string][]func())}
	go p.run()
	p.off = cl.On(p.event)
	return p
}

// Close detaches the peer and closes every peer connection; it does not
// hang up (Call.Hangup does).
func (p *Peer) Close() {
	p.off()
	close(p.quit)
	<-p.done
	p.mu.Lock()
	calls := p.calls
	p.calls = map[string]*Call{}
	p.mu.Unlock()
	for _, c := range calls {
		c.closeMedia()
	}
}

func (p *Peer) run() {
	defer close(p.done)
	for {
		select {
		case f := <-p.work:
			f()
		case <-p.quit:
			return
		}
	}
}

// do queues f on the signaling goroutine.
func (p *Peer) do(f func()) {
	select {
	case p.work <- f:
	case <-p.quit:
	}
}

// event receives the client's events (on its dispatcher goroutine).
func (p *Peer) event(e core.Event) {
	switch e.Kind {
	case core.EventCall:
		ev := *e.Call
		p.do(func() { p.callEvent(ev) })
	case core.EventCallSignal:
		s := *e.Signal
		p.do(func() { p.signal(s) })
	}
}

// wait runs f on the signaling goroutine and returns once it ran, or once
// the peer is closed.
func (p *Peer) wait(f func()) {
	ran := make(chan struct{})
	p.do(func() { f(); close(ran) })
	select {
	case <-ran:
	case <-p.quit:
	}
}

// hold keeps f, an event of call id that needs this device in the call,
// while a PlaceCall or Accept is in flight; endJoin runs it once the
// request joined the call. The client returns a request's answer to its
// caller and hands out the events that follow it on different goroutines,
// so what the answer lets happen can be here first: the join of a callee
// who answered at once, before PlaceCall returned, or the caller's offer
// to a callee whose Accept has not returned. With no request in flight
// the event is of a call this device takes no part in, and is dropped.
func (p *Peer) hold(id string, f func()) {
	if p.joining > 0 {
		p.held[id] = append(p.held[id], f)
	}
}

// beginJoin starts holding (signaling goroutine). PlaceCall and Accept
// queue it before their request leaves, so it comes before every event
// the request causes.
func (p *Peer) beginJoin() { p.joining++ }

// endJoin ends one request's holding (signaling goroutine): when the
// request joined call id, the events held for it run, in the order they
// came; the rest are dropped once no request is in flight.
func (p *Peer) endJoin(id string, joined bool) {
	p.joining--
	held := p.held[id]
	delete(p.held, id)
	if p.joining == 0 {
		clear(p.held)
	}
	if joined {
		for _, f := range held {
			f()
		}
	}
}

// PlaceCall rings the other members of conv.
func (p *Peer) PlaceCall(ctx context.Context, conv string, audio, video bool) (*Call, error) {
	p.do(p.beginJoin)
	info, err := p.cl.PlaceCall(ctx, conv, audio, video)
	if err != nil {
		p.do(func() { p.endJoin("", false) })
		return nil, err
	}
	c := p.track(info)
	p.wait(func() {
		c.joinMedia(info)
		p.endJoin(c.ID, true)
	})
	return c, nil
}

// track returns the Call of info, made on first sight.
func (p *Peer) track(info core.Call) *Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.calls[info.ID]; c != nil {
		return c
	}
	c := &Call{p: p, ID: info.ID, info: info, pcs: make(map[string]*peerConn),
		ended: make(chan struct{}), connected: make(chan struct{})}
	p.calls[info.ID] = c
	return c
}

func (p *Peer) lookup(id string) *Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[id]
}

func (p *Peer) callEvent(ev core.CallEvent) {
	switch ev.Change {
	case core.CallRing:
		c := p.track(ev.Call)
		if p.opts.OnIncoming != nil {
			go p.opts.OnIncoming(c)
		}
	case core.CallJoined:
		c := p.lookup(ev.Call.ID)
		if c == nil || !c.inCall() {
			p.hold(ev.Call.ID, func() { p.callEvent(ev) })
			return
		}
		c.offer(ev.Peer)
	case core.CallLeft:
		c := p.lookup(ev.Call.ID)
		if c == nil || !c.inCall() {
			p.hold(ev.Call.ID, func() { p.callEvent(ev) })
			return
		}
		c.dropPeer(ev.Peer)
	case core.CallEnd:
		c := p.lookup(ev.Call.ID)
		if c == nil {
			// A call placed here that ended before PlaceCall returned
			// (nobody to ring): it still ends.
			p.hold(ev.Call.ID, func() { p.callEvent(ev) })
			return
		}
		p.mu.Lock()
		delete(p.calls, c.ID)
		p.mu.Unlock()
		c.end(ev.Call.Reason, ev.Call.DurationMs)
	}
}

func (p *Peer) signal(s core.CallSignal) {
	c := p.lookup(s.CallID)
	if c == nil || !c.inCall() {
		p.hold(s.CallID, func() { p.signal(s) })
		return
	}
	c.remoteSignal(s)
}

// send passes one signal on; a refusal is the relay's answer to a call
// that ended meanwhile, which its ended event reports.
func (p *Peer) send(s core.CallSignal) {
	ctx, cancel := context.WithTimeout(context.Background(), p.opts.SignalTimeout)
	defer cancel()
	_ = p.cl.SignalCall(ctx, s)
}

// Call is one call of a Peer.
type Call struct {
	p  *Peer
	ID string

	// Owned by the peer's signaling goroutine.
	info   core.Call
	pcs    map[string]*peerConn
	joined bool
	tracks []webrtc.TrackLocal

	mu         sync.Mutex
	reason     string
	durationMs int64
	ended      chan struct{}
	connected  chan struct{}
	connOnce   sync.Once
}

type peerConn struct {
	pc      *webrtc.PeerConnection
	pending []webrtc.ICECandidateInit // candidates before the remote description
}

// Info returns the call as the client last described it.
func (c *Call) Info() core.Call {
	ch := make(chan core.Call, 1)
	c.p.do(func() { ch <- c.info })
	select {
	case i := <-ch:
		return i
	case <-c.p.quit:
		return core.Call{}
	}
}

// Accept answers the call on this device.
func (c *Call) Accept(ctx context.Context, audio, video bool) error {
	p := c.p
	p.do(p.beginJoin)
	info, err := p.cl.AcceptCall(ctx, c.ID, audio, video)
	if err != nil {
		p.do(func() { p.endJoin(c.ID, false) })
		return err
	}
	p.wait(func() {
		c.joinMedia(info)
		p.endJoin(c.ID, true)
	})
	return nil
}

// Hangup cancels, rejects or hangs up the call.
func (c *Call) Hangup(ctx context.Context) error { return c.p.cl.EndCall(ctx, c.ID) }

// Ended is closed when the call is over; Reason says why.
func (c *Call) Ended() <-chan struct{} { return c.ended }

// Connected is closed once the media of one peer connection connected.
func (c *Call) Connected() <-chan struct{} { return c.connected }

// Reason returns why the call ended ("" while it goes on) and how long it
// lasted since the first answer.
func (c *Call) Reason() (reason string, durationMs int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reason, c.durationMs
}

// PeerConnection returns the connection to peer, for stats; nil when none.
func (c *Call) PeerConnection(peer string) *webrtc.PeerConnection {
	ch := make(chan *webrtc.PeerConnection, 1)
	c.p.do(func() {
		if pc := c.pcs[peer]; pc != nil {
			ch <- pc.pc
		} else {
			ch <- nil
		}
	})
	select {
	case pc := <-ch:
		return pc
	case <-c.p.quit:
		return nil
	}
}

func (c *Call) inCall() bool { return c.joined }

// joinMedia starts this device's part: the call was placed or accepted.
func (c *Call) joinMedia(info core.Call) {
	c.info = info
	c.joined = true
	if c.p.opts.Tracks != nil {
		c.tracks = c.p.opts.Tracks(c)
	}
}

func (c *Call) newPC(peer string) (*peerConn, error) {
	if pc := c.pcs[peer]; pc != nil {
		return pc, nil
	}
	cfg := webrtc.Configuration{}
	for _, s := range c.info.ICEServers {
		cfg.ICEServers = append(cfg.ICEServers, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	if c.p.opts.RelayOnly {
		cfg.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	pc, err := c.p.opts.API.NewPeerConnection(cfg)
	if err != nil {
		return nil, err
	}
	for _, t := range c.tracks {
		if _, err := pc.AddTrack(t); err != nil {
			pc.Close()
			return nil, err
		}
	}
	if len(c.tracks) == 0 {
		// Receive only: still ask for the call's media.
		if c.info.Audio {
			_, _ = pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
		}
		if c.info.Video {
			_, _ = pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
		}
	}
	id := c.ID
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand == nil {
			return
		}
		b, err := json.Marshal(cand.ToJSON())
		if err != nil {
			return
		}
		c.p.do(func() {
			go c.p.send(core.CallSignal{CallID: id, Peer: peer, Kind: proto.SignalCandidate, Data: string(b)})
		})
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			c.connOnce.Do(func() {
				close(c.connected)
				c.p.cl.CallConnected(id)
			})
		}
	})
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if c.p.opts.OnTrack != nil {
			c.p.opts.OnTrack(c, peer, t)
		}
	})
	p := &peerConn{pc: pc}
	c.pcs[peer] = p
	return p, nil
}

// offer makes peer, who just joined, an offer.
func (c *Call) offer(peer string) {
	p, err := c.newPC(peer)
	if err != nil {
		return
	}
	sdp, err := p.pc.CreateOffer(nil)
	if err != nil {
		return
	}
	if err := p.pc.SetLocalDescription(sdp); err != nil {
		return
	}
	go c.p.send(core.CallSignal{CallID: c.ID, Peer: peer, Kind: proto.SignalOffer, Data: sdp.SDP})
}

func (c *Call) remoteSignal(s core.CallSignal) {
	p, err := c.newPC(s.Peer)
	if err != nil {
		return
	}
	switch s.Kind {
	case proto.SignalOffer:
		if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: s.Data}); err != nil {
			return
		}
		p.flush()
		ans, err := p.pc.CreateAnswer(nil)
		if err != nil {
			return
		}
		if err := p.pc.SetLocalDescription(ans); err != nil {
			return
		}
		go c.p.send(core.CallSignal{CallID: c.ID, Peer: s.Peer, Kind: proto.SignalAnswer, Data: ans.SDP})
	case proto.SignalAnswer:
		if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: s.Data}); err != nil {
			return
		}
		p.flush()
	case proto.SignalCandidate:
		var cand webrtc.ICECandidateInit
		if json.Unmarshal([]byte(s.Data), &cand) != nil {
			return
		}
		if p.pc.RemoteDescription() == nil {
			p.pending = append(p.pending, cand)
			return
		}
		_ = p.pc.AddICECandidate(cand)
	}
}

func (p *peerConn) flush() {
	for _, cand := range p.pending {
		_ = p.pc.AddICECandidate(cand)
	}
	p.pending = nil
}

func (c *Call) dropPeer(peer string) {
	if p := c.pcs[peer]; p != nil {
		_ = p.pc.Close()
		delete(c.pcs, peer)
	}
}

func (c *Call) end(reason string, dur int64) {
	c.mu.Lock()
	select {
	case <-c.ended:
		c.mu.Unlock()
		return
	default:
	}
	c.reason, c.durationMs = reason, dur
	close(c.ended)
	c.mu.Unlock()
	c.closeMedia()
}

func (c *Call) closeMedia() {
	for peer, p := range c.pcs {
		_ = p.pc.Close()
		delete(c.pcs, peer)
	}
}

// ErrNoCall is returned for a call this peer does not know.
var ErrNoCall = errors.New("callpeer: no such call")

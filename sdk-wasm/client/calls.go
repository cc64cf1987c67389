package client

import (
	"context"
	"time"

	"github.com/parley-im/parley/sdk-wasm/core"
)

// PlaceCall rings the other members of conv (at most three: calls are a
// full mesh of four) and returns the call with its ICE servers once the
// relay rang them. What follows comes as events: EventCall (joined: make
// that peer an offer; ended) and EventCallSignal. It needs a connection.
func (c *Client) PlaceCall(ctx context.Context, conv string, audio, video bool) (core.Call, error) {
	r, err := c.loop.await(ctx, func(cr *core.Core, now time.Time) (uint64, error) {
		op, _, err := cr.PlaceCall(now, conv, audio, video)
		return op, err
	})
	return deref(r.Call), err
}

// AcceptCall answers call id, ringing on this device; the others of this
// user stop ringing. It returns the call with its ICE servers and the peers
// in it, who make this device their offers.
func (c *Client) AcceptCall(ctx context.Context, id string, audio, video bool) (core.Call, error) {
	r, err := c.loop.await(ctx, func(cr *core.Core, now time.Time) (uint64, error) { return cr.AcceptCall(now, id, audio, video) })
	return deref(r.Call), err
}

// EndCall cancels (caller, before an answer), rejects (ringing callee) or
// hangs up call id. The call's ended event follows.
func (c *Client) EndCall(ctx context.Context, id string) error {
	_, err := c.loop.await(ctx, func(cr *core.Core, now time.Time) (uint64, error) { return cr.EndCall(now, id) })
	return err
}

// SignalCall sends an SDP offer or answer, or an ICE candidate, to s.Peer
// in call s.CallID, and returns once the relay passed it on.
func (c *Client) SignalCall(ctx context.Context, s core.CallSignal) error {
	_, err := c.loop.await(ctx, func(cr *core.Core, now time.Time) (uint64, error) { return cr.SignalCall(now, s) })
	return err
}

// CallConnected records that the media of call id connected, so its state
// reads connected.
func (c *Client) CallConnected(id string) {
	c.loop.postNow(func(cr *core.Core, _ time.Time) { cr.MarkCallConnected(id) })
}

// Call returns live call id.
func (c *Client) Call(id string) (core.Call, bool) {
	var out core.Call
	var found bool
	_ = c.loop.do(func(cr *core.Core, _ time.Time) { out, found = cr.Call(id) })
	return out, found
}

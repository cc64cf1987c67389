package client

import (
	"context"
	"time"

	"github.com/parley-im/parley/sdk-wasm/core"
)

// Devices returns the user's open sessions on every relay node, oldest
// first; the one of this client is marked Current. It needs a connection
// (4901 without one).
func (c *Client) Devices(ctx context.Context) ([]core.Device, error) {
	r, err := c.loop.await(ctx, func(cr *core.Core, now time.Time) (uint64, error) { return cr.Devices(now) })
	return r.Devices, err
}

// KickDevice closes the session of another of the user's devices: that
// client gets EventKicked with code 4011 and does not reconnect by itself.
// A device without an open session is refused with 4285.
func (c *Client) KickDevice(ctx context.Context, device string) error {
	_, err := c.loop.await(ctx, func(cr *core.Core, now time.Time) (uint64, error) { return cr.KickDevice(now, device) })
	return err
}

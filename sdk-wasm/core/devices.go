package core

import (
	"time"

	"github.com/parley-im/parley/proto"
)

// Device is one open session of this user, on any relay node.
type Device struct {
	ID          string `json:"id"`                 // the device id the session's hello carried
	Platform    string `json:"platform,omitempty"` // web, node, react-native, miniapp, …
	ConnectedAt int64  `json:"connectedAt"`        // unix milliseconds, relay clock
	Current     bool   `json:"current"`            // this client's own session
}

// Devices asks the relay for the user's open sessions, oldest first. It
// needs a connection (CodeNotConnected without one): the list is what is
// open now, nothing a cache could answer.
func (c *Core) Devices(now time.Time) (uint64, error) {
	c.begin()
	defer c.flush()
	if err := c.online("devices"); err != nil {
		return 0, err
	}
	op := c.newOp()
	c.request(now, &request{kind: reqDevices, op: op}, proto.TypeDevices, &proto.Devices{})
	return op, nil
}

// KickDevice closes the session of another of the user's devices: that
// client gets EventKicked with CodeDeviceKicked and does not reconnect by
// itself. The relay refuses a device with no open session (CodeNoSuchDevice).
func (c *Core) KickDevice(now time.Time, device string) (uint64, error) {
	c.begin()
	defer c.flush()
	req := &proto.KickDevice{DeviceID: device}
	if err := proto.Validate(req); err != nil {
		return 0, invalid(err.Message)
	}
	if err := c.online("kickDevice"); err != nil {
		return 0, err
	}
	op := c.newOp()
	c.request(now, &request{kind: reqKickDevice, op: op}, proto.TypeKickDevice, req)
	return op, nil
}

// online refuses a request that needs the relay now.
func (c *Core) online(what string) error {
	switch {
	case c.state == StateClosed:
		return &proto.Error{Code: proto.CodeClientClosed, Message: "client closed"}
	case c.phase != phaseReady:
		return &proto.Error{Code: proto.CodeNotConnected, Message: what + ": not connected"}
	}
	return nil
}

// deviceList settles a Devices request.
func (c *Core) deviceList(now time.Time, id uint64, r *request, l *proto.DeviceList) {
	if r == nil || r.kind != reqDevices {
		c.badReply(now, id, r, "device list for no devices request")
		return
	}
	out := make([]Device, 0, len(l.Devices))
	for _, d := range l.Devices {
		out = append(out, Device{ID: d.ID, Platform: d.Platform, ConnectedAt: d.ConnectedAt, Current: d.Current})
	}
	c.resolve(r.op, Result{Devices: out})
}

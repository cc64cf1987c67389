package core_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// resolved returns the Result of op among acts.
func resolved(t *testing.T, acts []core.Action, op uint64) core.Result {
	t.Helper()
	for _, a := range acts {
		if a.Kind == core.ActResolve && a.Op == op {
			return *a.Result
		}
	}
	t.Fatalf("op %d not resolved; actions %v", op, kinds(acts))
	return core.Result{}
}

func codeOf(err error) proto.Code {
	var pe *proto.Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	return 0
}

// TestDevices: the hello carries the platform; devices and kick-device need
// a connection, answer with the relay's list or its refusal, and a kick
// device id is checked before anything is sent.
func TestDevices(t *testing.T) {
	t.Parallel()
	s := newScripted(t, core.Config{Platform: "react-native"})
	if _, err := s.c.Devices(s.now); codeOf(err) != proto.CodeNotConnected {
		t.Fatalf("devices offline: %v, want 4901", err)
	}
	hello := s.open()
	if p := hello.Body.(*proto.Hello).Platform; p != "react-native" {
		t.Fatalf("hello platform %q", p)
	}
	welcome(s, hello)

	op, err := s.c.Devices(s.now)
	if err != nil {
		t.Fatal(err)
	}
	req := s.one(s.poll(), proto.TypeDevices)
	list := []proto.Device{{ID: "phone", Platform: "react-native", ConnectedAt: 5, Current: true}, {ID: "tab", Platform: "web", ConnectedAt: 9}}
	got := resolved(t, s.frame(proto.TypeDeviceList, req.ID, &proto.DeviceList{Devices: list}), op)
	want := []core.Device{{ID: "phone", Platform: "react-native", ConnectedAt: 5, Current: true}, {ID: "tab", Platform: "web", ConnectedAt: 9}}
	if got.Err != nil || !reflect.DeepEqual(got.Devices, want) {
		t.Fatalf("devices: %+v, want %+v", got, want)
	}

	if _, err := s.c.KickDevice(s.now, "a b"); codeOf(err) != proto.CodeInvalidArgument {
		t.Fatalf("kick an invalid device id: %v, want 4903", err)
	}
	if w := s.wrote(s.poll()); len(w) != 0 {
		t.Fatalf("an invalid kick wrote %v", w)
	}
	op, _ = s.c.KickDevice(s.now, "tab")
	kick := s.one(s.poll(), proto.TypeKickDevice)
	if kick.Body.(*proto.KickDevice).DeviceID != "tab" {
		t.Fatalf("kick frame %+v", kick)
	}
	if r := resolved(t, s.frame(proto.TypeOK, kick.ID, nil), op); r.Err != nil {
		t.Fatalf("kick: %v", r.Err)
	}
	op, _ = s.c.KickDevice(s.now, "gone")
	kick = s.one(s.poll(), proto.TypeKickDevice)
	r := resolved(t, s.frame(proto.TypeError, kick.ID, &proto.ErrorBody{Code: proto.CodeNoSuchDevice}), op)
	if codeOf(r.Err) != proto.CodeNoSuchDevice {
		t.Fatalf("kick of an unknown device: %v", r.Err)
	}
	// A device list for no request is a relay that makes no sense: the
	// connection is dropped and redialled.
	acts := s.frame(proto.TypeDeviceList, 999, &proto.DeviceList{})
	found := false
	for _, a := range acts {
		found = found || a.Kind == core.ActCloseConn
	}
	if !found {
		t.Fatalf("an unasked device list: actions %v, want the connection closed", kinds(acts))
	}
}

// TestKickedByDevice: a close with 4011, 4012 or 4013 is terminal: the
// kicked event carries the code and reason and the core does not redial.
func TestKickedByDevice(t *testing.T) {
	t.Parallel()
	for _, code := range []proto.Code{proto.CodeDeviceKicked, proto.CodeDevicePolicy, proto.CodeTokenRevoked} {
		s := newScripted(t, core.Config{TokenRefresh: true})
		s.connect("alice")
		s.frame(proto.TypeClose, 0, &proto.Close{Code: code, Reason: "why"})
		s.c.HandleClosed(s.now, s.c.Conn(), code, "why")
		acts := s.poll()
		var kicked *core.Event
		for _, a := range acts {
			if a.Kind == core.ActEvent && a.Event.Kind == core.EventKicked {
				kicked = &a.Event
			}
		}
		if kicked == nil || kicked.Code != code || kicked.Reason != "why" {
			t.Fatalf("close %d: actions %v, want kicked with the code and reason", code, kinds(acts))
		}
		if d, ok := s.c.NextDeadline(); ok {
			t.Fatalf("close %d: a timer at %v after a terminal close", code, d)
		}
		if s.c.State() != core.StateDisconnected {
			t.Fatalf("close %d: state %s", code, s.c.State())
		}
	}
}

// welcome answers hello and the first sync.
func welcome(s *scripted, hello proto.Frame) {
	s.t.Helper()
	sync := s.one(s.frame(proto.TypeWelcome, hello.ID, &proto.Welcome{Version: proto.Version, UserID: "alice", Epoch: "e1", HeartbeatMs: 25000}), proto.TypeSync)
	s.frame(proto.TypeSyncResult, sync.ID, &proto.SyncResult{Cursor: 1})
}

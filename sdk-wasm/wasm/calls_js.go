package main

import (
	"context"
	"syscall/js"

	"github.com/parley-im/parley/sdk-wasm/client"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// registerCalls adds the call signaling methods. The media half is the
// browser's RTCPeerConnection, driven from TypeScript (bindings/src/call.ts).
func registerCalls(b *bridge) {
	b.async("placeCall", func(c *jsClient, args []js.Value) (work, error) {
		conv, err := argString(args, 0, "conversationId")
		if err != nil {
			return nil, err
		}
		audio, video := arg(args, 1).Truthy(), arg(args, 2).Truthy()
		return withSignal(args, 3, func(ctx context.Context) ([]byte, error) {
			return callJSON(c.PlaceCall(ctx, conv, audio, video))
		})
	})
	b.async("acceptCall", func(c *jsClient, args []js.Value) (work, error) {
		id, err := argString(args, 0, "callId")
		if err != nil {
			return nil, err
		}
		audio, video := arg(args, 1).Truthy(), arg(args, 2).Truthy()
		return func() ([]byte, error) { return callJSON(c.AcceptCall(context.Background(), id, audio, video)) }, nil
	})
	b.async("endCall", func(c *jsClient, args []js.Value) (work, error) {
		id, err := argString(args, 0, "callId")
		if err != nil {
			return nil, err
		}
		return func() ([]byte, error) { return nil, c.EndCall(context.Background(), id) }, nil
	})
	b.async("signalCall", func(c *jsClient, args []js.Value) (work, error) {
		var s core.CallSignal
		var err error
		if s.CallID, err = argString(args, 0, "callId"); err != nil {
			return nil, err
		}
		if s.Peer, err = argString(args, 1, "peer"); err != nil {
			return nil, err
		}
		if s.Kind, err = argString(args, 2, "kind"); err != nil {
			return nil, err
		}
		if s.Data, err = argString(args, 3, "data"); err != nil {
			return nil, err
		}
		return func() ([]byte, error) { return nil, c.SignalCall(context.Background(), s) }, nil
	})
	b.sync("callConnected", func(c *jsClient, _ tomb, args []js.Value) any {
		if id := arg(args, 0); c != nil && id.Type() == js.TypeString {
			c.CallConnected(id.String())
		}
		return nil
	})
}

func callJSON(cl core.Call, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	return client.AppendCall(nil, &cl), nil
}

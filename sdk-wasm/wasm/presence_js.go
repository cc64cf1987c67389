package main

import (
	"context"
	"syscall/js"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/client"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// presenceMethods registers the presence and profile calls of WasmClient.
func (b *bridge) presenceMethods() {
	b.async("setStatus", func(c *jsClient, args []js.Value) (work, error) {
		status, err := argString(args, 0, "status")
		if err != nil {
			return nil, err
		}
		return func() ([]byte, error) { return nil, c.SetStatus(context.Background(), status) }, nil
	})
	b.async("subscribePresence", func(c *jsClient, args []js.Value) (work, error) {
		users, err := argStrings(args, 0, "users")
		if err != nil {
			return nil, err
		}
		ttl, err := argUint(args, 1, "ttlMs")
		if err != nil {
			return nil, err
		}
		return func() ([]byte, error) {
			ps, err := c.SubscribePresence(context.Background(), users, time.Duration(ttl)*time.Millisecond)
			if err != nil {
				return nil, err
			}
			return client.AppendPresences(nil, ps), nil
		}, nil
	})
	b.async("unsubscribePresence", func(c *jsClient, args []js.Value) (work, error) {
		users, err := argStrings(args, 0, "users")
		if err != nil {
			return nil, err
		}
		return func() ([]byte, error) { return nil, c.UnsubscribePresence(context.Background(), users) }, nil
	})
	b.async("setProfile", func(c *jsClient, args []js.Value) (work, error) {
		v := arg(args, 0)
		if v.Type() != js.TypeObject {
			return nil, invalidArg("setProfile() needs an object")
		}
		var set proto.SetProfile
		for _, f := range []struct {
			name string
			to   **string
		}{{"nickname", &set.Nickname}, {"avatar", &set.Avatar}, {"custom", &set.Custom}} {
			switch x := v.Get(f.name); x.Type() {
			case js.TypeUndefined:
			case js.TypeString:
				s := x.String()
				*f.to = &s
			default:
				return nil, invalidArg("setProfile(): " + f.name + " must be a string")
			}
		}
		return func() ([]byte, error) {
			p, err := c.SetProfile(context.Background(), set)
			if err != nil {
				return nil, err
			}
			return client.AppendProfiles(nil, []core.Profile{p}), nil
		}, nil
	})
	b.async("profiles", func(c *jsClient, args []js.Value) (work, error) {
		users, err := argStrings(args, 0, "users")
		if err != nil {
			return nil, err
		}
		return func() ([]byte, error) {
			ps, err := c.Profiles(context.Background(), users)
			if err != nil {
				return nil, err
			}
			return client.AppendProfiles(nil, ps), nil
		}, nil
	})
}

package main

import (
	"context"
	"math"
	"syscall/js"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/client"
)

// registerGroups adds the group methods (sdk-wasm/client/groups.go).
func registerGroups(b *bridge) {
	// createGroupWith(id, name, members, {avatar, notice, custom, joinPolicy}, signal)
	b.async("createGroupWith", func(c *jsClient, args []js.Value) (work, error) {
		id, err := argString(args, 0, "id")
		if err != nil {
			return nil, err
		}
		name, err := argString(args, 1, "name")
		if err != nil {
			return nil, err
		}
		members, err := argStrings(args, 2, "members")
		if err != nil {
			return nil, err
		}
		o := arg(args, 3)
		var g client.GroupOptions
		if o.Type() == js.TypeObject {
			for _, f := range []struct {
				k   string
				dst *string
			}{{"avatar", &g.Avatar}, {"notice", &g.Notice}, {"custom", &g.Custom}, {"joinPolicy", &g.JoinPolicy}} {
				p, err := optString(o, f.k)
				if err != nil {
					return nil, err
				}
				if p != nil {
					*f.dst = *p
				}
			}
		}
		return withSignal(args, 4, func(ctx context.Context) ([]byte, error) {
			return conversation(c.CreateGroupWith(ctx, id, name, members, g))
		})
	})
	// groupOp({conversationId, op, users?, role?, until?, on?, note?, info?}, signal)
	// resolves with the user's view of the group, or null.
	b.async("groupOp", func(c *jsClient, args []js.Value) (work, error) {
		op, err := readGroupOp(arg(args, 0))
		if err != nil {
			return nil, err
		}
		return withSignal(args, 1, func(ctx context.Context) ([]byte, error) {
			cv, ok, err := c.GroupOp(ctx, op)
			if err != nil {
				return nil, err
			}
			if !ok {
				return []byte("null"), nil
			}
			return client.AppendConversation(nil, &cv), nil
		})
	})
	// members(conv, after, limit, signal) resolves with {members, more}.
	b.async("members", func(c *jsClient, args []js.Value) (work, error) {
		conv, err := argString(args, 0, "conv")
		if err != nil {
			return nil, err
		}
		after, err := argString(args, 1, "after")
		if err != nil {
			return nil, err
		}
		limit, err := argUint(args, 2, "limit")
		if err != nil {
			return nil, err
		}
		return withSignal(args, 3, func(ctx context.Context) ([]byte, error) {
			ms, more, err := c.Members(ctx, conv, after, int(min(limit, math.MaxInt32)))
			if err != nil {
				return nil, err
			}
			return client.AppendMemberPage(nil, ms, more), nil
		})
	})
	// pending(conv, signal): conv "" for this user's invitations.
	b.async("pending", func(c *jsClient, args []js.Value) (work, error) {
		conv, err := argString(args, 0, "conv")
		if err != nil {
			return nil, err
		}
		return withSignal(args, 1, func(ctx context.Context) ([]byte, error) {
			ns, err := c.Pending(ctx, conv)
			if err != nil {
				return nil, err
			}
			return client.AppendNotices(nil, ns), nil
		})
	})
}

// optString reads an optional string property: nil when absent.
func optString(o js.Value, k string) (*string, error) {
	v := o.Get(k)
	switch v.Type() {
	case js.TypeUndefined, js.TypeNull:
		return nil, nil
	case js.TypeString:
		s := v.String()
		return &s, nil
	}
	return nil, invalidArg(k + " must be a string")
}

// readGroupOp reads the object groupOp takes.
func readGroupOp(o js.Value) (proto.GroupOp, error) {
	var op proto.GroupOp
	if o.Type() != js.TypeObject {
		return op, invalidArg("group operation must be an object")
	}
	for _, f := range []struct {
		k   string
		dst *string
	}{{"conversationId", &op.ConvID}, {"op", &op.Op}, {"role", &op.Role}, {"note", &op.Note}} {
		p, err := optString(o, f.k)
		if err != nil {
			return op, err
		}
		if p != nil {
			*f.dst = *p
		}
	}
	if u := o.Get("users"); !u.IsUndefined() && !u.IsNull() {
		users, err := argStrings([]js.Value{u}, 0, "users")
		if err != nil {
			return op, err
		}
		op.Users = users
	}
	if v := o.Get("until"); !v.IsUndefined() && !v.IsNull() {
		if v.Type() != js.TypeNumber || v.Float() < 0 || v.Float() > 1<<53 || v.Float() != math.Trunc(v.Float()) {
			return op, invalidArg("until must be a non-negative integer")
		}
		op.Until = int64(v.Float())
	}
	if v := o.Get("on"); !v.IsUndefined() && !v.IsNull() {
		if v.Type() != js.TypeBoolean {
			return op, invalidArg("on must be a boolean")
		}
		op.On = v.Bool()
	}
	if i := o.Get("info"); i.Type() == js.TypeObject {
		info := &proto.GroupInfo{}
		for _, f := range []struct {
			k   string
			dst **string
		}{{"name", &info.Name}, {"avatar", &info.Avatar}, {"notice", &info.Notice}, {"custom", &info.Custom}} {
			p, err := optString(i, f.k)
			if err != nil {
				return op, err
			}
			*f.dst = p
		}
		p, err := optString(i, "joinPolicy")
		if err != nil {
			return op, err
		}
		if p != nil {
			info.JoinPolicy = *p
		}
		op.Info = info
	}
	return op, nil
}

package client

import (
	"context"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// GroupOptions are the optional information of a new group.
type GroupOptions struct {
	Avatar, Notice, Custom string
	JoinPolicy             string // proto.JoinInvite (default), JoinApproval or JoinOpen
}

// CreateGroupWith creates a group as CreateGroup does, with its
// information.
func (c *Client) CreateGroupWith(ctx context.Context, id, name string, members []string, o GroupOptions) (core.Conversation, error) {
	r, err := c.loop.await(ctx, func(cr *core.Core, now time.Time) (uint64, error) {
		return cr.CreateGroupWith(now, id, name, members, o.Avatar, o.Notice, o.Custom, o.JoinPolicy)
	})
	return deref(r.Conversation), err
}

// GroupOp runs a group operation (see proto.GroupOp for the operations and
// who may run them) and returns this user's view of the group afterwards;
// false when the user has none (a join request, a declined invitation).
func (c *Client) GroupOp(ctx context.Context, op proto.GroupOp) (core.Conversation, bool, error) {
	r, err := c.loop.await(ctx, func(cr *core.Core, now time.Time) (uint64, error) { return cr.GroupOp(now, op) })
	if err != nil || r.Conversation == nil {
		return core.Conversation{}, false, err
	}
	return *r.Conversation, true, nil
}

// Members returns a page of the members of group conv after user after,
// and whether more follow.
func (c *Client) Members(ctx context.Context, conv, after string, limit int) ([]core.Member, bool, error) {
	r, err := c.loop.await(ctx, func(cr *core.Core, now time.Time) (uint64, error) { return cr.FetchMembers(now, conv, after, limit) })
	return r.Members, r.More, err
}

// Pending returns this user's pending invitations (conv "") or the join
// requests of group conv.
func (c *Client) Pending(ctx context.Context, conv string) ([]core.GroupNotice, error) {
	r, err := c.loop.await(ctx, func(cr *core.Core, now time.Time) (uint64, error) { return cr.FetchPending(now, conv) })
	return r.Notices, err
}

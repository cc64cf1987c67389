package client

import (
	"context"
	"errors"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// unique returns users without repeats, in first-seen order.
func unique(users []string) []string {
	seen := make(map[string]bool, len(users))
	out := make([]string, 0, len(users))
	for _, u := range users {
		if !seen[u] {
			seen[u] = true
			out = append(out, u)
		}
	}
	return out
}

// chunks calls f for users in slices of at most n, in order, and stops at
// the first error.
func chunks(users []string, n int, f func(part []string) error) error {
	for len(users) > 0 {
		k := min(len(users), n)
		if err := f(users[:k]); err != nil {
			return err
		}
		users = users[k:]
	}
	return nil
}

// SubscribePresence subscribes this user (all their devices) to the
// presence of users for ttl (0: a day) and returns their presence, in
// order, repeats dropped. Presence changes then arrive as EventPresence.
// A list longer than proto.MaxPresenceBatch goes in several requests: one
// the relay refuses (4270, over proto.MaxPresenceSubs) fails the call, and
// leaves the earlier ones in place.
func (c *Client) SubscribePresence(ctx context.Context, users []string, ttl time.Duration) ([]core.Presence, error) {
	users = unique(users)
	if len(users) == 0 {
		return []core.Presence{}, nil
	}
	out := make([]core.Presence, 0, len(users))
	err := chunks(users, proto.MaxPresenceBatch, func(part []string) error {
		r, err := c.loop.await(ctx, func(cr *core.Core, now time.Time) (uint64, error) { return cr.SubscribePresence(now, part, ttl) })
		out = append(out, r.Presences...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// UnsubscribePresence withdraws this user's presence subscriptions to
// users.
func (c *Client) UnsubscribePresence(ctx context.Context, users []string) error {
	return chunks(unique(users), proto.MaxPresenceBatch, func(part []string) error {
		_, err := c.loop.await(ctx, func(cr *core.Core, now time.Time) (uint64, error) { return cr.UnsubscribePresence(now, part) })
		return err
	})
}

// SetStatus sets this user's custom status, app-defined, at most
// proto.MaxStatusBytes ("" clears it).
func (c *Client) SetStatus(ctx context.Context, status string) error {
	_, err := c.loop.await(ctx, func(cr *core.Core, now time.Time) (uint64, error) { return cr.SetStatus(now, status) })
	return err
}

// SetProfile changes the fields set carries of this user's profile and
// returns the profile as stored.
func (c *Client) SetProfile(ctx context.Context, set proto.SetProfile) (core.Profile, error) {
	r, err := c.loop.await(ctx, func(cr *core.Core, now time.Time) (uint64, error) { return cr.SetProfile(now, set) })
	if err != nil {
		return core.Profile{}, err
	}
	if len(r.Profiles) != 1 {
		return core.Profile{}, &proto.Error{Code: proto.CodeBadServerFrame, Message: "set-profile answered without the profile"}
	}
	return r.Profiles[0], nil
}

// Profiles returns the profiles of users, in order, repeats dropped: from
// the cache when it read them less than core.ProfileFresh ago, otherwise
// from the relay (and cached). Offline, profiles cached earlier are
// returned however old; a user never read fails the call (4901).
func (c *Client) Profiles(ctx context.Context, users []string) ([]core.Profile, error) {
	users = unique(users)
	var fresh, stale map[string]core.Profile
	var need []string
	if err := c.loop.do(func(cr *core.Core, now time.Time) { fresh, stale, need = cr.CachedProfiles(now, users) }); err != nil {
		return nil, err
	}
	err := chunks(need, proto.MaxProfileBatch, func(part []string) error {
		r, err := c.loop.await(ctx, func(cr *core.Core, now time.Time) (uint64, error) { return cr.FetchProfiles(now, part) })
		for _, p := range r.Profiles {
			fresh[p.User] = p
		}
		return err
	})
	var perr *proto.Error
	if err != nil && !(errors.As(err, &perr) && perr.Code == proto.CodeNotConnected) {
		return nil, err
	}
	out := make([]core.Profile, 0, len(users))
	for _, u := range users {
		p, ok := fresh[u]
		if !ok {
			if p, ok = stale[u]; !ok {
				return nil, err // offline, and never read
			}
		}
		out = append(out, p)
	}
	return out, nil
}

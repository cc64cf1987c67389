package client

import (
	"context"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// Contact runs a contact operation (proto.ContactRequest, ContactAccept,
// ContactDecline, ContactRemove, ContactBlock, ContactUnblock) on user and
// waits for the relay's answer. note goes with a request. It needs a
// connection (proto.CodeNotConnected otherwise).
func (c *Client) Contact(ctx context.Context, op, user, note string) error {
	_, err := c.loop.await(ctx, func(cr *core.Core, now time.Time) (uint64, error) { return cr.Contact(now, op, user, note) })
	return err
}

// Relations returns this user's relations from the cache: contacts,
// requests both ways and blocked users.
func (c *Client) Relations() ([]core.Relation, error) {
	var out []core.Relation
	err := c.loop.do(func(cr *core.Core, _ time.Time) { out = cr.Relations() })
	return out, err
}

// Contacts returns the user ids of this user's contacts, sorted.
func (c *Client) Contacts() ([]string, error) {
	return c.relationIDs(func(r core.Relation) bool { return r.State == proto.RelContact })
}

// Blocked returns the user ids this user blocked, sorted.
func (c *Client) Blocked() ([]string, error) {
	return c.relationIDs(func(r core.Relation) bool { return r.Blocked })
}

func (c *Client) relationIDs(keep func(core.Relation) bool) ([]string, error) {
	rs, err := c.Relations()
	out := []string{}
	for _, r := range rs {
		if keep(r) {
			out = append(out, r.User)
		}
	}
	return out, err
}

// SetConversation changes this user's settings of conv on all of the
// user's devices; a nil one is left as it is. It needs a connection.
func (c *Client) SetConversation(ctx context.Context, conv string, pinned, muted, hidden *bool) error {
	_, err := c.loop.await(ctx, func(cr *core.Core, now time.Time) (uint64, error) {
		return cr.SetConversation(now, conv, pinned, muted, hidden)
	})
	return err
}

// SetContactsOnly sets whether the relay refuses one-to-one messages to
// this user from users who are not contacts.
func (c *Client) SetContactsOnly(ctx context.Context, on bool) error {
	_, err := c.loop.await(ctx, func(cr *core.Core, now time.Time) (uint64, error) { return cr.SetContactsOnly(now, on) })
	return err
}

// ContactsOnly reports the preference SetContactsOnly sets, as cached.
func (c *Client) ContactsOnly() (bool, error) {
	var on bool
	err := c.loop.do(func(cr *core.Core, _ time.Time) { on = cr.ContactsOnly() })
	return on, err
}

// SetDraft keeps text as the draft of conv ("" clears it) in the local
// cache; it never leaves the device.
func (c *Client) SetDraft(conv, text string) error {
	var err error
	if lerr := c.loop.do(func(cr *core.Core, now time.Time) { err = cr.SetDraft(now, conv, text) }); lerr != nil {
		return lerr
	}
	return err
}

// TotalUnread returns the unread messages of the conversations that are
// neither muted nor hidden.
func (c *Client) TotalUnread() (uint64, error) {
	var n uint64
	err := c.loop.do(func(cr *core.Core, _ time.Time) { n = cr.TotalUnread() })
	return n, err
}

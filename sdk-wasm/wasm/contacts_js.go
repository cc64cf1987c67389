package main

import (
	"context"
	"strconv"
	"syscall/js"

	"github.com/parley-im/parley/sdk-wasm/client"
)

// registerContacts adds the methods of contacts, the block list,
// conversation settings and drafts (sdk-wasm/client/contacts.go).
func registerContacts(b *bridge) {
	b.async("contact", func(c *jsClient, args []js.Value) (work, error) {
		op, err := argString(args, 0, "op")
		if err != nil {
			return nil, err
		}
		user, err := argString(args, 1, "user")
		if err != nil {
			return nil, err
		}
		note, err := argString(args, 2, "note")
		if err != nil {
			return nil, err
		}
		return func() ([]byte, error) { return nil, c.Contact(context.Background(), op, user, note) }, nil
	})
	b.async("relations", func(c *jsClient, _ []js.Value) (work, error) {
		return func() ([]byte, error) {
			rs, err := c.Relations()
			if err != nil {
				return nil, err
			}
			return client.AppendRelations(nil, rs), nil
		}, nil
	})
	b.async("setConversation", func(c *jsClient, args []js.Value) (work, error) {
		conv, err := argString(args, 0, "conv")
		if err != nil {
			return nil, err
		}
		var flags [3]*bool
		for i, name := range []string{"pinned", "muted", "hidden"} {
			if flags[i], err = argOptBool(args, 1+i, name); err != nil {
				return nil, err
			}
		}
		return func() ([]byte, error) {
			return nil, c.SetConversation(context.Background(), conv, flags[0], flags[1], flags[2])
		}, nil
	})
	b.async("setContactsOnly", func(c *jsClient, args []js.Value) (work, error) {
		on, err := argOptBool(args, 0, "on")
		if err != nil || on == nil {
			return nil, invalidArg("on must be a boolean")
		}
		return func() ([]byte, error) { return nil, c.SetContactsOnly(context.Background(), *on) }, nil
	})
	b.async("contactsOnly", func(c *jsClient, _ []js.Value) (work, error) {
		return func() ([]byte, error) {
			on, err := c.ContactsOnly()
			return strconv.AppendBool(nil, on), err
		}, nil
	})
	b.async("setDraft", func(c *jsClient, args []js.Value) (work, error) {
		conv, err := argString(args, 0, "conv")
		if err != nil {
			return nil, err
		}
		text, err := argString(args, 1, "text")
		if err != nil {
			return nil, err
		}
		return func() ([]byte, error) { return nil, c.SetDraft(conv, text) }, nil
	})
	b.async("totalUnread", func(c *jsClient, _ []js.Value) (work, error) {
		return func() ([]byte, error) {
			n, err := c.TotalUnread()
			return strconv.AppendUint(nil, n, 10), err
		}, nil
	})
}

// argOptBool reads a boolean, or nil for undefined and null.
func argOptBool(args []js.Value, i int, name string) (*bool, error) {
	v := arg(args, i)
	switch v.Type() {
	case js.TypeUndefined, js.TypeNull:
		return nil, nil
	case js.TypeBoolean:
		b := v.Bool()
		return &b, nil
	}
	return nil, invalidArg(name + " must be a boolean")
}

package main

import (
	"context"
	"syscall/js"

	"github.com/parley-im/parley/sdk-wasm/core"
)

// sendOptions reads a send's replyTo (args[i]: a message id or
// null/undefined) and mentions (args[i+1]: an array of user ids, "*" for
// everyone, or null/undefined).
func sendOptions(args []js.Value, i int) (core.SendOptions, error) {
	var opt core.SendOptions
	var err error
	if v := arg(args, i); !v.IsUndefined() && !v.IsNull() {
		if opt.ReplyTo, err = argString(args, i, "replyTo"); err != nil {
			return opt, err
		}
	}
	if v := arg(args, i+1); !v.IsUndefined() && !v.IsNull() {
		if opt.Mentions, err = argStrings(args, i+1, "mentions"); err != nil {
			return opt, err
		}
	}
	return opt, nil
}

// registerLifecycle adds the lifecycle methods: amend(messageId, op, text)
// resolves with the stored event (a StoredMessage); readReceipts(conv, seq)
// with {read, unread}.
func registerLifecycle(b *bridge) {
	b.async("amend", func(c *jsClient, args []js.Value) (work, error) {
		id, err := argString(args, 0, "messageId")
		if err != nil {
			return nil, err
		}
		op, err := argString(args, 1, "op")
		if err != nil {
			return nil, err
		}
		text, err := argString(args, 2, "text")
		if err != nil {
			return nil, err
		}
		return func() ([]byte, error) { return message(c.Amend(context.Background(), id, op, text)) }, nil
	})
	b.async("readReceipts", func(c *jsClient, args []js.Value) (work, error) {
		conv, err := argString(args, 0, "conv")
		if err != nil {
			return nil, err
		}
		seq, err := argUint(args, 1, "seq")
		if err != nil {
			return nil, err
		}
		return func() ([]byte, error) {
			r, err := c.ReadReceipts(context.Background(), conv, seq)
			if err != nil {
				return nil, err
			}
			return appendReceipts(r), nil
		}, nil
	})
}

// appendReceipts encodes Receipts as JSON {read, unread}.
func appendReceipts(r core.Receipts) []byte {
	b := []byte(`{"read":`)
	b = appendStrings(b, r.Read)
	b = append(b, `,"unread":`...)
	b = appendStrings(b, r.Unread)
	return append(b, '}')
}

func appendStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	return append(b, ']')
}

// appendJSONString quotes s; user ids are [A-Za-z0-9_.@-], but a relay's
// answer is not trusted to keep to it.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r < 0x20:
			b = append(b, `\u00`...)
			b = append(b, "0123456789abcdef"[r>>4], "0123456789abcdef"[r&0xf])
		default:
			b = append(b, string(r)...)
		}
	}
	return append(b, '"')
}

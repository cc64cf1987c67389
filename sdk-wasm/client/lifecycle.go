package client

import (
	"context"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// SendWith sends a message with a reply and mentions and waits for its
// durable ack.
func (c *Client) SendWith(ctx context.Context, conv, msgType, text string, body []byte, opt core.SendOptions) (core.Message, error) {
	r, err := c.loop.await(ctx, func(cr *core.Core, now time.Time) (uint64, error) {
		op, _, err := cr.SendWith(now, "", conv, msgType, text, body, opt)
		return op, err
	})
	return deref(r.Message), err
}

// Amend applies op (proto.MsgRecall, MsgDelete, MsgEdit, MsgReact,
// MsgUnreact or MsgHide) to message id and waits for the relay to store
// it; text is an edit's new text or a reaction's emoji. It returns the
// event the relay stored.
func (c *Client) Amend(ctx context.Context, id, op, text string) (core.Message, error) {
	r, err := c.loop.await(ctx, func(cr *core.Core, now time.Time) (uint64, error) { return cr.Amend(now, id, op, text) })
	return deref(r.Message), err
}

// Recall recalls a message of this user's (or, as a group admin, anyone's).
func (c *Client) Recall(ctx context.Context, id string) error {
	_, err := c.Amend(ctx, id, proto.MsgRecall, "")
	return err
}

// Edit replaces the text of a text message of this user's.
func (c *Client) Edit(ctx context.Context, id, text string) error {
	_, err := c.Amend(ctx, id, proto.MsgEdit, text)
	return err
}

// React adds (or with add false withdraws) this user's reaction.
func (c *Client) React(ctx context.Context, id, emoji string, add bool) error {
	op := proto.MsgReact
	if !add {
		op = proto.MsgUnreact
	}
	_, err := c.Amend(ctx, id, op, emoji)
	return err
}

// ReadReceipts returns which other members of conv have read up to seq.
func (c *Client) ReadReceipts(ctx context.Context, conv string, seq uint64) (core.Receipts, error) {
	r, err := c.loop.await(ctx, func(cr *core.Core, now time.Time) (uint64, error) { return cr.ReadReceipts(now, conv, seq) })
	if r.Receipts == nil {
		return core.Receipts{}, err
	}
	return *r.Receipts, err
}

// amend turns the lifecycle events of b (Batch.Amend) into the messages
// they change, before b is applied: each target is taken from b itself or
// read from the store, changed by its event, and written with b. It
// returns the changed messages, for messageUpdate events. A target the
// store does not hold is skipped: read from the relay later, it comes
// changed already.
func (l *loop) amend(b *core.Batch) []core.Message {
	if len(b.Amend) == 0 {
		return nil
	}
	return amendBatch(l.store, b, l.core.UserID(), func(err error) {
		l.c.logf(LevelError, "parley: reading the target of a lifecycle event: %v", err)
	})
}

// amendBatch is loop.amend over any store; self is this device's user,
// fail reports a target the store could not read.
func amendBatch(store Store, b *core.Batch, self string, fail func(error)) []core.Message {
	var updated []core.Message
	for i := range b.Amend {
		ev := &b.Amend[i]
		at := -1
		for k := len(b.Messages) - 1; k >= 0; k-- {
			if b.Messages[k].ConvID == ev.ConvID && b.Messages[k].Seq == ev.Target {
				at = k
				break
			}
		}
		var t core.Message
		if at >= 0 {
			t = b.Messages[at]
		} else {
			ms, err := store.Messages(ev.ConvID, ev.Target+1, 1)
			if err != nil {
				fail(err)
				continue
			}
			if len(ms) == 0 || ms[len(ms)-1].Seq != ev.Target {
				continue
			}
			t = ms[len(ms)-1]
		}
		t.Apply(ev, self)
		if at >= 0 {
			b.Messages[at] = t
		} else {
			b.Messages = append(b.Messages, t)
		}
		replaced := false
		for k := range updated {
			if updated[k].ConvID == t.ConvID && updated[k].Seq == t.Seq {
				updated[k], replaced = t, true
			}
		}
		if !replaced {
			updated = append(updated, t)
		}
	}
	b.Amend = nil
	return updated
}

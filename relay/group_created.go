package relay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"

	"github.com/parley-im/parley/proto"
)

// A group's first entry is the system message {event: created, by, users}:
// the members' clients show the creation in the conversation as they show
// every later change, and a member offline at the time converges on it
// through the usual sync and history. The relay appends it right after the
// store creates the group, before anyone is told of the group, under a
// client id derived from the group id: a resend of the create that finds
// the group without it (the relay stopped in between) writes it then, and
// a second write is a duplicate, never a second entry.

// createdClientID is the client id of group conv's created message.
func createdClientID(conv string) string {
	h := sha256.Sum256([]byte(conv))
	return "sys-created-" + hex.EncodeToString(h[:12])
}

// appendCreated appends group conv's created message, by creator, naming the
// other members of conv. It reports whether the message is new (false: it
// was there already).
func appendCreated(ctx context.Context, st Appender, conv proto.Conversation, creator string, now int64) (proto.Message, bool, error) {
	users := slices.DeleteFunc(slices.Clone(conv.Members), func(u string) bool { return u == creator })
	ev := proto.GroupEvent{Event: proto.EventCreated, By: creator, Users: users}
	if conv.Name != "" {
		ev.Name = &conv.Name
	}
	res, err := st.Append(ctx, []AppendRequest{{Sender: creator, Device: "relay", CreatedAt: now, Send: proto.Send{
		ConvID: conv.ID, ClientID: createdClientID(conv.ID), MsgType: proto.MsgSystem, Body: proto.EncodeGroupEvent(&ev)}}})
	if err != nil {
		return proto.Message{}, false, err
	}
	if res[0].Err != nil {
		return proto.Message{}, false, res[0].Err
	}
	return res[0].Message, !res[0].Duplicate, nil
}

// withCreated is conversation c with its created message m as its last.
func withCreated(c proto.Conversation, m proto.Message) proto.Conversation {
	if m.Seq > c.LastSeq {
		c.LastSeq, c.LastMessage = m.Seq, &m
	}
	return c
}

// viewAfterCreated is the creator's view of group c after its created
// message m: read again from the store (a repeat of the create only reads),
// so its cursors and version are the store's; c with m as its last message
// when that read fails.
func (s *Session) viewAfterCreated(spec GroupSpec, c proto.Conversation, m proto.Message) proto.Conversation {
	if v, created, err := s.env.store.CreateGroup(s.env.ctx, spec); err == nil && !created {
		return v
	}
	return withCreated(c, m)
}

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
// through the usual sync and history. The store writes it as seq 1 in the
// transaction that creates the group (GroupSpec.Announce), under a client
// id derived from the group id, so a group never exists without it. A
// group created by an older build that stopped before appending it gets it
// on a resend of the create: that append is a duplicate when it is there.

// createdClientID is the client id of group conv's created message.
func createdClientID(conv string) string {
	h := sha256.Sum256([]byte(conv))
	return "sys-created-" + hex.EncodeToString(h[:12])
}

// createdMessage is group spec's created message, seq 1, as the store
// writes it with the group.
func createdMessage(spec GroupSpec) proto.Message {
	members := slices.Sorted(slices.Values(spec.Members))
	return proto.Message{ConvID: spec.ID, Seq: 1, Sender: spec.Creator, ClientID: createdClientID(spec.ID),
		Device: "relay", MsgType: proto.MsgSystem, Body: createdBody(spec.Creator, spec.Name, members), CreatedAt: spec.CreatedAt}
}

// createdBody is the body of the created message of a group named name,
// by creator, with members (creator among them).
func createdBody(creator, name string, members []string) []byte {
	users := slices.DeleteFunc(slices.Clone(members), func(u string) bool { return u == creator })
	ev := proto.GroupEvent{Event: proto.EventCreated, By: creator, Users: users}
	if name != "" {
		ev.Name = &name
	}
	return proto.EncodeGroupEvent(&ev)
}

// appendCreated appends group conv's created message, by creator, naming the
// other members of conv. It reports whether the message is new (false: it
// was there already).
func appendCreated(ctx context.Context, st Appender, conv proto.Conversation, creator string, now int64) (proto.Message, bool, error) {
	res, err := st.Append(ctx, []AppendRequest{{Sender: creator, Device: "relay", CreatedAt: now, Send: proto.Send{
		ConvID: conv.ID, ClientID: createdClientID(conv.ID), MsgType: proto.MsgSystem, Body: createdBody(creator, conv.Name, conv.Members)}}})
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

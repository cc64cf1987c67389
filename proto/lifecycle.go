package proto

import "unicode/utf8"

// Limits of the message lifecycle: mentions, reactions and edits.
const (
	MaxMentions     = 100 // user ids in Send.Mentions
	MaxEmojiBytes   = 64  // one reaction's emoji
	MaxReactionKeys = 32  // distinct emoji on one message
)

// IsLifecycle reports whether msgType is one of the lifecycle events the
// relay writes for an Amend (MsgRecall … MsgHide). Such a message changes
// the message at its Target; a client shows it as that change, never as a
// message of its own.
func IsLifecycle(msgType string) bool {
	switch msgType {
	case MsgRecall, MsgDelete, MsgEdit, MsgReact, MsgUnreact, MsgHide:
		return true
	}
	return false
}

// ParseMessageID splits a message id, conversationId#seq, into its
// conversation and seq; ok is false when id is not one.
func ParseMessageID(id string) (conv string, seq uint64, ok bool) {
	i := len(id) - 1
	for i >= 0 && id[i] != '#' {
		i--
	}
	if i <= 0 || i == len(id)-1 || len(id)-i-1 > 20 {
		return "", 0, false
	}
	for _, c := range id[i+1:] {
		if c < '0' || c > '9' {
			return "", 0, false
		}
		d := uint64(c - '0')
		if seq > (^uint64(0)-d)/10 {
			return "", 0, false
		}
		seq = seq*10 + d
	}
	conv = id[:i]
	if seq == 0 || !ValidConvID(conv) {
		return "", 0, false
	}
	return conv, seq, true
}

// validEmoji reports whether s can be a reaction: 1 to MaxEmojiBytes of
// UTF-8 with no control characters. Which emoji are offered is the
// application's choice.
func validEmoji(s string) bool {
	if s == "" || len(s) > MaxEmojiBytes || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}

// validateSendExtras checks Send.Mentions and Send.ReplyTo.
func validateSendExtras(b *Send) *Error {
	if len(b.Mentions) > MaxMentions {
		return Errorf(CodeBadRequest, "send: more than %d mentions", MaxMentions)
	}
	for _, m := range b.Mentions {
		if m != MentionAll && !ValidName(m) {
			return Errorf(CodeBadRequest, "send: invalid mention %q", truncate(m))
		}
	}
	return nil
}

// HideMessage deletes message Seq of ConvID for the caller only ("delete
// for me"): the relay keeps it as an entry of the caller's feed (UserEntry
// .Hidden, keyed by the message id), answers with a UserState holding it
// and pushes it to the caller's other sessions. No other member learns of
// it. Hiding a message again changes nothing; it cannot be undone.
type HideMessage struct {
	ConvID string `cbor:"1,keyasint"`
	Seq    uint64 `cbor:"2,keyasint"`
}

// validateAmend checks an Amend's fields.
func validateAmend(b *Amend) *Error {
	if !ValidConvID(b.ConvID) {
		return Errorf(CodeBadRequest, "amend: invalid conversation id")
	}
	if !ValidName(b.ClientID) {
		return Errorf(CodeBadRequest, "amend: invalid client id")
	}
	if b.Target == 0 {
		return Errorf(CodeBadRequest, "amend: target seq missing")
	}
	switch b.Op {
	case MsgHide:
		return Errorf(CodeBadRequest, "amend: delete for me is a hide-message request, not an amend")
	case MsgRecall, MsgDelete:
		if b.Text != "" {
			return Errorf(CodeBadRequest, "amend: %s takes no text", b.Op)
		}
	case MsgEdit:
		if b.Text == "" {
			return Errorf(CodeBadRequest, "amend: empty text")
		}
		if len(b.Text) > MaxTextBytes {
			return Errorf(CodeTooLarge, "amend: text above %d bytes", MaxTextBytes)
		}
	case MsgReact, MsgUnreact:
		if !validEmoji(b.Text) {
			return Errorf(CodeBadRequest, "amend: invalid emoji")
		}
	default:
		return Errorf(CodeBadRequest, "amend: unknown op %q", truncate(b.Op))
	}
	return nil
}

// Apply changes m, the message at ev.Target of ev's conversation, as the
// lifecycle event ev does. The relay applies each event to its stored
// target when it commits it, and every client to its cached copy, so both
// reach the same state: applying a conversation's events in seq order is
// all it takes. A target already recalled changes no more.
func (m *Message) Apply(ev *Message) {
	if m.Recalled {
		return
	}
	switch ev.MsgType {
	case MsgRecall, MsgDelete:
		m.Text, m.Body, m.Mentions, m.Reactions, m.Recalled = "", nil, nil, nil, true
	case MsgEdit:
		m.Text, m.EditedAt = ev.Text, ev.CreatedAt
	case MsgReact:
		// A changed list is always a new one: a copy of m handed out
		// earlier keeps its own.
		out := append([]Reaction(nil), m.Reactions...)
		for i := range out {
			if out[i].Emoji == ev.Text {
				for _, u := range out[i].Users {
					if u == ev.Sender {
						return
					}
				}
				out[i].Users = append(out[i].Users[:len(out[i].Users):len(out[i].Users)], ev.Sender)
				m.Reactions = out
				return
			}
		}
		m.Reactions = append(out, Reaction{Emoji: ev.Text, Users: []string{ev.Sender}})
	case MsgUnreact:
		for i := range m.Reactions {
			r := &m.Reactions[i]
			if r.Emoji != ev.Text {
				continue
			}
			users := make([]string, 0, len(r.Users))
			for _, u := range r.Users {
				if u != ev.Sender {
					users = append(users, u)
				}
			}
			out := append([]Reaction(nil), m.Reactions...)
			if len(users) == 0 {
				out = append(out[:i], out[i+1:]...)
			} else {
				out[i].Users = users
			}
			if len(out) == 0 {
				out = nil
			}
			m.Reactions = out
			return
		}
	}
}

package client

import (
	"syscall/js"

	"github.com/parley-im/parley/sdk-wasm/core"
)

// The group fields of the JSON the bridge hands to JavaScript.

// groupState writes the group state of a Conversation.
func (w *jsonw) groupState(c *core.Conversation) {
	w.strOmit("role", c.Role)
	w.strOmit("avatar", c.Avatar)
	w.strOmit("notice", c.Notice)
	w.strOmit("custom", c.Custom)
	w.strOmit("joinPolicy", c.JoinPolicy)
	w.intOmit("mutedUntil", c.MutedUntil)
	w.boolOmit("muteAll", c.MuteAll)
	if len(c.Skipped) > 0 {
		w.key("skipped")
		w.b = append(w.b, '[')
		for i, sr := range c.Skipped {
			w.elem(i)
			w.open()
			w.uint("from", sr.From)
			w.uint("to", sr.To)
			w.close()
		}
		w.b = append(w.b, ']')
	}
}

// groupState reads the group state of a stored Conversation.
func (r *jsReader) groupState(o js.Value, c *core.Conversation) {
	c.Role = r.str(o, "role")
	c.Avatar = r.str(o, "avatar")
	c.Notice = r.str(o, "notice")
	c.Custom = r.str(o, "custom")
	c.JoinPolicy = r.str(o, "joinPolicy")
	c.MutedUntil = r.int(o, "mutedUntil")
	c.MuteAll = r.bool(o, "muteAll")
	if arr, n := r.array(o, "skipped"); n > 0 {
		for i := range n {
			e := arr.Index(i)
			if e.Type() != js.TypeObject {
				r.fail("conversation.skipped", "an array of objects")
				return
			}
			c.Skipped = append(c.Skipped, core.SeqRange{From: r.uint(e, "from"), To: r.uint(e, "to")})
		}
	}
}

// notices reads an array of GroupNotice; what is not an object fails.
func (r *jsReader) notices(o js.Value, k string) []core.GroupNotice {
	arr, n := r.array(o, k)
	var out []core.GroupNotice
	for i := range n {
		e := arr.Index(i)
		if e.Type() != js.TypeObject {
			r.fail(k, "an array of objects")
			return nil
		}
		out = append(out, core.GroupNotice{Kind: r.str(e, "kind"), ConvID: r.str(e, "conversationId"), Name: r.str(e, "name"),
			User: r.str(e, "user"), By: r.str(e, "by"), Note: r.str(e, "note"), At: r.int(e, "at"), Done: r.bool(e, "done")})
	}
	return out
}

func (w *jsonw) notice(n *core.GroupNotice) {
	w.open()
	w.str("kind", n.Kind)
	w.str("conversationId", n.ConvID)
	w.strOmit("name", n.Name)
	w.str("user", n.User)
	w.strOmit("by", n.By)
	w.strOmit("note", n.Note)
	w.int("at", n.At)
	w.boolOmit("done", n.Done)
	w.close()
}

// AppendNotices appends ns as an array of GroupNotice.
func AppendNotices(b []byte, ns []core.GroupNotice) []byte {
	w := jsonw{b}
	w.b = append(w.b, '[')
	for i := range ns {
		w.elem(i)
		w.notice(&ns[i])
	}
	w.b = append(w.b, ']')
	return w.b
}

// AppendMemberPage appends {"members": [Member…], "more": bool}.
func AppendMemberPage(b []byte, ms []core.Member, more bool) []byte {
	w := jsonw{b}
	w.open()
	w.key("members")
	w.b = append(w.b, '[')
	for i := range ms {
		w.elem(i)
		w.open()
		w.str("user", ms[i].User)
		w.str("role", ms[i].Role)
		w.int("joinedAt", ms[i].JoinedAt)
		w.intOmit("mutedUntil", ms[i].MutedUntil)
		w.close()
	}
	w.b = append(w.b, ']')
	w.key("more")
	if more {
		w.b = append(w.b, "true"...)
	} else {
		w.b = append(w.b, "false"...)
	}
	w.close()
	return w.b
}

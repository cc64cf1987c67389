package client

import (
	"math"
	"strconv"
	"syscall/js"

	"github.com/parley-im/parley/sdk-wasm/core"
)

// The lifecycle fields of StoredMessage and StoredConversation, written and
// read beside the others (jsvalue_js.go), omitted when zero.

//go:noinline
func (w *jsonw) boolTrue(k string, v bool) {
	if v {
		w.key(k)
		w.b = append(w.b, "true"...)
	}
}

func (w *jsonw) messageLifecycle(m *core.Message) {
	w.strOmit("replyTo", m.ReplyTo)
	if len(m.Mentions) > 0 {
		w.strings("mentions", m.Mentions)
	}
	w.boolTrue("recalled", m.Recalled)
	w.intOmit("editedAt", m.EditedAt)
	if len(m.Reactions) > 0 {
		w.key("reactions")
		w.b = append(w.b, '[')
		for i := range m.Reactions {
			w.elem(i)
			w.open()
			w.str("emoji", m.Reactions[i].Emoji)
			w.strings("users", m.Reactions[i].Users)
			w.close()
		}
		w.b = append(w.b, ']')
	}
	if m.Target > 0 {
		w.uint("target", m.Target)
	}
	w.boolTrue("hidden", m.Hidden)
}

func (r *jsReader) messageLifecycle(o js.Value, m *core.Message) {
	m.ReplyTo = r.str(o, "replyTo")
	m.Mentions = r.strings(o, "mentions")
	m.Recalled = r.bool(o, "recalled")
	m.EditedAt = r.int(o, "editedAt")
	if a, n := r.array(o, "reactions"); n > 0 {
		m.Reactions = make([]core.Reaction, n)
		for i := range n {
			e := a.Index(i)
			if e.Type() != js.TypeObject {
				r.fail("reactions", "an array of objects")
				return
			}
			m.Reactions[i] = core.Reaction{Emoji: r.str(e, "emoji"), Users: r.strings(e, "users")}
		}
	}
	m.Target = r.uint(o, "target")
	m.Hidden = r.bool(o, "hidden")
}

func (w *jsonw) convLifecycle(c *core.Conversation) {
	w.boolTrue("mentioned", c.Mentioned)
	if c.MentionSeq > 0 {
		w.uint("mentionSeq", c.MentionSeq)
	}
	if c.PeerReadSeq > 0 {
		w.uint("peerReadSeq", c.PeerReadSeq)
	}
	w.seqs("eventSeqs", c.EventSeqs)
	w.seqs("mentionSeqs", c.MentionSeqs)
}

// seqs writes a non-empty array of seqs under key.
func (w *jsonw) seqs(key string, seqs []uint64) {
	if len(seqs) == 0 {
		return
	}
	w.key(key)
	w.b = append(w.b, '[')
	for i, s := range seqs {
		w.elem(i)
		w.b = strconv.AppendUint(w.b, s, 10)
	}
	w.b = append(w.b, ']')
}

func (r *jsReader) convLifecycle(o js.Value, c *core.Conversation) {
	c.Mentioned = r.bool(o, "mentioned")
	c.MentionSeq = r.uint(o, "mentionSeq")
	c.PeerReadSeq = r.uint(o, "peerReadSeq")
	c.EventSeqs = r.seqs(o, "eventSeqs")
	c.MentionSeqs = r.seqs(o, "mentionSeqs")
}

// seqs reads an array of seqs: non-negative integers a JS number holds
// exactly, as uint reads one. A negative or fractional entry would wrap or
// round in the conversion, and every entry above the read cursor is one
// message less counted unread.
func (r *jsReader) seqs(o js.Value, field string) []uint64 {
	a, n := r.array(o, field)
	if n == 0 {
		return nil
	}
	out := make([]uint64, n)
	for i := range out {
		e := a.Index(i)
		if e.Type() != js.TypeNumber {
			r.fail(field, "an array of non-negative integers")
			return nil
		}
		f := e.Float()
		if f < 0 || f != math.Trunc(f) || f > 1<<53 {
			r.fail(field, "an array of non-negative integers")
			return nil
		}
		out[i] = uint64(f)
	}
	return out
}

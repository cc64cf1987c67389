package client

import (
	"strconv"
	"syscall/js"

	"github.com/parley-im/parley/sdk-wasm/core"
)

// The JSON and object shapes of the feed's types (core/contacts.go) for
// the JavaScript side, beside those of jsvalue_js.go.

func (w *jsonw) boolOmit(k string, v bool) {
	if v {
		w.key(k)
		w.b = append(w.b, "true"...)
	}
}

func (w *jsonw) uintOmit(k string, v uint64) {
	if v != 0 {
		w.uint(k, v)
	}
}

// convSettings writes the fields a Conversation gains from the feed.
func (w *jsonw) convSettings(c *core.Conversation) {
	w.boolOmit("pinned", c.Pinned)
	w.boolOmit("muted", c.Muted)
	w.boolOmit("hidden", c.Hidden)
	w.strOmit("draft", c.Draft)
}

func (w *jsonw) relation(r *core.Relation) {
	w.open()
	w.str("user", r.User)
	w.strOmit("state", r.State)
	w.strOmit("note", r.Note)
	w.boolOmit("blocked", r.Blocked)
	w.intOmit("at", r.At)
	w.close()
}

// AppendRelations appends rs as an array of Relation.
func AppendRelations(b []byte, rs []core.Relation) []byte {
	w := jsonw{b}
	w.b = append(w.b, '[')
	for i := range rs {
		w.elem(i)
		w.relation(&rs[i])
	}
	w.b = append(w.b, ']')
	return w.b
}

// account writes a StorageAccount.
func (w *jsonw) account(a *core.Account) {
	w.open()
	w.uint("cursor", a.Cursor)
	w.boolOmit("contactsOnly", a.ContactsOnly)
	w.key("relations")
	w.b = AppendRelations(w.b, a.Relations)
	w.key("settings")
	w.b = append(w.b, '[')
	for i := range a.Settings {
		s := &a.Settings[i]
		w.elem(i)
		w.open()
		w.str("conversationId", s.ConvID)
		w.boolOmit("pinned", s.Pinned)
		w.boolOmit("muted", s.Muted)
		w.boolOmit("hidden", s.Hidden)
		w.uintOmit("hiddenSeq", s.HiddenSeq)
		w.close()
	}
	w.b = append(w.b, ']')
	w.key("drafts")
	w.b = append(w.b, '[')
	for i := range a.Drafts {
		w.elem(i)
		w.open()
		w.str("conversationId", a.Drafts[i].ConvID)
		w.str("text", a.Drafts[i].Text)
		w.close()
	}
	w.b = append(w.b, ']')
	if len(a.Notices) > 0 {
		w.key("notices")
		w.b = AppendNotices(w.b, a.Notices) // jsgroups_js.go
	}
	if len(a.Hidden) > 0 {
		w.strings("hidden", a.Hidden)
	}
	w.close()
}

// feedEvent writes the fields of the feed's events.
func (w *jsonw) feedEvent(e *core.Event) {
	if e.Relation != nil {
		w.key("relation")
		w.relation(e.Relation)
	}
	if a := e.Answer; a != nil {
		w.key("answer")
		w.open()
		w.str("user", a.User)
		w.key("accepted")
		w.b = strconv.AppendBool(w.b, a.Accepted)
		w.close()
	}
	if e.Kind == core.EventTotalUnread {
		w.uint("total", e.Total)
	}
}

// convSettings reads the fields a stored Conversation gains from the feed.
func (r *jsReader) convSettings(o js.Value, c *core.Conversation) {
	c.Pinned = r.bool(o, "pinned")
	c.Muted = r.bool(o, "muted")
	c.Hidden = r.bool(o, "hidden")
	c.Draft = r.str(o, "draft")
}

// account reads a StorageAccount; nil when absent.
func (r *jsReader) account(m js.Value) *core.Account {
	o, ok := r.object(m, "account")
	if !ok {
		return nil
	}
	a := &core.Account{Cursor: r.uint(o, "cursor"), ContactsOnly: r.bool(o, "contactsOnly")}
	if arr, n := r.array(o, "relations"); n > 0 {
		for i := range n {
			e := arr.Index(i)
			if e.Type() != js.TypeObject {
				r.fail("account.relations", "an array of objects")
				return nil
			}
			a.Relations = append(a.Relations, core.Relation{User: r.str(e, "user"), State: r.str(e, "state"),
				Note: r.str(e, "note"), Blocked: r.bool(e, "blocked"), At: r.int(e, "at")})
		}
	}
	if arr, n := r.array(o, "settings"); n > 0 {
		for i := range n {
			e := arr.Index(i)
			if e.Type() != js.TypeObject {
				r.fail("account.settings", "an array of objects")
				return nil
			}
			a.Settings = append(a.Settings, core.ConvSetting{ConvID: r.str(e, "conversationId"), Pinned: r.bool(e, "pinned"),
				Muted: r.bool(e, "muted"), Hidden: r.bool(e, "hidden"), HiddenSeq: r.uint(e, "hiddenSeq")})
		}
	}
	if arr, n := r.array(o, "drafts"); n > 0 {
		for i := range n {
			e := arr.Index(i)
			if e.Type() != js.TypeObject {
				r.fail("account.drafts", "an array of objects")
				return nil
			}
			a.Drafts = append(a.Drafts, core.Draft{ConvID: r.str(e, "conversationId"), Text: r.str(e, "text")})
		}
	}
	a.Notices = r.notices(o, "notices") // jsgroups_js.go
	a.Hidden = r.strings(o, "hidden")
	return a
}

package client

import (
	"syscall/js"

	"github.com/parley-im/parley/sdk-wasm/core"
)

func (w *jsonw) presence(p *core.Presence) {
	w.open()
	w.str("user", p.User)
	w.key("online")
	if p.Online {
		w.b = append(w.b, "true"...)
	} else {
		w.b = append(w.b, "false"...)
	}
	w.strOmit("status", p.Status)
	w.intOmit("lastSeen", p.LastSeen)
	w.close()
}

func (w *jsonw) profile(p *core.Profile) {
	w.open()
	w.str("user", p.User)
	w.strOmit("nickname", p.Nickname)
	w.strOmit("avatar", p.Avatar)
	w.strOmit("custom", p.Custom)
	w.int("updatedAt", p.UpdatedAt)
	w.boolTrue("deleted", p.Deleted)
	w.close()
}

// AppendPresences appends ps as a JSON array of core.Presence.
func AppendPresences(b []byte, ps []core.Presence) []byte {
	w := jsonw{append(b, '[')}
	for i := range ps {
		w.elem(i)
		w.presence(&ps[i])
	}
	return append(w.b, ']')
}

// AppendProfiles appends ps as a JSON array of core.Profile.
func AppendProfiles(b []byte, ps []core.Profile) []byte {
	w := jsonw{append(b, '[')}
	for i := range ps {
		w.elem(i)
		w.profile(&ps[i])
	}
	return append(w.b, ']')
}

// appendPresenceEvent writes the presence and profile payloads of e.
func (w *jsonw) presenceEvent(e *core.Event) {
	if e.Presence != nil {
		w.key("presence")
		w.presence(e.Presence)
	}
	if e.Profile != nil {
		w.key("profile")
		w.profile(e.Profile)
	}
}

// profiles reads the profiles a stored meta keeps; nil when absent.
func (r *jsReader) profiles(m js.Value) []core.Profile {
	arr, n := r.array(m, "profiles")
	if n == 0 {
		return nil
	}
	out := make([]core.Profile, 0, n)
	for i := range n {
		e := arr.Index(i)
		if e.Type() != js.TypeObject {
			r.fail("meta.profiles", "an array of objects")
			return nil
		}
		out = append(out, core.Profile{User: r.str(e, "user"), Nickname: r.str(e, "nickname"), Avatar: r.str(e, "avatar"),
			Custom: r.str(e, "custom"), UpdatedAt: r.int(e, "updatedAt"), Deleted: r.bool(e, "deleted")})
	}
	return out
}

package client

import "github.com/parley-im/parley/sdk-wasm/core"

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

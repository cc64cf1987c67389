package client

import "github.com/parley-im/parley/sdk-wasm/core"

// The call shapes of the JavaScript bridge (BridgeCall, CallEvent,
// CallSignal), written by hand like the rest of this file's JSON.

// AppendCall appends a BridgeCall.
func AppendCall(b []byte, c *core.Call) []byte {
	w := jsonw{b}
	w.call(c)
	return w.b
}

func (w *jsonw) bool(k string, v bool) {
	w.key(k)
	if v {
		w.b = append(w.b, "true"...)
	} else {
		w.b = append(w.b, "false"...)
	}
}

func (w *jsonw) call(c *core.Call) {
	w.open()
	w.str("id", c.ID)
	w.str("conversationId", c.ConvID)
	w.str("direction", c.Direction)
	w.str("from", c.From)
	w.strings("peers", c.Peers)
	w.strings("joined", c.Joined)
	w.bool("audio", c.Audio)
	w.bool("video", c.Video)
	w.str("state", string(c.State))
	w.strOmit("reason", c.Reason)
	w.intOmit("durationMs", c.DurationMs)
	if len(c.ICEServers) > 0 {
		w.key("iceServers")
		w.b = append(w.b, '[')
		for i := range c.ICEServers {
			s := &c.ICEServers[i]
			w.elem(i)
			w.open()
			w.strings("urls", s.URLs)
			w.strOmit("username", s.Username)
			w.strOmit("credential", s.Credential)
			w.close()
		}
		w.b = append(w.b, ']')
	}
	w.close()
}

// callEvent writes the call and signal fields of an event.
func (w *jsonw) callEvent(e *core.Event) {
	if ce := e.Call; ce != nil {
		w.key("call")
		w.open()
		w.str("change", string(ce.Change))
		w.strOmit("peer", ce.Peer)
		w.key("call")
		w.call(&ce.Call)
		w.close()
	}
	if s := e.Signal; s != nil {
		w.key("signal")
		w.open()
		w.str("callId", s.CallID)
		w.str("peer", s.Peer)
		w.str("kind", s.Kind)
		w.str("data", s.Data)
		w.close()
	}
}

package client

import "github.com/parley-im/parley/sdk-wasm/core"

// AppendDevices appends ds as an array of Device ([] when empty).
func AppendDevices(b []byte, ds []core.Device) []byte {
	w := jsonw{b}
	w.b = append(w.b, '[')
	for i := range ds {
		d := &ds[i]
		w.elem(i)
		w.open()
		w.str("id", d.ID)
		w.strOmit("platform", d.Platform)
		w.int("connectedAt", d.ConnectedAt)
		w.key("current")
		if d.Current {
			w.b = append(w.b, "true"...)
		} else {
			w.b = append(w.b, "false"...)
		}
		w.close()
	}
	w.b = append(w.b, ']')
	return w.b
}

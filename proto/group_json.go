package proto

import (
	"strconv"
	"unicode/utf8"
)

// AppendJSON appends e as a JSON object with the keys of its CBOR form
// ({"event":…,"by":…,"users":[…],…}), for clients whose caches and
// applications read JSON. It is written by hand: the SDK's wasm build
// carries no reflection-based encoder.
func (e *GroupEvent) AppendJSON(b []byte) []byte {
	b = append(b, `{"event":`...)
	b = appendJSONString(b, e.Event)
	b = append(b, `,"by":`...)
	b = appendJSONString(b, e.By)
	if len(e.Users) > 0 {
		b = append(b, `,"users":[`...)
		for i, u := range e.Users {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, u)
		}
		b = append(b, ']')
	}
	str := func(k string, v *string) {
		if v != nil {
			b = append(b, ',')
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = appendJSONString(b, *v)
		}
	}
	if e.Role != "" {
		str("role", &e.Role)
	}
	if e.Until != 0 {
		b = append(b, `,"until":`...)
		b = strconv.AppendInt(b, e.Until, 10)
	}
	if e.On {
		b = append(b, `,"on":true`...)
	}
	str("name", e.Name)
	str("avatar", e.Avatar)
	str("notice", e.Notice)
	str("custom", e.Custom)
	if e.JoinPolicy != "" {
		str("joinPolicy", &e.JoinPolicy)
	}
	return append(b, '}')
}

// appendJSONString appends s as a JSON string (RFC 8259 §7); invalid UTF-8
// becomes U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r < 0x20 || r == 0x2028 || r == 0x2029:
			b = append(b, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return append(b, '"')
}

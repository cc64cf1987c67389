package proto

import (
	"bytes"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Rich message types. An image, file, audio or video message carries an
// Attachment (the bytes went up through the relay's upload endpoint before
// the message was sent) and may carry Text as a caption; a location message
// carries a Location as its JSON Body.
const (
	MsgImage    = "image"
	MsgFile     = "file"
	MsgAudio    = "audio"
	MsgVideo    = "video"
	MsgLocation = "location"
)

// Limits of attachment metadata and locations.
const (
	MaxAttachmentIDBytes   = 64  // Attachment.ID
	MaxAttachmentNameBytes = 255 // Attachment.Name, a file name
	MaxMimeBytes           = 127 // Attachment.Mime (RFC 6838 §4.2: 127 per part)
	MaxLocationTitleBytes  = 256 // Location.Title
	MaxDimension           = 1 << 16
)

// Attachment describes uploaded bytes a message refers to. The relay fills
// in Size and Mime from the upload itself, whatever the sender said.
type Attachment struct {
	ID         string `cbor:"1,keyasint"` // the upload's id, as POST /v1/uploads returned it
	Name       string `cbor:"2,keyasint"` // file name for display and saving
	Size       int64  `cbor:"3,keyasint"` // bytes
	Mime       string `cbor:"4,keyasint"` // media type, e.g. image/png
	Width      uint32 `cbor:"5,keyasint,omitempty"`
	Height     uint32 `cbor:"6,keyasint,omitempty"`
	DurationMs uint64 `cbor:"7,keyasint,omitempty"`
}

// Location is the body of a location message, as JSON:
// {"lat": 52.52, "lng": 13.405, "title": "Alexanderplatz"}.
type Location struct {
	Lat   float64
	Lng   float64
	Title string
}

// IsAttachmentType reports whether messages of msgType carry an Attachment.
func IsAttachmentType(msgType string) bool {
	switch msgType {
	case MsgImage, MsgFile, MsgAudio, MsgVideo:
		return true
	}
	return false
}

// ValidAttachmentID reports whether s can be an upload id: 16 to
// MaxAttachmentIDBytes characters of [A-Za-z0-9_-]. The relay's ids are 32
// random lowercase hex digits (128 bits); the alphabet keeps them safe in
// URLs and object keys.
func ValidAttachmentID(s string) bool {
	if len(s) < 16 || len(s) > MaxAttachmentIDBytes {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// ValidMime reports whether s is a media type without parameters:
// type "/" subtype, each a token of RFC 6838 §4.2, at most MaxMimeBytes,
// lowercase (the relay lowercases what a client declares).
func ValidMime(s string) bool {
	if len(s) == 0 || len(s) > MaxMimeBytes {
		return false
	}
	typ, sub, ok := strings.Cut(s, "/")
	return ok && mimeToken(typ) && mimeToken(sub)
}

func mimeToken(s string) bool {
	if s == "" || len(s) > 127 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case i > 0 && strings.IndexByte("!#$&-^_.+", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// ValidFileName reports whether s can be an attachment's name: 1 to
// MaxAttachmentNameBytes of UTF-8 without control or bidirectional-override
// characters, path separators, or a name of "." or "..", so that saving it
// as given cannot leave the folder it is saved in.
func ValidFileName(s string) bool {
	if s == "" || len(s) > MaxAttachmentNameBytes || !utf8.ValidString(s) || s == "." || s == ".." {
		return false
	}
	for _, r := range s {
		if r == '/' || r == '\\' || unicode.IsControl(r) || isBidiOverride(r) {
			return false
		}
	}
	return true
}

func isBidiOverride(r rune) bool {
	return r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 || r == 0x200e || r == 0x200f
}

// ValidateAttachment checks a's metadata. An empty ID passes when idOptional
// is set: the SDK validates a message while its upload is still running.
func ValidateAttachment(a *Attachment, idOptional bool) *Error {
	switch {
	case a.ID == "" && idOptional:
	case !ValidAttachmentID(a.ID):
		return Errorf(CodeBadRequest, "attachment: invalid id")
	}
	if !ValidFileName(a.Name) {
		return Errorf(CodeBadRequest, "attachment: invalid name")
	}
	if a.Size < 0 || a.Size > 1<<53 {
		return Errorf(CodeBadRequest, "attachment: invalid size")
	}
	if !ValidMime(a.Mime) {
		return Errorf(CodeBadRequest, "attachment: invalid media type")
	}
	if a.Width > MaxDimension || a.Height > MaxDimension {
		return Errorf(CodeBadRequest, "attachment: width or height above %d", MaxDimension)
	}
	if a.DurationMs > 1<<53 {
		return Errorf(CodeBadRequest, "attachment: invalid duration")
	}
	return nil
}

// ParseLocation decodes and checks a location body: one JSON object (RFC 8259)
// with the members lat and lng, finite numbers in [-90, 90] and [-180, 180],
// and optionally title, a string of at most MaxLocationTitleBytes without
// control characters (or null, for no title), and nothing else: other or
// repeated members, member names in another case, and anything after the
// object but white space are refused. It reads the bytes itself, not with
// encoding/json, whose reflection would cost parley.wasm a fifth of its size.
func ParseLocation(body []byte) (Location, *Error) {
	if !utf8.Valid(body) {
		return Location{}, Errorf(CodeBadRequest, "location: body is not UTF-8 JSON")
	}
	l, msg := parseLocation(body)
	if msg != "" {
		return Location{}, Errorf(CodeBadRequest, "location: %s", msg)
	}
	if math.IsNaN(l.Lat) || l.Lat < -90 || l.Lat > 90 || math.IsNaN(l.Lng) || l.Lng < -180 || l.Lng > 180 {
		return Location{}, Errorf(CodeBadRequest, "location: lat or lng out of range")
	}
	if len(l.Title) > MaxLocationTitleBytes {
		return Location{}, Errorf(CodeBadRequest, "location: title above %d bytes", MaxLocationTitleBytes)
	}
	for _, r := range l.Title {
		if unicode.IsControl(r) || isBidiOverride(r) {
			return Location{}, Errorf(CodeBadRequest, "location: title holds control characters")
		}
	}
	return l, nil
}

// parseLocation reads the object of a location body; msg says what is wrong
// with it, "" when nothing is.
func parseLocation(b []byte) (l Location, msg string) {
	const notObject = "body is not a {lat, lng, title?} object"
	i := jsonSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return l, notObject
	}
	var seen [3]bool // lat, lng, title
	i = jsonSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		i++
	} else {
		for {
			if i >= len(b) || b[i] != '"' {
				return l, notObject
			}
			key, next, ok := jsonString(b, i)
			if !ok {
				return l, notObject
			}
			i = jsonSpace(b, next)
			if i >= len(b) || b[i] != ':' {
				return l, notObject
			}
			i = jsonSpace(b, i+1)
			var field int
			switch key {
			case "lat":
				field = 0
				l.Lat, i, ok = jsonNumber(b, i)
			case "lng":
				field = 1
				l.Lng, i, ok = jsonNumber(b, i)
			case "title":
				field, ok = 2, false
				if bytes.HasPrefix(b[i:], []byte("null")) {
					i, ok = i+4, true
				} else if i < len(b) && b[i] == '"' {
					l.Title, i, ok = jsonString(b, i)
				}
			default:
				return l, notObject
			}
			if !ok {
				if field == 2 {
					return l, "title is not a string"
				}
				return l, "lat and lng must be finite numbers"
			}
			if seen[field] {
				return l, "a member appears twice"
			}
			seen[field] = true
			i = jsonSpace(b, i)
			if i < len(b) && b[i] == ',' {
				i = jsonSpace(b, i+1)
				continue
			}
			if i < len(b) && b[i] == '}' {
				i++
				break
			}
			return l, notObject
		}
	}
	if jsonSpace(b, i) != len(b) {
		return l, "trailing data after the object"
	}
	if !seen[0] || !seen[1] {
		return l, "lat and lng are required"
	}
	return l, ""
}

// jsonSpace returns the index of the first byte at or after i that is not
// JSON white space (RFC 8259 §2).
func jsonSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// jsonNumber reads the JSON number (RFC 8259 §6) at b[i]; ok is false when
// there is none or it does not fit a float64.
func jsonNumber(b []byte, i int) (f float64, next int, ok bool) {
	start := i
	digits := func() bool {
		n := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i > n
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case !digits():
		return 0, i, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if !digits() {
			return 0, i, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			return 0, i, false
		}
	}
	f, err := strconv.ParseFloat(string(b[start:i]), 64)
	return f, i, err == nil
}

// jsonString reads the JSON string (RFC 8259 §7) at b[i] == '"', escapes
// decoded; ok is false for an unterminated string, a raw control character,
// a bad escape or a lone surrogate. b is valid UTF-8.
func jsonString(b []byte, i int) (s string, next int, ok bool) {
	var out []byte
	start := i + 1
	for j := start; j < len(b); j++ {
		c := b[j]
		switch {
		case c == '"':
			if out == nil {
				return string(b[start:j]), j + 1, true
			}
			return string(append(out, b[start:j]...)), j + 1, true
		case c < 0x20:
			return "", j, false
		case c != '\\':
			continue
		}
		out = append(out, b[start:j]...)
		if j+1 >= len(b) {
			return "", j, false
		}
		j++
		switch b[j] {
		case '"', '\\', '/':
			out = append(out, b[j])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, n := jsonHex4(b, j+1)
			if n < 0 {
				return "", j, false
			}
			j = n - 1
			if utf16.IsSurrogate(r) {
				r2, n2 := rune(-1), -1
				if n+1 < len(b) && b[n] == '\\' && b[n+1] == 'u' {
					r2, n2 = jsonHex4(b, n+2)
				}
				if r = utf16.DecodeRune(r, r2); n2 < 0 || r == utf8.RuneError {
					return "", j, false
				}
				j = n2 - 1
			}
			out = utf8.AppendRune(out, r)
		default:
			return "", j, false
		}
		start = j + 1
	}
	return "", len(b), false
}

// jsonHex4 reads the four hex digits of a \u escape at b[i:]; n is the
// index after them, -1 when they are not there.
func jsonHex4(b []byte, i int) (r rune, n int) {
	if i+4 > len(b) {
		return 0, -1
	}
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, -1
		}
		r = r<<4 | rune(c)
	}
	return r, i + 4
}

// validateRich checks the fields of a Send that depend on its rich type:
// an attachment type needs an Attachment and no Body; a location needs a
// Location body and no Attachment; any other type carries no Attachment.
func validateRich(b *Send) *Error {
	switch {
	case IsAttachmentType(b.MsgType):
		if b.Attachment == nil {
			return Errorf(CodeBadRequest, "send: %s message without an attachment", b.MsgType)
		}
		if len(b.Body) > 0 {
			return Errorf(CodeBadRequest, "send: %s message with a body", b.MsgType)
		}
		return ValidateAttachment(b.Attachment, false)
	case b.Attachment != nil:
		return Errorf(CodeBadRequest, "send: %s message with an attachment", b.MsgType)
	case b.MsgType == MsgLocation:
		_, perr := ParseLocation(b.Body)
		return perr
	}
	return nil
}

// MarshalAttachment returns a's CBOR encoding: the form in which a relay
// store may keep an attachment message's Attachment in its body column.
func MarshalAttachment(a *Attachment) []byte {
	return marshal(a)
}

// UnmarshalAttachment reverses MarshalAttachment.
func UnmarshalAttachment(b []byte) (*Attachment, error) {
	var a Attachment
	if err := unmarshal(b, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

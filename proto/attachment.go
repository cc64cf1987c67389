package proto

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"unicode"
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
	Lat   float64 `json:"lat"`
	Lng   float64 `json:"lng"`
	Title string  `json:"title,omitempty"`
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

// ParseLocation decodes and checks a location body: a JSON object with
// finite lat in [-90, 90] and lng in [-180, 180], an optional title of at
// most MaxLocationTitleBytes, and nothing else.
func ParseLocation(body []byte) (Location, *Error) {
	var raw struct {
		Lat   *float64 `json:"lat"`
		Lng   *float64 `json:"lng"`
		Title *string  `json:"title"`
	}
	if !utf8.Valid(body) {
		return Location{}, Errorf(CodeBadRequest, "location: body is not UTF-8 JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return Location{}, Errorf(CodeBadRequest, "location: body is not a {lat, lng, title?} object")
	}
	if dec.More() {
		return Location{}, Errorf(CodeBadRequest, "location: trailing data after the object")
	}
	if raw.Lat == nil || raw.Lng == nil {
		return Location{}, Errorf(CodeBadRequest, "location: lat and lng are required")
	}
	l := Location{Lat: *raw.Lat, Lng: *raw.Lng}
	if math.IsNaN(l.Lat) || l.Lat < -90 || l.Lat > 90 || math.IsNaN(l.Lng) || l.Lng < -180 || l.Lng > 180 {
		return Location{}, Errorf(CodeBadRequest, "location: lat or lng out of range")
	}
	if raw.Title != nil {
		l.Title = *raw.Title
		if len(l.Title) > MaxLocationTitleBytes {
			return Location{}, Errorf(CodeBadRequest, "location: title above %d bytes", MaxLocationTitleBytes)
		}
		for _, r := range l.Title {
			if unicode.IsControl(r) || isBidiOverride(r) {
				return Location{}, Errorf(CodeBadRequest, "location: title holds control characters")
			}
		}
	}
	return l, nil
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
	b, err := encMode.Marshal(a)
	if err != nil {
		panic("proto: attachment does not encode: " + err.Error())
	}
	return b
}

// UnmarshalAttachment reverses MarshalAttachment.
func UnmarshalAttachment(b []byte) (*Attachment, error) {
	var a Attachment
	if err := decMode.Unmarshal(b, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

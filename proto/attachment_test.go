package proto

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"strconv"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzLocation feeds arbitrary bytes to ParseLocation, the decoder of a
// location message's body. It must never panic, what it accepts must be in
// range and survive validation as a Send body, and it must accept exactly
// what refLocation, the same rules read through encoding/json's tokenizer,
// accepts, with the same values.
func FuzzLocation(f *testing.F) {
	for _, s := range []string{
		`{"lat":52.52,"lng":13.405,"title":"Alexanderplatz"}`,
		`{"lat":-90,"lng":180}`,
		`{"lat":1e400,"lng":0}`,
		`{"lat":0,"lng":0,"title":null}`,
		`{"lat":0,"lng":0} []`,
		`[]`,
		`{"lat":0,"lng":0}}`,
		`{"LAT":0,"lng":0}`,
		`{"lat":0,"lng":0,"lat":1}`,
		` {"title":"a\u00e9\ud83d\ude00\/\"","lat":-0.5e-3,"lng":1E2} `,
		`{"lat":0,"lng":0,"title":"\ud83d"}`,
		`{"lat":01,"lng":0}`,
		`{"lat":0,"lng":0,}`,
		`{"lat":-,"lng":0}`,
		`null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		l, perr := ParseLocation(b)
		want, ok := refLocation(b)
		if ok != (perr == nil) {
			t.Fatalf("ParseLocation(%q) = %+v, %v; encoding/json reads it as %+v, accepted %v", b, l, perr, want, ok)
		}
		if perr != nil {
			equal(t, "code", perr.Code, CodeBadRequest)
			return
		}
		if l != want {
			t.Fatalf("ParseLocation(%q) = %+v, encoding/json reads %+v", b, l, want)
		}
		if math.IsNaN(l.Lat) || math.Abs(l.Lat) > 90 || math.IsNaN(l.Lng) || math.Abs(l.Lng) > 180 || len(l.Title) > MaxLocationTitleBytes {
			t.Fatalf("accepted %q as %+v", b, l)
		}
		if len(b) <= MaxBodyBytes {
			if verr := Validate(&Send{ConvID: "p:alice:bob", ClientID: "c1", MsgType: MsgLocation, Body: b}); verr != nil {
				t.Fatalf("ParseLocation accepts %q, Validate does not: %v", b, verr)
			}
		}
	})
}

// refLocation applies ParseLocation's rules to b with encoding/json's
// tokenizer: UTF-8, one object whose members are exactly lat and lng (numbers) and
// optionally title (a string or null), each once, nothing after it, values in
// range, a title without control characters.
func refLocation(b []byte) (Location, bool) {
	var l Location
	if !utf8.Valid(b) || !json.Valid(b) {
		return l, false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return l, false
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		key, _ := tok.(string)
		if err != nil || seen[key] {
			return l, false
		}
		seen[key] = true
		if tok, err = dec.Token(); err != nil {
			return l, false
		}
		switch key {
		case "lat", "lng":
			n, isNum := tok.(json.Number)
			if !isNum {
				return l, false
			}
			f, err := strconv.ParseFloat(string(n), 64)
			if err != nil {
				return l, false
			}
			if key == "lat" {
				l.Lat = f
			} else {
				l.Lng = f
			}
		case "title":
			switch v := tok.(type) {
			case nil:
			case string:
				if !utf16Clean(b) {
					return l, false
				}
				l.Title = v
			default:
				return l, false
			}
		default:
			return l, false
		}
	}
	if _, err := dec.Token(); err != nil {
		return l, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return l, false
	}
	if !seen["lat"] || !seen["lng"] || l.Lat < -90 || l.Lat > 90 || l.Lng < -180 || l.Lng > 180 || len(l.Title) > MaxLocationTitleBytes {
		return l, false
	}
	for _, r := range l.Title {
		if unicode.IsControl(r) || isBidiOverride(r) {
			return l, false
		}
	}
	return l, true
}

// utf16Clean reports whether every \u escape of a UTF-16 surrogate in b is
// half of a well-formed pair (encoding/json replaces a lone one with U+FFFD;
// ParseLocation refuses it).
func utf16Clean(b []byte) bool {
	for i := 0; i+6 <= len(b); i++ {
		if b[i] == '\\' && i+1 < len(b) && b[i+1] == '\\' {
			i++
			continue
		}
		if b[i] != '\\' || b[i+1] != 'u' {
			continue
		}
		r, n := jsonHex4(b, i+2)
		if n < 0 {
			continue
		}
		switch {
		case r >= 0xd800 && r < 0xdc00:
			r2, n2 := rune(-1), -1
			if n+2 <= len(b) && b[n] == '\\' && b[n+1] == 'u' {
				r2, n2 = jsonHex4(b, n+2)
			}
			if n2 < 0 || r2 < 0xdc00 || r2 >= 0xe000 {
				return false
			}
			i = n2 - 1
		case r >= 0xdc00 && r < 0xe000:
			return false
		default:
			i = n - 1
		}
	}
	return true
}

func TestParseLocation(t *testing.T) {
	t.Parallel()
	l, perr := ParseLocation([]byte(`{"lat":52.52,"lng":13.405,"title":"Alexanderplatz"}`))
	if perr != nil {
		t.Fatal(perr)
	}
	equal(t, "location", l, Location{Lat: 52.52, Lng: 13.405, Title: "Alexanderplatz"})
	for _, bad := range []string{`{"lat":1e400,"lng":0}`, `{"LAT":0,"lng":0}`, `{"lat":0,"lng":0,"lat":1}`,
		`{"lat":0,"lng":0}}`, `{"lat":0,"lng":0,"title":"\udc00"}`, `{"lat":0,"lng":0,"title":1}`, `{"lat":"0","lng":0}`, `{"lat":0,"lng":0,}`, `{"lat":0,"lng":0,"title":"a\u0000b"}`, `{"lat":0,"lng":0,"title":"\u202e"}`, "\xff"} {
		if _, perr := ParseLocation([]byte(bad)); perr == nil {
			t.Errorf("ParseLocation(%q) accepted", bad)
		}
	}
}

func TestValidAttachmentID(t *testing.T) {
	t.Parallel()
	for id, want := range map[string]bool{
		"4f1c0e6a9b2d4c7e8a1f3b5d7c9e0a2b": true, "0123456789abcdef": true, "0123456789abcde": false,
		"../../../etc/passwd": false, "abc/def0123456789": false, "": false,
	} {
		if got := ValidAttachmentID(id); got != want {
			t.Errorf("ValidAttachmentID(%q) = %v", id, got)
		}
	}
}

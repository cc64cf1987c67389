package proto

import (
	"math"
	"testing"
)

// FuzzLocation feeds arbitrary bytes to ParseLocation, the decoder of a
// location message's body. It must never panic, and what it accepts must be
// in range and survive validation as a Send body.
func FuzzLocation(f *testing.F) {
	for _, s := range []string{
		`{"lat":52.52,"lng":13.405,"title":"Alexanderplatz"}`,
		`{"lat":-90,"lng":180}`,
		`{"lat":1e400,"lng":0}`,
		`{"lat":0,"lng":0,"title":null}`,
		`{"lat":0,"lng":0} []`,
		`[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		l, perr := ParseLocation(b)
		if perr != nil {
			equal(t, "code", perr.Code, CodeBadRequest)
			return
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

func TestParseLocation(t *testing.T) {
	t.Parallel()
	l, perr := ParseLocation([]byte(`{"lat":52.52,"lng":13.405,"title":"Alexanderplatz"}`))
	if perr != nil {
		t.Fatal(perr)
	}
	equal(t, "location", l, Location{Lat: 52.52, Lng: 13.405, Title: "Alexanderplatz"})
	for _, bad := range []string{`{"lat":1e400,"lng":0}`, `{"lat":0,"lng":0,"title":"a\u0000b"}`, `{"lat":0,"lng":0,"title":"\u202e"}`, "\xff"} {
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

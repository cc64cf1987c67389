package proto

import (
	"reflect"
	"testing"
)

var vTrue, vFalse = true, false

func TestValidateContacts(t *testing.T) {
	t.Parallel()
	long := string(make([]byte, MaxNoteBytes+1))
	cases := []struct {
		name string
		body any
		code Code
	}{
		{"contact/request", &Contact{Op: ContactRequest, User: "bob", Note: "hi"}, 0},
		{"contact/unknown op", &Contact{Op: "befriend", User: "bob"}, CodeBadRequest},
		{"contact/bad user", &Contact{Op: ContactBlock, User: "bob\x00"}, CodeBadRequest},
		{"contact/no user", &Contact{Op: ContactBlock}, CodeBadRequest},
		{"contact/note on accept", &Contact{Op: ContactAccept, User: "bob", Note: "x"}, CodeBadRequest},
		{"contact/long note", &Contact{Op: ContactRequest, User: "bob", Note: long}, CodeTooLarge},
		{"set-conv/pin", &SetConv{ConvID: "g:x", Pinned: &vTrue}, 0},
		{"set-conv/nothing", &SetConv{ConvID: "g:x"}, CodeBadRequest},
		{"set-conv/bad id", &SetConv{ConvID: "x", Muted: &vTrue}, CodeBadRequest},
		{"set-prefs", &Prefs{ContactsOnly: true}, 0},
		{"user-sync", &UserSync{Cursor: 3}, 0},
		{"user-state is no request", &UserState{}, CodeProtocolError},
		{"user-update is no request", &UserUpdate{}, CodeProtocolError},
	}
	for _, c := range cases {
		err := Validate(c.body)
		switch {
		case c.code == 0 && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.code != 0 && (err == nil || err.Code != c.code):
			t.Errorf("%s: got %v, want %d", c.name, err, c.code)
		}
	}
}

func TestEntryRoundTrip(t *testing.T) {
	t.Parallel()
	for _, e := range []UserEntry{
		{Pos: 7, Relation: &Relation{User: "bob", State: RelPending, Note: "hi", Blocked: true, At: 5}},
		{Setting: &ConvSetting{ConvID: "p:a:b", Muted: true, Hidden: true, HiddenSeq: 9}},
		{Prefs: &Prefs{ContactsOnly: true}},
	} {
		got, err := DecodeEntry(EncodeEntry(&e))
		if err != nil || !reflect.DeepEqual(got, e) {
			t.Fatalf("round trip of %+v: %+v, %v", e, got, err)
		}
	}
	if _, err := DecodeEntry([]byte{0xa1, 0x02, 0x61, 0xff}); err == nil {
		t.Fatal("an entry with invalid UTF-8 decoded")
	}
}

// FuzzDecodeEntry: stored entries are read back by every store; whatever
// the bytes, decoding returns an entry or an error and never panics, and a
// decoded entry encodes again.
func FuzzDecodeEntry(f *testing.F) {
	f.Add(EncodeEntry(&UserEntry{Pos: 1, Relation: &Relation{User: "bob", State: RelContact}}))
	f.Add(EncodeEntry(&UserEntry{Setting: &ConvSetting{ConvID: "g:x", Pinned: true}}))
	f.Add(EncodeEntry(&UserEntry{Prefs: &Prefs{ContactsOnly: true}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeEntry(b)
		if err != nil {
			return
		}
		EncodeEntry(&e)
	})
}

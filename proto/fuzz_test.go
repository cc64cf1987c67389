package proto

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

// Fuzz targets for every decoder of untrusted bytes. Seeds live in
// testdata/fuzz/<target>/ (generated from the wire vectors by
// `go test ./proto -run TestVectors -update`; crashers the engine finds are
// kept beside them). Run one with:
//
//	go test ./proto -run '^$' -fuzz '^FuzzDecode$' -fuzztime 60s

// FuzzDecode feeds arbitrary bytes to Decode. It must never panic; a failure
// must be an *Error with a decode code; a success must re-encode, and the
// re-encoding must decode to an equal frame and be a fixed point of
// Encode∘Decode.
func FuzzDecode(f *testing.F) {
	for _, v := range validVectors() {
		f.Add(MustEncode(v.frame))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// checkValid normally sees only input the library accepted; it must
		// survive anything all the same.
		validErr := checkValid(b)
		fr, err := Decode(b, 0)
		if err == nil && validErr != nil {
			t.Fatalf("Decode accepted input checkValid rejects: %v", validErr)
		}
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T) is not an *Error", err, err)
			}
			want := CodeProtocolError
			if len(b) > DefaultMaxFrame {
				want = CodeFrameTooLarge
			}
			equal(t, "code", pe.Code, want)
			return
		}
		checkDecoded(t, fr)
		b2, err := Encode(fr)
		if err != nil {
			t.Fatalf("decoded %s does not re-encode: %v", renderJSON(fr), err)
		}
		// Zero-valued required fields make the canonical form longer than
		// a sparse input, so the second decode is not held to the size limit.
		fr2, err := Decode(b2, math.MaxInt)
		if err != nil {
			t.Fatalf("re-encoding %x of %s does not decode: %v", b2, renderJSON(fr), err)
		}
		// renderJSON treats nil and empty slices alike, as the wire does.
		if got, want := renderJSON(fr2), renderJSON(fr); got != want {
			t.Fatalf("round trip changed the frame:\n got %s\nwant %s", got, want)
		}
		b3, err := Encode(fr2)
		if err != nil || !bytes.Equal(b3, b2) {
			t.Fatalf("encoding is not a fixed point: %x then %x (%v)", b2, b3, err)
		}
	})
}

// checkDecoded asserts what Decode promises about any frame it returns.
func checkDecoded(t *testing.T, fr Frame) {
	t.Helper()
	want, ok := NewBody(fr.Type)
	if !ok {
		t.Fatalf("decoded unknown type %d", fr.Type)
	}
	if want == nil {
		if fr.Body != nil {
			t.Fatalf("%s decoded with body %T", fr.Type, fr.Body)
		}
		return
	}
	v := reflect.ValueOf(fr.Body)
	if fr.Body == nil || v.Type() != reflect.TypeOf(want) || v.IsNil() {
		t.Fatalf("%s decoded with body %T, want non-nil %T", fr.Type, fr.Body, want)
	}
}

// FuzzValidate decodes arbitrary bytes and runs the request checks on
// whatever decodes: Validate must not panic, must return one of its
// documented codes, and must reject exactly the non-request bodies. A request
// it accepts names a well-formed conversation.
func FuzzValidate(f *testing.F) {
	for _, v := range validVectors() {
		if Validate(v.frame.Body) == nil {
			f.Add(MustEncode(v.frame))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := Decode(b, 0)
		if err != nil {
			return
		}
		isRequest := fr.Type == TypeHello || fr.Type == TypeSend || fr.Type == TypeSync ||
			fr.Type == TypeHistory || fr.Type == TypeRead || fr.Type == TypePing ||
			fr.Type == TypePong || fr.Type == TypeCreateGroup || fr.Type == TypeRenew || fr.Type == TypeTyping ||
			fr.Type == TypeAmend || fr.Type == TypeReceipts || fr.Type == TypeHideMessage ||
			fr.Type == TypeCallInvite || fr.Type == TypeCallAccept || fr.Type == TypeCallEnd || fr.Type == TypeCallSignal ||
			fr.Type == TypeGroupOp || fr.Type == TypeMembers || fr.Type == TypePending ||
			fr.Type == TypeSubscribePresence || fr.Type == TypeSetStatus || fr.Type == TypeSetProfile || fr.Type == TypeGetProfiles ||
			fr.Type == TypeContact || fr.Type == TypeSetConv || fr.Type == TypeSetPrefs || fr.Type == TypeUserSync ||
			fr.Type == TypeDevices || fr.Type == TypeKickDevice
		verr := Validate(fr.Body)
		if !isRequest {
			if verr == nil || verr.Code != CodeProtocolError {
				t.Fatalf("Validate(%T) = %v, want protocol error", fr.Body, verr)
			}
			return
		}
		if verr != nil {
			switch verr.Code {
			case CodeBadRequest, CodeTooLarge, CodeUnauthorized:
			case CodeStatusTooLong, CodeBadProfile, CodeTooManyUsers: // presence.go
			default:
				t.Fatalf("Validate(%T) = %v: undocumented code", fr.Body, verr)
			}
			return
		}
		var convID string
		switch body := fr.Body.(type) {
		case *Send:
			convID = body.ConvID
			if !ValidName(body.ClientID) || len(body.Text) > MaxTextBytes || len(body.Body) > MaxBodyBytes {
				t.Fatalf("accepted send %s", renderJSON(fr))
			}
		case *History:
			convID = body.ConvID
		case *Read:
			convID = body.ConvID
		case *CreateGroup:
			if body.ConvID != "" && KindOf(body.ConvID) != KindGroup {
				t.Fatalf("accepted create-group id %q", body.ConvID)
			}
			for _, m := range body.Members {
				if !ValidName(m) {
					t.Fatalf("accepted member %q", m)
				}
			}
		case *Hello:
			if body.Token == "" || !ValidName(body.DeviceID) {
				t.Fatalf("accepted hello %s", renderJSON(fr))
			}
		}
		if fr.Type == TypeSend || fr.Type == TypeHistory || fr.Type == TypeRead {
			checkConvID(t, convID, true)
		}
	})
}

// FuzzConvID checks the conversation id functions on arbitrary strings.
func FuzzConvID(f *testing.F) {
	for _, id := range convIDSeeds {
		f.Add(id)
	}
	f.Fuzz(func(t *testing.T, id string) {
		checkConvID(t, id, ValidConvID(id))
		// Any split of the input into two names yields a p2p id that
		// parses back to the same pair, in order.
		if a, b, ok := strings.Cut(id, ":"); ok && ValidName(a) && ValidName(b) && a != b {
			p := P2PID(a, b)
			equal(t, "P2PID symmetric", P2PID(b, a), p)
			x, y, ok := P2PMembers(p)
			if !ok || x != min(a, b) || y != max(a, b) {
				t.Fatalf("P2PMembers(P2PID(%q, %q)) = %q, %q, %v", a, b, x, y, ok)
			}
		}
	})
}

// checkConvID asserts the invariants tying P2PMembers, ValidGroupID,
// ValidConvID and KindOf together; valid says what ValidConvID must return.
func checkConvID(t *testing.T, id string, valid bool) {
	t.Helper()
	a, b, isP2P := P2PMembers(id)
	isGroup := ValidGroupID(id)
	if isP2P && isGroup {
		t.Fatalf("%q is both p2p and group", id)
	}
	equal(t, "ValidConvID("+id+")", ValidConvID(id), valid)
	if ValidConvID(id) != (isP2P || isGroup) {
		t.Fatalf("ValidConvID(%q) = %v, p2p %v, group %v", id, ValidConvID(id), isP2P, isGroup)
	}
	switch kind := KindOf(id); {
	case isP2P:
		equal(t, "KindOf", kind, KindP2P)
		if !ValidName(a) || !ValidName(b) || a >= b || P2PID(a, b) != id || P2PID(b, a) != id {
			t.Fatalf("P2PMembers(%q) = %q, %q", id, a, b)
		}
	case isGroup:
		equal(t, "KindOf", kind, KindGroup)
		if !strings.HasPrefix(id, GroupPrefix) || len(id) > MaxIDBytes {
			t.Fatalf("ValidGroupID(%q) accepted", id)
		}
	default:
		equal(t, "KindOf", kind, "")
		if a != "" || b != "" {
			t.Fatalf("P2PMembers(%q) rejected but returned %q, %q", id, a, b)
		}
	}
}

// FuzzPeekType holds PeekType to Decode: whenever Decode accepts b, PeekType
// reports the same type.
func FuzzPeekType(f *testing.F) {
	for _, v := range validVectors() {
		f.Add(MustEncode(v.frame))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		pt, ok := PeekType(b)
		fr, err := Decode(b, math.MaxInt)
		if err != nil {
			return
		}
		if !ok || pt != fr.Type {
			t.Fatalf("PeekType = %v, %v; Decode found %v", pt, ok, fr.Type)
		}
	})
}

// FuzzGroupEvent decodes arbitrary bytes as a system message body: it must
// not panic, and what decodes encodes again and decodes to the same event.
func FuzzGroupEvent(f *testing.F) {
	for _, e := range []GroupEvent{
		{Event: EventAdded, By: "alice", Users: []string{"bob", "carol"}},
		{Event: EventMuted, By: "alice", Users: []string{"bob"}, Until: 1764072096000},
		{Event: EventUpdated, By: "alice", Name: ptr("Design"), JoinPolicy: JoinOpen},
		{Event: EventMuteAll, By: "bob", On: true},
	} {
		f.Add(EncodeGroupEvent(&e))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeGroupEvent(b)
		if err != nil {
			return
		}
		again, err := DecodeGroupEvent(EncodeGroupEvent(e))
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !reflect.DeepEqual(again, e) && !bytes.Equal(EncodeGroupEvent(again), EncodeGroupEvent(e)) {
			t.Fatalf("round trip changed %+v into %+v", e, again)
		}
	})
}

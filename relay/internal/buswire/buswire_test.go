package buswire

import (
	"reflect"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, e := range []Envelope{
		{Except: "0123456789abcdef", Frame: []byte{0xa1, 0x01, 0x05}},
		{Frame: []byte{1}},
		{Except: "s", Kick: "phone", KickAt: 1_795_649_460_548_578_748},
		{Except: "s", Kick: "phone"},
		{Except: "s", Control: []byte{0xa1, 0x01, 0x01}},
	} {
		got, err := Decode(Encode(e))
		if err != nil || !reflect.DeepEqual(got, e) {
			t.Errorf("Decode(Encode(%+v)) = %+v, %v", e, got, err)
		}
	}
}

func TestMalformed(t *testing.T) {
	t.Parallel()
	for _, bad := range [][]byte{
		nil, {0}, {4, 0, 0, 1}, {3, 0, 0}, {3, 0, 1, 'p', 1}, {1}, {1, 0}, {1, 0, 0}, // no frame
		{1, 5, 'a'}, {1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, // lengths past the end
		{2, 0, 0, 0}, {2, 0, 1, 'p'}, {2, 0, 1, 'p', 1, 'x'}, {1, 0, 1, 'p', 'x'}, // kick without device, without time, with frame; frame with kick
		append([]byte{1, 0x81, 0x02}, make([]byte, 300)...), // an id above MaxID
	} {
		if _, err := Decode(bad); err == nil {
			t.Errorf("Decode(% x) accepted", bad)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(Encode(Envelope{Except: "0123456789abcdef", Frame: []byte{0xa1, 0x01, 0x05}}))
	f.Add(Encode(Envelope{Except: "s", Kick: "phone", KickAt: 1 << 60}))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Decode(b)
		if err != nil {
			return
		}
		again, err := Decode(Encode(e))
		if err != nil || !reflect.DeepEqual(again, e) {
			t.Fatalf("re-encoded %+v: %+v, %v", e, again, err)
		}
	})
}

func TestSealOpen(t *testing.T) {
	t.Parallel()
	key := []byte("cluster-key-0123456789abcdef0123")
	payload := Encode(Envelope{Except: "s1", Frame: []byte{0xa1, 0x01, 0x05}})
	sealed := Seal(key, "parley.u.YWxpY2U", payload)
	got, err := Open(key, "parley.u.YWxpY2U", sealed)
	if err != nil || !reflect.DeepEqual(got, payload) {
		t.Fatalf("Open(Seal) = % x, %v", got, err)
	}
	tampered := append([]byte(nil), sealed...)
	tampered[3] ^= 1
	for name, c := range map[string]struct {
		key     []byte
		subject string
		b       []byte
	}{
		"unsigned":      {key, "parley.u.YWxpY2U", payload},
		"other subject": {key, "parley.u.Ym9i", sealed},
		"other key":     {[]byte("another-key-0123456789abcdef0123"), "parley.u.YWxpY2U", sealed},
		"tampered":      {key, "parley.u.YWxpY2U", tampered},
		"short":         {key, "parley.u.YWxpY2U", sealed[:MACSize-1]},
		"empty":         {key, "parley.u.YWxpY2U", nil},
	} {
		if _, err := Open(c.key, c.subject, c.b); err != ErrBadMAC {
			t.Errorf("%s: Open = %v, want ErrBadMAC", name, err)
		}
	}
	// An empty payload (the lost subject's) seals and opens too.
	if got, err := Open(key, "parley.lost", Seal(key, "parley.lost", nil)); err != nil || len(got) != 0 {
		t.Fatalf("empty payload: % x, %v", got, err)
	}
}

func FuzzOpen(f *testing.F) {
	key := []byte("cluster-key-0123456789abcdef0123")
	f.Add(Seal(key, "p.u.YQ", Encode(Envelope{Frame: []byte{1}})))
	f.Add([]byte{1, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		payload, err := Open(key, "p.u.YQ", b)
		if err != nil {
			return
		}
		// Only what Seal made opens.
		if !reflect.DeepEqual(Seal(key, "p.u.YQ", payload), b) {
			t.Fatalf("Open accepted % x", b)
		}
	})
}

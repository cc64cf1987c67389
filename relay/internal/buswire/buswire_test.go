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
		nil, {0}, {3, 0, 0, 1}, {1}, {1, 0}, {1, 0, 0}, // no frame
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

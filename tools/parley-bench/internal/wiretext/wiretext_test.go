package wiretext

import "testing"

func TestFormatParse(t *testing.T) {
	t.Parallel()
	for _, first := range []bool{false, true} {
		text := Format(42, 1764072000123456789, 1764072000987654321, first)
		k, at, try, f, ok := Parse([]byte(text))
		if !ok || k != 42 || at != 1764072000123456789 || try != 1764072000987654321 || f != first {
			t.Fatalf("%q: got %d %d %d %v %v", text, k, at, try, f, ok)
		}
	}
	for _, bad := range []string{"", "warm-up", "m", "m ", "m 1", "m 1 2", "m 1 2 ", "m x 2 3", "m 1 2 3 g", "m 1 2 3 f ",
		"m -1 2 3", "n 1 2 3", "m 1  2 3", "m 1 2 3f", "m 1 2 12345678901234567890", "m 1 2 9999999999999999999", "m 3000000000 2 3"} {
		if _, _, _, _, ok := Parse([]byte(bad)); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

// TestParseAllocs: the parse runs for every delivery on the generator's
// core. Not parallel: AllocsPerRun counts the whole process.
func TestParseAllocs(t *testing.T) {
	text := []byte(Format(7, 1764072000123456789, 1764072000987654321, true))
	if n := testing.AllocsPerRun(100, func() { Parse(text) }); n != 0 {
		t.Errorf("Parse allocates %v times", n)
	}
}

// FuzzParse: Parse reads a delivery's text, which a relay could
// have mangled; it must never panic, and what it accepts must say again
// what Format would write of it.
func FuzzParse(f *testing.F) {
	f.Add([]byte(Format(0, 1, 1, false)))
	f.Add([]byte(Format(42, 1764072000123456789, 1764072000987654321, true)))
	f.Add([]byte("warm-up"))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, at, try, first, ok := Parse(b)
		if !ok {
			return
		}
		if k < 0 || at < 0 || try < 0 {
			t.Fatalf("%q: negative %d %d %d", b, k, at, try)
		}
		k2, at2, try2, first2, ok2 := Parse([]byte(Format(k, at, try, first)))
		if !ok2 || k2 != k || at2 != at || try2 != try || first2 != first {
			t.Fatalf("%q: read %d %d %d %v, its rewrite %d %d %d %v %v", b, k, at, try, first, k2, at2, try2, first2, ok2)
		}
	})
}

package jsonclaim

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

func TestTopString(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{`{"sub":"alice"}`, "alice"},
		{` { "iat" : 1, "sub" : "bob" , "exp": 2 } `, "bob"},
		{`{"aud":["x","y\"}"],"nested":{"sub":"mallory","a":[1,{"b":"}"}]},"sub":"carol"}`, "carol"},
		{`{"nested":{"sub":"mallory"}}`, ""},
		{`{"sub":1}`, ""},
		{`{"sub":"a\u0062"}`, ""},
		{`{"x":"\\","sub":"dave"}`, "dave"},
		{`["sub","alice"]`, ""},
		{`{"sub":"alice"`, ""},
		{`{"sub":"alice","sub":"bob"}`, "bob"},
		{`{}`, ""},
		{`{"sub"`, ""},
		{``, ""},
		{`{"a":tru`, ""},
	} {
		if got := TopString([]byte(tc.in), "sub"); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzTopString: never panics, and whatever it finds in a valid JSON
// object is what encoding/json reads for that key (the test may use it; the
// client does not).
func FuzzTopString(f *testing.F) {
	for _, s := range []string{`{"sub":"alice"}`, `{"a":[1,{"b":"}"}],"sub":"c"}`, `{"x":"\\\""}`, `[]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got := TopString(b, "sub")
		var m map[string]any
		// Invalid UTF-8 is replaced by encoding/json; the caller accepts
		// only ASCII ids anyway.
		if json.Unmarshal(b, &m) != nil || got == "" || !utf8.ValidString(got) {
			return
		}
		if s, _ := m["sub"].(string); s != got {
			t.Fatalf("%q: got %q, encoding/json %q", b, got, m["sub"])
		}
	})
}

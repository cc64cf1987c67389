package core

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/parley-im/parley/proto"
)

func TestFold(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"hello", "hello"},
		{"Hello WORLD", "hello world"},
		{"Ärger über Straße", "ärger über straße"},
		{"ÄRGER", "ärger"},
		{"ẞ", "ß"},                 // capital sharp s folds to ß; ß stays (no full folding to ss)
		{"ΟΔΟΣ ὁδός", "οδοσ ὁδόσ"}, // final sigma folds like σ
		{"K", "k"}, // Kelvin sign
		{"İstanbul ISTANBUL ıstanbul", "istanbul istanbul istanbul"},
		{"ǅ", "ǆ"}, // title-case digraph
		{"你好，世界", "你好，世界"},
		{"𐐀", "𐐨"},             // Deseret, outside the BMP
		{"A\u0308", "a\u0308"}, // no normalisation: the combining mark stays
		{"", ""},
		{"\xff", "\uFFFD"},
	} {
		if got := Fold(tc.in); got != tc.want {
			t.Errorf("Fold(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestFoldRuneEveryCodePoint checks what fold.ts and every store rely on:
// folding is idempotent and keeps the length of a string in code points
// and in UTF-16 units.
func TestFoldRuneEveryCodePoint(t *testing.T) {
	t.Parallel()
	for r := rune(0); r <= unicode.MaxRune; r++ {
		f := FoldRune(r)
		if FoldRune(f) != f {
			t.Errorf("FoldRune(%U) = %U, which folds again to %U", r, f, FoldRune(f))
		}
		if utf16.RuneLen(r) != utf16.RuneLen(f) {
			t.Errorf("FoldRune(%U) = %U changes the UTF-16 length", r, f)
		}
		if r < utf8.RuneSelf && f != unicode.ToLower(r) {
			t.Errorf("FoldRune(%q) = %q, want ASCII lower case", r, f)
		}
	}
}

func TestNewSearch(t *testing.T) {
	t.Parallel()
	cur := &SearchCursor{CreatedAt: 5, ConvID: "p:a:b", Seq: 3}
	for _, tc := range []struct {
		name string
		text string
		opts SearchOptions
		want SearchQuery // Text and Limit; checked when err is ""
		err  string
	}{
		{name: "defaults/folded, limit 20", text: "Ärger", want: SearchQuery{Text: "ärger", Limit: 20}},
		{name: "whitespace around/trimmed", text: "  hello world \n", want: SearchQuery{Text: "hello world", Limit: 20}},
		{name: "limit 1/kept", text: "x", opts: SearchOptions{Limit: 1}, want: SearchQuery{Text: "x", Limit: 1}},
		{name: "limit 100/kept", text: "x", opts: SearchOptions{Limit: 100}, want: SearchQuery{Text: "x", Limit: 100}},
		{name: "conversation and cursor/kept", text: "开会", opts: SearchOptions{ConvID: "g:team", Before: cur},
			want: SearchQuery{Text: "开会", ConvID: "g:team", Before: cur, Limit: 20}},
		{name: "256 characters/accepted", text: strings.Repeat("界", 256), want: SearchQuery{Text: strings.Repeat("界", 256), Limit: 20}},
		{name: "empty/invalid", text: "", err: "empty"},
		{name: "only whitespace/invalid", text: " \t\u3000", err: "empty"},
		{name: "257 characters/invalid", text: strings.Repeat("界", 257), err: "longer"},
		{name: "bad UTF-8/invalid", text: "a\xffb", err: "UTF-8"},
		{name: "limit 101/invalid", text: "x", opts: SearchOptions{Limit: 101}, err: "limit"},
		{name: "negative limit/invalid", text: "x", opts: SearchOptions{Limit: -1}, err: "limit"},
		{name: "bad conversation id/invalid", text: "x", opts: SearchOptions{ConvID: "nope"}, err: "conversation"},
		{name: "cursor without conversation/invalid", text: "x", opts: SearchOptions{Before: &SearchCursor{CreatedAt: 1}}, err: "cursor"},
		{name: "cursor before 1970/invalid", text: "x", opts: SearchOptions{Before: &SearchCursor{CreatedAt: -1, ConvID: "p:a:b"}}, err: "cursor"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			q, err := NewSearch(tc.text, tc.opts)
			if tc.err != "" {
				var pe *proto.Error
				if !errors.As(err, &pe) || pe.Code != proto.CodeInvalidArgument || !strings.Contains(pe.Message, tc.err) {
					t.Fatalf("err = %v, want code 4903 mentioning %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if q.Text != tc.want.Text || q.Limit != tc.want.Limit || q.ConvID != tc.want.ConvID ||
				(q.Before == nil) != (tc.want.Before == nil) || (q.Before != nil && *q.Before != *tc.want.Before) {
				t.Fatalf("query %+v, want %+v", q, tc.want)
			}
			if q.Before != nil && q.Before == tc.opts.Before {
				t.Fatal("the query shares the caller's cursor")
			}
		})
	}
}

func TestSearchOrderAndMerge(t *testing.T) {
	t.Parallel()
	m := func(conv string, seq uint64, at int64, text string) Message {
		return Message{ID: proto.MessageID(conv, seq), ClientID: conv + text, ConvID: conv, Seq: seq, CreatedAt: at, Text: text, Status: StatusSent}
	}
	stored := []Message{m("p:a:b", 2, 20, "hello two"), m("p:a:c", 1, 20, "hello c"), m("p:a:b", 1, 10, "hello one")}
	SortResults(stored)
	var order []string
	for i := range stored {
		order = append(order, stored[i].ID)
	}
	// Newest first; a tie of createdAt goes to the greater conversation id.
	if want := "p:a:c#1 p:a:b#2 p:a:b#1"; strings.Join(order, " ") != want {
		t.Fatalf("order %v, want %s", order, want)
	}

	pending := func(id string, at int64, text string) Message {
		return Message{ID: "local:" + id, ClientID: id, ConvID: "p:a:b", CreatedAt: at, LocalTime: at, Text: text, Status: StatusPending}
	}
	outbox := []Message{pending("x1", 30, "HELLO pending"), pending("x2", 30, "other"), pending("x3", 30, "hello again")}
	acked := stored[1] // sent meanwhile: in the store and still in an outbox snapshot
	acked.Status = StatusPending
	outbox = append(outbox, acked)

	q, _ := NewSearch("Hello", SearchOptions{Limit: 3})
	page := q.Merge(stored, outbox)
	var got []string
	for i := range page {
		got = append(got, page[i].ID)
	}
	if want := "local:x3 local:x1 p:a:c#1"; strings.Join(got, " ") != want {
		t.Fatalf("first page %v, want %s", got, want)
	}
	// The next page starts after the last message of this one; the store
	// answers with what sorts after the cursor.
	c := CursorOf(&page[len(page)-1])
	q2, _ := NewSearch("hello", SearchOptions{Limit: 3, Before: &c})
	var rest []Message
	for i := range stored {
		if q2.Match(&stored[i], Fold(stored[i].Text)) {
			rest = append(rest, stored[i])
		}
	}
	page = q2.Merge(rest, outbox)
	got = got[:0]
	for i := range page {
		got = append(got, page[i].ID)
	}
	if want := "p:a:b#2 p:a:b#1"; strings.Join(got, " ") != want {
		t.Fatalf("second page %v, want %s", got, want)
	}
	// Within one conversation.
	q3, _ := NewSearch("hello", SearchOptions{ConvID: "p:a:c"})
	if page := q3.Merge(nil, outbox); len(page) != 0 {
		t.Fatalf("outbox of p:a:b in a search of p:a:c: %v", page)
	}
}

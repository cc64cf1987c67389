package core

import (
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/parley-im/parley/proto"
)

// Search over the messages cached on this device. The core owns the
// semantics — how text is folded, what a query may hold, the order of the
// results — as the pure functions below; every store that can search (the
// memory and SQLite stores of sdk-wasm/client, the JavaScript storages) only
// looks the matches up, and the client merges the outbox in.

// Search limits.
const (
	// DefaultSearchLimit is the page size when SearchOptions.Limit is 0.
	DefaultSearchLimit = 20
	// MaxSearchLimit is the largest page a search returns.
	MaxSearchLimit = 100
	// MaxSearchText bounds a query, in characters (Unicode code points).
	MaxSearchText = 256
)

// FoldRune maps r to the form search compares: the lower case of its upper
// case, by the simple (one code point to one code point) mappings of
// Unicode's UnicodeData.txt as Go's unicode package has them. So Ä and ä,
// Σ, σ and ς, K, k and the Kelvin sign K, I, i, İ and ı each fold to one
// code point, and a folded string has as many code points — and UTF-16
// units — as the original. There is no normalisation (NFC): a precomposed Ä
// and A followed by U+0308 differ; and no full foldings: ß is not ss.
//
// bindings/src/fold.ts is generated from this function (internal/genfold),
// so the JavaScript storages fold exactly as the Go ones do.
func FoldRune(r rune) rune {
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}
	return unicode.ToLower(unicode.ToUpper(r))
}

// Fold returns s with every code point folded by FoldRune: the text a query
// is matched against. Invalid UTF-8 becomes U+FFFD.
func Fold(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || ('A' <= c && c <= 'Z') {
			return strings.Map(FoldRune, s)
		}
	}
	return s
}

// SearchCursor is a position in search order, where results run newest
// first: by CreatedAt, then ConvID, then Seq, then ClientID, each
// descending. Its JSON field names are those of Message, so the last
// message of a page is the cursor of the next one (CursorOf).
type SearchCursor struct {
	CreatedAt int64  `json:"createdAt"`
	ConvID    string `json:"conversationId"`
	Seq       uint64 `json:"seq"`
	// Only tells pending messages (seq 0) apart: stored messages are
	// unique by conversation and seq.
	ClientID string `json:"clientId,omitempty"`
}

// CursorOf returns the position of m in search order.
func CursorOf(m *Message) SearchCursor {
	return SearchCursor{CreatedAt: m.CreatedAt, ConvID: m.ConvID, Seq: m.Seq, ClientID: m.ClientID}
}

// Less reports whether a sorts after b in search results (a is older).
func (a SearchCursor) Less(b SearchCursor) bool {
	switch {
	case a.CreatedAt != b.CreatedAt:
		return a.CreatedAt < b.CreatedAt
	case a.ConvID != b.ConvID:
		return a.ConvID < b.ConvID
	case a.Seq != b.Seq:
		return a.Seq < b.Seq
	}
	return a.ClientID < b.ClientID
}

// SearchOptions narrow and page a search. They mirror the options of the
// JavaScript client.search.
type SearchOptions struct {
	// Limits the search to one conversation. Defaults to every
	// conversation.
	ConvID string `json:"conversationId,omitempty"`
	// The most messages to return. Defaults to 20; at most 100.
	Limit int `json:"limit,omitempty"`
	// Asks for the page after this position, the cursor of the last
	// message of the previous page (CursorOf). Defaults to none: the
	// newest messages.
	Before *SearchCursor `json:"before,omitempty"`
}

// SearchQuery is a validated search, as a store that searches receives it.
type SearchQuery struct {
	// The query, already folded (Fold; foldText in TypeScript): a message
	// matches when its folded text contains it.
	Text string `json:"text"`
	// When set, limits the search to that conversation.
	ConvID string `json:"conversationId,omitempty"`
	// When set, admits only the messages that sort after it.
	Before *SearchCursor `json:"before,omitempty"`
	// The most messages to return, 1 to 100 (MaxSearchLimit).
	Limit int `json:"limit"`
}

// NewSearch validates a search for text and returns the query. Whitespace
// around text is ignored; what remains must be 1 to MaxSearchText
// characters. Errors carry proto.CodeInvalidArgument.
func NewSearch(text string, o SearchOptions) (SearchQuery, error) {
	if !utf8.ValidString(text) {
		return SearchQuery{}, invalid("search text is not valid UTF-8")
	}
	text = strings.TrimSpace(text)
	switch n := utf8.RuneCountInString(text); {
	case n == 0:
		return SearchQuery{}, invalid("search text is empty")
	case n > MaxSearchText:
		return SearchQuery{}, invalid("search text is longer than 256 characters")
	}
	if o.ConvID != "" && !proto.ValidConvID(o.ConvID) {
		return SearchQuery{}, invalid("invalid conversation id")
	}
	switch {
	case o.Limit == 0:
		o.Limit = DefaultSearchLimit
	case o.Limit < 0 || o.Limit > MaxSearchLimit:
		return SearchQuery{}, invalid("search limit must be 1 to 100")
	}
	q := SearchQuery{Text: Fold(text), ConvID: o.ConvID, Limit: o.Limit}
	if b := o.Before; b != nil {
		if b.CreatedAt < 0 || !proto.ValidConvID(b.ConvID) {
			return SearchQuery{}, invalid("invalid search cursor: pass the last message of the previous page")
		}
		c := *b
		q.Before = &c
	}
	return q, nil
}

// Admits reports whether m passes the conversation and cursor bounds of q,
// whatever its text.
func (q *SearchQuery) Admits(m *Message) bool {
	if q.ConvID != "" && m.ConvID != q.ConvID {
		return false
	}
	return q.Before == nil || CursorOf(m).Less(*q.Before)
}

// Match reports whether m is a result of q. folded is Fold(m.Text), which a
// store may have kept from when it wrote m.
func (q *SearchQuery) Match(m *Message, folded string) bool {
	return q.Admits(m) && strings.Contains(folded, q.Text)
}

// SortResults sorts msgs in search order, newest first.
func SortResults(msgs []Message) {
	sort.Slice(msgs, func(i, j int) bool { return CursorOf(&msgs[j]).Less(CursorOf(&msgs[i])) })
}

// Merge returns the page of q from what the store found and the outbox
// (pending and failed messages, unfiltered): the matching outbox messages
// join the stored ones, a message in both counts once (its stored copy),
// and at most q.Limit remain, newest first.
func (q *SearchQuery) Merge(stored, outbox []Message) []Message {
	out := append([]Message(nil), stored...)
	seen := make(map[string]bool, len(stored))
	for i := range stored {
		seen[stored[i].ConvID+"\x00"+stored[i].ClientID] = true
	}
	for i := range outbox {
		m := &outbox[i]
		if !seen[m.ConvID+"\x00"+m.ClientID] && q.Match(m, Fold(m.Text)) {
			out = append(out, *m)
		}
	}
	SortResults(out)
	if len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out
}

package relay

import (
	"slices"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
)

// History visibility (rules/spans.go): a group member reads the messages of
// their memberships only. Every store keeps a member's latest membership on
// the member row — from_seq, the seq of the system message that let them in
// (0 for the group's first members: from its start), and left_seq, the one
// that ended it (0 while they are a member) — and the earlier ones, closed,
// in member_spans, written when a former member joins again. A History page
// is read span by span and names the seqs it skips (HistoryPage.Hidden), so
// a client's contiguous log stays contiguous; the same spans decide read
// receipts and attachment downloads.

// memberSpans assembles a member's spans from the earlier ones and the
// latest membership's from and left seqs.
func memberSpans(past rules.Spans, from, left uint64) rules.Spans {
	out := make(rules.Spans, 0, len(past)+1)
	out = append(out, past...)
	return append(out, rules.Span{From: max(from, 1), To: left})
}

// spanFetch reads the messages of seqs from..to (both included) in
// ascending order, or descending when desc, at most n of them, handing
// each to take until it returns false. It reports cut when it left out a
// message of the range it did not read (beyond the byte budget).
type spanFetch func(from, to uint64, desc bool, n int, take func(m proto.Message) bool) (cut bool, err error)

// spanPage reads the History page q of a user with spans whose last
// readable seq is last (rules.Spans.Last): the messages of the spans only,
// at most q.Limit of them and no more than the byte budget, with the runs
// it skips in Hidden.
func spanPage(q proto.History, spans rules.Spans, last uint64, fetch spanFetch) (proto.HistoryPage, error) {
	page := proto.HistoryPage{ConvID: q.ConvID, Messages: []proto.Message{}, LastSeq: last}
	hi := last
	if q.Before > 0 {
		hi = min(hi, q.Before-1)
	}
	if q.After >= hi {
		return page, nil
	}
	lo := q.After + 1
	desc := q.Before > 0
	ranges := spans.Within(lo, hi)
	if desc {
		slices.Reverse(ranges)
	}
	limit := int(q.Limit)
	var cut pageCut
	full := false
	take := func(m proto.Message) bool {
		if len(page.Messages) == limit || !cut.add(messageCost(len(m.Text), len(m.Body))) {
			full = true
			return false
		}
		page.Messages = append(page.Messages, m)
		return true
	}
	for i, r := range ranges {
		cut, err := fetch(r.From, r.To, desc, limit-len(page.Messages)+1, take)
		if err != nil {
			return page, err
		}
		full = full || cut
		if !full && len(page.Messages) == limit && i < len(ranges)-1 {
			full = true // a later span has its first message at least
		}
		if full {
			break
		}
	}
	page.More = full
	n := len(page.Messages)
	switch {
	case desc && full:
		page.Hidden = spans.Hidden(page.Messages[n-1].Seq, hi)
	case desc:
		page.Hidden = spans.Hidden(lo, hi)
	case full:
		page.Hidden = spans.Hidden(lo, page.Messages[n-1].Seq)
	default:
		page.Hidden = spans.Hidden(lo, hi)
	}
	if desc {
		slices.Reverse(page.Messages)
	}
	return page, nil
}

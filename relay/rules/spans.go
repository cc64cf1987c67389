package rules

import "github.com/parley-im/parley/proto"

// History visibility. A group member reads exactly the messages sent while
// they were a member: one span of seqs per membership, from the seq of the
// system message that let them in (or the group's first seq, for those it
// was created with) to the seq of the one that ended it, or open while
// they are a member. A party of a one-to-one conversation reads all of it.

// Span is the run of seqs From..To (both included) a user may read; To 0
// is open: up to the conversation's last seq.
type Span struct{ From, To uint64 }

// Spans are a user's spans in one conversation, in seq order, disjoint. A
// nil Spans reads nothing.
type Spans []Span

// AllSeqs is the one span of a party of a one-to-one conversation.
var AllSeqs = Spans{{From: 1}}

// Has reports whether seq lies in one of the spans.
func (s Spans) Has(seq uint64) bool {
	for _, sp := range s {
		if seq >= sp.From && (sp.To == 0 || seq <= sp.To) {
			return true
		}
	}
	return false
}

// Last returns the last seq the spans reach, given the conversation's last
// seq: a former member reads up to the end of their last membership.
func (s Spans) Last(convLast uint64) uint64 {
	if len(s) == 0 {
		return 0
	}
	if to := s[len(s)-1].To; to != 0 {
		return min(to, convLast)
	}
	return convLast
}

// Within returns the parts of the spans inside lo..hi (both included), in
// seq order, each with To set.
func (s Spans) Within(lo, hi uint64) []Span {
	var out []Span
	if lo == 0 {
		lo = 1
	}
	for _, sp := range s {
		from, to := max(sp.From, lo), hi
		if sp.To != 0 {
			to = min(sp.To, hi)
		}
		if from <= to {
			out = append(out, Span{from, to})
		}
	}
	return out
}

// Hidden returns the runs of seqs inside lo..hi (both included) that lie
// in no span, in seq order: what a history page covering lo..hi tells the
// client to skip.
func (s Spans) Hidden(lo, hi uint64) []proto.SeqRange {
	if lo == 0 {
		lo = 1
	}
	var out []proto.SeqRange
	next := lo
	for _, sp := range s.Within(lo, hi) {
		if sp.From > next {
			out = append(out, proto.SeqRange{From: next, To: sp.From - 1})
		}
		next = sp.To + 1
	}
	if next <= hi && hi >= lo {
		out = append(out, proto.SeqRange{From: next, To: hi})
	}
	return out
}

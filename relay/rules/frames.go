package rules

import "github.com/parley-im/parley/proto"

// FitFrame encodes the frame built from the first (or last) k of n items,
// shrinking k until the frame fits maxFrame, so that a page of large items
// never exceeds the limit the client enforces (Welcome.MaxFrame). A single
// item is sent whatever its size: a page must make progress.
func FitFrame(n, maxFrame int, build func(k int) proto.Frame) []byte {
	k := n
	for {
		b := proto.MustEncode(build(k))
		if len(b) <= maxFrame || k <= 1 {
			return b
		}
		next := int(int64(k) * int64(maxFrame) / int64(len(b)))
		k = max(1, min(next, k-1))
	}
}

// SyncFrame encodes the SyncResult reply to request id, cut to fit maxFrame.
// Its cursor is the version of the last conversation sent, or the asked
// cursor when none is; More is set when the store had more or the cut left
// some out.
func SyncFrame(id, cursor uint64, convs []proto.Conversation, more bool, maxFrame int) []byte {
	return FitFrame(len(convs), maxFrame, func(k int) proto.Frame {
		res := &proto.SyncResult{Conversations: convs[:k], Cursor: cursor, More: more || k < len(convs)}
		if res.Conversations == nil {
			res.Conversations = []proto.Conversation{}
		}
		if k > 0 {
			res.Cursor = convs[k-1].Version
		}
		return proto.Frame{Type: proto.TypeSyncResult, ID: id, Body: res}
	})
}

// HistoryFrame encodes the HistoryPage reply to request id, cut to fit
// maxFrame. Going backwards (before) it keeps the newest messages, so More
// still means "more in the direction asked".
func HistoryFrame(id uint64, page proto.HistoryPage, before bool, maxFrame int) []byte {
	msgs := page.Messages
	return FitFrame(len(msgs), maxFrame, func(k int) proto.Frame {
		p := page
		if before {
			p.Messages = msgs[len(msgs)-k:]
		} else {
			p.Messages = msgs[:k]
		}
		if p.Messages == nil {
			p.Messages = []proto.Message{}
		}
		p.More = page.More || k < len(msgs)
		return proto.Frame{Type: proto.TypeHistoryPage, ID: id, Body: &p}
	})
}

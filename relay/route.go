package relay

import (
	"math"
	"slices"
	"time"

	"github.com/parley-im/parley/proto"
)

// This file holds the relay's decisions: which frame is acceptable when, who
// may write or read a conversation, how cursors move, how pages are cut. Each
// is a pure function of (state, frame) — no sockets, no SQL, no clock of its
// own — so the same rules run in both stores here and, later, in an edge
// runtime that terminates WebSockets elsewhere.

// admitFrame decides whether a decoded client frame is acceptable in the
// session's phase. A non-nil result is the close code (always 4006): a peer
// that breaks the frame order is broken, not merely wrong about one request.
func admitFrame(authed bool, f proto.Frame) *proto.Error {
	if !authed {
		if f.Type != proto.TypeHello {
			return proto.Errorf(proto.CodeProtocolError, "first frame must be hello, got %s", f.Type)
		}
		return nil
	}
	switch f.Type {
	case proto.TypeHello:
		return proto.Errorf(proto.CodeProtocolError, "hello after welcome")
	case proto.TypeSend, proto.TypeSync, proto.TypeHistory, proto.TypeRead, proto.TypeCreateGroup:
		if f.ID == 0 {
			return proto.Errorf(proto.CodeProtocolError, "%s request without id", f.Type)
		}
		return nil
	case proto.TypePing, proto.TypePong:
		return nil
	}
	return proto.Errorf(proto.CodeProtocolError, "%s is not a client frame", f.Type)
}

// admitHello checks a Hello before its token is verified. The result is the
// close code: 4005 for a version outside [proto.MinVersion, proto.Version],
// 4001 for a missing token, 4006 for any other invalid field.
func admitHello(h *proto.Hello) *proto.Error {
	if h.Version < proto.MinVersion || h.Version > proto.Version {
		return proto.Errorf(proto.CodeUnsupportedVersion, "protocol version %d not in [%d, %d]",
			h.Version, proto.MinVersion, proto.Version)
	}
	if err := proto.Validate(h); err != nil {
		if err.Code == proto.CodeUnauthorized {
			return err
		}
		return &proto.Error{Code: proto.CodeProtocolError, Message: err.Message}
	}
	return nil
}

// admitParty rejects early what no stored state can allow: a p2p conversation
// the user is not one of the two parties of (SPEC §2.7). Group membership
// needs the store and is decided by admitSend and admitRead.
func admitParty(user, convID string) *proto.Error {
	if a, b, ok := proto.P2PMembers(convID); ok && user != a && user != b {
		return proto.Errorf(proto.CodeForbidden, "not a member of %s", convID)
	}
	return nil
}

// admitSend decides whether sender may append to convID, given what the store
// holds: whether the conversation exists and whether sender is a member. For
// a p2p conversation seen for the first time it returns the two members to
// create it with.
func admitSend(sender, convID string, exists, isMember bool) (create []string, err *proto.Error) {
	switch proto.KindOf(convID) {
	case proto.KindP2P:
		a, b, ok := proto.P2PMembers(convID)
		if !ok {
			return nil, proto.Errorf(proto.CodeBadRequest, "invalid conversation id")
		}
		if sender != a && sender != b {
			return nil, proto.Errorf(proto.CodeForbidden, "not a member of %s", convID)
		}
		if !exists {
			return []string{a, b}, nil
		}
	case proto.KindGroup:
		if !exists {
			return nil, proto.Errorf(proto.CodeNotFound, "no conversation %s", convID)
		}
	default:
		return nil, proto.Errorf(proto.CodeBadRequest, "invalid conversation id")
	}
	if !isMember {
		return nil, proto.Errorf(proto.CodeForbidden, "not a member of %s", convID)
	}
	return nil, nil
}

// admitRead decides whether user may read or mark convID. empty reports a p2p
// conversation the user is a party of that holds no message yet: reading it
// yields an empty page rather than an error, so a client can open a chat
// before anyone wrote in it.
func admitRead(user, convID string, exists, isMember bool) (empty bool, err *proto.Error) {
	if err := admitParty(user, convID); err != nil {
		return false, err
	}
	if !exists {
		if proto.KindOf(convID) == proto.KindP2P {
			return true, nil
		}
		return false, proto.Errorf(proto.CodeNotFound, "no conversation %s", convID)
	}
	if !isMember {
		return false, proto.Errorf(proto.CodeForbidden, "not a member of %s", convID)
	}
	return false, nil
}

// dedupOutcome decides what a send whose (sender, client id) is already
// stored in origConv gets: the original ack when it names the same
// conversation (SPEC §2.2), 4209 when the id was spent elsewhere.
func dedupOutcome(convID, origConv string) *proto.Error {
	if convID != origConv {
		return proto.Errorf(proto.CodeConflict, "client id already used in another conversation")
	}
	return nil
}

// nextReadSeq moves a read cursor: never backwards, never past the last
// message.
func nextReadSeq(old, asked, last uint64) uint64 {
	return max(old, min(asked, last))
}

// pageLimit turns a requested page size into the one served: 0 means def,
// anything above maxLimit is capped.
func pageLimit(asked uint32, def, maxLimit int) int {
	if asked == 0 {
		return def
	}
	return min(int(asked), maxLimit)
}

// GroupSpec is a normalised CreateGroup: an id, and the sorted, deduplicated
// members including the creator.
type GroupSpec struct {
	ID        string
	Name      string
	Creator   string
	Members   []string
	CreatedAt int64 // unix milliseconds
}

// planGroup normalises a CreateGroup request from creator. newID supplies an
// id when the client left it empty.
func planGroup(creator string, req *proto.CreateGroup, now time.Time, newID func() string) (GroupSpec, *proto.Error) {
	members := make([]string, 0, len(req.Members)+1)
	members = append(members, creator)
	members = append(members, req.Members...)
	slices.Sort(members)
	members = slices.Compact(members)
	if len(members) > proto.MaxGroupMembers {
		return GroupSpec{}, proto.Errorf(proto.CodeTooLarge, "more than %d members", proto.MaxGroupMembers)
	}
	id := req.ConvID
	if id == "" {
		id = newID()
	}
	return GroupSpec{ID: id, Name: req.Name, Creator: creator, Members: members, CreatedAt: now.UnixMilli()}, nil
}

// sameGroup decides whether creating spec over an existing conversation is an
// idempotent repeat (same creator, same members) or a conflict (4209).
func sameGroup(kind, creator string, members []string, spec GroupSpec) *proto.Error {
	if kind != proto.KindGroup || creator != spec.Creator || !slices.Equal(members, spec.Members) {
		return proto.Errorf(proto.CodeConflict, "conversation %s exists with other members", spec.ID)
	}
	return nil
}

// fitFrame encodes the frame built from the first (or last) k of n items,
// shrinking k until the frame fits maxFrame, so that a page of large messages
// never exceeds the limit the client enforces (Welcome.MaxFrame). A single
// item is sent whatever its size: a page must make progress.
func fitFrame(n, maxFrame int, build func(k int) proto.Frame) []byte {
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

// syncFrame encodes a SyncResult reply, cut to fit maxFrame. The cursor is
// the version of the last conversation sent, or the asked cursor when none.
func syncFrame(id, cursor uint64, convs []proto.Conversation, more bool, maxFrame int) []byte {
	return fitFrame(len(convs), maxFrame, func(k int) proto.Frame {
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

// historyFrame encodes a HistoryPage reply, cut to fit maxFrame. Going
// backwards (before) it keeps the newest messages, so More still means "more
// in the direction asked".
func historyFrame(id uint64, page proto.HistoryPage, before bool, maxFrame int) []byte {
	msgs := page.Messages
	return fitFrame(len(msgs), maxFrame, func(k int) proto.Frame {
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

// bucket is a token bucket: rate tokens a second, at most burst saved up. Its
// zero value with rate <= 0 allows everything.
type bucket struct {
	rate, burst float64
	tokens      float64
	last        time.Time
}

func newBucket(rate float64, burst int) bucket {
	return bucket{rate: rate, burst: float64(burst), tokens: float64(burst)}
}

// allow takes one token at now and reports whether there was one.
func (b *bucket) allow(now time.Time) bool {
	if b.rate <= 0 {
		return true
	}
	if !b.last.IsZero() {
		b.tokens = math.Min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

package relay

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/fxamacker/cbor/v2"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
)

// A RemoteStore and the StoreServer it calls speak one request and one
// answer per call. The request is the method's arguments in CBOR (RFC
// 8949): one value, or a pair or triple of them; the answer is a
// storeAnswer. Both sides name a method by one storeMethod value below, which
// also fixes its argument and result types, so the two cannot disagree on
// them; the server's side of each method is declared with it.

// StoreServer answers RemoteStore's requests from a local store: it is what
// the one place that holds the store runs for the others. It is safe for
// concurrent use when the store is.
type StoreServer struct {
	store Store
}

// NewStoreServer returns a StoreServer of s. Closing s is its owner's
// business: a RemoteStore's Close does not reach it.
func NewStoreServer(s Store) *StoreServer { return &StoreServer{store: s} }

// Call answers one request of a RemoteStore. It never fails: a refusal or
// failure of the store is encoded in the answer, an unknown method or one
// the store does not implement is refused with 4215, and a request that
// does not decode with 4200. The bytes come from another object: whatever
// they are, the answer is an answer and not a panic, and the requests a
// relay never makes and a store does not expect (a negative page limit, a
// group op or spec that is not well formed) are refused with 4200.
func (s *StoreServer) Call(ctx context.Context, method string, req []byte) []byte {
	serve, found := storeHandlers[method]
	var ans storeAnswer
	if found {
		ans = serve(ctx, s.store, req)
	} else {
		ans = answerErr(proto.Errorf(proto.CodeNotSupported, "relay: no store method %q", method))
	}
	b, err := remoteEnc.Marshal(&ans)
	if err != nil {
		// The parts of ans are encoded already: this is only so that
		// Call answers whatever happens.
		b, _ = remoteEnc.Marshal(&storeAnswer{Err: &storeErr{Text: fmt.Sprintf("relay: store %s: encoding its answer: %v", method, err)}})
	}
	return b
}

// storeAnswer is the answer to one call: Result, the method's result, when
// Err is nil.
type storeAnswer struct {
	Result cbor.RawMessage `cbor:"1,keyasint,omitempty"`
	Err    *storeErr       `cbor:"2,keyasint,omitempty"`
}

// storeErr is an error of the served store. A refusal keeps its code, and
// a closed store says so, so that the caller's errors.As and errors.Is see
// what they would see locally; Text is the error's text when it is more
// than that (a failure, or a refusal or ErrClosed wrapped in context).
type storeErr struct {
	Text    string       `cbor:"1,keyasint,omitempty"`
	Refusal *proto.Error `cbor:"2,keyasint,omitempty"`
	Closed  bool         `cbor:"3,keyasint,omitempty"`
}

// answerErr encodes err, which is not nil.
func answerErr(err error) storeAnswer {
	e := &storeErr{Closed: errors.Is(err, ErrClosed)}
	errors.As(err, &e.Refusal)
	if (e.Refusal == nil || error(e.Refusal) != err) && err != ErrClosed {
		e.Text = err.Error()
		if e.Text == "" {
			e.Text = "relay: store failed"
		}
	}
	return storeAnswer{Err: e}
}

// err returns the error e stands for: the refusal itself, ErrClosed
// itself, or a remoteFailure with the text, wrapping either.
func (e *storeErr) err() error {
	var cause error
	switch {
	case e.Refusal != nil:
		cause = e.Refusal
	case e.Closed:
		cause = ErrClosed
	}
	if e.Text == "" && cause != nil {
		return cause
	}
	return &remoteFailure{text: e.Text, cause: cause}
}

// remoteFailure is a failure of the served store, by its text.
type remoteFailure struct {
	text  string
	cause error // a refusal or ErrClosed the text wraps; nil for none
}

func (e *remoteFailure) Error() string { return e.text }
func (e *remoteFailure) Unwrap() error { return e.cause }

// The codec of requests and answers. The limits are above anything a store
// call carries (a batch of 256, a page of 500, a node's users), while
// bounding what a malformed request can make the decoder build.
var (
	remoteEnc = func() cbor.EncMode {
		em, err := cbor.EncOptions{}.EncMode()
		if err != nil {
			panic(err)
		}
		return em
	}()
	remoteDec = func() cbor.DecMode {
		dm, err := cbor.DecOptions{
			DupMapKey:        cbor.DupMapKeyEnforcedAPF,
			MaxArrayElements: 1 << 20,
			MaxMapPairs:      1 << 20,
		}.DecMode()
		if err != nil {
			panic(err)
		}
		return dm
	}()
)

// storeMethod names a store method on the wire, and ties to it the types
// of its arguments (Req) and result (Res).
type storeMethod[Req, Res any] struct{ name string }

// storeHandler serves one method on s from its encoded arguments.
type storeHandler func(ctx context.Context, s Store, req []byte) storeAnswer

// storeHandlers are the server's side of every method, by name; method
// fills it as the methods below are declared.
var storeHandlers = map[string]storeHandler{}

// method declares the store method name, which serve answers on a store
// that implements I; on one that does not, the request is refused with
// 4215 (CodeNotSupported), as a relay without that store feature would.
func method[I, Req, Res any](name string, serve func(I, context.Context, Req) (Res, error)) storeMethod[Req, Res] {
	if _, dup := storeHandlers[name]; dup {
		panic("relay: store method " + name + " declared twice")
	}
	storeHandlers[name] = func(ctx context.Context, s Store, b []byte) storeAnswer {
		impl, ok := any(s).(I)
		if !ok {
			return answerErr(proto.Errorf(proto.CodeNotSupported, "relay: the store does not implement %s", name))
		}
		var req Req
		if err := remoteDec.Unmarshal(b, &req); err != nil {
			return answerErr(proto.Errorf(proto.CodeBadRequest, "relay: store %s: undecodable request: %v", name, err))
		}
		res, err := serve(impl, ctx, req)
		if err != nil {
			return answerErr(err)
		}
		out, err := remoteEnc.Marshal(&res)
		if err != nil {
			return answerErr(fmt.Errorf("relay: store %s: encoding its result: %w", name, err))
		}
		return storeAnswer{Result: out}
	}
	return storeMethod[Req, Res]{name}
}

// none is the arguments or result of a method that has none.
type none struct{}

// pair and triple carry the arguments or results of a method that has
// several, in their order.
type pair[T, U any] struct {
	A T `cbor:"1,keyasint"`
	B U `cbor:"2,keyasint"`
}

type triple[T, U, V any] struct {
	A T `cbor:"1,keyasint"`
	B U `cbor:"2,keyasint"`
	C V `cbor:"3,keyasint"`
}

func two[T, U any](a T, b U) pair[T, U]                { return pair[T, U]{a, b} }
func three[T, U, V any](a T, b U, c V) triple[T, U, V] { return triple[T, U, V]{a, b, c} }

// groupChange is a GroupRequest as data. Its Direct, a func, is asked
// only about the users of an add, by the actor (rules.PlanGroupOp): it
// travels as its answers, the users of Op.Users it adds at once.
type groupChange struct {
	Actor string        `cbor:"1,keyasint"`
	Op    proto.GroupOp `cbor:"2,keyasint"`
	Now   int64         `cbor:"3,keyasint"`
	Feed  bool          `cbor:"4,keyasint,omitempty"`
	// Policy reports that the request had a Direct; without one every
	// user is added at once.
	Policy bool     `cbor:"5,keyasint,omitempty"`
	Direct []string `cbor:"6,keyasint,omitempty"`
}

// changeOf returns req as data.
func changeOf(req GroupRequest) groupChange {
	c := groupChange{Actor: req.Actor, Op: req.Op, Now: req.Now, Feed: req.Feed, Policy: req.Direct != nil}
	if req.Direct != nil {
		for _, u := range req.Op.Users {
			if req.Direct(u, req.Actor) {
				c.Direct = append(c.Direct, u)
			}
		}
	}
	return c
}

// request returns the GroupRequest c stands for. Its Direct answers as
// the sender's did for the users it was asked about, and invites anyone
// else: nobody is added without consent on a guess.
func (c groupChange) request() GroupRequest {
	req := GroupRequest{Actor: c.Actor, Op: c.Op, Now: c.Now, Feed: c.Feed}
	if c.Policy {
		direct := make(map[string]bool, len(c.Direct))
		for _, u := range c.Direct {
			direct[u] = true
		}
		actor := c.Actor
		req.Direct = func(invitee, inviter string) bool { return inviter == actor && direct[invitee] }
	}
	return req
}

// feedWrite is the write half of a UpdateFeed made remotely: Out, what the
// caller's plan made of the entries of Keys at the positions Pos. The
// server writes it only if they are still at those positions.
type feedWrite struct {
	Keys []FeedKey          `cbor:"1,keyasint"`
	Pos  []uint64           `cbor:"2,keyasint"`
	Out  []*proto.UserEntry `cbor:"3,keyasint"`
}

// feedWritten is the outcome of a feedWrite: the entries written, or
// Conflict when an entry had moved since the caller read it (nothing
// was written).
type feedWritten struct {
	Out      []*proto.UserEntry `cbor:"1,keyasint"`
	Conflict bool               `cbor:"2,keyasint,omitempty"`
}

// errFeedConflict is how the server's plan refuses a feedWrite whose
// entries moved.
var errFeedConflict = errors.New("relay: feed entries changed since read")

// writeFeed applies w on s. (Its store comes first, as with the method
// expressions method takes.)
func writeFeed(s UserFeed, ctx context.Context, w feedWrite) (feedWritten, error) {
	if len(w.Pos) != len(w.Keys) || len(w.Out) > len(w.Keys) {
		return feedWritten{}, proto.Errorf(proto.CodeBadRequest, "relay: feed write of %d keys with %d positions and %d entries", len(w.Keys), len(w.Pos), len(w.Out))
	}
	out, err := s.UpdateFeed(ctx, w.Keys, func(cur []proto.UserEntry) ([]*proto.UserEntry, error) {
		for i := range cur {
			if cur[i].Pos != w.Pos[i] {
				return nil, errFeedConflict
			}
		}
		return w.Out, nil
	})
	if errors.Is(err, errFeedConflict) {
		return feedWritten{Conflict: true}, nil
	}
	return feedWritten{Out: out}, err
}

// pageAbove is the arguments of SyncAbove and FeedAbove.
type pageAbove struct {
	Floor  uint64 `cbor:"1,keyasint"`
	User   string `cbor:"2,keyasint"`
	Cursor uint64 `cbor:"3,keyasint"`
	Limit  int    `cbor:"4,keyasint"`
}

// pageAboveResult is their result: the counter Advance returned, and the
// page read after it.
type pageAboveResult[T any] struct {
	High  uint64 `cbor:"1,keyasint"`
	Items []T    `cbor:"2,keyasint"`
	More  bool   `cbor:"3,keyasint,omitempty"`
}

// readAbove serves SyncAbove or FeedAbove on s with its page reader read:
// the counter first, then the page, as PartitionStore needs them.
func readAbove[T any](s any, ctx context.Context, a pageAbove,
	read func(context.Context, string, uint64, int) ([]T, bool, error)) (pageAboveResult[T], error) {
	pos, ok := s.(Positioner)
	if !ok {
		return pageAboveResult[T]{}, proto.Errorf(proto.CodeNotSupported, "relay: the store is not a partition (Positioner)")
	}
	if err := admitLimit("page", a.Limit); err != nil {
		return pageAboveResult[T]{}, err
	}
	high, err := pos.Advance(ctx, a.Floor)
	if err != nil {
		return pageAboveResult[T]{}, err
	}
	items, more, err := read(ctx, a.User, a.Cursor, a.Limit)
	return pageAboveResult[T]{High: high, Items: items, More: more}, err
}

// admitSpec refuses a GroupSpec that is not normalised as rules.PlanGroup
// leaves it — a group id, the members sorted and distinct, the creator
// among them — which the stores take for granted.
func admitSpec(spec GroupSpec) *proto.Error {
	if !proto.ValidGroupID(spec.ID) || !slices.Contains(spec.Members, spec.Creator) || len(spec.Members) > proto.MaxGroupMembers {
		return proto.Errorf(proto.CodeBadRequest, "relay: group spec of %q by %q with %d members", spec.ID, spec.Creator, len(spec.Members))
	}
	for i, m := range spec.Members {
		if i > 0 && spec.Members[i-1] >= m {
			return proto.Errorf(proto.CodeBadRequest, "relay: group spec members not sorted and distinct")
		}
	}
	return nil
}

// admitLimit refuses a page limit below zero, which the relay never asks
// for and the stores do not expect.
func admitLimit(what string, limit int) error {
	if limit < 0 {
		return proto.Errorf(proto.CodeBadRequest, "relay: %s limit %d", what, limit)
	}
	return nil
}

// The store methods. Those with one argument and one result are the
// interface's own methods; the others are adapted to a pair or a triple.
var (
	rpcEpoch = method("Epoch", func(s Lifecycle, _ context.Context, _ none) (string, error) { return s.Epoch(), nil })
	rpcPing  = method("Ping", func(s Lifecycle, ctx context.Context, _ none) (none, error) { return none{}, s.Ping(ctx) })

	rpcAdvance   = method("Advance", Positioner.Advance)
	rpcSyncAbove = method("SyncAbove", func(s Store, ctx context.Context, a pageAbove) (pageAboveResult[proto.Conversation], error) {
		return readAbove(s, ctx, a, s.Sync)
	})
	rpcFeedAbove = method("FeedAbove", func(s UserFeed, ctx context.Context, a pageAbove) (pageAboveResult[proto.UserEntry], error) {
		return readAbove(s, ctx, a, s.Feed)
	})
	rpcAppend    = method("Append", Appender.Append)
	rpcMarkReads = method("MarkReads", ConvWriter.MarkReads)
	rpcMembers   = method("Members", Querier.Members)
	rpcSync      = method("Sync", func(s Querier, ctx context.Context, a triple[string, uint64, int]) (pair[[]proto.Conversation, bool], error) {
		if err := admitLimit("sync", a.C); err != nil {
			return pair[[]proto.Conversation, bool]{}, err
		}
		convs, more, err := s.Sync(ctx, a.A, a.B, a.C)
		return two(convs, more), err
	})
	rpcHistory = method("History", func(s Querier, ctx context.Context, a pair[string, proto.History]) (proto.HistoryPage, error) {
		return s.History(ctx, a.A, a.B)
	})
	rpcCreateGroup = method("CreateGroup", func(s ConvWriter, ctx context.Context, spec GroupSpec) (pair[proto.Conversation, bool], error) {
		if perr := admitSpec(spec); perr != nil {
			return pair[proto.Conversation, bool]{}, perr
		}
		c, created, err := s.CreateGroup(ctx, spec)
		return two(c, created), err
	})

	rpcChangeGroup = method("ChangeGroup", func(s Grouper, ctx context.Context, c groupChange) (GroupOutcome, error) {
		// The relay validates an op before it asks the store (the rules
		// trust its shape): so does the server, for bytes of any origin.
		if perr := proto.Validate(&c.Op); perr != nil {
			return GroupOutcome{}, perr
		}
		return s.ChangeGroup(ctx, c.request())
	})
	rpcGroupMembers = method("GroupMembers", func(s Grouper, ctx context.Context, a pair[string, proto.Members]) (proto.MemberPage, error) {
		return s.GroupMembers(ctx, a.A, a.B)
	})
	rpcGroupPending = method("GroupPending", func(s Grouper, ctx context.Context, a pair[string, string]) ([]proto.GroupNotice, error) {
		return s.GroupPending(ctx, a.A, a.B)
	})
	rpcMemberRole = method("MemberRole", func(s Grouper, ctx context.Context, a pair[string, string]) (string, error) {
		return s.MemberRole(ctx, a.A, a.B)
	})
	rpcReadSpans = method("ReadSpans", func(s Grouper, ctx context.Context, a pair[string, string]) (rules.Spans, error) {
		return s.ReadSpans(ctx, a.A, a.B)
	})
	rpcReaders = method("Readers", func(s Grouper, ctx context.Context, a pair[string, uint64]) ([]string, error) {
		return s.Readers(ctx, a.A, a.B)
	})
	rpcAttachmentSeqs = method("AttachmentSeqs", func(s AttachmentFinder, ctx context.Context, a pair[string, string]) ([]uint64, error) {
		return s.AttachmentSeqs(ctx, a.A, a.B)
	})

	rpcFeed = method("Feed", func(s UserFeed, ctx context.Context, a triple[string, uint64, int]) (pair[[]proto.UserEntry, bool], error) {
		if err := admitLimit("feed", a.C); err != nil {
			return pair[[]proto.UserEntry, bool]{}, err
		}
		entries, more, err := s.Feed(ctx, a.A, a.B, a.C)
		return two(entries, more), err
	})
	rpcFeedEntries = method("FeedEntries", UserFeed.FeedEntries)
	rpcWriteFeed   = method("WriteFeed", writeFeed)
	rpcRelations   = method("Relations", RelationCounter.Relations)

	rpcSetSessions = method("SetSessions", func(s PresenceWriter, ctx context.Context, a triple[string, []SessionCount, int64]) ([]proto.Presence, error) {
		return s.SetSessions(ctx, a.A, a.B, a.C)
	})
	rpcSetStatus = method("SetStatus", func(s PresenceWriter, ctx context.Context, a pair[string, string]) (proto.Presence, error) {
		return s.SetStatus(ctx, a.A, a.B)
	})
	rpcPresence  = method("Presence", PresenceWriter.Presence)
	rpcSubscribe = method("Subscribe", func(s PresenceSubs, ctx context.Context, a pair[[]PresenceSub, int]) ([]*proto.Error, error) {
		return s.Subscribe(ctx, a.A, a.B)
	})
	rpcUnsubscribe = method("Unsubscribe", func(s PresenceSubs, ctx context.Context, a pair[string, []string]) (none, error) {
		return none{}, s.Unsubscribe(ctx, a.A, a.B)
	})
	rpcWatchers = method("Watchers", func(s PresenceSubs, ctx context.Context, a pair[string, int64]) ([]string, error) {
		return s.Watchers(ctx, a.A, a.B)
	})
	rpcSetProfile = method("SetProfile", func(s ProfileStore, ctx context.Context, a triple[string, proto.SetProfile, int64]) (proto.Profile, error) {
		return s.SetProfile(ctx, a.A, a.B, a.C)
	})
	rpcProfiles = method("Profiles", ProfileStore.Profiles)

	rpcRenewLease = method("RenewLease", func(s NodeLeases, ctx context.Context, a triple[string, int64, int64]) (bool, error) {
		return s.RenewLease(ctx, a.A, a.B, a.C)
	})
	rpcReclaimNodes = method("ReclaimNodes", func(s NodeLeases, ctx context.Context, a pair[string, int64]) ([]proto.Presence, error) {
		return s.ReclaimNodes(ctx, a.A, a.B)
	})
	rpcDropLease = method("DropLease", func(s NodeLeases, ctx context.Context, node string) (none, error) {
		return none{}, s.DropLease(ctx, node)
	})
	rpcRestartNode = method("RestartNode", func(s NodeRestarter, ctx context.Context, a triple[string, map[string]int, int64]) ([]proto.Presence, error) {
		return s.RestartNode(ctx, a.A, a.B, a.C)
	})

	rpcGroupsCreated = method("GroupsCreated", func(s GroupCounter, ctx context.Context, a pair[string, int64]) (pair[int, int], error) {
		total, recent, err := s.GroupsCreated(ctx, a.A, a.B)
		return two(total, recent), err
	})

	rpcSetBan = method("SetBan", func(s Banner, ctx context.Context, a pair[string, Ban]) (none, error) {
		return none{}, s.SetBan(ctx, a.A, a.B)
	})
	rpcLiftBan = method("LiftBan", func(s Banner, ctx context.Context, user string) (none, error) {
		return none{}, s.LiftBan(ctx, user)
	})
	rpcBanOf = method("BanOf", func(s Banner, ctx context.Context, user string) (pair[Ban, bool], error) {
		b, found, err := s.BanOf(ctx, user)
		return two(b, found), err
	})

	rpcBlobReleases = method("BlobReleases", func(s BlobReleaser, ctx context.Context, _ none) (map[string]string, error) {
		return s.BlobReleases(ctx)
	})
	rpcDoneBlobRelease = method("DoneBlobRelease", func(s BlobReleaser, ctx context.Context, token string) (none, error) {
		return none{}, s.DoneBlobRelease(ctx, token)
	})

	rpcRelationsTo = method("RelationsTo", UserEraser.RelationsTo)
	rpcEraseUser   = method("EraseUser", func(s UserEraser, ctx context.Context, a pair[string, int64]) (proto.Profile, error) {
		return s.EraseUser(ctx, a.A, a.B)
	})

	rpcRevokeTokens = method("RevokeTokens", func(s Revoker, ctx context.Context, a pair[string, int64]) (none, error) {
		return none{}, s.RevokeTokens(ctx, a.A, a.B)
	})
	rpcRecordDeletion = method("RecordDeletion", func(s Revoker, ctx context.Context, a pair[string, int64]) (none, error) {
		return none{}, s.RecordDeletion(ctx, a.A, a.B)
	})
	rpcSignInOf = method("SignInOf", Revoker.SignInOf)

	rpcReceipts = method("Receipts", func(s ReceiptReader, ctx context.Context, a triple[string, string, uint64]) (pair[[]string, []string], error) {
		read, unread, err := s.Receipts(ctx, a.A, a.B, a.C)
		return two(read, unread), err
	})
	rpcAttachmentInUse = method("AttachmentInUse", AttachmentUser.AttachmentInUse)

	rpcAddUploads = method("AddUploads", func(s UploadIndex, ctx context.Context, ups []Upload) (none, error) {
		return none{}, s.AddUploads(ctx, ups)
	})
	rpcUploadsOf = method("UploadsOf", func(s UploadIndex, ctx context.Context, a triple[string, string, int]) ([]string, error) {
		if err := admitLimit("uploads", a.C); err != nil {
			return nil, err
		}
		return s.UploadsOf(ctx, a.A, a.B, a.C)
	})
	rpcDropUploads = method("DropUploads", func(s UploadIndex, ctx context.Context, a pair[string, []string]) (none, error) {
		return none{}, s.DropUploads(ctx, a.A, a.B)
	})
)

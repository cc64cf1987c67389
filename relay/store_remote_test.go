package relay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
)

// loopback is a StoreCall into srv that copies the bytes both ways, as a
// transport between two objects does: neither side sees the other's memory.
func loopback(srv *StoreServer) StoreCall {
	return func(ctx context.Context, method string, req []byte) ([]byte, error) {
		return bytes.Clone(srv.Call(ctx, method, bytes.Clone(req))), nil
	}
}

// remoteSuiteStore is a RemoteStore as the conformance suite opens it: the
// few subtests that count or break what happens inside a store (rowWrites,
// messageCounter, failFeedWrites) reach the served store through it, while
// every call they check goes over the RemoteStore.
type remoteSuiteStore struct {
	*RemoteStore
	served Store
}

func (s *remoteSuiteStore) messagesRead() uint64 { return s.served.(messageCounter).messagesRead() }

// servedStore returns the store s stands for: the served one of a
// remoteSuiteStore, s itself otherwise.
func servedStore(s Store) Store {
	if p, isPart := s.(*partSuiteStore); isPart {
		s = p.served[0]
	}
	if r, isRemote := s.(*remoteSuiteStore); isRemote {
		return r.served
	}
	return s
}

// servedFor is servedStore for the store that holds conversation conv.
func servedFor(s Store, conv string) Store {
	if p, isPart := s.(*partSuiteStore); isPart {
		s = p.served[ConvPartition(conv, len(p.served))]
	}
	return servedStore(s)
}

// openRemote returns a RemoteStore of served over a loopback.
func openRemote(t testing.TB, served Store) *RemoteStore {
	t.Helper()
	r, err := NewRemoteStore(context.Background(), loopback(NewStoreServer(served)))
	ok(t, err)
	t.Cleanup(func() { r.Close() })
	return r
}

// remoteMemory returns a RemoteStore of a new MemoryStore, and the latter.
func remoteMemory(t testing.TB) (*RemoteStore, *MemoryStore) {
	m := NewMemoryStore()
	t.Cleanup(func() { m.Close() })
	return openRemote(t, m), m
}

// TestRemoteStore runs the conformance suite over the wire, on a memory and
// an SQLite store.
func TestRemoteStore(t *testing.T) {
	t.Parallel()
	t.Run("memory", func(t *testing.T) {
		t.Parallel()
		testStore(t, func(t *testing.T) Store {
			r, m := remoteMemory(t)
			return &remoteSuiteStore{RemoteStore: r, served: m}
		})
	})
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		testStore(t, func(t *testing.T) Store {
			s := openSuiteSQLite(t)
			return &remoteSuiteStore{RemoteStore: openRemote(t, s), served: s}
		})
	})
}

// roundTrip encodes v as a request or result and decodes it again.
func roundTrip[T any](t *testing.T, what string, v T) {
	t.Helper()
	b, err := remoteEnc.Marshal(&v)
	ok(t, err)
	var got T
	ok(t, remoteDec.Unmarshal(b, &got))
	equal(t, got, v, what)
}

// TestRemoteStoreRoundTrip: every type a call carries comes back as it
// went, nil and empty slices and maps told apart where the relay's own
// types have them. (The proto types' omitempty fields carry no such
// difference, on this wire as on the clients'.)
func TestRemoteStoreRoundTrip(t *testing.T) {
	t.Parallel()
	name := "name"
	msg := proto.Message{ConvID: "g:x", Seq: 3, Sender: "alice", ClientID: "c", MsgType: proto.MsgImage, Text: "t", Body: []byte{1, 2},
		CreatedAt: 5, Device: "d", ReplyTo: 2, Mentions: []string{"bob"}, Recalled: true, EditedAt: 6,
		Reactions: []proto.Reaction{{Emoji: "x", Users: []string{"bob"}}, {Emoji: "y", Users: []string{}}}, Target: 1,
		Attachment: &proto.Attachment{ID: "a", Name: "n", Size: 1, Mime: "image/png", Width: 2, Height: 3, DurationMs: 4}}
	conv := proto.Conversation{ID: "g:x", Kind: proto.KindGroup, Name: "n", Members: []string{"alice"}, LastSeq: 3, ReadSeq: 2,
		LastMessage: &msg, Version: 9, CreatedAt: 1, PeerReadSeq: 1, Role: proto.RoleOwner, Avatar: "a", Notice: "n",
		MutedUntil: 4, JoinPolicy: proto.JoinOpen, Custom: "c", MuteAll: true}
	notice := proto.GroupNotice{Kind: proto.PendingInvite, ConvID: "g:x", Name: "n", User: "bob", By: "alice", Note: "hi", At: 7, Done: true}
	entry := proto.UserEntry{Pos: 4, Relation: &proto.Relation{User: "bob", State: proto.RelPending, Note: "n", Blocked: true, At: 1},
		Setting: &proto.ConvSetting{ConvID: "g:x", Pinned: true, Muted: true, Hidden: true, HiddenSeq: 2},
		Prefs:   &proto.Prefs{ContactsOnly: true}, Hidden: &proto.HideMessage{ConvID: "g:x", Seq: 1}, Notice: &notice}

	roundTrip(t, "append requests", []AppendRequest{
		{Sender: "alice", Device: "d", CreatedAt: 1, Target: 2, RecallWindow: 90 * time.Second, Release: true,
			Send: proto.Send{ConvID: "g:x", ClientID: "c", MsgType: proto.MsgText, Text: "t", Body: []byte{0}, ReplyTo: 1,
				Mentions: []string{"bob"}, Attachment: msg.Attachment}},
		{},
	})
	roundTrip(t, "append results", []AppendResult{
		{Message: msg, Members: []string{"alice", "bob"}, Released: "a"},
		{Message: msg, Duplicate: true},
		{Members: []string{}, Err: proto.Errorf(proto.CodeForbidden, "no")},
	})
	roundTrip(t, "read marks and results", two([]ReadMark{{User: "a", Conv: "g:x", Seq: 1}},
		[]ReadResult{{Conv: conv, Moved: true}, {Err: proto.Errorf(proto.CodeForbidden, "no")}}))
	roundTrip(t, "group spec", GroupSpec{ID: "g:x", Name: "n", Creator: "a", Members: []string{"a", "b"}, CreatedAt: 1,
		Info: rules.GroupInfo{Avatar: "a", Notice: "n", Custom: "c", JoinPolicy: proto.JoinOpen, MuteAll: true}, Keyed: true, Announce: true})
	roundTrip(t, "group change", groupChange{Actor: "a", Now: 1, Feed: true, Policy: true, Direct: []string{"b"},
		Op: proto.GroupOp{ConvID: "g:x", Op: proto.OpUpdate, Users: []string{"b"}, Role: proto.RoleAdmin, Until: 2, On: true, Note: "n",
			Info: &proto.GroupInfo{Name: &name, Avatar: new(string), JoinPolicy: proto.JoinOpen}}})
	roundTrip(t, "group outcome", GroupOutcome{
		FeedKeys: []FeedKey{{"b", rules.FeedNotice, "g:x"}, {"c", rules.FeedNotice, "g:x"}},
		Feed:     []*proto.UserEntry{&entry, nil},
		View:     &conv,
		Messages: []proto.Message{msg},
		To:       []string{"a", "b"},
		Notices:  []rules.Notice{{To: []string{"b"}, Notice: notice}},
		Ended:    []rules.Notice{{To: []string{}, Notice: notice}},
	})
	roundTrip(t, "empty group outcome", GroupOutcome{})
	roundTrip(t, "history page", proto.HistoryPage{ConvID: "g:x", Messages: []proto.Message{msg}, More: true, LastSeq: 3,
		Hidden: []proto.SeqRange{{From: 1, To: 2}}})
	roundTrip(t, "history page without messages", proto.HistoryPage{ConvID: "g:x", Messages: []proto.Message{}})
	roundTrip(t, "history page of nothing", proto.HistoryPage{ConvID: "g:x"})
	roundTrip(t, "member page", proto.MemberPage{ConvID: "g:x", Members: []proto.Member{{User: "a", Role: proto.RoleOwner, JoinedAt: 1, MutedUntil: 2}}, More: true})
	roundTrip(t, "feed entries", []proto.UserEntry{entry, {}})
	roundTrip(t, "feed write", feedWrite{Keys: []FeedKey{{"a", rules.FeedRelation, "b"}, {"b", rules.FeedRelation, "a"}},
		Pos: []uint64{0, 3}, Out: []*proto.UserEntry{nil, &entry}})
	roundTrip(t, "feed written", feedWritten{Out: []*proto.UserEntry{&entry, nil}})
	roundTrip(t, "spans", []rules.Spans{nil, {}, rules.AllSeqs, {{From: 2, To: 5}, {From: 9}}})
	roundTrip(t, "ban", two(Ban{At: 1, Until: 2, Reason: "r"}, true))
	roundTrip(t, "sign-in", SignIn{Ban: Ban{At: 1, Until: 2, Reason: "r"}, Banned: true, RevokedBefore: 3, DeletedBefore: 4})
	roundTrip(t, "uploads", []Upload{{User: "a", ID: "x"}})
	roundTrip(t, "session counts", three("node", []SessionCount{{User: "a", Sessions: 2}, {User: "b"}}, int64(5)))
	roundTrip(t, "presence subs", two([]PresenceSub{{Subscriber: "a", Targets: []string{"b"}, Expires: 2, Now: 1}, {Targets: []string{}}}, 7))
	roundTrip(t, "refusals", []*proto.Error{nil, proto.Errorf(proto.CodePresenceLimit, "full"), nil})
	roundTrip(t, "no refusals", []*proto.Error(nil))
	roundTrip(t, "presence", []proto.Presence{{User: "a", Online: true, Status: "s"}, {User: "b", LastSeen: 3}})
	roundTrip(t, "profile", three("a", proto.SetProfile{Nickname: &name, Avatar: new(string)}, int64(1)))
	roundTrip(t, "profiles", []proto.Profile{{User: "a", Nickname: "n", Avatar: "a", Custom: "c", UpdatedAt: 1, Deleted: true}})
	roundTrip(t, "restart counts", []map[string]int{nil, {}, {"a": 1}})
	roundTrip(t, "blob releases", []map[string]string{nil, {}, {"t": "a"}})
	roundTrip(t, "receipts", []pair[[]string, []string]{two([]string(nil), []string{}), two([]string{"a"}, []string(nil))})
	roundTrip(t, "strings", [][]string{nil, {}, {"a"}})
	roundTrip(t, "seqs", [][]uint64{nil, {}, {1, 1 << 63}})
}

// TestRemoteStoreMethods: the client and the server know the same
// methods, one for each exported method of the SQLite store but Close and
// UpdateFeed (which are not calls: Close stays on this side, and
// UpdateFeed is FeedEntries and WriteFeed).
func TestRemoteStoreMethods(t *testing.T) {
	t.Parallel()
	want := map[string]bool{"Epoch": true, "WriteFeed": true}
	for _, m := range []string{
		"Ping", "Append", "Sync", "History", "Members", "MarkReads", "CreateGroup", "ChangeGroup", "GroupMembers",
		"GroupPending", "MemberRole", "ReadSpans", "Readers", "AttachmentSeqs", "Feed", "FeedEntries", "Relations",
		"SetSessions", "SetStatus", "Presence", "Subscribe", "Unsubscribe", "Watchers", "SetProfile", "Profiles",
		"RenewLease", "ReclaimNodes", "DropLease", "RestartNode", "GroupsCreated", "SetBan", "LiftBan", "BanOf",
		"BlobReleases", "DoneBlobRelease", "RelationsTo", "EraseUser", "RevokeTokens", "RecordDeletion", "SignInOf",
		"Receipts", "AttachmentInUse", "AddUploads", "UploadsOf", "DropUploads", "Advance", "SyncAbove", "FeedAbove",
	} {
		want[m] = true
	}
	for m := range storeHandlers {
		if !want[m] {
			t.Errorf("the server answers %s, which no client method calls", m)
		}
		delete(want, m)
	}
	for m := range want {
		t.Errorf("the server does not answer %s", m)
	}
}

// failingCall is a StoreCall whose transport always fails.
func failingCall(context.Context, string, []byte) ([]byte, error) { return nil, errTransport }

var errTransport = errors.New("transport down")

// TestRemoteStoreFailures: a transport that fails, and answers or requests
// that are not what they should be, are errors on either side, never a
// panic or a zero result taken for an answer.
func TestRemoteStoreFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("transport/failing call at open", func(t *testing.T) {
		t.Parallel()
		_, err := NewRemoteStore(ctx, failingCall)
		if !errors.Is(err, errTransport) {
			t.Fatalf("open over a failing transport: %v", err)
		}
	})
	t.Run("transport/failing call", func(t *testing.T) {
		t.Parallel()
		r, _ := remoteMemory(t)
		r.call = failingCall
		res, err := r.Append(ctx, []AppendRequest{textReq("alice", proto.P2PID("alice", "bob"), "1")})
		if !errors.Is(err, errTransport) || res != nil {
			t.Fatalf("append over a failing transport: %v, %v", res, err)
		}
		if _, _, err := r.Sync(ctx, "alice", 0, 10); !errors.Is(err, errTransport) {
			t.Fatalf("sync over a failing transport: %v", err)
		}
		if err := r.Ping(ctx); !errors.Is(err, errTransport) {
			t.Fatalf("ping over a failing transport: %v", err)
		}
		var perr *proto.Error
		if errors.As(r.Ping(ctx), &perr) {
			t.Fatalf("a transport failure taken for a refusal: %v", perr)
		}
	})
	t.Run("transport/undecodable answers", func(t *testing.T) {
		t.Parallel()
		r, _ := remoteMemory(t)
		empty, _ := remoteEnc.Marshal(&storeAnswer{})
		wrongType, _ := remoteEnc.Marshal(&storeAnswer{Result: []byte{0x63, 'a', 'b', 'c'}})
		for name, answer := range map[string][]byte{
			"garbage":        {0xff, 0x00},
			"nothing":        nil,
			"trailing bytes": append(bytes.Clone(empty), 0),
			"no result":      empty,
			"wrong type":     wrongType,
		} {
			r.call = func(context.Context, string, []byte) ([]byte, error) { return answer, nil }
			if _, err := r.Members(ctx, "g:x"); err == nil {
				t.Errorf("%s: no error", name)
			}
			if _, _, err := r.BanOf(ctx, "alice"); err == nil {
				t.Errorf("%s: no error from BanOf", name)
			}
		}
	})

	srv := NewStoreServer(NewMemoryStore())
	answer := func(t *testing.T, method string, req []byte) error {
		t.Helper()
		var ans storeAnswer
		ok(t, remoteDec.Unmarshal(srv.Call(ctx, method, req), &ans))
		if ans.Err == nil {
			t.Fatalf("%s: answered with a result", method)
		}
		return ans.Err.err()
	}
	t.Run("server/unknown method is 4215", func(t *testing.T) {
		t.Parallel()
		equal(t, storeCode(answer(t, "Drop", nil)), proto.CodeNotSupported, "code")
	})
	t.Run("server/undecodable request is 4200", func(t *testing.T) {
		t.Parallel()
		for _, req := range [][]byte{nil, {0xff}, {0x61, 'x'}, {0xa0, 0x00}} {
			equal(t, storeCode(answer(t, "Append", req)), proto.CodeBadRequest, fmt.Sprintf("code of % x", req))
		}
	})
	t.Run("server/a feature the store lacks is 4215", func(t *testing.T) {
		t.Parallel()
		// Only Store: none of the optional interfaces.
		r := openRemote(t, struct{ Store }{NewMemoryStore()})
		_, err := r.Presence(ctx, []string{"alice"})
		equal(t, storeCode(err), proto.CodeNotSupported, "presence of a store without it")
		_, _, err = r.BanOf(ctx, "alice")
		equal(t, storeCode(err), proto.CodeNotSupported, "ban of a store without bans")
		_, err = r.Members(ctx, "g:x")
		ok(t, err)
	})
	t.Run("server/a feed write that does not match its keys is 4200", func(t *testing.T) {
		t.Parallel()
		r, _ := remoteMemory(t)
		keys := []FeedKey{{"a", rules.FeedPrefs, ""}}
		_, err := remote(ctx, r, rpcWriteFeed, feedWrite{Keys: keys, Out: []*proto.UserEntry{{}}})
		equal(t, storeCode(err), proto.CodeBadRequest, "no positions")
		_, err = remote(ctx, r, rpcWriteFeed, feedWrite{Keys: keys, Pos: []uint64{0}, Out: []*proto.UserEntry{{}, {}}})
		equal(t, storeCode(err), proto.CodeBadRequest, "more entries than keys")
	})
	t.Run("server/a negative page limit is 4200", func(t *testing.T) {
		t.Parallel()
		r, m := remoteMemory(t)
		_, err := m.UpdateFeed(ctx, []FeedKey{{"alice", rules.FeedPrefs, ""}}, func([]proto.UserEntry) ([]*proto.UserEntry, error) {
			return []*proto.UserEntry{{Prefs: &proto.Prefs{}}}, nil
		})
		ok(t, err)
		ok(t, m.AddUploads(ctx, []Upload{{User: "alice", ID: "a"}}))
		_, _, err = r.Sync(ctx, "alice", 0, -1)
		equal(t, storeCode(err), proto.CodeBadRequest, "sync")
		_, _, err = r.Feed(ctx, "alice", 0, -1)
		equal(t, storeCode(err), proto.CodeBadRequest, "feed")
		_, err = r.UploadsOf(ctx, "alice", "", -1)
		equal(t, storeCode(err), proto.CodeBadRequest, "uploads")
	})
	t.Run("server/an invalid group op is refused as the relay would", func(t *testing.T) {
		t.Parallel()
		r, _ := remoteMemory(t)
		_, err := r.ChangeGroup(ctx, GroupRequest{Actor: "a", Op: proto.GroupOp{ConvID: "g:x", Op: proto.OpTransfer}})
		equal(t, storeCode(err), proto.CodeBadRequest, "a transfer to nobody")
	})
}

// errStore is a Store whose Ping and History fail with err.
type errStore struct {
	Store
	err error
}

func (s errStore) Ping(context.Context) error { return s.err }
func (s errStore) History(context.Context, string, proto.History) (proto.HistoryPage, error) {
	return proto.HistoryPage{}, s.err
}

// TestRemoteStoreErrors: refusals keep their codes, whole and per item,
// ErrClosed stays ErrClosed, and a failure keeps its text.
func TestRemoteStoreErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ab := proto.P2PID("alice", "bob")

	t.Run("refusal/of the call", func(t *testing.T) {
		t.Parallel()
		r, _ := remoteMemory(t)
		_, err := r.Append(ctx, []AppendRequest{textReq("alice", ab, "1")})
		ok(t, err)
		_, err = r.History(ctx, "carol", proto.History{ConvID: ab, Limit: 10})
		perr, isPE := err.(*proto.Error)
		if !isPE || perr.Code != proto.CodeForbidden {
			t.Fatalf("history of a non-member: %#v, want the *proto.Error 4203 itself", err)
		}
	})
	t.Run("refusal/per item", func(t *testing.T) {
		t.Parallel()
		r, _ := remoteMemory(t)
		_, _, err := r.CreateGroup(ctx, GroupSpec{ID: "g:x", Creator: "alice", Members: []string{"alice", "bob"}, CreatedAt: 1})
		ok(t, err)
		res, err := r.Append(ctx, []AppendRequest{textReq("carol", "g:x", "1"), textReq("alice", "g:x", "1")})
		ok(t, err)
		if res[0].Err == nil || res[0].Err.Code != proto.CodeForbidden || res[1].Err != nil || res[1].Message.Seq != 1 {
			t.Fatalf("results %+v: want 4203 for the non-member and seq 1 for alice", res)
		}
		marks, err := r.MarkReads(ctx, []ReadMark{{User: "carol", Conv: "g:x", Seq: 1}, {User: "bob", Conv: "g:x", Seq: 1}})
		ok(t, err)
		if marks[0].Err == nil || marks[0].Err.Code != proto.CodeForbidden || marks[1].Err != nil || !marks[1].Moved {
			t.Fatalf("marks %+v: want 4203 for the non-member and bob's moved", marks)
		}
		subs := []PresenceSub{{Subscriber: "a", Targets: []string{"b", "c"}, Expires: 10, Now: 1}, {Subscriber: "d", Targets: []string{"b"}, Expires: 10, Now: 1}}
		refused, err := r.Subscribe(ctx, subs, 1)
		ok(t, err)
		if len(refused) != 2 || refused[0] == nil || refused[0].Code != proto.CodePresenceLimit || refused[1] != nil {
			t.Fatalf("refused %v: want 4270 for the first only", refused)
		}
		refused, err = r.Subscribe(ctx, subs[1:], 1)
		ok(t, err)
		equal(t, refused, []*proto.Error(nil), "refused when none is")
	})
	t.Run("closed/served store closed", func(t *testing.T) {
		t.Parallel()
		r, m := remoteMemory(t)
		ok(t, m.Close())
		if err := r.Ping(ctx); err != ErrClosed {
			t.Fatalf("ping of a closed store: %v, want ErrClosed itself", err)
		}
		if _, err := r.Append(ctx, []AppendRequest{textReq("alice", ab, "1")}); !errors.Is(err, ErrClosed) {
			t.Fatalf("append to a closed store: %v", err)
		}
	})
	t.Run("closed/client closed, not the served store", func(t *testing.T) {
		t.Parallel()
		m := NewMemoryStore()
		defer m.Close()
		srv := NewStoreServer(m)
		r, err := NewRemoteStore(ctx, loopback(srv))
		ok(t, err)
		other, err := NewRemoteStore(ctx, loopback(srv))
		ok(t, err)
		equal(t, r.Epoch(), m.Epoch(), "epoch")
		ok(t, r.Close())
		if _, err := r.Members(ctx, ab); !errors.Is(err, ErrClosed) {
			t.Fatalf("members after close: %v", err)
		}
		ok(t, other.Ping(ctx))
		ok(t, m.Ping(ctx))
	})
	t.Run("wrapped/a refusal or ErrClosed in context keeps both", func(t *testing.T) {
		t.Parallel()
		for _, cause := range []error{proto.Errorf(proto.CodeConflict, "taken"), ErrClosed} {
			wrapped := fmt.Errorf("relay: history: %w", cause)
			r := openRemote(t, errStore{Store: NewMemoryStore(), err: wrapped})
			_, err := r.History(ctx, "alice", proto.History{ConvID: ab})
			if !errors.Is(err, cause) || err.Error() != wrapped.Error() {
				t.Fatalf("got %v, want %v wrapping %v", err, wrapped, cause)
			}
		}
	})
	t.Run("failure/keeps its text, and is no refusal", func(t *testing.T) {
		t.Parallel()
		for _, failure := range []error{errors.New("relay: ping: disk on fire"), errors.New("")} {
			r := openRemote(t, errStore{Store: NewMemoryStore(), err: failure})
			err := r.Ping(ctx)
			var perr *proto.Error
			if err == nil || errors.As(err, &perr) || errors.Is(err, ErrClosed) {
				t.Fatalf("ping: %#v, want a plain failure", err)
			}
			if failure.Error() != "" && err.Error() != failure.Error() {
				t.Fatalf("ping: %q, want %q", err, failure)
			}
		}
	})
}

// TestRemoteStoreUpdateFeedReplans: UpdateFeed plans here and writes there
// only if the entries it read are still there: a writer that changes one
// in between makes it read and plan again, on the new entry.
func TestRemoteStoreUpdateFeedReplans(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	keys := []FeedKey{{"alice", rules.FeedPrefs, ""}, {"alice", rules.FeedSetting, "g:x"}}
	setting := func(cur []proto.UserEntry) ([]*proto.UserEntry, error) {
		s := proto.ConvSetting{ConvID: "g:x"}
		if cur[1].Setting != nil {
			s = *cur[1].Setting
		}
		s.Pinned = !s.Pinned
		return []*proto.UserEntry{nil, {Setting: &s}}, nil
	}

	t.Run("a concurrent write between read and write", func(t *testing.T) {
		t.Parallel()
		m := NewMemoryStore()
		defer m.Close()
		srv := NewStoreServer(m)
		meddled := false
		// The other writer mutes the conversation after the client read
		// its setting, before its write arrives.
		r, err := NewRemoteStore(ctx, func(ctx context.Context, method string, req []byte) ([]byte, error) {
			if method == rpcWriteFeed.name && !meddled {
				meddled = true
				_, err := m.UpdateFeed(ctx, keys[1:], func([]proto.UserEntry) ([]*proto.UserEntry, error) {
					return []*proto.UserEntry{{Setting: &proto.ConvSetting{ConvID: "g:x", Muted: true}}}, nil
				})
				ok(t, err)
			}
			return loopback(srv)(ctx, method, req)
		})
		ok(t, err)
		var seen []proto.UserEntry
		out, err := r.UpdateFeed(ctx, keys, func(cur []proto.UserEntry) ([]*proto.UserEntry, error) {
			seen = append(seen, cur[1])
			return setting(cur)
		})
		ok(t, err)
		if len(seen) != 2 || seen[0].Setting != nil || seen[1].Setting == nil || !seen[1].Setting.Muted {
			t.Fatalf("plans saw %+v: want no setting, then the muted one", seen)
		}
		want := proto.ConvSetting{ConvID: "g:x", Pinned: true, Muted: true}
		if len(out) != 2 || out[0] != nil || out[1] == nil || *out[1].Setting != want || out[1].Pos <= seen[1].Pos {
			t.Fatalf("written %+v: want the pin on top of the mute, at a new position", out)
		}
		stored, err := m.FeedEntries(ctx, keys)
		ok(t, err)
		equal(t, stored[1], *out[1], "stored entry")
	})
	t.Run("writers that never stop", func(t *testing.T) {
		t.Parallel()
		m := NewMemoryStore()
		defer m.Close()
		srv := NewStoreServer(m)
		r, err := NewRemoteStore(ctx, func(ctx context.Context, method string, req []byte) ([]byte, error) {
			if method == rpcWriteFeed.name {
				_, err := m.UpdateFeed(ctx, keys[:1], func([]proto.UserEntry) ([]*proto.UserEntry, error) {
					return []*proto.UserEntry{{Prefs: &proto.Prefs{}}}, nil
				})
				ok(t, err)
			}
			return loopback(srv)(ctx, method, req)
		})
		ok(t, err)
		plans := 0
		_, err = r.UpdateFeed(ctx, keys, func(cur []proto.UserEntry) ([]*proto.UserEntry, error) {
			plans++
			return setting(cur)
		})
		if err == nil || plans != feedTries {
			t.Fatalf("after %d plans: %v, want an error after %d", plans, err, feedTries)
		}
		stored, err := m.FeedEntries(ctx, keys[1:])
		ok(t, err)
		equal(t, stored[0], proto.UserEntry{}, "setting written by a conflicting plan")
	})
	t.Run("a refused plan writes nothing", func(t *testing.T) {
		t.Parallel()
		r, m := remoteMemory(t)
		refusal := proto.Errorf(proto.CodeBlocked, "no")
		_, err := r.UpdateFeed(ctx, keys, func([]proto.UserEntry) ([]*proto.UserEntry, error) { return nil, refusal })
		if err != refusal {
			t.Fatalf("got %v, want the plan's refusal itself", err)
		}
		stored, err := m.FeedEntries(ctx, keys)
		ok(t, err)
		equal(t, stored, make([]proto.UserEntry, 2), "entries after a refused plan")
	})
}

// TestRemoteStoreDirectAsData: an add under an invitation policy has the
// same outcome over the wire as on the store itself: the users the policy
// adds at once are added, the others invited; no policy adds everyone, and
// a policy that adds nobody invites everyone.
func TestRemoteStoreDirectAsData(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	policies := map[string]rules.DirectAdd{
		"some":   func(invitee, inviter string) bool { return inviter == "owner" && invitee == "dave" },
		"none":   nil,
		"nobody": func(string, string) bool { return false },
	}
	for name, direct := range policies {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var outcomes [2]GroupOutcome
			r, _ := remoteMemory(t)
			local := NewMemoryStore()
			defer local.Close()
			for i, s := range []Store{local, r} {
				_, _, err := s.CreateGroup(ctx, GroupSpec{ID: "g:x", Name: "x", Creator: "owner", Members: []string{"owner"}, CreatedAt: 1})
				ok(t, err)
				out, err := s.ChangeGroup(ctx, GroupRequest{Actor: "owner", Now: 2, Direct: direct, Feed: true,
					Op: proto.GroupOp{ConvID: "g:x", Op: proto.OpAdd, Users: []string{"erin", "dave"}}})
				ok(t, err)
				// A system message's client id is random.
				for k := range out.Messages {
					out.Messages[k].ClientID = ""
				}
				if out.View != nil && out.View.LastMessage != nil {
					out.View.LastMessage.ClientID = ""
				}
				outcomes[i] = out
			}
			equal(t, outcomes[1], outcomes[0], "outcome over the wire")
			added, invited := 0, 0
			for _, m := range outcomes[0].Messages {
				ev, err := proto.DecodeGroupEvent(m.Body)
				ok(t, err)
				switch ev.Event {
				case proto.EventAdded:
					added = len(ev.Users)
				case proto.EventInvited:
					invited = len(ev.Users)
				}
			}
			want := map[string][2]int{"some": {1, 1}, "none": {2, 0}, "nobody": {0, 2}}[name]
			equal(t, [2]int{added, invited}, want, "added and invited")
		})
	}
}

// FuzzStoreServer: the store's object decodes requests from other objects;
// whatever the bytes, it answers with an answer, and never panics. The
// seeds are the requests of a short, real use of the store.
func FuzzStoreServer(f *testing.F) {
	ctx := context.Background()
	var seeds []pair[string, []byte]
	m := NewMemoryStore()
	r, err := NewRemoteStore(ctx, func(ctx context.Context, method string, req []byte) ([]byte, error) {
		seeds = append(seeds, two(method, bytes.Clone(req)))
		return NewStoreServer(m).Call(ctx, method, req), nil
	})
	if err != nil {
		f.Fatal(err)
	}
	remoteWorkout(ctx, r)
	m.Close()
	for _, s := range seeds {
		f.Add(s.A, s.B)
	}
	// Requests the relay never makes, and the server refused only once
	// the fuzzer made them.
	for _, s := range []pair[string, any]{
		two[string, any]("Feed", three("alice", uint64(0), -1)),
		two[string, any]("SyncAbove", pageAbove{Floor: 1 << 63, User: "alice", Limit: -1}),
		two[string, any]("Advance", uint64(1<<64-1)),
		two[string, any]("ChangeGroup", groupChange{Actor: "alice", Op: proto.GroupOp{ConvID: "g:x", Op: proto.OpTransfer}}),
	} {
		b, err := remoteEnc.Marshal(s.B)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(s.A, b)
	}
	f.Fuzz(func(t *testing.T, method string, req []byte) {
		m := NewMemoryStore()
		defer m.Close()
		// A group, a message, a feed entry, an upload and a presence to
		// act on.
		_, _, err := m.CreateGroup(ctx, GroupSpec{ID: "g:x", Creator: "alice", Members: []string{"alice", "bob"}, CreatedAt: 1})
		ok(t, err)
		_, err = m.Append(ctx, []AppendRequest{textReq("alice", "g:x", "1")})
		ok(t, err)
		_, err = m.UpdateFeed(ctx, []FeedKey{{"alice", rules.FeedPrefs, ""}}, func([]proto.UserEntry) ([]*proto.UserEntry, error) {
			return []*proto.UserEntry{{Prefs: &proto.Prefs{}}}, nil
		})
		ok(t, err)
		ok(t, m.AddUploads(ctx, []Upload{{User: "alice", ID: "a"}}))
		_, err = m.SetSessions(ctx, "n", []SessionCount{{User: "alice", Sessions: 1}}, 1)
		ok(t, err)
		var ans storeAnswer
		if err := remoteDec.Unmarshal(NewStoreServer(m).Call(ctx, method, req), &ans); err != nil {
			t.Fatalf("undecodable answer: %v", err)
		}
		if ans.Err == nil && len(ans.Result) == 0 {
			t.Fatal("an answer with neither a result nor an error")
		}
	})
}

// remoteWorkout makes one call of each kind on s, for FuzzStoreServer's
// seeds.
func remoteWorkout(ctx context.Context, s *RemoteStore) {
	ab := proto.P2PID("alice", "bob")
	s.Ping(ctx)
	// A partition's calls (PartitionStore).
	s.Advance(ctx, 5)
	s.SyncAbove(ctx, 7, "alice", 0, 10)
	s.FeedAbove(ctx, 7, "alice", 0, 10)
	s.Append(ctx, []AppendRequest{textReq("alice", ab, "1"), textReq("bob", "g:x", "2")})
	s.Sync(ctx, "alice", 0, 10)
	s.History(ctx, "alice", proto.History{ConvID: ab, Limit: 10})
	s.Members(ctx, ab)
	s.MarkReads(ctx, []ReadMark{{User: "bob", Conv: ab, Seq: 1}})
	s.CreateGroup(ctx, GroupSpec{ID: "g:y", Name: "y", Creator: "alice", Members: []string{"alice", "bob"}, CreatedAt: 1})
	s.ChangeGroup(ctx, GroupRequest{Actor: "alice", Now: 2, Feed: true, Direct: func(u, _ string) bool { return u == "carol" },
		Op: proto.GroupOp{ConvID: "g:y", Op: proto.OpAdd, Users: []string{"carol", "dave"}}})
	s.ChangeGroup(ctx, GroupRequest{Actor: "alice", Now: 3, Op: proto.GroupOp{ConvID: "g:x", Op: proto.OpTransfer, Users: []string{"bob"}}})
	s.GroupMembers(ctx, "alice", proto.Members{ConvID: "g:x"})
	s.GroupPending(ctx, "dave", "")
	s.MemberRole(ctx, "g:x", "bob")
	s.ReadSpans(ctx, "g:x", "bob")
	s.Readers(ctx, "g:x", 1)
	s.AttachmentSeqs(ctx, "g:x", "a")
	s.Feed(ctx, "alice", 0, 10)
	s.UpdateFeed(ctx, []FeedKey{{"alice", rules.FeedPrefs, ""}}, func([]proto.UserEntry) ([]*proto.UserEntry, error) {
		return []*proto.UserEntry{{Prefs: &proto.Prefs{ContactsOnly: true}}}, nil
	})
	s.Relations(ctx, "alice")
	s.SetSessions(ctx, "n", []SessionCount{{User: "alice", Sessions: 1}}, 1)
	s.SetStatus(ctx, "alice", "away")
	s.Presence(ctx, []string{"alice"})
	s.Subscribe(ctx, []PresenceSub{{Subscriber: "bob", Targets: []string{"alice"}, Expires: 10, Now: 1}}, 10)
	s.Unsubscribe(ctx, "bob", []string{"alice"})
	s.Watchers(ctx, "alice", 1)
	s.SetProfile(ctx, "alice", proto.SetProfile{Nickname: new(string)}, 1)
	s.Profiles(ctx, []string{"alice"})
	s.RenewLease(ctx, "n", 10, 1)
	s.ReclaimNodes(ctx, "n", 1)
	s.DropLease(ctx, "n")
	s.RestartNode(ctx, "n", map[string]int{"alice": 1}, 1)
	s.GroupsCreated(ctx, "alice", 0)
	s.SetBan(ctx, "eve", Ban{At: 1, Reason: "r"})
	s.LiftBan(ctx, "eve")
	s.BanOf(ctx, "eve")
	s.BlobReleases(ctx)
	s.DoneBlobRelease(ctx, "t")
	s.RelationsTo(ctx, "alice")
	s.EraseUser(ctx, "eve", 1)
	s.RevokeTokens(ctx, "eve", 1)
	s.RecordDeletion(ctx, "eve", 1)
	s.SignInOf(ctx, "eve")
	s.Receipts(ctx, "alice", ab, 1)
	s.AttachmentInUse(ctx, "a")
	s.AddUploads(ctx, []Upload{{User: "alice", ID: "a"}})
	s.UploadsOf(ctx, "alice", "", 10)
	s.DropUploads(ctx, "alice", []string{"a"})
}

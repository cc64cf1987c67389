package relay

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
)

// StoreCall carries one store request to the store that serves it
// (StoreServer.Call) and returns its answer's bytes; an error means the
// request may not have reached it (a transport failure), never a store
// refusal, which is in the answer.
type StoreCall func(ctx context.Context, method string, req []byte) ([]byte, error)

// RemoteStore is a Store held elsewhere: every call is made through a
// StoreCall as bytes, to a StoreServer of the real store. It lets several
// relay nodes that cannot share a database handle — Durable Objects, each
// holding some of the WebSockets — share the one object that holds it.
//
// It implements every optional store interface the relay looks for; a call
// of one the served store lacks is refused with 4215 (CodeNotSupported).
// Refusals keep their codes, and ErrClosed of the served store stays
// ErrClosed. The two requests that carry functions, UpdateFeed's plan and
// GroupRequest.Direct, travel as data: see UpdateFeed and ChangeGroup.
// It is safe for concurrent use when its StoreCall is.
type RemoteStore struct {
	call   StoreCall
	epoch  string
	closed atomic.Bool
}

var (
	_ Store           = (*RemoteStore)(nil)
	_ PresenceStore   = (*RemoteStore)(nil)
	_ NodeLeases      = (*RemoteStore)(nil)
	_ NodeRestarter   = (*RemoteStore)(nil)
	_ GroupCounter    = (*RemoteStore)(nil)
	_ RelationCounter = (*RemoteStore)(nil)
	_ Banner          = (*RemoteStore)(nil)
	_ BlobReleaser    = (*RemoteStore)(nil)
	_ UserEraser      = (*RemoteStore)(nil)
	_ Revoker         = (*RemoteStore)(nil)
	_ ReceiptReader   = (*RemoteStore)(nil)
	_ AttachmentUser  = (*RemoteStore)(nil)
	_ UploadIndex     = (*RemoteStore)(nil)
	_ Positioner      = (*RemoteStore)(nil)
)

// NewRemoteStore returns a Store whose every call is made through call. It
// reads the served store's epoch once, here: an epoch changes only with the
// store's data, and a reset store is a new StoreServer.
func NewRemoteStore(ctx context.Context, call StoreCall) (*RemoteStore, error) {
	r := &RemoteStore{call: call}
	epoch, err := remote(ctx, r, rpcEpoch, none{})
	if err != nil {
		return nil, err
	}
	r.epoch = epoch
	return r, nil
}

// remote makes the call m with req, and returns its result or its error.
func remote[Req, Res any](ctx context.Context, r *RemoteStore, m storeMethod[Req, Res], req Req) (Res, error) {
	var res Res
	if r.closed.Load() {
		return res, ErrClosed
	}
	// A cancelled caller makes no call: the transport may not be able to
	// take a call back once it is made (Workers RPC cannot), and a relay
	// that abandons its work (Server.Abandon) must write nothing more.
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("relay: store %s: %w", m.name, err)
	}
	b, err := remoteEnc.Marshal(&req)
	if err != nil {
		return res, fmt.Errorf("relay: store %s: encoding the request: %w", m.name, err)
	}
	b, err = r.call(ctx, m.name, b)
	if err != nil {
		return res, fmt.Errorf("relay: store %s: %w", m.name, err)
	}
	var ans storeAnswer
	if err := remoteDec.Unmarshal(b, &ans); err != nil {
		return res, fmt.Errorf("relay: store %s: undecodable answer: %w", m.name, err)
	}
	if ans.Err != nil {
		return res, ans.Err.err()
	}
	if len(ans.Result) == 0 {
		return res, fmt.Errorf("relay: store %s: an answer with neither a result nor an error", m.name)
	}
	if err := remoteDec.Unmarshal(ans.Result, &res); err != nil {
		return res, fmt.Errorf("relay: store %s: undecodable result: %w", m.name, err)
	}
	return res, nil
}

// Epoch implements Lifecycle: the served store's epoch, as read by
// NewRemoteStore.
func (r *RemoteStore) Epoch() string { return r.epoch }

// Ping implements Lifecycle: it asks the served store.
func (r *RemoteStore) Ping(ctx context.Context) error {
	_, err := remote(ctx, r, rpcPing, none{})
	return err
}

// Close implements Lifecycle. It closes this side only: later calls fail
// with ErrClosed, and the served store, shared with other nodes, stays
// open.
func (r *RemoteStore) Close() error {
	r.closed.Store(true)
	return nil
}

// Advance implements Positioner: the served store's counter, moved up to
// floor.
func (r *RemoteStore) Advance(ctx context.Context, floor uint64) (uint64, error) {
	return remote(ctx, r, rpcAdvance, floor)
}

// SyncAbove implements AbovePager, in one call.
func (r *RemoteStore) SyncAbove(ctx context.Context, floor uint64, user string, cursor uint64, limit int) (uint64, []proto.Conversation, bool, error) {
	res, err := remote(ctx, r, rpcSyncAbove, pageAbove{Floor: floor, User: user, Cursor: cursor, Limit: limit})
	return res.High, res.Items, res.More, err
}

// FeedAbove implements AbovePager, in one call.
func (r *RemoteStore) FeedAbove(ctx context.Context, floor uint64, user string, cursor uint64, limit int) (uint64, []proto.UserEntry, bool, error) {
	res, err := remote(ctx, r, rpcFeedAbove, pageAbove{Floor: floor, User: user, Cursor: cursor, Limit: limit})
	return res.High, res.Items, res.More, err
}

// Append implements Appender.
func (r *RemoteStore) Append(ctx context.Context, batch []AppendRequest) ([]AppendResult, error) {
	return remote(ctx, r, rpcAppend, batch)
}

// Sync implements Querier.
func (r *RemoteStore) Sync(ctx context.Context, user string, cursor uint64, limit int) ([]proto.Conversation, bool, error) {
	res, err := remote(ctx, r, rpcSync, three(user, cursor, limit))
	return res.A, res.B, err
}

// History implements Querier.
func (r *RemoteStore) History(ctx context.Context, user string, q proto.History) (proto.HistoryPage, error) {
	return remote(ctx, r, rpcHistory, two(user, q))
}

// Members implements Querier.
func (r *RemoteStore) Members(ctx context.Context, conv string) ([]string, error) {
	return remote(ctx, r, rpcMembers, conv)
}

// MarkReads implements ConvWriter.
func (r *RemoteStore) MarkReads(ctx context.Context, marks []ReadMark) ([]ReadResult, error) {
	return remote(ctx, r, rpcMarkReads, marks)
}

// CreateGroup implements ConvWriter.
func (r *RemoteStore) CreateGroup(ctx context.Context, spec GroupSpec) (proto.Conversation, bool, error) {
	res, err := remote(ctx, r, rpcCreateGroup, spec)
	return res.A, res.B, err
}

// ChangeGroup implements Grouper. req.Direct, a func, is asked here about
// the users of req.Op.Users, and its answers go with the request.
func (r *RemoteStore) ChangeGroup(ctx context.Context, req GroupRequest) (GroupOutcome, error) {
	return remote(ctx, r, rpcChangeGroup, changeOf(req))
}

// GroupMembers implements Grouper.
func (r *RemoteStore) GroupMembers(ctx context.Context, user string, q proto.Members) (proto.MemberPage, error) {
	return remote(ctx, r, rpcGroupMembers, two(user, q))
}

// GroupPending implements Grouper.
func (r *RemoteStore) GroupPending(ctx context.Context, user, conv string) ([]proto.GroupNotice, error) {
	return remote(ctx, r, rpcGroupPending, two(user, conv))
}

// MemberRole implements Grouper.
func (r *RemoteStore) MemberRole(ctx context.Context, conv, user string) (string, error) {
	return remote(ctx, r, rpcMemberRole, two(conv, user))
}

// ReadSpans implements Grouper.
func (r *RemoteStore) ReadSpans(ctx context.Context, conv, user string) (rules.Spans, error) {
	return remote(ctx, r, rpcReadSpans, two(conv, user))
}

// Readers implements Grouper.
func (r *RemoteStore) Readers(ctx context.Context, conv string, seq uint64) ([]string, error) {
	return remote(ctx, r, rpcReaders, two(conv, seq))
}

// AttachmentSeqs implements AttachmentFinder.
func (r *RemoteStore) AttachmentSeqs(ctx context.Context, conv, id string) ([]uint64, error) {
	return remote(ctx, r, rpcAttachmentSeqs, two(conv, id))
}

// Feed implements UserFeed.
func (r *RemoteStore) Feed(ctx context.Context, user string, cursor uint64, limit int) ([]proto.UserEntry, bool, error) {
	res, err := remote(ctx, r, rpcFeed, three(user, cursor, limit))
	return res.A, res.B, err
}

// FeedEntries implements UserFeed.
func (r *RemoteStore) FeedEntries(ctx context.Context, keys []FeedKey) ([]proto.UserEntry, error) {
	return remote(ctx, r, rpcFeedEntries, keys)
}

// feedTries is how many times UpdateFeed reads and plans in a row before
// it gives up on entries other writers keep changing; between tries it
// waits a random while, up to feedBackoff doubled with each try and capped
// at feedBackoffMax, so that racing writers do not keep colliding (16
// tries without waiting let one of 20 writers racing on one entry, on a
// loaded machine, lose every time).
const (
	feedTries      = 32
	feedBackoff    = time.Millisecond
	feedBackoffMax = 50 * time.Millisecond
)

// UpdateFeed implements UserFeed. plan is a func, which cannot travel: it
// runs here, on the entries as read, and its result is written on the
// condition that none of them moved meanwhile (optimistic concurrency).
// When one did, they are read and planned again after a short random
// wait, feedTries times at most.
// An error of plan is returned as it is, and nothing is written.
func (r *RemoteStore) UpdateFeed(ctx context.Context, keys []FeedKey, plan func(cur []proto.UserEntry) ([]*proto.UserEntry, error)) ([]*proto.UserEntry, error) {
	for try := range feedTries {
		cur, err := r.FeedEntries(ctx, keys)
		if err != nil {
			return nil, err
		}
		out, err := plan(cur)
		if err != nil {
			return nil, err
		}
		pos := make([]uint64, len(cur))
		for i := range cur {
			pos[i] = cur[i].Pos
		}
		res, err := remote(ctx, r, rpcWriteFeed, feedWrite{Keys: keys, Pos: pos, Out: out})
		if err != nil {
			return nil, err
		}
		if !res.Conflict {
			return res.Out, nil
		}
		wait := time.Duration(rand.Int64N(int64(min(feedBackoff<<min(try, 16), feedBackoffMax)) + 1))
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, fmt.Errorf("relay: update feed: %w", ctx.Err())
		}
	}
	return nil, fmt.Errorf("relay: update feed: the entries changed under each of %d plans", feedTries)
}

// Relations implements RelationCounter.
func (r *RemoteStore) Relations(ctx context.Context, user string) (int, error) {
	return remote(ctx, r, rpcRelations, user)
}

// SetSessions implements PresenceWriter.
func (r *RemoteStore) SetSessions(ctx context.Context, node string, counts []SessionCount, now int64) ([]proto.Presence, error) {
	return remote(ctx, r, rpcSetSessions, three(node, counts, now))
}

// SetStatus implements PresenceWriter.
func (r *RemoteStore) SetStatus(ctx context.Context, user, status string) (proto.Presence, error) {
	return remote(ctx, r, rpcSetStatus, two(user, status))
}

// Presence implements PresenceWriter.
func (r *RemoteStore) Presence(ctx context.Context, users []string) ([]proto.Presence, error) {
	return remote(ctx, r, rpcPresence, users)
}

// Subscribe implements PresenceSubs.
func (r *RemoteStore) Subscribe(ctx context.Context, subs []PresenceSub, max int) ([]*proto.Error, error) {
	return remote(ctx, r, rpcSubscribe, two(subs, max))
}

// Unsubscribe implements PresenceSubs.
func (r *RemoteStore) Unsubscribe(ctx context.Context, subscriber string, targets []string) error {
	_, err := remote(ctx, r, rpcUnsubscribe, two(subscriber, targets))
	return err
}

// Watchers implements PresenceSubs.
func (r *RemoteStore) Watchers(ctx context.Context, target string, now int64) ([]string, error) {
	return remote(ctx, r, rpcWatchers, two(target, now))
}

// SetProfile implements ProfileStore.
func (r *RemoteStore) SetProfile(ctx context.Context, user string, set proto.SetProfile, now int64) (proto.Profile, error) {
	return remote(ctx, r, rpcSetProfile, three(user, set, now))
}

// Profiles implements ProfileStore.
func (r *RemoteStore) Profiles(ctx context.Context, users []string) ([]proto.Profile, error) {
	return remote(ctx, r, rpcProfiles, users)
}

// RenewLease implements NodeLeases.
func (r *RemoteStore) RenewLease(ctx context.Context, node string, expires, now int64) (bool, error) {
	return remote(ctx, r, rpcRenewLease, three(node, expires, now))
}

// ReclaimNodes implements NodeLeases.
func (r *RemoteStore) ReclaimNodes(ctx context.Context, self string, now int64) ([]proto.Presence, error) {
	return remote(ctx, r, rpcReclaimNodes, two(self, now))
}

// DropLease implements NodeLeases.
func (r *RemoteStore) DropLease(ctx context.Context, node string) error {
	_, err := remote(ctx, r, rpcDropLease, node)
	return err
}

// RestartNode implements NodeRestarter.
func (r *RemoteStore) RestartNode(ctx context.Context, node string, counts map[string]int, now int64) ([]proto.Presence, error) {
	return remote(ctx, r, rpcRestartNode, three(node, counts, now))
}

// GroupsCreated implements GroupCounter.
func (r *RemoteStore) GroupsCreated(ctx context.Context, creator string, since int64) (total, recent int, err error) {
	res, err := remote(ctx, r, rpcGroupsCreated, two(creator, since))
	return res.A, res.B, err
}

// SetBan implements Banner.
func (r *RemoteStore) SetBan(ctx context.Context, user string, b Ban) error {
	_, err := remote(ctx, r, rpcSetBan, two(user, b))
	return err
}

// LiftBan implements Banner.
func (r *RemoteStore) LiftBan(ctx context.Context, user string) error {
	_, err := remote(ctx, r, rpcLiftBan, user)
	return err
}

// BanOf implements Banner.
func (r *RemoteStore) BanOf(ctx context.Context, user string) (Ban, bool, error) {
	res, err := remote(ctx, r, rpcBanOf, user)
	return res.A, res.B, err
}

// BlobReleases implements BlobReleaser.
func (r *RemoteStore) BlobReleases(ctx context.Context) (map[string]string, error) {
	return remote(ctx, r, rpcBlobReleases, none{})
}

// DoneBlobRelease implements BlobReleaser.
func (r *RemoteStore) DoneBlobRelease(ctx context.Context, token string) error {
	_, err := remote(ctx, r, rpcDoneBlobRelease, token)
	return err
}

// RelationsTo implements UserEraser.
func (r *RemoteStore) RelationsTo(ctx context.Context, user string) ([]string, error) {
	return remote(ctx, r, rpcRelationsTo, user)
}

// EraseUser implements UserEraser.
func (r *RemoteStore) EraseUser(ctx context.Context, user string, now int64) (proto.Profile, error) {
	return remote(ctx, r, rpcEraseUser, two(user, now))
}

// RevokeTokens implements Revoker.
func (r *RemoteStore) RevokeTokens(ctx context.Context, user string, before int64) error {
	_, err := remote(ctx, r, rpcRevokeTokens, two(user, before))
	return err
}

// RecordDeletion implements Revoker.
func (r *RemoteStore) RecordDeletion(ctx context.Context, user string, before int64) error {
	_, err := remote(ctx, r, rpcRecordDeletion, two(user, before))
	return err
}

// SignInOf implements Revoker.
func (r *RemoteStore) SignInOf(ctx context.Context, user string) (SignIn, error) {
	return remote(ctx, r, rpcSignInOf, user)
}

// Receipts implements ReceiptReader.
func (r *RemoteStore) Receipts(ctx context.Context, user, conv string, seq uint64) (read, unread []string, err error) {
	res, err := remote(ctx, r, rpcReceipts, three(user, conv, seq))
	return res.A, res.B, err
}

// AttachmentInUse implements AttachmentUser.
func (r *RemoteStore) AttachmentInUse(ctx context.Context, id string) (bool, error) {
	return remote(ctx, r, rpcAttachmentInUse, id)
}

// AddUploads implements UploadIndex.
func (r *RemoteStore) AddUploads(ctx context.Context, ups []Upload) error {
	_, err := remote(ctx, r, rpcAddUploads, ups)
	return err
}

// UploadsOf implements UploadIndex.
func (r *RemoteStore) UploadsOf(ctx context.Context, user, after string, limit int) ([]string, error) {
	return remote(ctx, r, rpcUploadsOf, three(user, after, limit))
}

// DropUploads implements UploadIndex.
func (r *RemoteStore) DropUploads(ctx context.Context, user string, ids []string) error {
	_, err := remote(ctx, r, rpcDropUploads, two(user, ids))
	return err
}

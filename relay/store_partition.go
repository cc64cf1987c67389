package relay

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
)

// PartitionStore spreads one relay's data over several stores, so that no
// single store decides every change. Each conversation lives whole in one
// partition, ConvPartition(id, n): its messages, sequence, dedup, members,
// read cursors, group state and the invitations it opens are decided
// there, in that partition's own transactions, so a busy conversation
// occupies only its partition. Everything that belongs to a user rather
// than to a conversation (contacts, block lists, settings, presence,
// profiles, bans, revocations, uploads, node leases) lives in partition
// 0, the directory.
//
// A user's conversations are then spread over the partitions, and so is
// their feed (the invitations are in the groups' partitions): Sync and
// Feed ask every partition and merge the pages into one, by position. The
// positions of different partitions never collide and a cursor taken from
// a merged page is safe in all of them (store_positions.go).
//
// What crosses partitions is not atomic, by design:
//
//   - an Append batch (and a MarkReads batch) is split by partition and
//     each part is one transaction of its partition; when some partitions
//     fail and others commit, the call answers the committed items and
//     gives each item of a failed partition a temporary error (4300), as a
//     store refusal of that item, for the client to retry;
//   - a client id is deduplicated within the partition of its
//     conversation, so one reused for a conversation of another partition
//     is stored as a new message rather than refused with 4209;
//   - erasing a user (EraseUser) runs in each partition in turn.
//
// The number of partitions is fixed for a store's lifetime: a conversation
// is found where its id hashes.
type PartitionStore struct {
	parts []PartStore
	epoch string
	// seen is the highest position any partition has reported: each Sync
	// and Feed moves every partition up to it first (Positioner.Advance).
	seen atomic.Uint64
}

// PartStore is what a partition of a PartitionStore offers: every part of
// the relay's store and the positions of a partition.
type PartStore interface {
	Store
	Positioner
	RelationCounter
	PresenceStore
	NodeLeases
	NodeRestarter
	GroupCounter
	Banner
	BlobReleaser
	UserEraser
	Revoker
	ReceiptReader
	AttachmentUser
	UploadIndex
}

var (
	_ PartStore = (*MemoryStore)(nil)
	_ PartStore = (*SQLiteStore)(nil)
	_ PartStore = (*RemoteStore)(nil)
	// A PartitionStore is every part of a store but a partition: its
	// positions are its partitions', not one counter it could stride.
	_ Store           = (*PartitionStore)(nil)
	_ PresenceStore   = (*PartitionStore)(nil)
	_ NodeRestarter   = (*PartitionStore)(nil)
	_ GroupCounter    = (*PartitionStore)(nil)
	_ RelationCounter = (*PartitionStore)(nil)
	_ Banner          = (*PartitionStore)(nil)
	_ BlobReleaser    = (*PartitionStore)(nil)
	_ UserEraser      = (*PartitionStore)(nil)
	_ Revoker         = (*PartitionStore)(nil)
	_ ReceiptReader   = (*PartitionStore)(nil)
	_ AttachmentUser  = (*PartitionStore)(nil)
	_ UploadIndex     = (*PartitionStore)(nil)
	_ NodeLeases      = (*PartitionStore)(nil)
)

// AbovePager is a partition that does what a merged Sync or Feed asks of
// it — Advance to floor, then read a page — in one call: a RemoteStore,
// whose every call is a round trip.
type AbovePager interface {
	// SyncAbove is Advance(floor) and then Sync; high is what Advance
	// returned.
	SyncAbove(ctx context.Context, floor uint64, user string, cursor uint64, limit int) (high uint64, convs []proto.Conversation, more bool, err error)
	// FeedAbove is Advance(floor) and then Feed.
	FeedAbove(ctx context.Context, floor uint64, user string, cursor uint64, limit int) (high uint64, entries []proto.UserEntry, more bool, err error)
}

var _ AbovePager = (*RemoteStore)(nil)

// ConvPartition is the partition, of n, that holds conversation conv: the
// same FNV-1a hash as ShardOf.
func ConvPartition(conv string, n int) int { return ShardOf(conv, n) }

// NewPartitionStore builds a store over parts, partition i being parts[i];
// each must already hand out the positions of its partition
// (SetPartition(i, len(parts)) of MemoryStore and SQLiteStore) and hold only the data of that
// partition. Its epoch is derived from the partitions' epochs and their
// number (one partition's own, when there is one): another layout is
// another store to clients.
func NewPartitionStore(parts []PartStore) (*PartitionStore, error) {
	if len(parts) == 0 {
		return nil, errors.New("relay: a partition store needs at least one partition")
	}
	if len(parts) == 1 {
		return &PartitionStore{parts: parts, epoch: parts[0].Epoch()}, nil
	}
	h := sha256.New()
	fmt.Fprintf(h, "partitions %d", len(parts))
	for _, p := range parts {
		fmt.Fprintf(h, "\x00%s", p.Epoch())
	}
	return &PartitionStore{parts: parts, epoch: hex.EncodeToString(h.Sum(nil)[:8])}, nil
}

// conv returns the partition that holds conversation id.
func (p *PartitionStore) conv(id string) PartStore { return p.parts[ConvPartition(id, len(p.parts))] }

// dir returns the directory: the partition of everything per user.
func (p *PartitionStore) dir() PartStore { return p.parts[0] }

// each runs fn on every partition at once and returns the first error.
func (p *PartitionStore) each(fn func(i int, s PartStore) error) error {
	if len(p.parts) == 1 {
		return fn(0, p.parts[0])
	}
	errs := make([]error, len(p.parts))
	var wg sync.WaitGroup
	for i, s := range p.parts {
		wg.Go(func() { errs[i] = fn(i, s) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// see records positions reported by a partition.
func (p *PartitionStore) see(pos uint64) {
	for {
		old := p.seen.Load()
		if pos <= old || p.seen.CompareAndSwap(old, pos) {
			return
		}
	}
}

// Epoch implements Lifecycle.
func (p *PartitionStore) Epoch() string { return p.epoch }

// Ping implements Lifecycle: every partition must answer.
func (p *PartitionStore) Ping(ctx context.Context) error {
	return p.each(func(_ int, s PartStore) error { return s.Ping(ctx) })
}

// Close implements Lifecycle: it closes every partition.
func (p *PartitionStore) Close() error {
	return p.each(func(_ int, s PartStore) error { return s.Close() })
}

// Append implements Appender: the batch is split by partition, each part
// stored in one transaction of its partition, in batch order within it.
func (p *PartitionStore) Append(ctx context.Context, batch []AppendRequest) ([]AppendResult, error) {
	if len(p.parts) == 1 {
		return p.parts[0].Append(ctx, batch)
	}
	return split(p, batch, func(r *AppendRequest) string { return r.Send.ConvID },
		func(s PartStore, part []AppendRequest) ([]AppendResult, error) { return s.Append(ctx, part) },
		func(e *proto.Error) AppendResult { return AppendResult{Err: e} })
}

// split makes a batch call (Append, MarkReads) over the partitions: the
// items are grouped by the partition of their conversation, each group one
// call of its partition, in batch order, and the results are put back in
// batch order. A partition that fails gives each of its items the
// temporary error of a store failure (4300, 4308), for the relay to send
// and the client to retry; the call fails as a whole only when every
// partition that had items failed, having stored nothing, as on a single
// store. Failing it whenever one partition failed would leave what the
// others stored acknowledged to nobody and pushed to no one: a retry finds
// those as duplicates, which are not fanned out again.
func split[Req, Res any](p *PartitionStore, items []Req, conv func(*Req) string,
	call func(s PartStore, part []Req) ([]Res, error), failure func(*proto.Error) Res) ([]Res, error) {
	at := make([][]int, len(p.parts)) // partition → indexes in items
	for i := range items {
		k := ConvPartition(conv(&items[i]), len(p.parts))
		at[k] = append(at[k], i)
	}
	out := make([]Res, len(items))
	failed := make([]bool, len(p.parts))
	err := p.each(func(k int, s PartStore) error {
		if len(at[k]) == 0 {
			return nil
		}
		part := make([]Req, len(at[k]))
		for j, i := range at[k] {
			part[j] = items[i]
		}
		res, err := call(s, part)
		if err == nil && len(res) != len(part) {
			err = fmt.Errorf("relay: partition %d answered %d results for %d items", k, len(res), len(part))
		}
		if err != nil {
			failed[k] = true
			for _, i := range at[k] {
				out[i] = failure(storeFailure(err))
			}
			return err
		}
		for j, i := range at[k] {
			out[i] = res[j]
		}
		return nil
	})
	if err == nil {
		return out, nil
	}
	for k := range at {
		if len(at[k]) > 0 && !failed[k] {
			return out, nil // some stored: each failed item says so
		}
	}
	return nil, err
}

// partPage is what one partition answered to a Sync or a Feed: a page, and
// the partition's counter read before it (Positioner.Advance).
type partPage[T any] struct {
	items []T
	more  bool
	high  uint64
}

// mergePages merges the pages the partitions answered for cursor into one,
// in position order (key), and tells whether more follow. A cursor taken
// from the merged page must not pass a change it has not listed, in any
// partition: the page stops at the lowest position up to which every
// partition is known complete — a partition that said more is complete up
// to the last item of its page, one that did not up to its counter, since
// it hands out only higher positions later. What lies beyond is listed by
// the next sync (more is then true). Positions of different partitions
// never tie, so no cut falls between two items at one position.
func mergePages[T any](cursor uint64, limit int, pages []partPage[T], key func(*T) uint64) ([]T, bool) {
	bound, more := uint64(math.MaxUint64), false
	n := 0
	for _, pg := range pages {
		cover := max(pg.high, cursor)
		if pg.more {
			more = true
			cover = cursor
			if len(pg.items) > 0 {
				cover = key(&pg.items[len(pg.items)-1])
			}
		}
		bound = min(bound, cover)
		n += len(pg.items)
	}
	out := make([]T, 0, n)
	for _, pg := range pages {
		for i := range pg.items {
			if key(&pg.items[i]) <= bound {
				out = append(out, pg.items[i])
			} else {
				more = true
			}
		}
	}
	slices.SortFunc(out, func(a, b T) int { return cmp.Compare(key(&a), key(&b)) })
	if len(out) > limit {
		out, more = out[:limit], true
	}
	return out, more
}

// pages asks every partition for a page above cursor, each after moving
// its counter up to the highest position seen so far. A partition whose
// counter was still below a position another one listed (a partition
// that changed less, or a store that has just started and seen nothing)
// would hold the merged page back to its counter: it is moved up and read
// again, once, so that a sync does not end at an empty page for it.
func pages[T any](ctx context.Context, p *PartitionStore, key func(*T) uint64,
	read func(s PartStore, floor uint64) (partPage[T], error)) ([]partPage[T], error) {
	out := make([]partPage[T], len(p.parts))
	ask := make([]bool, len(p.parts))
	for i := range ask {
		ask[i] = true
	}
	for round := 0; ; round++ {
		floor := p.seen.Load()
		err := p.each(func(i int, s PartStore) error {
			if !ask[i] {
				return nil
			}
			pg, err := read(s, floor)
			out[i] = pg
			return err
		})
		if err != nil {
			return nil, err
		}
		var top uint64 // the highest position listed
		for _, pg := range out {
			p.see(pg.high)
			for i := range pg.items {
				top = max(top, key(&pg.items[i]))
			}
		}
		p.see(top)
		if round == 1 {
			return out, nil
		}
		again := false
		for i, pg := range out {
			ask[i] = !pg.more && pg.high < top
			again = again || ask[i]
		}
		if !again {
			return out, nil
		}
	}
}

// pageOf reads one partition's page for a merged Sync or Feed: in one call
// (above) from a partition that offers it, else Advance and then the page
// (read), in that order.
func pageOf[T any](ctx context.Context, s PartStore, floor uint64,
	above func(AbovePager) (uint64, []T, bool, error), read func() ([]T, bool, error)) (partPage[T], error) {
	var pg partPage[T]
	var err error
	if a, ok := s.(AbovePager); ok {
		pg.high, pg.items, pg.more, err = above(a)
		return pg, err
	}
	if pg.high, err = s.Advance(ctx, floor); err != nil {
		return pg, err
	}
	pg.items, pg.more, err = read()
	return pg, err
}

func convKey(c *proto.Conversation) uint64 { return c.Version }
func entryKey(e *proto.UserEntry) uint64   { return e.Pos }

// Sync implements Querier: the user's conversations of every partition,
// merged (mergePages).
func (p *PartitionStore) Sync(ctx context.Context, user string, cursor uint64, limit int) ([]proto.Conversation, bool, error) {
	if len(p.parts) == 1 {
		return p.parts[0].Sync(ctx, user, cursor, limit)
	}
	pgs, err := pages(ctx, p, convKey, func(s PartStore, floor uint64) (partPage[proto.Conversation], error) {
		return pageOf(ctx, s, floor,
			func(a AbovePager) (uint64, []proto.Conversation, bool, error) {
				return a.SyncAbove(ctx, floor, user, cursor, limit)
			},
			func() ([]proto.Conversation, bool, error) { return s.Sync(ctx, user, cursor, limit) })
	})
	if err != nil {
		return nil, false, err
	}
	convs, more := mergePages(cursor, limit, pgs, convKey)
	// Each partition kept its page within the byte and member budgets;
	// their union is cut to them again, by the same rules (syncPager).
	var cut pageCut
	members := 0
	for i := range convs {
		cost := 0
		if m := convs[i].LastMessage; m != nil {
			cost = messageCost(len(m.Text), len(m.Body))
		}
		if (i > 0 && members+len(convs[i].Members) > syncMemberBudget) || !cut.add(cost) {
			return convs[:i], true, nil
		}
		members += len(convs[i].Members)
	}
	return convs, more, nil
}

// Feed implements UserFeed: the user's entries of every partition (the
// directory's contacts and settings, the groups' invitations), merged.
func (p *PartitionStore) Feed(ctx context.Context, user string, cursor uint64, limit int) ([]proto.UserEntry, bool, error) {
	if len(p.parts) == 1 {
		return p.parts[0].Feed(ctx, user, cursor, limit)
	}
	pgs, err := pages(ctx, p, entryKey, func(s PartStore, floor uint64) (partPage[proto.UserEntry], error) {
		return pageOf(ctx, s, floor,
			func(a AbovePager) (uint64, []proto.UserEntry, bool, error) {
				return a.FeedAbove(ctx, floor, user, cursor, limit)
			},
			func() ([]proto.UserEntry, bool, error) { return s.Feed(ctx, user, cursor, limit) })
	})
	if err != nil {
		return nil, false, err
	}
	entries, more := mergePages(cursor, limit, pgs, entryKey)
	return entries, more, nil
}

// History implements Querier.
func (p *PartitionStore) History(ctx context.Context, user string, q proto.History) (proto.HistoryPage, error) {
	return p.conv(q.ConvID).History(ctx, user, q)
}

// Members implements Querier.
func (p *PartitionStore) Members(ctx context.Context, conv string) ([]string, error) {
	return p.conv(conv).Members(ctx, conv)
}

// MarkReads implements ConvWriter: the marks are split by partition, each
// part one transaction of its partition (split).
func (p *PartitionStore) MarkReads(ctx context.Context, marks []ReadMark) ([]ReadResult, error) {
	if len(p.parts) == 1 {
		return p.parts[0].MarkReads(ctx, marks)
	}
	return split(p, marks, func(m *ReadMark) string { return m.Conv },
		func(s PartStore, part []ReadMark) ([]ReadResult, error) { return s.MarkReads(ctx, part) },
		func(e *proto.Error) ReadResult { return ReadResult{Err: e} })
}

// CreateGroup implements ConvWriter, in the group's partition.
func (p *PartitionStore) CreateGroup(ctx context.Context, spec GroupSpec) (proto.Conversation, bool, error) {
	return p.conv(spec.ID).CreateGroup(ctx, spec)
}

// ChangeGroup implements Grouper, in the group's partition; the
// invitations and join requests it writes (GroupRequest.Feed) are that
// partition's feed entries, which Feed merges.
func (p *PartitionStore) ChangeGroup(ctx context.Context, req GroupRequest) (GroupOutcome, error) {
	return p.conv(req.Op.ConvID).ChangeGroup(ctx, req)
}

// GroupMembers implements Grouper.
func (p *PartitionStore) GroupMembers(ctx context.Context, user string, q proto.Members) (proto.MemberPage, error) {
	return p.conv(q.ConvID).GroupMembers(ctx, user, q)
}

// GroupPending implements Grouper: a group's join requests from its
// partition; a user's invitations (conv "") from every partition, in
// group id order.
func (p *PartitionStore) GroupPending(ctx context.Context, user, conv string) ([]proto.GroupNotice, error) {
	if conv != "" || len(p.parts) == 1 {
		return p.conv(conv).GroupPending(ctx, user, conv)
	}
	lists := make([][]proto.GroupNotice, len(p.parts))
	err := p.each(func(i int, s PartStore) (err error) {
		lists[i], err = s.GroupPending(ctx, user, "")
		return err
	})
	if err != nil {
		return nil, err
	}
	out := slices.Concat(lists...)
	if out == nil {
		out = []proto.GroupNotice{}
	}
	slices.SortFunc(out, func(a, b proto.GroupNotice) int { return cmp.Compare(a.ConvID, b.ConvID) })
	return out, nil
}

// MemberRole implements Grouper.
func (p *PartitionStore) MemberRole(ctx context.Context, conv, user string) (string, error) {
	return p.conv(conv).MemberRole(ctx, conv, user)
}

// ReadSpans implements Grouper.
func (p *PartitionStore) ReadSpans(ctx context.Context, conv, user string) (rules.Spans, error) {
	return p.conv(conv).ReadSpans(ctx, conv, user)
}

// Readers implements Grouper.
func (p *PartitionStore) Readers(ctx context.Context, conv string, seq uint64) ([]string, error) {
	return p.conv(conv).Readers(ctx, conv, seq)
}

// AttachmentSeqs implements AttachmentFinder.
func (p *PartitionStore) AttachmentSeqs(ctx context.Context, conv, id string) ([]uint64, error) {
	return p.conv(conv).AttachmentSeqs(ctx, conv, id)
}

// Receipts implements ReceiptReader.
func (p *PartitionStore) Receipts(ctx context.Context, user, conv string, seq uint64) ([]string, []string, error) {
	return p.conv(conv).Receipts(ctx, user, conv, seq)
}

// FeedEntries implements UserFeed, in the directory: the entries the relay
// reads and updates by key (relations, settings, preferences) are the
// user's own.
func (p *PartitionStore) FeedEntries(ctx context.Context, keys []FeedKey) ([]proto.UserEntry, error) {
	if err := dirKeys(keys); err != nil {
		return nil, err
	}
	return p.dir().FeedEntries(ctx, keys)
}

// UpdateFeed implements UserFeed, in the directory (FeedEntries).
func (p *PartitionStore) UpdateFeed(ctx context.Context, keys []FeedKey, plan func(cur []proto.UserEntry) ([]*proto.UserEntry, error)) ([]*proto.UserEntry, error) {
	if err := dirKeys(keys); err != nil {
		return nil, err
	}
	return p.dir().UpdateFeed(ctx, keys, plan)
}

// dirKeys refuses the keys of group notices, which live in their group's
// partition and change only with the group (ChangeGroup).
func dirKeys(keys []FeedKey) error {
	for _, k := range keys {
		if k.Kind == rules.FeedNotice {
			return fmt.Errorf("relay: a group notice (%s) is not read or updated by key in a partitioned store", k.Key)
		}
	}
	return nil
}

// Relations implements RelationCounter.
func (p *PartitionStore) Relations(ctx context.Context, user string) (int, error) {
	return p.dir().Relations(ctx, user)
}

// GroupsCreated implements GroupCounter: the sum over the partitions.
func (p *PartitionStore) GroupsCreated(ctx context.Context, creator string, since int64) (int, int, error) {
	var total, recent atomic.Int64
	err := p.each(func(_ int, s PartStore) error {
		t, r, err := s.GroupsCreated(ctx, creator, since)
		total.Add(int64(t))
		recent.Add(int64(r))
		return err
	})
	return int(total.Load()), int(recent.Load()), err
}

// SetSessions implements PresenceWriter, in the directory.
func (p *PartitionStore) SetSessions(ctx context.Context, node string, counts []SessionCount, now int64) ([]proto.Presence, error) {
	return p.dir().SetSessions(ctx, node, counts, now)
}

// SetStatus implements PresenceWriter, in the directory.
func (p *PartitionStore) SetStatus(ctx context.Context, user, status string) (proto.Presence, error) {
	return p.dir().SetStatus(ctx, user, status)
}

// Presence implements PresenceWriter, in the directory.
func (p *PartitionStore) Presence(ctx context.Context, users []string) ([]proto.Presence, error) {
	return p.dir().Presence(ctx, users)
}

// Subscribe implements PresenceSubs, in the directory.
func (p *PartitionStore) Subscribe(ctx context.Context, subs []PresenceSub, max int) ([]*proto.Error, error) {
	return p.dir().Subscribe(ctx, subs, max)
}

// Unsubscribe implements PresenceSubs, in the directory.
func (p *PartitionStore) Unsubscribe(ctx context.Context, subscriber string, targets []string) error {
	return p.dir().Unsubscribe(ctx, subscriber, targets)
}

// Watchers implements PresenceSubs, in the directory.
func (p *PartitionStore) Watchers(ctx context.Context, target string, now int64) ([]string, error) {
	return p.dir().Watchers(ctx, target, now)
}

// SetProfile implements ProfileStore, in the directory.
func (p *PartitionStore) SetProfile(ctx context.Context, user string, set proto.SetProfile, now int64) (proto.Profile, error) {
	return p.dir().SetProfile(ctx, user, set, now)
}

// Profiles implements ProfileStore, in the directory.
func (p *PartitionStore) Profiles(ctx context.Context, users []string) ([]proto.Profile, error) {
	return p.dir().Profiles(ctx, users)
}

// RenewLease implements NodeLeases, in the directory.
func (p *PartitionStore) RenewLease(ctx context.Context, node string, expires, now int64) (bool, error) {
	return p.dir().RenewLease(ctx, node, expires, now)
}

// ReclaimNodes implements NodeLeases, in the directory.
func (p *PartitionStore) ReclaimNodes(ctx context.Context, self string, now int64) ([]proto.Presence, error) {
	return p.dir().ReclaimNodes(ctx, self, now)
}

// DropLease implements NodeLeases, in the directory.
func (p *PartitionStore) DropLease(ctx context.Context, node string) error {
	return p.dir().DropLease(ctx, node)
}

// RestartNode implements NodeRestarter, in the directory.
func (p *PartitionStore) RestartNode(ctx context.Context, node string, counts map[string]int, now int64) ([]proto.Presence, error) {
	return p.dir().RestartNode(ctx, node, counts, now)
}

// SetBan implements Banner, in the directory.
func (p *PartitionStore) SetBan(ctx context.Context, user string, b Ban) error {
	return p.dir().SetBan(ctx, user, b)
}

// LiftBan implements Banner, in the directory.
func (p *PartitionStore) LiftBan(ctx context.Context, user string) error {
	return p.dir().LiftBan(ctx, user)
}

// BanOf implements Banner, in the directory.
func (p *PartitionStore) BanOf(ctx context.Context, user string) (Ban, bool, error) {
	return p.dir().BanOf(ctx, user)
}

// BlobReleases implements BlobReleaser: the releases every partition
// recorded (each with the amends of its conversations).
func (p *PartitionStore) BlobReleases(ctx context.Context) (map[string]string, error) {
	maps := make([]map[string]string, len(p.parts))
	err := p.each(func(i int, s PartStore) (err error) {
		maps[i], err = s.BlobReleases(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, m := range maps {
		for t, id := range m {
			out[t] = id
		}
	}
	return out, nil
}

// DoneBlobRelease implements BlobReleaser: the token is dropped wherever
// it is recorded.
func (p *PartitionStore) DoneBlobRelease(ctx context.Context, token string) error {
	return p.each(func(_ int, s PartStore) error { return s.DoneBlobRelease(ctx, token) })
}

// AttachmentInUse implements AttachmentUser: in use when any partition's
// messages name it.
func (p *PartitionStore) AttachmentInUse(ctx context.Context, id string) (bool, error) {
	var used atomic.Bool
	err := p.each(func(_ int, s PartStore) error {
		u, err := s.AttachmentInUse(ctx, id)
		if u {
			used.Store(true)
		}
		return err
	})
	return used.Load(), err
}

// RelationsTo implements UserEraser, in the directory.
func (p *PartitionStore) RelationsTo(ctx context.Context, user string) ([]string, error) {
	return p.dir().RelationsTo(ctx, user)
}

// EraseUser implements UserEraser: the directory erases the user's
// presence, subscriptions, profile and feed, and every other partition the
// invitations in the user's feed; the directory's tombstone is returned.
// Each partition is one transaction: a failure part-way leaves the rest to
// the admin's retry, which erases again what is left.
func (p *PartitionStore) EraseUser(ctx context.Context, user string, now int64) (proto.Profile, error) {
	prof, err := p.dir().EraseUser(ctx, user, now)
	if err != nil || len(p.parts) == 1 {
		return prof, err
	}
	rest := &PartitionStore{parts: p.parts[1:]}
	return prof, rest.each(func(_ int, s PartStore) error {
		_, err := s.EraseUser(ctx, user, now)
		return err
	})
}

// RevokeTokens implements Revoker, in the directory.
func (p *PartitionStore) RevokeTokens(ctx context.Context, user string, before int64) error {
	return p.dir().RevokeTokens(ctx, user, before)
}

// RecordDeletion implements Revoker, in the directory.
func (p *PartitionStore) RecordDeletion(ctx context.Context, user string, before int64) error {
	return p.dir().RecordDeletion(ctx, user, before)
}

// SignInOf implements Revoker, in the directory.
func (p *PartitionStore) SignInOf(ctx context.Context, user string) (SignIn, error) {
	return p.dir().SignInOf(ctx, user)
}

// AddUploads implements UploadIndex, in the directory.
func (p *PartitionStore) AddUploads(ctx context.Context, ups []Upload) error {
	return p.dir().AddUploads(ctx, ups)
}

// UploadsOf implements UploadIndex, in the directory.
func (p *PartitionStore) UploadsOf(ctx context.Context, user, after string, limit int) ([]string, error) {
	return p.dir().UploadsOf(ctx, user, after, limit)
}

// DropUploads implements UploadIndex, in the directory.
func (p *PartitionStore) DropUploads(ctx context.Context, user string, ids []string) error {
	return p.dir().DropUploads(ctx, user, ids)
}

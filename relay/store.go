package relay

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
)

// ErrClosed is returned by a store or server used after Close or Shutdown.
var ErrClosed = errors.New("relay: closed")

// The interfaces below are what the relay needs from storage, split by the
// part of the relay that consumes them. A store implementation decides
// authorisation with the pure functions of package rules inside its own
// transaction, so that a check and the write it guards can never race —
// whether the store is SQLite in-process or PostgreSQL behind several relays.

// AppendRequest is one message to store, as read from a Send frame.
type AppendRequest struct {
	Sender    string
	Device    string
	Send      proto.Send
	CreatedAt int64 // unix milliseconds, relay clock, used when the message is new
	// Target is, for an Amend, the seq of the message it changes; Send
	// then carries the op as its MsgType and the Amend's text. 0 for a
	// message.
	Target uint64
	// RecallWindow is how long after sending a sender may recall (the
	// relay's --recall-window).
	RecallWindow time.Duration
	// Release asks, for an amend that erases a message carrying an
	// attachment (a recall or a delete for everyone), that the store
	// record the attachment's release (BlobReleaser) in the transaction
	// that stores the amend, and name it in AppendResult.Released. Set by
	// a relay that deletes the blobs of erased attachments.
	Release bool
}

// AppendResult is the outcome of one AppendRequest.
type AppendResult struct {
	// Message is the stored message; for a duplicate, the original one.
	Message proto.Message
	// Duplicate reports that (sender, client id) was already stored.
	Duplicate bool
	// Members of the conversation, sorted, for fan-out. Nil for
	// duplicates and errors: those are never fanned out. The slice may be
	// shared with other results and the store's cache: read it only.
	Members []string
	// Err is a per-item refusal (4200, 4203, 4204, 4209); the rest of the
	// batch is unaffected.
	Err *proto.Error
	// Released is, for a stored amend with Release set, the id of the
	// attachment it erased, whose release is recorded under
	// releaseToken(&Message); "" for none.
	Released string
}

// Appender stores messages. It is consumed by the group committer.
type Appender interface {
	// Append stores batch in one transaction, item by item in order. Within
	// it, for each item: a (sender, client id) already stored — earlier in
	// this batch or in an earlier one — yields the original message with
	// Duplicate set (or 4209 when it was for another conversation);
	// otherwise the sender's right to write is decided, a p2p conversation
	// is created on first use, the message gets the conversation's next
	// sequence number (strictly increasing and contiguous), the sender's
	// read cursor moves to it, and the conversation gets a new change
	// position — one row, whatever the number of members. An error fails
	// the whole batch and nothing of it is stored.
	Append(ctx context.Context, batch []AppendRequest) ([]AppendResult, error)
}

// Querier answers the read-only requests of a session.
type Querier interface {
	// Sync returns up to limit conversations of user that changed after
	// cursor, in the order of their sync keys (see syncCand), and whether
	// more exist; each conversation's Version is its key, so the last one's
	// is the cursor of the next page. A group carries its member list only
	// when that changed after cursor. A page may hold fewer than limit: it
	// carries at most syncMemberBudget member ids. What it costs is
	// described in docs/architecture.md ("The store").
	Sync(ctx context.Context, user string, cursor uint64, limit int) (convs []proto.Conversation, more bool, err error)
	// History returns a page of q.ConvID for user (who must be a member),
	// with q.Limit already normalised by the caller.
	History(ctx context.Context, user string, q proto.History) (proto.HistoryPage, error)
	// Members returns the sorted member list of conv, or nil when there is
	// no such conversation. It is what transient pushes (typing) are fanned
	// out by: the caller decides who may see it.
	Members(ctx context.Context, conv string) ([]string, error)
}

// ConvWriter changes conversation state other than by appending messages.
type ConvWriter interface {
	// MarkReads moves, in one transaction and in order, the read cursor
	// of each mark's User in its Conv to max(old, min(Seq, last seq)), and
	// returns one result per mark: the user's view of the conversation and
	// whether the cursor moved, or the mark's own refusal. An error fails
	// the whole batch and nothing of it is stored.
	MarkReads(ctx context.Context, marks []ReadMark) ([]ReadResult, error)
	// CreateGroup creates the group spec describes, or returns the existing
	// one when it has the same creator and members (created is false); an
	// existing id with anything else is 4209.
	CreateGroup(ctx context.Context, spec GroupSpec) (c proto.Conversation, created bool, err error)
}

// readBatch is how many read cursors one store transaction moves. A
// client marks a conversation read as its user reads it, and on every
// connect sends the marks the relay has not confirmed; each mark took a
// transaction, and on SQLite an fsync, of its own on the store's writer,
// ahead of the message commits. The marks made at once share one.
const readBatch = 256

// ReadMark is one read cursor move of ConvWriter.MarkReads.
type ReadMark struct {
	User, Conv string
	Seq        uint64
}

// ReadResult is the outcome of one ReadMark.
type ReadResult struct {
	// Conv is the user's view of the conversation after the mark; a
	// later mark of the same user and conversation in the batch may
	// show in it.
	Conv proto.Conversation
	// Moved reports that the mark moved the cursor.
	Moved bool
	// Err is a refusal of this mark (4203); the rest of the batch is
	// unaffected.
	Err *proto.Error
}

// GroupCounter counts the groups a user created, for the per-user group
// limits. A store without it is not limited.
type GroupCounter interface {
	// GroupsCreated returns how many groups creator created in all, and
	// how many of them at or after since (unix milliseconds).
	GroupsCreated(ctx context.Context, creator string, since int64) (total, recent int, err error)
}

var _ GroupCounter = (*MemoryStore)(nil)

// Lifecycle is the housekeeping side of a store.
type Lifecycle interface {
	// Epoch identifies this store's data; it changes when the store is
	// reset, so clients never trust a cache of another store.
	Epoch() string
	// Ping reports whether the store answers.
	Ping(ctx context.Context) error
	// Close releases the store. Later calls fail with ErrClosed.
	Close() error
}

// Store is everything the server needs from storage.
type Store interface {
	Appender
	Querier
	ConvWriter
	Grouper
	AttachmentFinder
	UserFeed
	Lifecycle
}

// GroupSpec is a normalised CreateGroup, as rules.PlanGroup builds it and
// ConvWriter.CreateGroup stores it.
type GroupSpec = rules.GroupSpec

// Change positions. Every store numbers changes from one store-wide
// counter, handed out in commit order (a position that is visible implies
// that every lower one is visible too, or was never committed), and keeps
// three positions per (user, conversation):
//
//   - conversations.pos: the last change every member sees — a message, the
//     group's creation (later: a rename, a membership change);
//   - conversations.members_pos: the last change of the member list (groups);
//     it is also a conversations.pos at the time, so never above pos;
//   - members.pos: the last change of the user's own state in it — the read
//     cursor (later: mute, role, settings, leaving).
//
// A message therefore writes one conversation row (and the sender's member
// row, whose read cursor moves with it) whatever the group size, and a
// user's sync is computed from these three positions.

// syncCand is a conversation a Sync may list, as stored.
type syncCand struct {
	kind        string
	convPos     uint64 // conversations.pos
	membersPos  uint64 // conversations.members_pos
	userPos     uint64 // members.pos
	memberCount int
	cost        int // messageCost of the last message; 0 when there is none
}

// latest is the position of the conversation's newest change for this user:
// the Version of its state.
func (c *syncCand) latest() uint64 { return max(c.convPos, c.userPos) }

// withMembers reports whether a sync from cursor sends the member list: only
// when it changed after the cursor. A client that synced past members_pos
// has the list, because of how key orders a page.
func (c *syncCand) withMembers(cursor uint64) bool {
	return c.kind == proto.KindGroup && c.membersPos > cursor
}

// key is where a sync from cursor lists the conversation: at its latest
// change, or — when the member list changed after the cursor — at that
// change, so that no page can carry the cursor past members_pos without
// the list. A conversation listed early like this is listed again at its
// latest change (syncPager makes sure of it).
func (c *syncCand) key(cursor uint64) uint64 {
	if c.withMembers(cursor) {
		return c.membersPos
	}
	return c.latest()
}

// syncMemberBudget is the most member ids one sync page carries (a group
// that would exceed it starts the next page; a page always has one item).
// A 64 KiB frame holds about 5,000 ids of 10 bytes: more would be cut by
// the relay's frame limit after the store had read them.
const syncMemberBudget = 4 * proto.MaxGroupMembers

// pageByteBudget is how much message content one History or Sync page
// reads: a store stops reading rows once the messages it took reach it (a
// page always takes one). Without it a page of 500 large messages was read
// and encoded whole, then cut to the frame limit — a cost paid again for
// every page, which made paging through large messages quadratic. It is the
// default frame limit: the relay cuts a page to the connection's MaxFrame
// anyway (rules.FitFrame).
const pageByteBudget = proto.DefaultMaxFrame

// messageOverhead is what a message's fixed fields weigh against
// pageByteBudget beside its text and body.
const messageOverhead = 64

// messageCost is what a message of textLen and bodyLen bytes weighs against
// pageByteBudget.
func messageCost(textLen, bodyLen int) int { return textLen + bodyLen + messageOverhead }

// pageCut takes rows into a page until their cost reaches pageByteBudget.
type pageCut struct {
	n, bytes int
}

// add reports whether a row of cost joins the page: the first always does.
func (c *pageCut) add(cost int) bool {
	if c.n > 0 && c.bytes+cost > pageByteBudget {
		return false
	}
	c.n++
	c.bytes += cost
	return true
}

// syncPager cuts a sync page from cursor out of candidates fed in key
// order. It stops before limit items, at the member budget, at the byte
// budget of the last messages (pageByteBudget), and before any
// key at or above the latest position of a conversation listed early in
// the page: that one must be listed again, at its latest change, after the
// client's new cursor.
type syncPager struct {
	cursor  uint64
	limit   int
	n       int    // candidates taken
	members int    // member ids taken
	bound   uint64 // 0: no conversation listed early so far
	full    bool   // a candidate was refused: more follow
	bytes   int    // cost of the last messages taken (messageCost)
}

// add reports whether c, the next candidate in key order, joins the page.
// Once it says no, the page is complete.
func (p *syncPager) add(c *syncCand) bool {
	k := c.key(p.cursor)
	if p.full || p.n == p.limit || (p.bound != 0 && k >= p.bound) {
		p.full = true
		return false
	}
	if p.n > 0 && p.bytes+c.cost > pageByteBudget {
		p.full = true
		return false
	}
	if c.withMembers(p.cursor) {
		if p.n > 0 && p.members+c.memberCount > syncMemberBudget {
			p.full = true
			return false
		}
		p.members += c.memberCount
	}
	p.bytes += c.cost
	if l := c.latest(); l > k && (p.bound == 0 || l < p.bound) {
		p.bound = l
	}
	p.n++
	return true
}

// more reports whether the client must sync again after the page: because
// a candidate did not fit, or one in it is to be listed again.
func (p *syncPager) more() bool { return p.full || p.bound != 0 }

// syncScanBound chooses how Sync finds a user's changed conversations:
// when fewer conversations of the whole store changed after the cursor, it
// walks those (the conversations_pos index) and checks the user's
// membership of each; otherwise it walks the user's memberships (the
// members_user_pos index). Either way the user's own changes come from
// members_user_pos. A sync from a recent cursor therefore costs what
// changed since, and one from an old cursor at most what the user is a
// member of.
const syncScanBound = 256

// convView assembles a user's view of a conversation from stored parts.
// members is ignored for p2p conversations, whose members are in the id.
func convView(id, kind, name string, createdAt int64, lastSeq, readSeq, version uint64, members []string, last *proto.Message) proto.Conversation {
	c := proto.Conversation{
		ID: id, Kind: kind, Name: name, LastSeq: lastSeq, ReadSeq: readSeq,
		Version: version, CreatedAt: createdAt, LastMessage: last,
	}
	if kind == proto.KindGroup {
		c.Members = members
	}
	return c
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

// wrapStoreErr adds context to a failure, leaving a *proto.Error (a refusal,
// not a failure) as it is.
func wrapStoreErr(what string, err error) error {
	var perr *proto.Error
	if err == nil || errors.As(err, &perr) {
		return err
	}
	return fmt.Errorf("relay: %s: %w", what, err)
}

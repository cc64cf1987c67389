package relay

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

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
}

// AppendResult is the outcome of one AppendRequest.
type AppendResult struct {
	// Message is the stored message; for a duplicate, the original one.
	Message proto.Message
	// Duplicate reports that (sender, client id) was already stored.
	Duplicate bool
	// Members of the conversation, for fan-out. Nil for duplicates and
	// errors: those are never fanned out.
	Members []string
	// Err is a per-item refusal (4200, 4203, 4204, 4209); the rest of the
	// batch is unaffected.
	Err *proto.Error
}

// Appender stores messages. It is consumed by the group committer.
type Appender interface {
	// Append stores batch in one transaction, item by item in order. Within
	// it, for each item: a (sender, client id) already stored — earlier in
	// this batch or in an earlier one — yields the original message with
	// Duplicate set (or 4209 when it was for another conversation);
	// otherwise the sender's right to write is decided, a p2p conversation
	// is created on first use, the message gets the conversation's next
	// sequence number (strictly increasing and contiguous) and every
	// member's change version is bumped. An error fails the whole batch and
	// nothing of it is stored.
	Append(ctx context.Context, batch []AppendRequest) ([]AppendResult, error)
}

// Querier answers the read-only requests of a session.
type Querier interface {
	// Sync returns up to limit conversations of user whose per-user state
	// changed after cursor, in change order, and whether more exist. Its
	// cost is proportional to what changed, not to the user's conversation
	// count.
	Sync(ctx context.Context, user string, cursor uint64, limit int) (convs []proto.Conversation, more bool, err error)
	// History returns a page of q.ConvID for user (who must be a member),
	// with q.Limit already normalised by the caller.
	History(ctx context.Context, user string, q proto.History) (proto.HistoryPage, error)
}

// ConvWriter changes conversation state other than by appending messages.
type ConvWriter interface {
	// MarkRead moves user's read cursor in conv to
	// max(old, min(seq, last seq)) and returns user's view of conv and
	// whether the cursor moved.
	MarkRead(ctx context.Context, user, conv string, seq uint64) (proto.Conversation, bool, error)
	// CreateGroup creates the group spec describes, or returns the existing
	// one when it has the same creator and members (created is false); an
	// existing id with anything else is 4209.
	CreateGroup(ctx context.Context, spec GroupSpec) (c proto.Conversation, created bool, err error)
}

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
	Lifecycle
}

// GroupSpec is a normalised CreateGroup, as rules.PlanGroup builds it and
// ConvWriter.CreateGroup stores it.
type GroupSpec = rules.GroupSpec

// convView assembles a user's view of a conversation from stored parts.
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

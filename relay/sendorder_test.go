//go:build !js

package relay

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
)

// failOnce is a store whose Append fails once, for the first batch that
// holds client id fail: it signals entered, waits for release, then reports
// a lost connection, as PostgreSQL behind a cut network does.
type failOnce struct {
	Store
	fail     string
	once     sync.Once
	entered  chan struct{}
	released chan struct{}
}

func (s *failOnce) Append(ctx context.Context, batch []AppendRequest) ([]AppendResult, error) {
	for _, r := range batch {
		if r.Send.ClientID != s.fail {
			continue
		}
		failed := false
		s.once.Do(func() {
			close(s.entered)
			<-s.released
			failed = true
		})
		if failed {
			return nil, errors.New("connection to the store lost")
		}
	}
	return s.Store.Append(ctx, batch)
}

// A send the store refuses for a while (4300) must not be overtaken by the
// same connection's later sends that were already on their way to the
// committer: none of them is stored, the connection ends with 4101, and when
// the client resends its outbox in order on a new connection, the
// conversation holds the messages in the order they were sent.
func TestLaterSendsDoNotOvertakeARefusedOne(t *testing.T) {
	t.Parallel()
	store := &failOnce{Store: NewMemoryStore(), fail: "k1", entered: make(chan struct{}), released: make(chan struct{})}
	r := startRelay(t, func(o *Options) { o.Store = store })
	c, _ := login(t, r, "alice", "a1")
	conv := proto.P2PID("alice", "bob")
	send := func(cid string) uint64 {
		return c.request(proto.TypeSend, &proto.Send{ConvID: conv, ClientID: cid, MsgType: proto.MsgText, Text: cid})
	}
	first := send("k1")
	select {
	case <-store.entered: // k1's batch is in the store, alone
	case <-time.After(5 * time.Second):
		t.Fatal("the committer never stored k1")
	}
	send("k2")
	send("k3")
	c.quiet("k2 and k3 read while k1's commit is under way") // a ping round trip: both were read and queued
	close(store.released)

	equal(t, errCode(t, c.reply(first)), proto.CodeUnavailable, "k1 refused by the store")
	for _, f := range c.expectClose(proto.CodeOverloaded) {
		if f.Type == proto.TypeAck {
			t.Fatalf("%s was stored (seq %d) while k1, sent before it, waits to be retried", f.Body.(*proto.Ack).ClientID, f.Body.(*proto.Ack).Seq)
		}
		equal(t, errCode(t, f), proto.CodeUnavailable, "a later send of the same connection")
	}
	// The client resends in order on a new connection; everything is stored
	// in send order.
	c, _ = login(t, r, "alice", "a1")
	for i, cid := range []string{"k1", "k2", "k3", "k4"} {
		a := c.ack(conv, cid, cid)
		equal(t, [2]any{a.Seq, a.Duplicate}, [2]any{uint64(i + 1), false}, cid+"'s ack")
	}
	p, err := store.History(context.Background(), "alice", proto.History{ConvID: conv, Limit: 10})
	ok(t, err)
	var texts []string
	for _, m := range p.Messages {
		texts = append(texts, m.Text)
	}
	equal(t, texts, []string{"k1", "k2", "k3", "k4"}, "stored order")
	r.waitMetric(`parley_closes_total{code="4101"}`, "1")
}

// timingOut is a store whose calls fail as a PostgreSQL call past its
// timeout does, with an error wrapping context.DeadlineExceeded, while
// down is set.
type timingOut struct {
	Store
	down atomic.Bool
}

func (s *timingOut) Append(ctx context.Context, batch []AppendRequest) ([]AppendResult, error) {
	if s.down.Load() {
		return nil, fmt.Errorf("relay: append: %w", context.DeadlineExceeded)
	}
	return s.Store.Append(ctx, batch)
}

func (s *timingOut) Sync(ctx context.Context, user string, cursor uint64, limit int) ([]proto.Conversation, bool, error) {
	if s.down.Load() {
		return nil, false, fmt.Errorf("relay: sync: %w", context.DeadlineExceeded)
	}
	return s.Store.Sync(ctx, user, cursor, limit)
}

// A store that runs out of time is answered with 4308 (timeout, retryable),
// not 4300, for reads and for sends; the relay stays up and the same
// requests succeed once the store answers again.
func TestStoreTimeoutAnswers4308(t *testing.T) {
	t.Parallel()
	store := &timingOut{Store: NewMemoryStore()}
	r := startRelay(t, func(o *Options) { o.Store = store })
	c, _ := login(t, r, "alice", "a1")
	conv := proto.P2PID("alice", "bob")
	store.down.Store(true)
	equal(t, errCode(t, c.call(proto.TypeSync, &proto.Sync{})), proto.CodeTimeout, "sync while the store times out")
	id := c.request(proto.TypeSend, &proto.Send{ConvID: conv, ClientID: "k1", MsgType: proto.MsgText, Text: "k1"})
	equal(t, errCode(t, c.reply(id)), proto.CodeTimeout, "send while the store times out")
	if !proto.CodeTimeout.Retryable() {
		t.Fatal("4308 must be retryable: the client keeps the send in its outbox")
	}
	store.down.Store(false)
	c, _ = login(t, r, "alice", "a1")
	if f := c.call(proto.TypeSync, &proto.Sync{}); f.Type != proto.TypeSyncResult {
		t.Fatalf("sync after the store recovered: %v", f)
	}
	c.ack(conv, "k1", "k1")
}

//go:build !js

package relay

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
)

// gatedStore holds every Append until its gate opens: a store that cannot
// keep up, so that sends pile up in flight.
type gatedStore struct {
	Store
	gate chan struct{}
}

func (s *gatedStore) Append(ctx context.Context, batch []AppendRequest) ([]AppendResult, error) {
	<-s.gate
	return s.Store.Append(ctx, batch)
}

// TestBusyAtTheDoor: with the store stuck, a connection's sends beyond its
// in-flight bound are refused at once with 4301 and a retry hint, the ones
// behind a refused send are refused too (order), another connection is not
// held by it, and when the client resends in order after the store recovers,
// everything is stored once, in the order it was written. /metrics counts
// the refusals by bound and shows the sends in flight.
func TestBusyAtTheDoor(t *testing.T) {
	t.Parallel()
	store := &gatedStore{Store: NewMemoryStore(), gate: make(chan struct{})}
	r := startRelay(t, func(o *Options) {
		o.Store = store
		o.MaxInflightPerConn = 2
		o.MaxInflightSends = 3
		o.OverloadRetryAfter = 1500 * time.Microsecond
	})
	var opened sync.Once
	open := func() { opened.Do(func() { close(store.gate) }) }
	t.Cleanup(open) // before the relay's shutdown, should the test fail early
	alice, _ := login(t, r, "alice", "a")
	carol, _ := login(t, r, "carol", "c")
	conv, carolConv := proto.P2PID("alice", "bob"), proto.P2PID("bob", "carol")
	send := func(c *client, cid string) uint64 {
		to := conv
		if c == carol {
			to = carolConv
		}
		return c.request(proto.TypeSend, &proto.Send{ConvID: to, ClientID: cid, MsgType: proto.MsgText, Text: cid})
	}
	busy := func(c *client, id uint64, what string) {
		t.Helper()
		f := c.reply(id)
		equal(t, errCode(t, f), proto.CodeBusy, what)
		equal(t, f.Body.(*proto.ErrorBody).RetryAfter, uint32(2), what+": retry hint, rounded up to whole ms")
	}

	k1, k2 := send(alice, "k1"), send(alice, "k2") // admitted; the first batch waits in the store
	r.waitMetric("parley_inflight_sends", "2")
	k3 := send(alice, "k3") // the connection's bound is full
	k4 := send(alice, "k4") // held behind k3
	busy(alice, k3, "k3 over the connection's bound")
	busy(alice, k4, "k4 behind a refused send")

	// carol's connection is not held by alice's refusals; the relay's bound
	// (3) then refuses her second send.
	c1 := send(carol, "c1")
	r.waitMetric("parley_inflight_sends", "3")
	c2 := send(carol, "c2")
	busy(carol, c2, "c2 over the relay's bound")

	// A send alice was never refused is still held while k3 waits.
	k5 := send(alice, "k5")
	busy(alice, k5, "k5 behind a refused send")
	equal(t, r.metric(`parley_sends_refused_total{bound="connection"}`), "1", "refused by the connection bound")
	equal(t, r.metric(`parley_sends_refused_total{bound="sends"}`), "1", "refused by the relay bound")
	equal(t, r.metric(`parley_sends_refused_total{bound="order"}`), "2", "refused to keep the order")
	equal(t, r.metric("parley_inflight_sends_limit"), "3", "the relay's bound")

	open()
	for _, id := range []uint64{k1, k2} {
		equal(t, alice.reply(id).Type, proto.TypeAck, "admitted send acked")
	}
	equal(t, carol.reply(c1).Type, proto.TypeAck, "carol's admitted send acked")
	r.waitMetric("parley_inflight_sends", "0")
	// There is room again, but until alice resends a refused send, a new
	// one would overtake k3.
	k6 := send(alice, "k6")
	busy(alice, k6, "k6 behind a refused send, with room again")

	// The client resends its outbox in order: the first resend is the
	// oldest refused send, which ends the hold.
	for _, cid := range []string{"k3", "k4", "k5", "k6"} {
		a := alice.ack(conv, cid, cid)
		equal(t, a.Duplicate, false, cid+" stored once")
	}
	equal(t, carol.reply(send(carol, "c2")).Type, proto.TypeAck, "carol's resend")
	page := alice.call(proto.TypeHistory, &proto.History{ConvID: conv, Limit: 50}).Body.(*proto.HistoryPage)
	var got []string
	for _, m := range page.Messages {
		got = append(got, m.ClientID)
	}
	equal(t, fmt.Sprint(got), "[k1 k2 k3 k4 k5 k6]", "the conversation, in the order alice wrote")
}

// slowStore takes d for every Append: a relay that is slow, not stuck.
type slowStore struct {
	Store
	d time.Duration
}

func (s *slowStore) Append(ctx context.Context, batch []AppendRequest) ([]AppendResult, error) {
	time.Sleep(s.d)
	return s.Store.Append(ctx, batch)
}

// TestBusyWhenSendsWaitTooLong: with more than a batch in flight and the
// last answered send having waited past MaxSendDelay, a send is refused
// (bound "delay") even though every count bound has room.
func TestBusyWhenSendsWaitTooLong(t *testing.T) {
	t.Parallel()
	r := startRelay(t, func(o *Options) {
		o.Store = &slowStore{Store: NewMemoryStore(), d: 200 * time.Millisecond}
		o.BatchMax = 1
		o.MaxSendDelay = 20 * time.Millisecond
	})
	alice, _ := login(t, r, "alice", "a")
	conv := proto.P2PID("alice", "bob")
	send := func(cid string) uint64 {
		return alice.request(proto.TypeSend, &proto.Send{ConvID: conv, ClientID: cid, MsgType: proto.MsgText, Text: cid})
	}
	k1, k2, k3 := send("k1"), send("k2"), send("k3")
	equal(t, alice.reply(k1).Type, proto.TypeAck, "k1") // waited ≥ 200 ms
	k4 := send("k4")                                    // k2 commits, k3 waits: 3 in flight, above 2 × BatchMax
	f := alice.reply(k4)
	equal(t, errCode(t, f), proto.CodeBusy, "k4 while sends wait too long")
	equal(t, alice.reply(k2).Type, proto.TypeAck, "k2")
	equal(t, alice.reply(k3).Type, proto.TypeAck, "k3")
	equal(t, r.metric(`parley_sends_refused_total{bound="delay"}`), "1", "refused by the delay bound")
}

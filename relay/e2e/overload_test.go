package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
	"github.com/parley-im/parley/sdk-wasm/client"
)

// TestOverloadRefusesThenOutboxesDeliver: a real relay with small admission
// bounds is flooded by several SDK clients at once, each pipelining its whole
// outbox into one group, plus a raw connection. The relay refuses the excess
// at the door with the retryable 4301 and a retry hint (seen on the wire and
// counted in /metrics), never queueing it; the SDK keeps every refused
// message in its outbox, backs off and resends. Once the load drops, every
// client's messages are in the group exactly once, in the order it sent
// them, and nothing is left in flight.
func TestOverloadRefusesThenOutboxesDeliver(t *testing.T) {
	t.Parallel()
	relay := startRelay(t, "--max-inflight-sends", "8", "--max-inflight-per-conn", "4",
		"--overload-retry-after", "50ms", "--rate-limit", "-1")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	const senders, perSender = 6, 150
	users := make([]string, senders)
	for i := range users {
		users[i] = fmt.Sprintf("u%d", i)
	}
	devices := make([]*device, senders)
	for i, u := range users {
		devices[i] = newDevice(t, relay.wsURL(), u, u+"-dev", uint64(i+1), nil)
		if err := devices[i].c.Connect(ctx); err != nil {
			t.Fatal(err)
		}
	}
	g, err := devices[0].c.CreateGroup(ctx, "", "overload", users[1:]) // the relay names it
	if err != nil {
		t.Fatal(err)
	}
	group := g.ID

	// Every client queues its whole outbox at once: its send window (64)
	// goes out pipelined, far beyond the relay's bounds.
	var wg sync.WaitGroup
	errs := make(chan error, senders*perSender)
	for i, d := range devices {
		var chans []<-chan client.SendResult
		for k := range perSender {
			_, ch, err := d.c.SendAsync(group, proto.MsgText, fmt.Sprintf("%s:%03d", users[i], k), nil)
			if err != nil {
				t.Fatal(err)
			}
			chans = append(chans, ch)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, ch := range chans {
				select {
				case r := <-ch:
					if r.Err != nil {
						errs <- r.Err
					}
				case <-ctx.Done():
					errs <- ctx.Err()
					return
				}
			}
		}()
	}

	// Meanwhile a raw connection pipelines sends and reads the wire: the
	// excess is answered at once with 4301 and the hint.
	raw := dialRaw(t, relay.wsURL())
	raw.hello(users[0], "raw")
	const rawSends = 40
	for k := range rawSends {
		raw.send(proto.TypeSend, uint64(100+k), &proto.Send{ConvID: proto.P2PID(users[0], "nobody"), ClientID: fmt.Sprintf("raw-%d", k), MsgType: proto.MsgText, Text: "x"})
	}
	busy := 0
	for answered := 0; answered < rawSends; {
		f, err := raw.recv(30 * time.Second)
		if err != nil {
			t.Fatalf("raw connection: %v", err)
		}
		if f.ID < 100 {
			continue // a push
		}
		answered++
		switch b := f.Body.(type) {
		case *proto.Ack:
		case *proto.ErrorBody:
			if b.Code != proto.CodeBusy || b.RetryAfter != 50 || !b.Code.Retryable() {
				t.Fatalf("raw send %d refused with %+v, want 4301 with a 50 ms hint", f.ID, b)
			}
			busy++
		default:
			t.Fatalf("raw send %d answered with %s", f.ID, f.Type)
		}
	}
	if busy == 0 {
		t.Fatalf("none of %d pipelined sends was refused under load: admission never engaged", rawSends)
	}

	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("a send failed instead of waiting in the outbox: %v", err)
	}

	// /metrics counted the refusals, and nothing is left in flight.
	refused := 0
	for _, b := range rules.Bounds {
		refused += metric(t, relay, fmt.Sprintf(`parley_sends_refused_total{bound="%s"}`, b))
	}
	if refused < busy {
		t.Fatalf("/metrics counts %d refusals, the raw connection alone saw %d", refused, busy)
	}
	if n := metric(t, relay, "parley_inflight_sends"); n != 0 {
		t.Fatalf("%d sends still in flight after every ack", n)
	}
	t.Logf("%d sends refused at the door (%d seen by the raw connection), all %d SDK messages delivered", refused, busy, senders*perSender)

	// The group holds every message once, each sender's in its send order.
	reader := dialRaw(t, relay.wsURL())
	reader.hello(users[1], "reader")
	next := map[string]int{}
	var after uint64
	for id := uint64(10); ; id++ {
		reader.send(proto.TypeHistory, id, &proto.History{ConvID: group, After: after, Limit: proto.MaxPageLimit})
		page, ok := reader.reply(id).Body.(*proto.HistoryPage)
		if !ok {
			t.Fatal("history refused")
		}
		for _, m := range page.Messages {
			if m.Seq != after+1 {
				t.Fatalf("seq %d after %d: a gap", m.Seq, after)
			}
			after = m.Seq
			if m.Seq == 1 && m.MsgType == proto.MsgSystem {
				continue // the group's created message
			}
			user, k, _ := strings.Cut(m.Text, ":")
			if want := fmt.Sprintf("%03d", next[user]); k != want || m.Sender != user {
				t.Fatalf("seq %d is %s's %q, want its message %s next: lost, duplicated or reordered", m.Seq, m.Sender, m.Text, want)
			}
			next[user]++
		}
		if !page.More {
			break
		}
	}
	for _, u := range users {
		if next[u] != perSender {
			t.Fatalf("%s has %d messages in the group, want %d", u, next[u], perSender)
		}
	}
}

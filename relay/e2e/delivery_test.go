package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/client"
)

// TestRacingDuplicateSendsCollapse sends the same (sender, client id) from
// two connections of one user at once, many times: each id ends as one
// message with one seq, and every racer is told that seq.
func TestRacingDuplicateSendsCollapse(t *testing.T) {
	t.Parallel()
	relay := startRelay(t)
	a := dialRaw(t, relay.wsURL())
	b := dialRaw(t, relay.wsURL())
	a.hello("alice", "race-a")
	b.hello("alice", "race-b")
	conv := proto.P2PID("alice", "bob")
	const n = 200
	seqs := make([][n]uint64, 2)
	var wg sync.WaitGroup
	for i, r := range []*rawConn{a, b} {
		wg.Add(1)
		go func(i int, r *rawConn) {
			defer wg.Done()
			for k := 0; k < n; k++ {
				r.send(proto.TypeSend, uint64(100+k), &proto.Send{ConvID: conv, ClientID: fmt.Sprintf("dup-%d", k), MsgType: proto.MsgText, Text: "same"})
			}
			for got := 0; got < n; {
				f, err := r.recv(10 * time.Second)
				if err != nil {
					t.Errorf("racer %d: %v", i, err)
					return
				}
				if ack, ok := f.Body.(*proto.Ack); ok {
					seqs[i][f.ID-100] = ack.Seq
					got++
				}
			}
		}(i, r)
	}
	wg.Wait()
	seen := map[uint64]bool{}
	for k := 0; k < n; k++ {
		if seqs[0][k] != seqs[1][k] || seqs[0][k] == 0 {
			t.Fatalf("client id dup-%d: racers got seqs %d and %d", k, seqs[0][k], seqs[1][k])
		}
		if seen[seqs[0][k]] {
			t.Fatalf("seq %d given to two client ids", seqs[0][k])
		}
		seen[seqs[0][k]] = true
	}
	a.send(proto.TypeHistory, 9, &proto.History{ConvID: conv, Limit: proto.MaxPageLimit})
	page := a.reply(9).Body.(*proto.HistoryPage)
	if len(page.Messages) != n || page.LastSeq != n {
		t.Fatalf("conversation holds %d messages (last seq %d), want %d", len(page.Messages), page.LastSeq, n)
	}
}

// TestOfflineDeviceSyncsWithPaging: bob's device is closed while alice sends
// 1,000 messages; reopened on its persistent store it fills the gap through
// several history pages and ends with all 1,000, in order, once.
func TestOfflineDeviceSyncsWithPaging(t *testing.T) {
	t.Parallel()
	relay := startRelay(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	storePath := filepath.Join(t.TempDir(), "bob.db")
	openBob := func() *device {
		st, err := client.OpenSQLiteStore(storePath)
		if err != nil {
			t.Fatal(err)
		}
		return newDevice(t, relay.wsURL(), "bob", "bob-phone", 2, st)
	}
	bob := openBob()
	if err := bob.c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	alice := newDevice(t, relay.wsURL(), "alice", "alice-laptop", 1, nil)
	if err := alice.c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	conv := proto.P2PID("alice", "bob")
	if _, err := alice.c.SendText(ctx, conv, "before"); err != nil {
		t.Fatal(err)
	}
	// The push to bob is asynchronous to alice's ack: wait until it is stored.
	for {
		if cv, ok := bob.c.Conversation(conv); ok && cv.SyncedSeq >= 1 {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("bob never received the first message")
		}
		time.Sleep(5 * time.Millisecond)
	}
	bob.c.Close()

	const n = 1000
	var chans []<-chan client.SendResult
	for i := 0; i < n; i++ {
		_, ch, err := alice.c.SendAsync(conv, proto.MsgText, fmt.Sprintf("offline %d", i), nil)
		if err != nil {
			t.Fatal(err)
		}
		chans = append(chans, ch)
	}
	for _, ch := range chans {
		if r := <-ch; r.Err != nil {
			t.Fatal(r.Err)
		}
	}

	bob = openBob()
	if cv, ok := bob.c.Conversation(conv); !ok || cv.SyncedSeq != 1 {
		t.Fatalf("cache at start: %+v %v; want the conversation served before the network answers", cv, ok)
	}
	start := time.Now()
	if err := bob.c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := bob.c.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("synced %d messages in %v", n, time.Since(start))
	msgs, err := bob.store.Messages(conv, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != n+1 {
		t.Fatalf("bob holds %d messages, want %d", len(msgs), n+1)
	}
	for i, m := range msgs {
		if m.Seq != uint64(i+1) {
			t.Fatalf("message %d has seq %d", i, m.Seq)
		}
		if i > 0 && m.Text != fmt.Sprintf("offline %d", i-1) {
			t.Fatalf("message %d is %q", i, m.Text)
		}
	}
	cv, _ := bob.c.Conversation(conv)
	if cv.Unread != n+1 {
		t.Fatalf("bob's unread %d, want %d", cv.Unread, n+1)
	}
	page, err := bob.c.Messages(ctx, conv, 500, 50)
	if err != nil || len(page) != 50 || page[0].Seq != 450 || page[49].Seq != 499 {
		t.Fatalf("messages before 500: %d messages, err %v", len(page), err)
	}
}

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/client"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// edgeOnly skips a test about the Workers relay on the native one.
func edgeOnly(t *testing.T) {
	t.Helper()
	if !edgeTarget() {
		t.Skip("edge relay only: Durable Object hibernation (run with PARLEY_E2E_RELAY=edge)")
	}
}

// chat sends n texts from a to conv and reads, on a and on b, the ack and
// the push of each, checking seqs follow from `from` with no gap, once.
func chat(t *testing.T, a, b *rawConn, conv string, from uint64, n int, tag string) uint64 {
	t.Helper()
	seq := from
	for i := range n {
		id := uint64(1000 + i)
		cid := fmt.Sprintf("%s-%d", tag, i)
		a.send(proto.TypeSend, id, &proto.Send{ConvID: conv, ClientID: cid, MsgType: proto.MsgText, Text: cid})
		ack, isAck := a.reply(id).Body.(*proto.Ack)
		if !isAck || ack.Seq != seq+1 || ack.Duplicate {
			t.Fatalf("%s: send %d answered %+v, want seq %d", tag, i, ack, seq+1)
		}
		seq++
		for {
			f, err := b.recv(10 * time.Second)
			if err != nil {
				t.Fatalf("%s: push of seq %d: %v (the socket must stay open)", tag, seq, err)
			}
			if d, isDeliver := f.Body.(*proto.Deliver); isDeliver {
				if d.Message.Seq != seq || d.Message.ClientID != cid {
					t.Fatalf("%s: pushed %s seq %d, want %s seq %d", tag, d.Message.ClientID, d.Message.Seq, cid, seq)
				}
				break
			}
		}
	}
	return seq
}

// TestEdgeHibernation: two users chat over sockets that are never
// reopened; the relay's Durable Object hibernates (workerd evicts it,
// keeping the sockets), twice, between messages; each time the next frame
// wakes it, its relay comes back from storage with both sessions, and the
// conversation goes on with the next seq: nothing lost, nothing repeated,
// no reconnect. A message sent while the object hibernates is answered.
func TestEdgeHibernation(t *testing.T) {
	edgeOnly(t)
	relay := startRelay(t)
	alice, bob := dialRaw(t, relay.wsURL()), dialRaw(t, relay.wsURL())
	wa, wb := alice.hello("alice", "alice-phone"), bob.hello("bob", "bob-phone")
	conv := proto.P2PID("alice", "bob")
	seq := chat(t, alice, bob, conv, 0, 5, "awake")
	relay.hibernate(t)
	seq = chat(t, alice, bob, conv, seq, 5, "after-first")
	seq = chat(t, bob, alice, conv, seq, 5, "bob-after-first")
	relay.hibernate(t)
	relay.hibernate(t) // already hibernating: nothing to evict, nothing lost
	seq = chat(t, bob, alice, conv, seq, 5, "after-second")

	// Sync and history on the woken relay see exactly what was sent.
	alice.send(proto.TypeHistory, 9, &proto.History{ConvID: conv, Limit: proto.MaxPageLimit})
	page := alice.reply(9).Body.(*proto.HistoryPage)
	if uint64(len(page.Messages)) != seq || page.LastSeq != seq {
		t.Fatalf("history holds %d messages (last seq %d), want %d", len(page.Messages), page.LastSeq, seq)
	}
	for i, m := range page.Messages {
		if m.Seq != uint64(i+1) {
			t.Fatalf("history[%d] has seq %d", i, m.Seq)
		}
	}
	// The sessions are the ones that said hello: the same users, and a
	// frame from a socket that never said hello is still refused.
	if wa.UserID != "alice" || wb.UserID != "bob" {
		t.Fatalf("welcomes %+v %+v", wa, wb)
	}
	stranger := dialRaw(t, relay.wsURL())
	relay.hibernate(t)
	stranger.send(proto.TypeSync, 1, &proto.Sync{})
	stranger.expectClose(proto.CodeProtocolError)
}

// TestEdgeRestartKeepsState: workerd is killed (SIGKILL) and started again
// on the same data; devices reconnect on their own and sync, and hold every
// acknowledged message once, in order, including those sent while one of
// them was away.
func TestEdgeRestartKeepsState(t *testing.T) {
	edgeOnly(t)
	relay := startRelay(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	alice := newDevice(t, relay.wsURL(), "alice", "alice-laptop", 1, nil)
	bob := newDevice(t, relay.wsURL(), "bob", "bob-phone", 2, nil)
	for _, d := range []*device{alice, bob} {
		if err := d.c.Connect(ctx); err != nil {
			t.Fatal(err)
		}
	}
	conv := proto.P2PID("alice", "bob")
	group, err := alice.c.CreateGroup(ctx, "", "restart", []string{"bob"})
	if err != nil {
		t.Fatal(err)
	}
	sendAll := func(from *device, convID string, n int, tag string) {
		t.Helper()
		var chans []<-chan client.SendResult
		for i := range n {
			_, ch, err := from.c.SendAsync(convID, proto.MsgText, fmt.Sprintf("%s %d", tag, i), nil)
			if err != nil {
				t.Fatal(err)
			}
			chans = append(chans, ch)
		}
		for _, ch := range chans {
			select {
			case r := <-ch:
				if r.Err != nil {
					t.Fatal(r.Err)
				}
			case <-ctx.Done():
				t.Fatalf("%s: sends not acknowledged", tag)
			}
		}
	}
	sendAll(alice, conv, 20, "before")
	sendAll(bob, group.ID, 10, "group-before")
	relay.kill9()
	// Sent while the relay is down: held in the outbox, sent on reconnect.
	var pending []<-chan client.SendResult
	for i := range 10 {
		_, ch, err := alice.c.SendAsync(conv, proto.MsgText, fmt.Sprintf("down %d", i), nil)
		if err != nil {
			t.Fatal(err)
		}
		pending = append(pending, ch)
	}
	relay.start()
	for _, ch := range pending {
		select {
		case r := <-ch:
			if r.Err != nil {
				t.Fatal(r.Err)
			}
		case <-ctx.Done():
			t.Fatal("sends made while the relay was down were never acknowledged")
		}
	}
	sendAll(bob, group.ID, 10, "group-after")
	for _, d := range []*device{alice, bob} {
		if err := d.c.WaitSynced(ctx); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]int{conv: 30, group.ID: 21} // the group's: its created message, then 20
	for _, d := range []*device{alice, bob} {
		for c, n := range want {
			var msgs []core.Message
			for {
				msgs, err = d.store.Messages(c, 0, 1<<20)
				if err != nil {
					t.Fatal(err)
				}
				if len(msgs) >= n || ctx.Err() != nil {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if len(msgs) != n {
				t.Fatalf("%s holds %d messages of %s, want %d", d.name, len(msgs), c, n)
			}
			for i, m := range msgs {
				if m.Seq != uint64(i+1) {
					t.Fatalf("%s: %s[%d] has seq %d", d.name, c, i, m.Seq)
				}
			}
		}
	}
}

// TestEdgePresenceAfterRestart: a Durable Object woken from hibernation,
// or started again after workerd was killed, counts online exactly the
// users whose sockets it holds. A watcher sees no change for a user whose
// socket stayed open across hibernation, sees a user whose socket closed
// while the object slept go offline, and — after a SIGKILL — sees a user
// who never came back offline, not online for good through the counts the
// killed incarnation left in storage.
func TestEdgePresenceAfterRestart(t *testing.T) {
	edgeOnly(t)
	relay := startRelay(t)
	defer func() {
		if t.Failed() {
			t.Log(edgeLog(relay))
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	watcher := newDevice(t, relay.wsURL(), "watcher", "w1", 1, nil)
	events := make(chan core.Event, 64)
	watcher.c.On(func(e core.Event) {
		if e.Kind == core.EventPresence {
			events <- e
		}
	})
	if err := watcher.c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := watcher.c.SubscribePresence(ctx, []string{"stayer", "leaver"}, 0); err != nil {
		t.Fatal(err)
	}
	waitPresence := func(user string, online bool) {
		t.Helper()
		for {
			select {
			case e := <-events:
				if e.Presence != nil && e.Presence.User == user {
					if e.Presence.Online != online {
						t.Fatalf("%s: pushed online=%v, want %v", user, e.Presence.Online, online)
					}
					return
				}
			case <-ctx.Done():
				t.Fatalf("waiting for %s online=%v: %v", user, online, ctx.Err())
			}
		}
	}
	stayer, leaver := dialRaw(t, relay.wsURL()), dialRaw(t, relay.wsURL())
	stayer.hello("stayer", "s1")
	waitPresence("stayer", true)
	leaver.hello("leaver", "l1")
	waitPresence("leaver", true)

	// Hibernation: the leaver's socket closes while the object sleeps.
	relay.hibernate(t)
	if err := leaver.ws.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Fatal(err)
	}
	waitPresence("leaver", false)
	got, err := watcher.c.SubscribePresence(ctx, []string{"stayer", "leaver"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got[0].Online || got[1].Online {
		t.Fatalf("after the wake: %+v, want stayer online and leaver offline", got)
	}
	select {
	case e := <-events:
		t.Fatalf("the stayer's socket stayed open, yet a push: %+v", e.Presence)
	case <-time.After(300 * time.Millisecond):
	}

	// SIGKILL: every socket dies with workerd; the watcher's client
	// reconnects, the stayer's raw connection does not.
	relay.kill9()
	relay.start()
	for {
		if err := watcher.c.WaitSynced(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := watcher.c.SubscribePresence(ctx, []string{"stayer"}, 0)
		if err == nil && len(got) == 1 && !got[0].Online {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the stayer, gone with the killed relay, is still %+v (err %v)", got, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// edgeShards is how many shards the Workers relay spreads users over when
// PARLEY_SHARDS is not set (relay/edge/js/shard.mjs).
const edgeShards = 8

// usersOnShards returns n users of the form prefix+number that the Workers
// relay puts on n different shards.
func usersOnShards(prefix string, n int) []string {
	var users []string
	taken := map[int]bool{}
	for i := 0; len(users) < n; i++ {
		u := fmt.Sprintf("%s%d", prefix, i)
		if s := relay.ShardOf(u, edgeShards); !taken[s] {
			taken[s] = true
			users = append(users, u)
		}
	}
	return users
}

// TestEdgeShards: three users whose connections land on three different
// shard objects chat one to one and in a group. Every message is stored
// once by the store object and pushed to the other shards through their
// stubs; every member receives each in order, with no gap, before and
// after every object hibernates (the sockets kept, no reconnect). A
// connection whose URL names a user other than its token's is refused by
// the shard it reached with 4015.
func TestEdgeShards(t *testing.T) {
	edgeOnly(t)
	relay := startRelay(t)
	users := usersOnShards("shard-user-", 3)
	a, b, c := users[0], users[1], users[2]
	ra, rb, rc := dialRaw(t, relay.wsURL()), dialRaw(t, relay.wsURL()), dialRaw(t, relay.wsURL())
	ra.hello(a, a+"-phone")
	rb.hello(b, b+"-phone")
	rc.hello(c, c+"-phone")

	p2p := proto.P2PID(a, b)
	seq := chat(t, ra, rb, p2p, 0, 5, "one-to-one")
	seq = chat(t, rb, ra, p2p, seq, 5, "one-to-one-back")

	// A group of the three: created by a, every message pushed to the
	// two other shards.
	ra.send(proto.TypeCreateGroup, 50, &proto.CreateGroup{Name: "shards", Members: []string{b, c}})
	res, isConv := ra.reply(50).Body.(*proto.ConvResult)
	if !isConv {
		t.Fatal("create group not answered with the conversation")
	}
	group := res.Conversation.ID
	gseq := res.Conversation.LastSeq // the group's own system messages come first
	send := func(from *rawConn, n int, tag string) {
		t.Helper()
		for i := range n {
			id := uint64(2000 + i)
			cid := fmt.Sprintf("%s-%d", tag, i)
			from.send(proto.TypeSend, id, &proto.Send{ConvID: group, ClientID: cid, MsgType: proto.MsgText, Text: cid})
			ack, isAck := from.reply(id).Body.(*proto.Ack)
			if !isAck || ack.Seq != gseq+1 {
				t.Fatalf("%s: send %d answered %+v, want seq %d", tag, i, ack, gseq+1)
			}
			gseq++
		}
	}
	// expect reads, on r, the pushes of the group's messages up to gseq,
	// each once and in order.
	expect := func(r *rawConn, who string, from, to uint64) {
		t.Helper()
		next := from + 1
		for next <= to {
			f, err := r.recv(10 * time.Second)
			if err != nil {
				t.Fatalf("%s: push of group seq %d: %v", who, next, err)
			}
			d, isDeliver := f.Body.(*proto.Deliver)
			if !isDeliver || d.Message.ConvID != group || d.Message.Seq <= from {
				continue // another push, or one read before (the group's creation)
			}
			if d.Message.Seq != next {
				t.Fatalf("%s: pushed group seq %d, want %d", who, d.Message.Seq, next)
			}
			next++
		}
	}
	start := gseq
	send(ra, 5, "group-a")
	expect(rb, b, start, gseq)
	expect(rc, c, start, gseq)

	relay.hibernate(t)
	start = gseq
	send(rc, 5, "group-c-after")
	expect(ra, a, start, gseq)
	expect(rb, b, start, gseq)
	seq = chat(t, ra, rb, p2p, seq, 3, "one-to-one-after")

	// Each member's sync, served by its own shard from the store object,
	// lists the group at its last seq.
	for i, r := range []*rawConn{ra, rb, rc} {
		r.send(proto.TypeSync, 70, &proto.Sync{})
		page, isSync := r.reply(70).Body.(*proto.SyncResult)
		if !isSync {
			t.Fatalf("%s: sync not answered with a page", users[i])
		}
		at := slices.IndexFunc(page.Conversations, func(c proto.Conversation) bool { return c.ID == group })
		if at < 0 || page.Conversations[at].LastSeq != gseq {
			t.Fatalf("%s: sync lists %+v, want the group at seq %d", users[i], page.Conversations, gseq)
		}
	}

	// A URL naming a user the token is not for reaches that user's shard,
	// which does not serve the token's user.
	other := usersOnShards("shard-other-", 2)
	wrong := dialRawAs(t, relay.wsURL(), other[0])
	wrong.send(proto.TypeHello, 1, &proto.Hello{Version: proto.Version, Token: token(other[1], time.Hour), DeviceID: "d"})
	wrong.expectClose(proto.CodeWrongShard)
}

// TestEdgeFewerShards: a user online on shard 5 of 8 when workerd is
// killed, and the relay restarted with PARLEY_SHARDS=2: the store drops
// the leases of the shards that are gone, so the next shard to restart
// counts that user's sessions on them as ended, and the user shows
// offline. (Without it, the gone shard's lease, which does not run out,
// kept the user online for good.) The gone shard's alarm, set for its
// session's heartbeat deadline, still rings after the restart: the shard
// must not open (it panicked the Go instance every object shares), and
// the relay keeps serving.
func TestEdgeFewerShards(t *testing.T) {
	edgeOnly(t)
	relayP := startRelay(t, "--heartbeat", "2s")
	defer func() {
		if t.Failed() {
			t.Log(edgeLog(relayP))
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	gone := ""
	for i := 0; gone == ""; i++ {
		if u := fmt.Sprint("gone-", i); relay.ShardOf(u, edgeShards) >= 2 {
			gone = u
		}
	}
	watcher := newDevice(t, relayP.wsURL(), "watcher", "w1", 1, nil)
	if err := watcher.c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	raw := dialRaw(t, relayP.wsURL())
	raw.hello(gone, "g1")
	presence := func() core.Presence {
		t.Helper()
		got, err := watcher.c.SubscribePresence(ctx, []string{gone}, 0)
		if err != nil || len(got) != 1 {
			t.Fatalf("presence of %s: %+v, %v", gone, got, err)
		}
		return got[0]
	}
	if !presence().Online {
		t.Fatalf("%s, connected to shard %d, is not online", gone, relay.ShardOf(gone, edgeShards))
	}
	relayP.kill9()
	relayP.extra = []string{"--heartbeat", "2s", "--edge-env", "PARLEY_SHARDS=2"}
	relayP.start()
	for {
		if err := watcher.c.WaitSynced(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := watcher.c.SubscribePresence(ctx, []string{gone}, 0)
		if err == nil && len(got) == 1 && !got[0].Online {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("%s, whose shard is gone with PARLEY_SHARDS=2, is still %+v (err %v)", gone, got, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Past the gone session's heartbeat deadline, when the removed shard's
	// alarm rings: the relay still serves a new device.
	time.Sleep(5 * time.Second)
	fresh := newDevice(t, relayP.wsURL(), "watcher", "w2", 2, nil)
	if err := fresh.c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := fresh.c.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	if log := edgeLog(relayP); strings.Contains(log, "panic") || strings.Contains(log, "Go program has already exited") {
		t.Fatalf("the relay's Go instance failed:\n%s", log)
	}
}

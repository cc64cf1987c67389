package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// TestPresenceAcrossRelays: three relays on one PostgreSQL schema and one
// NATS server. A watcher on relay 1 sees a user online when their first
// device connects to relay 2, still online while a second device on relay 3
// stays after the first leaves, and offline only when the last one leaves;
// a status set on relay 3 and a profile change cross to relay 1 too.
func TestPresenceAcrossRelays(t *testing.T) {
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	watcher := newDevice(t, c.relays[0].wsURL(), "watcher", "w1", 1, nil)
	events := make(chan core.Event, 64)
	watcher.c.On(func(e core.Event) {
		if e.Kind == core.EventPresence || e.Kind == core.EventProfile {
			events <- e
		}
	})
	if err := watcher.c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := watcher.c.SubscribePresence(ctx, []string{"roamer"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Online {
		t.Fatalf("before any device: %+v", got)
	}
	wait := func(what string, match func(core.Event) bool) core.Event {
		t.Helper()
		for {
			select {
			case e := <-events:
				if match(e) {
					return e
				}
			case <-ctx.Done():
				t.Fatalf("waiting for %s: %v", what, ctx.Err())
			}
		}
	}
	presence := func(online bool) func(core.Event) bool {
		return func(e core.Event) bool {
			return e.Presence != nil && e.Presence.User == "roamer" && e.Presence.Online == online
		}
	}
	quiet := func(what string) {
		t.Helper()
		select {
		case e := <-events:
			t.Fatalf("%s: unexpected %+v %+v", what, e.Presence, e.Profile)
		case <-time.After(500 * time.Millisecond):
		}
	}

	on2 := newDevice(t, c.relays[1].wsURL(), "roamer", "r2", 2, nil)
	if err := on2.c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	wait("online through relay 2", presence(true))
	on3 := newDevice(t, c.relays[2].wsURL(), "roamer", "r3", 3, nil)
	if err := on3.c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	quiet("a second device on relay 3")
	if err := on3.c.SetStatus(ctx, "travelling"); err != nil {
		t.Fatal(err)
	}
	wait("status from relay 3", func(e core.Event) bool { return e.Presence != nil && e.Presence.Status == "travelling" })
	nick := "Roamer"
	if _, err := on3.c.SetProfile(ctx, proto.SetProfile{Nickname: &nick}); err != nil {
		t.Fatal(err)
	}
	wait("profile from relay 3", func(e core.Event) bool { return e.Profile != nil && e.Profile.Nickname == nick })
	on2.c.Close()
	quiet("relay 2's device left, relay 3's stays")
	on3.c.Close()
	off := wait("offline when relay 3's device left", presence(false))
	if off.Presence.LastSeen == 0 || off.Presence.Status != "travelling" {
		t.Fatalf("offline presence %+v", off.Presence)
	}
	// Each relay reads the same presence from the store.
	for i, r := range c.relays {
		d := newDevice(t, r.wsURL(), "reader", "rd"+string(rune('1'+i)), uint64(10+i), nil)
		if err := d.c.Connect(ctx); err != nil {
			t.Fatal(err)
		}
		ps, err := d.c.SubscribePresence(ctx, []string{"roamer"}, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if ps[0] != *off.Presence {
			t.Fatalf("relay %d reads %+v, want %+v", i+1, ps[0], *off.Presence)
		}
		d.c.Close()
	}
}

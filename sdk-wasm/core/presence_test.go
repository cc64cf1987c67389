package core

import (
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
)

func TestPresenceRequestsAndEvents(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Snapshot{})
	if _, err := h.c.SubscribePresence(h.now, []string{"bob"}, 0); err == nil || err.(*proto.Error).Code != proto.CodeNotConnected {
		t.Fatalf("offline subscribe: %v", err)
	}
	h.connect("e1")
	h.takeWrites()
	if _, err := h.c.SetStatus(h.now, string(make([]byte, proto.MaxStatusBytes+1))); err == nil || err.(*proto.Error).Code != proto.CodeStatusTooLong {
		t.Fatalf("oversize status: %v", err)
	}
	op, err := h.c.SubscribePresence(h.now, []string{"bob", "carol"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	h.poll()
	req := h.lastWrite(proto.TypeSubscribePresence)
	if b := req.Body.(*proto.SubscribePresence); b.TTLMs != 3600000 || b.Op != proto.PresenceSubscribe || len(b.Users) != 2 {
		t.Fatalf("request %+v", b)
	}
	h.relay(proto.TypePresences, req.ID, &proto.Presences{List: []proto.Presence{{User: "bob", Online: true}, {User: "carol", LastSeen: 5}}})
	got := h.done[op].Result.Presences
	if len(got) != 2 || got[0] != (Presence{User: "bob", Online: true}) || got[1] != (Presence{User: "carol", LastSeen: 5}) {
		t.Fatalf("result %+v", got)
	}
	// A push is an event.
	h.events = nil
	h.relay(proto.TypePresences, 0, &proto.Presences{List: []proto.Presence{{User: "bob", LastSeen: 9}}})
	if len(h.events) != 1 || h.events[0].Kind != EventPresence || *h.events[0].Presence != (Presence{User: "bob", LastSeen: 9}) {
		t.Fatalf("events %+v", h.events)
	}
	// After a reconnect, the presence of the users subscribed to is read
	// again, without subscribing anew, and each is an event.
	h.c.HandleClosed(h.now, h.c.Conn(), proto.CodeShutdown, "restart")
	h.poll()
	h.takeWrites()
	h.connect("e1")
	q := h.lastWrite(proto.TypeSubscribePresence)
	if b := q.Body.(*proto.SubscribePresence); b.Op != proto.PresenceQuery || len(b.Users) != 2 {
		t.Fatalf("refresh after reconnect %+v", b)
	}
	h.events = nil
	h.relay(proto.TypePresences, q.ID, &proto.Presences{List: []proto.Presence{{User: "bob", Online: true}, {User: "carol", LastSeen: 5}}})
	if n := len(h.events); n != 2 {
		t.Fatalf("%d events after the refresh, want 2", n)
	}
	// A presence without a valid user drops the connection.
	h.relay(proto.TypePresences, 0, &proto.Presences{List: []proto.Presence{{User: "not valid"}}})
	if len(h.closes) == 0 || h.closes[len(h.closes)-1].Code != proto.CodeBadServerFrame {
		t.Fatalf("closes %+v", h.closes)
	}
}

func TestProfileCache(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Snapshot{})
	h.connect("e1")
	fresh, _, need := h.c.CachedProfiles(h.now, []string{"alice", "bob"})
	if len(fresh) != 0 || len(need) != 2 {
		t.Fatalf("empty cache: fresh %v need %v", fresh, need)
	}
	op, err := h.c.FetchProfiles(h.now, need)
	if err != nil {
		t.Fatal(err)
	}
	h.poll()
	req := h.lastWrite(proto.TypeGetProfiles)
	h.relay(proto.TypeProfiles, req.ID, &proto.Profiles{List: []proto.Profile{{User: "alice", Nickname: "A", UpdatedAt: 10}, {User: "bob"}}})
	if got := h.done[op].Result.Profiles; len(got) != 2 || got[0].Nickname != "A" {
		t.Fatalf("result %+v", got)
	}
	fresh, _, need = h.c.CachedProfiles(h.now.Add(ProfileFresh-time.Second), []string{"alice", "bob"})
	if len(fresh) != 2 || len(need) != 0 || fresh["alice"].Nickname != "A" {
		t.Fatalf("cached: fresh %v need %v", fresh, need)
	}
	fresh, stale, need := h.c.CachedProfiles(h.now.Add(ProfileFresh), []string{"alice"})
	if len(fresh) != 0 || stale["alice"].Nickname != "A" || len(need) != 1 {
		t.Fatalf("stale: fresh %v stale %v need %v", fresh, stale, need)
	}
	// A pushed change replaces the cached profile at once and is an event.
	h.events = nil
	h.relay(proto.TypeProfiles, 0, &proto.Profiles{List: []proto.Profile{{User: "alice", Nickname: "Al", UpdatedAt: 20}}})
	if len(h.events) != 1 || h.events[0].Kind != EventProfile || h.events[0].Profile.Nickname != "Al" {
		t.Fatalf("events %+v", h.events)
	}
	fresh, _, _ = h.c.CachedProfiles(h.now, []string{"alice"})
	if fresh["alice"].Nickname != "Al" {
		t.Fatalf("cache after the push: %+v", fresh)
	}
	// This user's own profile, cached, is read again after a reconnect.
	h.c.HandleClosed(h.now, h.c.Conn(), proto.CodeShutdown, "restart")
	h.poll()
	h.takeWrites()
	h.connect("e1")
	if b := h.lastWrite(proto.TypeGetProfiles).Body.(*proto.GetProfiles); len(b.Users) != 1 || b.Users[0] != "alice" {
		t.Fatalf("own profile refresh %+v", b)
	}
}

// TestProfilesPersisted: the profiles read from the relay are written with
// the meta; a core started from that snapshot has them, stale: returned
// offline, read again online, where a newer one replaces them (and is
// written in turn).
func TestProfilesPersisted(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Snapshot{})
	h.connect("e1")
	op, err := h.c.FetchProfiles(h.now, []string{"alice", "bob"})
	if err != nil {
		t.Fatal(err)
	}
	h.poll()
	req := h.lastWrite(proto.TypeGetProfiles)
	h.relay(proto.TypeProfiles, req.ID, &proto.Profiles{List: []proto.Profile{{User: "alice", Nickname: "A", Avatar: "https://x/a.png", UpdatedAt: 10}, {User: "bob", UpdatedAt: 5, Deleted: true}}})
	if len(h.done[op].Result.Profiles) != 2 {
		t.Fatalf("result %+v", h.done[op].Result)
	}
	if h.store.meta == nil || len(h.store.meta.Profiles) != 2 || h.store.meta.Profiles[0].Nickname != "A" || !h.store.meta.Profiles[1].Deleted {
		t.Fatalf("persisted meta %+v", h.store.meta)
	}

	// Restarted from what was stored, offline.
	h2 := newHarness(t, Snapshot{Meta: *h.store.meta})
	fresh, stale, need := h2.c.CachedProfiles(h2.now, []string{"alice", "bob", "carol"})
	if len(fresh) != 0 || stale["alice"].Nickname != "A" || stale["alice"].Avatar != "https://x/a.png" || !stale["bob"].Deleted ||
		len(need) != 3 {
		t.Fatalf("after the restart: fresh %v stale %v need %v", fresh, stale, need)
	}
	// Online: read again; the newer profile replaces the stored one.
	h2.connect("e1")
	op, err = h2.c.FetchProfiles(h2.now, []string{"alice"})
	if err != nil {
		t.Fatal(err)
	}
	h2.poll()
	req = h2.lastWrite(proto.TypeGetProfiles)
	h2.relay(proto.TypeProfiles, req.ID, &proto.Profiles{List: []proto.Profile{{User: "alice", Nickname: "Al", UpdatedAt: 20}}})
	if got := h2.done[op].Result.Profiles; len(got) != 1 || got[0].Nickname != "Al" {
		t.Fatalf("refreshed %+v", got)
	}
	if ps := h2.store.meta.Profiles; len(ps) != 2 || ps[0].Nickname != "Al" || ps[0].Avatar != "" {
		t.Fatalf("persisted after the refresh %+v", ps)
	}
	fresh, _, _ = h2.c.CachedProfiles(h2.now, []string{"alice"})
	if fresh["alice"].Nickname != "Al" {
		t.Fatalf("cache after the refresh %+v", fresh)
	}
}

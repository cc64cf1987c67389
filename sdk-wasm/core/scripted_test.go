package core_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// scripted drives a Core through its public inputs only, the way a driver
// does, while the test plays the relay frame by frame: it feeds encoded proto
// frames and time, and keeps every action the core returned.
type scripted struct {
	t    *testing.T
	c    *core.Core
	now  time.Time
	acts []core.Action // every action so far, in order
	// lastConn is the connection the last relay frame was fed to.
	lastConn uint64
}

func newScripted(t *testing.T, cfg core.Config) *scripted {
	t.Helper()
	if cfg.DeviceID == "" {
		cfg.DeviceID = "dev1"
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.New(rand.NewPCG(1, 2)).Uint64
	}
	c, err := core.New(cfg, core.Snapshot{})
	if err != nil {
		t.Fatal(err)
	}
	return &scripted{t: t, c: c, now: time.Unix(1_700_000_000, 0)}
}

// poll drains the core and returns what this input produced.
func (s *scripted) poll() []core.Action {
	a := s.c.Poll()
	s.acts = append(s.acts, a...)
	return a
}

// frame encodes one relay frame, checks that it decodes (the cases here are
// frames a relay can put on the wire, not garbage), feeds it to the current
// connection and returns the actions it produced.
func (s *scripted) frame(typ proto.Type, id uint64, body any) []core.Action {
	s.t.Helper()
	b := proto.MustEncode(proto.Frame{Type: typ, ID: id, Body: body})
	if _, err := proto.Decode(b, 0); err != nil {
		s.t.Fatalf("the %s frame of this case does not decode: %v", typ, err)
	}
	s.lastConn = s.c.Conn()
	s.c.HandleFrame(s.now, s.lastConn, b)
	return s.poll()
}

// wrote returns the frames written in acts, decoded.
func (s *scripted) wrote(acts []core.Action) []proto.Frame {
	s.t.Helper()
	var out []proto.Frame
	for _, a := range acts {
		if a.Kind != core.ActWrite {
			continue
		}
		f, err := proto.Decode(a.Bytes, 0)
		if err != nil {
			s.t.Fatalf("the core wrote an undecodable frame: %v", err)
		}
		out = append(out, f)
	}
	return out
}

// one returns the single frame of type typ written in acts.
func (s *scripted) one(acts []core.Action, typ proto.Type) proto.Frame {
	s.t.Helper()
	var got []proto.Frame
	for _, f := range s.wrote(acts) {
		if f.Type == typ {
			got = append(got, f)
		}
	}
	if len(got) != 1 {
		s.t.Fatalf("%d %s frames written, want 1 (actions %v)", len(got), typ, kinds(acts))
	}
	return got[0]
}

// open starts the core and opens its connection: it returns the Hello.
func (s *scripted) open() proto.Frame {
	s.t.Helper()
	s.c.Start(s.now)
	s.poll()
	s.c.HandleOpen(s.now, s.c.Conn(), "token")
	return s.one(s.poll(), proto.TypeHello)
}

// connect runs start → open → welcome as user and answers the first sync
// with the given conversations.
func (s *scripted) connect(user string, convs ...proto.Conversation) []core.Action {
	s.t.Helper()
	hello := s.open()
	sync := s.one(s.frame(proto.TypeWelcome, hello.ID, &proto.Welcome{Version: proto.Version, UserID: user, Epoch: "e1", HeartbeatMs: 25000}), proto.TypeSync)
	acts := s.frame(proto.TypeSyncResult, sync.ID, &proto.SyncResult{Conversations: convs, Cursor: 1})
	if s.c.State() != core.StateConnected {
		s.t.Fatalf("state %s after welcome, want connected", s.c.State())
	}
	return acts
}

// send queues a text message and returns its client id and what it wrote.
func (s *scripted) send(conv, text string) (string, []core.Action) {
	s.t.Helper()
	_, m, err := s.c.Send(s.now, conv, proto.MsgText, text, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	return m.ClientID, s.poll()
}

// advance moves the clock to the core's next deadline and runs its timers.
func (s *scripted) advance() []core.Action {
	s.t.Helper()
	d, ok := s.c.NextDeadline()
	if !ok {
		s.t.Fatal("the core has no deadline")
	}
	if d.After(s.now) {
		s.now = d
	}
	s.c.HandleTimeout(s.now)
	return s.poll()
}

func kinds(acts []core.Action) []string {
	names := map[core.ActionKind]string{core.ActDial: "dial", core.ActWrite: "write", core.ActCloseConn: "close",
		core.ActPersist: "persist", core.ActEvent: "event", core.ActResolve: "resolve", core.ActFetchToken: "fetch-token"}
	out := make([]string, len(acts))
	for i, a := range acts {
		out[i] = names[a.Kind]
		if a.Kind == core.ActEvent {
			out[i] += ":" + string(a.Event.Kind)
		}
	}
	return out
}

// persistedMessages returns every message the core asked to store, in order.
func persistedMessages(acts []core.Action) []core.Message {
	var out []core.Message
	for _, a := range acts {
		if a.Kind == core.ActPersist && a.Batch != nil {
			out = append(out, a.Batch.Messages...)
		}
	}
	return out
}

package core_test

import (
	"testing"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// The relay is untrusted input: a frame that decodes but makes no sense in
// the session (an ack for another message, a page of another conversation, a
// welcome without a user, an answer to nothing) closes the connection with
// CodeBadServerFrame (4904) and schedules a reconnect; nothing it carried is
// stored, announced or handed to the application as a result.
func TestServerFramesThatMakeNoSense(t *testing.T) {
	t.Parallel()
	ab, ac := proto.P2PID("alice", "bob"), proto.P2PID("alice", "carol")
	wire := func(conv string, seq uint64, sender string) proto.Message {
		return proto.Message{ConvID: conv, Seq: seq, Sender: sender, ClientID: "x" + sender, MsgType: proto.MsgText, Text: "bogus", CreatedAt: 1}
	}
	// connected returns a welcomed core.
	connected := func(s *scripted) { s.connect("alice") }
	// sent returns a welcomed core with one send waiting for its ack.
	sent := func(s *scripted) (proto.Frame, string) {
		s.connect("alice")
		id, acts := s.send(ab, "hello")
		return s.one(acts, proto.TypeSend), id
	}
	// filling returns a welcomed core that knows ab has two messages and
	// asked the relay for them.
	filling := func(s *scripted) proto.Frame {
		acts := s.connect("alice", proto.Conversation{ID: ab, Kind: proto.KindP2P, LastSeq: 2, Version: 1})
		return s.one(acts, proto.TypeHistory)
	}
	cases := []struct {
		name string
		// bad sets the session up and feeds the frame under test; it
		// returns the actions that frame produced.
		bad func(s *scripted) []core.Action
		// pending is how many messages must still wait in the outbox.
		pending int
	}{
		{"ack/another client id", func(s *scripted) []core.Action {
			f, _ := sent(s)
			return s.frame(proto.TypeAck, f.ID, &proto.Ack{ConvID: ab, ClientID: "someoneelse", Seq: 1, CreatedAt: 1})
		}, 1},
		{"ack/another conversation", func(s *scripted) []core.Action {
			f, id := sent(s)
			return s.frame(proto.TypeAck, f.ID, &proto.Ack{ConvID: ac, ClientID: id, Seq: 1, CreatedAt: 1})
		}, 1},
		{"ack/seq 0", func(s *scripted) []core.Action {
			f, id := sent(s)
			return s.frame(proto.TypeAck, f.ID, &proto.Ack{ConvID: ab, ClientID: id, Seq: 0, CreatedAt: 1})
		}, 1},
		{"ack/for no request", func(s *scripted) []core.Action {
			f, id := sent(s)
			return s.frame(proto.TypeAck, f.ID+100, &proto.Ack{ConvID: ab, ClientID: id, Seq: 1, CreatedAt: 1})
		}, 1},
		{"ack/answering a sync", func(s *scripted) []core.Action {
			connected(s)
			id, _ := s.send(ab, "hello")
			sync := s.one(s.frame(proto.TypeResync, 0, nil), proto.TypeSync)
			return s.frame(proto.TypeAck, sync.ID, &proto.Ack{ConvID: ab, ClientID: id, Seq: 1, CreatedAt: 1})
		}, 1},
		{"history page/another conversation", func(s *scripted) []core.Action {
			connected(s)
			if _, err := s.c.FetchHistory(s.now, ab, 0, 10); err != nil {
				t.Fatal(err)
			}
			q := s.one(s.poll(), proto.TypeHistory)
			return s.frame(proto.TypeHistoryPage, q.ID, &proto.HistoryPage{ConvID: ac, LastSeq: 1, Messages: []proto.Message{wire(ac, 1, "carol")}})
		}, 0},
		{"history page/for no request", func(s *scripted) []core.Action {
			connected(s)
			return s.frame(proto.TypeHistoryPage, 0, &proto.HistoryPage{ConvID: ab, LastSeq: 1, Messages: []proto.Message{wire(ab, 1, "bob")}})
		}, 0},
		{"fill page/another conversation", func(s *scripted) []core.Action {
			q := filling(s)
			return s.frame(proto.TypeHistoryPage, q.ID, &proto.HistoryPage{ConvID: ac, LastSeq: 2,
				Messages: []proto.Message{wire(ac, 1, "carol"), wire(ac, 2, "carol")}})
		}, 0},
		{"fill page/not contiguous", func(s *scripted) []core.Action {
			q := filling(s)
			return s.frame(proto.TypeHistoryPage, q.ID, &proto.HistoryPage{ConvID: ab, LastSeq: 2,
				Messages: []proto.Message{wire(ab, 2, "bob")}})
		}, 0},
		{"fill page/a message of another conversation", func(s *scripted) []core.Action {
			q := filling(s)
			return s.frame(proto.TypeHistoryPage, q.ID, &proto.HistoryPage{ConvID: ab, LastSeq: 2,
				Messages: []proto.Message{wire(ac, 1, "carol"), wire(ac, 2, "carol")}})
		}, 0},
		{"welcome/without user", func(s *scripted) []core.Action {
			hello := s.open()
			return s.frame(proto.TypeWelcome, hello.ID, &proto.Welcome{Version: proto.Version, Epoch: "e1", HeartbeatMs: 25000})
		}, 0},
		{"welcome/invalid user id", func(s *scripted) []core.Action {
			hello := s.open()
			return s.frame(proto.TypeWelcome, hello.ID, &proto.Welcome{Version: proto.Version, UserID: "no spaces allowed", Epoch: "e1"})
		}, 0},
		{"welcome/for no hello", func(s *scripted) []core.Action {
			hello := s.open()
			return s.frame(proto.TypeWelcome, hello.ID+1, &proto.Welcome{Version: proto.Version, UserID: "alice", Epoch: "e1"})
		}, 0},
		{"welcome/twice", func(s *scripted) []core.Action {
			connected(s)
			return s.frame(proto.TypeWelcome, 0, &proto.Welcome{Version: proto.Version, UserID: "mallory", Epoch: "e2"})
		}, 0},
		{"sync result/for no sync", func(s *scripted) []core.Action {
			connected(s)
			return s.frame(proto.TypeSyncResult, 0, &proto.SyncResult{Cursor: 9,
				Conversations: []proto.Conversation{{ID: ab, Kind: proto.KindP2P, LastSeq: 5, Version: 9}}})
		}, 0},
		{"sync result/answering a send", func(s *scripted) []core.Action {
			f, _ := sent(s)
			return s.frame(proto.TypeSyncResult, f.ID, &proto.SyncResult{Cursor: 9,
				Conversations: []proto.Conversation{{ID: ab, Kind: proto.KindP2P, LastSeq: 5, Version: 9}}})
		}, 1},
		{"conversation result/for no request", func(s *scripted) []core.Action {
			connected(s)
			return s.frame(proto.TypeConvResult, 0, &proto.ConvResult{Conversation: proto.Conversation{ID: "g:team", Kind: proto.KindGroup, Members: []string{"alice", "mallory"}}})
		}, 0},
		{"deliver/seq 0", func(s *scripted) []core.Action {
			connected(s)
			return s.frame(proto.TypeDeliver, 0, &proto.Deliver{Message: wire(ab, 0, "bob")})
		}, 0},
		{"deliver/invalid conversation id", func(s *scripted) []core.Action {
			connected(s)
			return s.frame(proto.TypeDeliver, 0, &proto.Deliver{Message: wire("nonsense", 1, "bob")})
		}, 0},
		{"unexpected/a client request", func(s *scripted) []core.Action {
			connected(s)
			return s.frame(proto.TypeSend, 0, &proto.Send{ConvID: ab, ClientID: "c1", MsgType: proto.MsgText, Text: "bogus"})
		}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newScripted(t, core.Config{})
			acts := tc.bad(s)
			conn := s.lastConn // the connection the frame arrived on is the one to close
			var closes []core.Action
			for _, a := range acts {
				switch a.Kind {
				case core.ActCloseConn:
					closes = append(closes, a)
				case core.ActPersist:
					t.Errorf("persisted %+v from a frame that makes no sense", *a.Batch)
				case core.ActEvent:
					// The state changes, and a sync the close cut short ends with why.
					stopped := a.Event.Kind == core.EventSyncEnd && a.Event.Code == proto.CodeBadServerFrame
					if a.Event.Kind != core.EventState && !stopped {
						t.Errorf("announced %s %+v from a frame that makes no sense", a.Event.Kind, a.Event)
					}
				case core.ActResolve:
					if a.Result.Err == nil {
						t.Errorf("resolved operation %d with %+v from a frame that makes no sense", a.Op, a.Result)
					}
				case core.ActWrite:
					t.Errorf("wrote %v in answer to a frame that makes no sense", s.wrote([]core.Action{a}))
				}
			}
			if len(closes) != 1 || closes[0].Code != proto.CodeBadServerFrame || closes[0].Conn != conn {
				t.Fatalf("closes %+v on connection %d, want one close of it with %d (actions %v)", closes, conn, proto.CodeBadServerFrame, kinds(acts))
			}
			if st := s.c.State(); st != core.StateReconnecting {
				t.Fatalf("state %s, want reconnecting", st)
			}
			if d, ok := s.c.NextDeadline(); !ok || !d.After(s.now) {
				t.Fatalf("no reconnect scheduled (deadline %v, %v)", d, ok)
			}
			if p := s.c.Pending(""); len(p) != tc.pending {
				t.Fatalf("outbox %+v, want %d pending", p, tc.pending)
			} else if len(p) == 1 && (p[0].Status != core.StatusPending || p[0].Seq != 0) {
				t.Fatalf("the send was taken as acknowledged: %+v", p[0])
			}
			for _, cv := range s.c.Conversations() {
				if cv.SyncedSeq != 0 || (cv.LastMessage != nil && cv.LastMessage.Text == "bogus") {
					t.Fatalf("conversation %+v took in what the frame carried", cv)
				}
			}
		})
	}
}

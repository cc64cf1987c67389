package core

import (
	"strconv"
	"testing"

	"github.com/parley-im/parley/proto"
)

// The client's hot paths, for comparing builds of the same code (compiler
// flags, a wasm optimizer): run natively or compiled to js/wasm, e.g.
//
//	GOOS=js GOARCH=wasm go test -c -o core.wasm ./sdk-wasm/core
//	node "$(go env GOROOT)/lib/wasm/wasm_exec_node.js" core.wasm -test.run '^$' -test.bench .
//
// Each operation goes through the core as a driver runs it: the frame's
// bytes in, every action drained.

// BenchmarkReceive is a message pushed by the relay: decode, dedup and
// order, the store batch and the event.
func BenchmarkReceive(b *testing.B) {
	h := newHarness(b, Snapshot{})
	h.connect("e1")
	conv := proto.P2PID("alice", "bob")
	h.relay(proto.TypeDeliver, 0, &proto.Deliver{Message: msg(conv, 1, "bob")})
	sync := h.lastWrite(proto.TypeSync)
	h.relay(proto.TypeSyncResult, sync.ID, &proto.SyncResult{Cursor: 1})
	frames := make([][]byte, b.N)
	for i := range frames {
		m := msg(conv, uint64(i+2), "bob")
		m.Text = "message number " + strconv.Itoa(i) + ", a line of chat of an everyday length"
		frames[i] = proto.MustEncode(proto.Frame{Type: proto.TypeDeliver, Body: &proto.Deliver{Message: m}})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for _, f := range frames {
		h.c.HandleFrame(h.now, h.c.Conn(), f)
		drain(b, h.c)
	}
}

// BenchmarkSendAck is a text message sent and acknowledged: validation,
// the outbox, the encoded send frame, the ack and its store batch.
func BenchmarkSendAck(b *testing.B) {
	h := newHarness(b, Snapshot{})
	h.connect("e1")
	conv := proto.P2PID("alice", "bob")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, m, err := h.c.Send(h.now, conv, proto.MsgText, "a line of chat of an everyday length", nil)
		if err != nil {
			b.Fatal(err)
		}
		var id uint64
		for _, a := range h.c.Poll() {
			if a.Kind == ActWrite {
				f, err := proto.Decode(a.Bytes, 0)
				if err != nil {
					b.Fatal(err)
				}
				id = f.ID
			}
		}
		h.c.HandleFrame(h.now, h.c.Conn(), proto.MustEncode(proto.Frame{Type: proto.TypeAck, ID: id,
			Body: &proto.Ack{ConvID: conv, ClientID: m.ClientID, Seq: uint64(i + 1), CreatedAt: 1_700_000_000_000}}))
		drain(b, h.c)
	}
}

// BenchmarkSyncPage is one page of 500 messages of a sync's gap fill:
// decode, store and announce each message, the page's store batch and
// the request for the next page.
func BenchmarkSyncPage(b *testing.B) {
	const page = proto.MaxPageLimit
	h := newHarness(b, Snapshot{})
	h.connect("e1")
	conv := proto.P2PID("alice", "bob")
	h.relay(proto.TypeDeliver, 0, &proto.Deliver{Message: msg(conv, 1, "bob")})
	sync := h.lastWrite(proto.TypeSync)
	last := uint64(1 + page*(b.N+1))
	h.relay(proto.TypeSyncResult, sync.ID, &proto.SyncResult{Cursor: 1,
		Conversations: []proto.Conversation{{ID: conv, Kind: proto.KindP2P, LastSeq: last, Version: 1}}})
	id := h.lastWrite(proto.TypeHistory).ID
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		p := &proto.HistoryPage{ConvID: conv, LastSeq: last, Messages: make([]proto.Message, page)}
		for k := range p.Messages {
			seq := uint64(2 + i*page + k)
			p.Messages[k] = msg(conv, seq, "bob")
			p.Messages[k].Text = "message number " + strconv.FormatUint(seq, 10) + ", a line of chat of an everyday length"
		}
		f := proto.MustEncode(proto.Frame{Type: proto.TypeHistoryPage, ID: id, Body: p})
		b.StartTimer()
		h.c.HandleFrame(h.now, h.c.Conn(), f)
		for _, a := range h.c.Poll() {
			if a.Kind == ActWrite && a.Early {
				next, err := proto.Decode(a.Bytes, 0)
				if err != nil {
					b.Fatal(err)
				}
				id = next.ID
			}
		}
	}
}

// drain takes the core's actions, failing on a closed connection.
func drain(b *testing.B, c *Core) {
	for _, a := range c.Poll() {
		if a.Kind == ActCloseConn {
			b.Fatalf("the core closed the connection: %+v", a)
		}
	}
}

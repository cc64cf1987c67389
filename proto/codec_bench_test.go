package proto

import "testing"

// The codec against the library it replaced (refEncode, refDecode), in one
// run so that the two alternate on the same machine:
//
//	go test ./proto -run '^$' -bench 'Code' -benchmem -count 6

func benchFrames() map[string]Frame {
	msg := vMsgText()
	msg.Mentions = []string{vBob}
	return map[string]Frame{
		"Send": {Type: TypeSend, ID: 42, Body: &Send{ConvID: vP2P, ClientID: vClient1, MsgType: MsgText,
			Text: msg.Text, Mentions: msg.Mentions}},
		"Deliver": {Type: TypeDeliver, Body: &Deliver{Message: msg}},
	}
}

func BenchmarkDecodeSend(b *testing.B)    { benchDecode(b, "Send") }
func BenchmarkDecodeDeliver(b *testing.B) { benchDecode(b, "Deliver") }
func BenchmarkEncodeSend(b *testing.B)    { benchEncode(b, "Send") }
func BenchmarkEncodeDeliver(b *testing.B) { benchEncode(b, "Deliver") }

func benchDecode(b *testing.B, name string) {
	in := MustEncode(benchFrames()[name])
	for _, c := range []struct {
		name   string
		decode func([]byte, int) (Frame, error)
	}{{"reference", refDecode}, {"generated", Decode}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.decode(in, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func benchEncode(b *testing.B, name string) {
	f := benchFrames()[name]
	for _, c := range []struct {
		name   string
		encode func(Frame) ([]byte, error)
	}{{"reference", refEncode}, {"generated", Encode}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.encode(f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

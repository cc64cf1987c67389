package proto

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	okSend := func(edit func(*Send)) *Send {
		s := &Send{ConvID: "p:alice:bob", ClientID: "01JDQ4N8Z6W3F5V2K9M7TCXRHE", MsgType: MsgText, Text: "hi"}
		if edit != nil {
			edit(s)
		}
		return s
	}
	members := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = "u" + strings.Repeat("x", i%8) + string(rune('a'+i%26))
		}
		return out
	}
	cases := []struct {
		name string
		body any
		code Code // 0: valid
	}{
		{"hello/ok", &Hello{Version: Version, Token: "t", DeviceID: "web-1"}, 0},
		{"hello/any version", &Hello{Version: 999, Token: "t", DeviceID: "web-1"}, 0}, // the relay answers 4005, not Validate
		{"hello/no token", &Hello{Version: Version, DeviceID: "web-1"}, CodeUnauthorized},
		{"hello/no device", &Hello{Version: Version, Token: "t"}, CodeBadRequest},
		{"hello/bad device", &Hello{Version: Version, Token: "t", DeviceID: "web 1"}, CodeBadRequest},

		{"send/text", okSend(nil), 0},
		{"send/group", okSend(func(s *Send) { s.ConvID = "g:team" }), 0},
		{"send/custom", okSend(func(s *Send) { s.MsgType, s.Text, s.Body = MsgCustom, "", []byte(`{}`) }), 0},
		{"send/custom empty", okSend(func(s *Send) { s.MsgType, s.Text = MsgCustom, "" }), 0},
		{"send/text at limit", okSend(func(s *Send) { s.Text = strings.Repeat("é", MaxTextBytes/2) }), 0},
		{"send/body at limit", okSend(func(s *Send) { s.MsgType, s.Body = MsgCustom, make([]byte, MaxBodyBytes) }), 0},
		{"send/no conv", okSend(func(s *Send) { s.ConvID = "" }), CodeBadRequest},
		{"send/p2p not canonical", okSend(func(s *Send) { s.ConvID = "p:bob:alice" }), CodeBadRequest},
		{"send/bad conv", okSend(func(s *Send) { s.ConvID = "alice" }), CodeBadRequest},
		{"send/no client id", okSend(func(s *Send) { s.ClientID = "" }), CodeBadRequest},
		{"send/bad client id", okSend(func(s *Send) { s.ClientID = "id:1" }), CodeBadRequest},
		{"send/empty text", okSend(func(s *Send) { s.Text = "" }), CodeBadRequest},
		{"send/no type", okSend(func(s *Send) { s.MsgType = "" }), CodeBadRequest},
		{"send/unknown type", okSend(func(s *Send) { s.MsgType = "sticker" }), CodeBadRequest},
		{"send/text too large", okSend(func(s *Send) { s.Text = strings.Repeat("x", MaxTextBytes+1) }), CodeTooLarge},
		{"send/body too large", okSend(func(s *Send) { s.MsgType, s.Body = MsgCustom, make([]byte, MaxBodyBytes+1) }), CodeTooLarge},

		{"call-invite/ok", &CallInvite{CallID: "c1", ConvID: "p:alice:bob", Audio: true}, 0},
		{"call-invite/no media", &CallInvite{CallID: "c1", ConvID: "p:alice:bob"}, CodeBadRequest},
		{"call-invite/bad id", &CallInvite{CallID: "c 1", ConvID: "p:alice:bob", Video: true}, CodeBadRequest},
		{"call-invite/bad conv", &CallInvite{CallID: "c1", ConvID: "alice", Video: true}, CodeBadRequest},
		{"call-accept/ok", &CallAccept{CallID: "c1"}, 0},
		{"call-accept/no id", &CallAccept{}, CodeBadRequest},
		{"call-end/ok", &CallEnd{CallID: "c1"}, 0},
		{"call-end/no id", &CallEnd{}, CodeBadRequest},
		{"call-signal/ok", &CallSignal{CallID: "c1", Peer: "bob", Kind: SignalOffer, Data: "v=0"}, 0},
		{"call-signal/unknown kind", &CallSignal{CallID: "c1", Peer: "bob", Kind: "pranswer", Data: "v=0"}, CodeBadRequest},
		{"call-signal/no peer", &CallSignal{CallID: "c1", Kind: SignalOffer, Data: "v=0"}, CodeBadRequest},
		{"call-signal/empty", &CallSignal{CallID: "c1", Peer: "bob", Kind: SignalCandidate}, CodeBadRequest},
		{"call-signal/too large", &CallSignal{CallID: "c1", Peer: "bob", Kind: SignalOffer, Data: strings.Repeat("a", MaxCallSignalBytes+1)}, CodeTooLarge},
		{"send/image", okSend(func(s *Send) { s.MsgType, s.Text, s.Attachment = MsgImage, "", okAttachment(nil) }), 0},
		{"send/file with caption", okSend(func(s *Send) { s.MsgType, s.Attachment = MsgFile, okAttachment(nil) }), 0},
		{"send/audio", okSend(func(s *Send) {
			s.MsgType, s.Attachment = MsgAudio, okAttachment(func(a *Attachment) { a.Mime, a.DurationMs = "audio/ogg", 4200 })
		}), 0},
		{"send/video", okSend(func(s *Send) { s.MsgType, s.Attachment = MsgVideo, okAttachment(nil) }), 0},
		{"send/image without attachment", okSend(func(s *Send) { s.MsgType = MsgImage }), CodeBadRequest},
		{"send/image with body", okSend(func(s *Send) { s.MsgType, s.Body, s.Attachment = MsgImage, []byte("{}"), okAttachment(nil) }), CodeBadRequest},
		{"send/text with attachment", okSend(func(s *Send) { s.Attachment = okAttachment(nil) }), CodeBadRequest},
		{"send/attachment no id", okSend(func(s *Send) { s.MsgType, s.Attachment = MsgFile, okAttachment(func(a *Attachment) { a.ID = "" }) }), CodeBadRequest},
		{"send/attachment short id", okSend(func(s *Send) { s.MsgType, s.Attachment = MsgFile, okAttachment(func(a *Attachment) { a.ID = "abc" }) }), CodeBadRequest},
		{"send/attachment id with slash", okSend(func(s *Send) {
			s.MsgType, s.Attachment = MsgFile, okAttachment(func(a *Attachment) { a.ID = "../../etc/passwd0000" })
		}), CodeBadRequest},
		{"send/attachment name path", okSend(func(s *Send) {
			s.MsgType, s.Attachment = MsgFile, okAttachment(func(a *Attachment) { a.Name = "a/b.txt" })
		}), CodeBadRequest},
		{"send/attachment name dotdot", okSend(func(s *Send) { s.MsgType, s.Attachment = MsgFile, okAttachment(func(a *Attachment) { a.Name = ".." }) }), CodeBadRequest},
		{"send/attachment name control", okSend(func(s *Send) {
			s.MsgType, s.Attachment = MsgFile, okAttachment(func(a *Attachment) { a.Name = "a\x00b" })
		}), CodeBadRequest},
		{"send/attachment name override", okSend(func(s *Send) {
			s.MsgType, s.Attachment = MsgFile, okAttachment(func(a *Attachment) { a.Name = "gpj.\u202eexe" })
		}), CodeBadRequest},
		{"send/attachment bad mime", okSend(func(s *Send) {
			s.MsgType, s.Attachment = MsgFile, okAttachment(func(a *Attachment) { a.Mime = "image" })
		}), CodeBadRequest},
		{"send/attachment mime params", okSend(func(s *Send) {
			s.MsgType, s.Attachment = MsgFile, okAttachment(func(a *Attachment) { a.Mime = "text/plain; charset=utf-8" })
		}), CodeBadRequest},
		{"send/attachment negative size", okSend(func(s *Send) { s.MsgType, s.Attachment = MsgFile, okAttachment(func(a *Attachment) { a.Size = -1 }) }), CodeBadRequest},
		{"send/attachment huge width", okSend(func(s *Send) {
			s.MsgType, s.Attachment = MsgImage, okAttachment(func(a *Attachment) { a.Width = 1<<16 + 1 })
		}), CodeBadRequest},
		{"send/location", okSend(func(s *Send) {
			s.MsgType, s.Text, s.Body = MsgLocation, "", []byte(`{"lat":52.52,"lng":13.405,"title":"Alexanderplatz"}`)
		}), 0},
		{"send/location no title", okSend(func(s *Send) { s.MsgType, s.Text, s.Body = MsgLocation, "", []byte(`{"lat":-90,"lng":180}`) }), 0},
		{"send/location no body", okSend(func(s *Send) { s.MsgType, s.Text = MsgLocation, "" }), CodeBadRequest},
		{"send/location lat range", okSend(func(s *Send) { s.MsgType, s.Body = MsgLocation, []byte(`{"lat":90.1,"lng":0}`) }), CodeBadRequest},
		{"send/location lng range", okSend(func(s *Send) { s.MsgType, s.Body = MsgLocation, []byte(`{"lat":0,"lng":-180.5}`) }), CodeBadRequest},
		{"send/location no lng", okSend(func(s *Send) { s.MsgType, s.Body = MsgLocation, []byte(`{"lat":0}`) }), CodeBadRequest},
		{"send/location extra field", okSend(func(s *Send) { s.MsgType, s.Body = MsgLocation, []byte(`{"lat":0,"lng":0,"alt":3}`) }), CodeBadRequest},
		{"send/location trailing", okSend(func(s *Send) { s.MsgType, s.Body = MsgLocation, []byte(`{"lat":0,"lng":0} {}`) }), CodeBadRequest},
		{"send/location string lat", okSend(func(s *Send) { s.MsgType, s.Body = MsgLocation, []byte(`{"lat":"0","lng":0}`) }), CodeBadRequest},
		{"send/location long title", okSend(func(s *Send) {
			s.MsgType, s.Body = MsgLocation, []byte(`{"lat":0,"lng":0,"title":"`+strings.Repeat("x", MaxLocationTitleBytes+1)+`"}`)
		}), CodeBadRequest},
		{"send/location with attachment", okSend(func(s *Send) {
			s.MsgType, s.Body, s.Attachment = MsgLocation, []byte(`{"lat":0,"lng":0}`), okAttachment(nil)
		}), CodeBadRequest},

		{"sync/zero", &Sync{}, 0},
		{"sync/cursor", &Sync{Cursor: 1 << 60, Limit: 1 << 31}, 0}, // the relay caps Limit

		{"history/after", &History{ConvID: "p:alice:bob", After: 40, Limit: 50}, 0},
		{"history/before", &History{ConvID: "g:team", Before: 100}, 0},
		{"history/bad conv", &History{ConvID: "g:"}, CodeBadRequest},
		{"history/no conv", &History{}, CodeBadRequest},

		{"read/ok", &Read{ConvID: "g:team", Seq: 9}, 0},
		{"read/zero seq", &Read{ConvID: "g:team"}, 0},
		{"read/bad conv", &Read{ConvID: "p:alice"}, CodeBadRequest},

		{"ping/ok", &Ping{Time: 1}, 0},
		{"pong/ok", &Pong{}, 0},

		{"renew/ok", &Renew{Token: "t"}, 0},
		{"renew/no token", &Renew{}, CodeBadRequest},

		{"create-group/ok", &CreateGroup{ConvID: "g:team", Name: "Team", Members: []string{"bob", "carol"}}, 0},
		{"create-group/relay id", &CreateGroup{Members: []string{"bob"}}, 0},
		{"create-group/alone", &CreateGroup{}, 0},
		{"create-group/name at limit", &CreateGroup{Name: strings.Repeat("n", MaxGroupNameBytes)}, 0},
		{"create-group/members at limit", &CreateGroup{Members: members(MaxGroupMembers)}, 0},
		{"create-group/p2p id", &CreateGroup{ConvID: "p:alice:bob"}, CodeBadRequest},
		{"create-group/bad id", &CreateGroup{ConvID: "g:a b"}, CodeBadRequest},
		{"create-group/name too long", &CreateGroup{Name: strings.Repeat("n", MaxGroupNameBytes+1)}, CodeBadRequest},
		{"create-group/too many members", &CreateGroup{Members: members(MaxGroupMembers + 1)}, CodeTooLarge},
		{"create-group/bad member", &CreateGroup{Members: []string{"bob", "c:d"}}, CodeBadRequest},
		{"create-group/empty member", &CreateGroup{Members: []string{""}}, CodeBadRequest},
		{"create-group/long bad member", &CreateGroup{Members: []string{strings.Repeat("é", 100)}}, CodeBadRequest},

		{"not a request/welcome", &Welcome{}, CodeProtocolError},
		{"not a request/ack", &Ack{}, CodeProtocolError},
		{"not a request/deliver", &Deliver{}, CodeProtocolError},
		{"not a request/sync-result", &SyncResult{}, CodeProtocolError},
		{"not a request/history-page", &HistoryPage{}, CodeProtocolError},
		{"not a request/conv-update", &ConvUpdate{}, CodeProtocolError},
		{"not a request/error", &ErrorBody{}, CodeProtocolError},
		{"not a request/close", &Close{}, CodeProtocolError},
		{"not a request/conv-result", &ConvResult{}, CodeProtocolError},
		{"not a request/nil", nil, CodeProtocolError},
		{"not a request/value not pointer", Hello{Token: "t", DeviceID: "d"}, CodeProtocolError},
	}
	for _, c := range cases {
		err := Validate(c.body)
		switch {
		case c.code == 0 && err != nil:
			t.Errorf("%s: got %v, want valid", c.name, err)
		case c.code != 0 && err == nil:
			t.Errorf("%s: valid, want code %d", c.name, c.code)
		case c.code != 0 && err.Code != c.code:
			t.Errorf("%s: got %v, want code %d", c.name, err, c.code)
		}
	}
}

// TestValidateMessageTruncates keeps an attacker's long member id out of logs.
func TestValidateMessageTruncates(t *testing.T) {
	t.Parallel()
	for _, m := range []string{strings.Repeat("x", 1000) + ":", strings.Repeat("é", 500)} {
		err := Validate(&CreateGroup{Members: []string{m}})
		if err == nil || len(err.Message) > 100 || !utf8.ValidString(err.Message) {
			t.Fatalf("got %q", err)
		}
		// The message goes back to the client in an error frame.
		if _, encErr := Encode(Frame{Type: TypeError, ID: 1, Body: &ErrorBody{Code: err.Code, Message: err.Message}}); encErr != nil {
			t.Fatal(encErr)
		}
	}
}

func okAttachment(edit func(*Attachment)) *Attachment {
	a := &Attachment{ID: "4f1c0e6a9b2d4c7e8a1f3b5d7c9e0a2b", Name: "photo.png", Size: 48213, Mime: "image/png", Width: 1280, Height: 960}
	if edit != nil {
		edit(a)
	}
	return a
}

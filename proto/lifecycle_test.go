package proto

import (
	"strings"
	"testing"
)

func TestValidateLifecycle(t *testing.T) {
	t.Parallel()
	amend := func(op string, target uint64, text string) *Amend {
		return &Amend{ConvID: "g:team", ClientID: "c1", Op: op, Target: target, Text: text}
	}
	send := func(edit func(*Send)) *Send {
		s := &Send{ConvID: "g:team", ClientID: "c1", MsgType: MsgText, Text: "hi"}
		edit(s)
		return s
	}
	many := make([]string, MaxMentions+1)
	for i := range many {
		many[i] = "u" + strings.Repeat("x", i%10)
	}
	cases := []struct {
		name string
		body any
		code Code
	}{
		{"amend/recall", amend(MsgRecall, 3, ""), 0},
		{"amend/delete", amend(MsgDelete, 3, ""), 0},
		{"amend/hide", amend(MsgHide, 3, ""), CodeBadRequest},
		{"hide-message", &HideMessage{ConvID: "g:x", Seq: 3}, 0},
		{"hide-message/no seq", &HideMessage{ConvID: "g:x"}, CodeBadRequest},
		{"amend/edit", amend(MsgEdit, 3, "new"), 0},
		{"amend/react", amend(MsgReact, 3, "👍🏽"), 0},
		{"amend/unreact", amend(MsgUnreact, 3, "❤️"), 0},
		{"amend/no target", amend(MsgRecall, 0, ""), CodeBadRequest},
		{"amend/recall with text", amend(MsgRecall, 3, "x"), CodeBadRequest},
		{"amend/edit empty", amend(MsgEdit, 3, ""), CodeBadRequest},
		{"amend/edit too long", amend(MsgEdit, 3, strings.Repeat("a", MaxTextBytes+1)), CodeTooLarge},
		{"amend/react empty", amend(MsgReact, 3, ""), CodeBadRequest},
		{"amend/react control", amend(MsgReact, 3, "a\x00"), CodeBadRequest},
		{"amend/react too long", amend(MsgReact, 3, strings.Repeat("😀", 17)), CodeBadRequest},
		{"amend/unknown op", amend("text", 3, "x"), CodeBadRequest},
		{"amend/bad conv", &Amend{ConvID: "x", ClientID: "c1", Op: MsgRecall, Target: 1}, CodeBadRequest},
		{"amend/bad client", &Amend{ConvID: "g:team", ClientID: "c 1", Op: MsgRecall, Target: 1}, CodeBadRequest},
		{"send/mentions", send(func(s *Send) { s.Mentions = []string{"bob", MentionAll} }), 0},
		{"send/reply", send(func(s *Send) { s.ReplyTo = 9 }), 0},
		{"send/bad mention", send(func(s *Send) { s.Mentions = []string{"b b"} }), CodeBadRequest},
		{"send/too many mentions", send(func(s *Send) { s.Mentions = many }), CodeBadRequest},
		{"receipts", &Receipts{ConvID: "g:team", Seq: 4}, 0},
		{"receipts/bad conv", &Receipts{ConvID: "team", Seq: 4}, CodeBadRequest},
		{"receipt-list is no request", &ReceiptList{}, CodeProtocolError},
	}
	for _, c := range cases {
		var got Code
		if perr := Validate(c.body); perr != nil {
			got = perr.Code
		}
		if got != c.code {
			t.Errorf("%s: code %d, want %d", c.name, got, c.code)
		}
	}
}

func TestParseMessageID(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		id   string
		conv string
		seq  uint64
		ok   bool
	}{
		{"p:alice:bob#42", "p:alice:bob", 42, true},
		{"g:team#1", "g:team", 1, true},
		{MessageID("g:a.b", 18446744073709551615), "g:a.b", 18446744073709551615, true},
		{"g:team#18446744073709551616", "", 0, false},
		{"g:team#0", "", 0, false},
		{"g:team#", "", 0, false},
		{"#4", "", 0, false},
		{"g:team#4a", "", 0, false},
		{"local:abc", "", 0, false},
		{"x#4", "", 0, false},
	} {
		conv, seq, ok := ParseMessageID(c.id)
		if conv != c.conv || seq != c.seq || ok != c.ok {
			t.Errorf("ParseMessageID(%q) = %q, %d, %v", c.id, conv, seq, ok)
		}
	}
}

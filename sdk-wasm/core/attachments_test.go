package core

import (
	"testing"

	"github.com/parley-im/parley/proto"
)

// TestAttachmentWaitsForUpload: an attachment message is persisted and
// announced at once but written only once its upload is reported; it does
// not hold back the text sent after it; after a restart it is still
// waiting (AwaitingUpload), and a failed upload fails it with the code.
func TestAttachmentWaitsForUpload(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Snapshot{})
	h.connect("e1")
	h.takeWrites()
	conv := proto.P2PID("alice", "bob")
	_, m, err := h.c.SendAttachment(h.now, "img1", conv, proto.MsgImage, "", Attachment{Name: "cat.png", Size: 10, Mime: "image/png", Width: 4, Height: 3})
	if err != nil {
		t.Fatal(err)
	}
	h.poll()
	if m.Status != StatusPending || m.Attachment == nil || m.Attachment.ID != "" {
		t.Fatalf("pending %+v", m)
	}
	if _, _, err := h.c.SendID(h.now, "txt1", conv, proto.MsgText, "after the image", nil); err != nil {
		t.Fatal(err)
	}
	h.poll()
	var sends []*proto.Send
	for _, f := range h.takeWrites() {
		if f.Type == proto.TypeSend {
			sends = append(sends, f.Body.(*proto.Send))
		}
	}
	if len(sends) != 1 || sends[0].ClientID != "txt1" {
		t.Fatalf("written before the upload: %+v", sends)
	}
	if got := h.c.AwaitingUpload(); len(got) != 1 || got[0].ClientID != "img1" {
		t.Fatalf("AwaitingUpload = %+v", got)
	}
	// A restart keeps it waiting: the entry as persisted.
	snap := Snapshot{Outbox: []OutboxEntry{{Order: 9, Message: m}}}
	h2 := newHarness(t, snap)
	if got := h2.c.AwaitingUpload(); len(got) != 1 || got[0].Attachment.Name != "cat.png" {
		t.Fatalf("after a restart AwaitingUpload = %+v", got)
	}

	if err := h.c.AttachmentUploaded(h.now, "img1", "0123456789abcdef0123456789abcdef", 12, "image/png"); err != nil {
		t.Fatal(err)
	}
	h.poll()
	sends = nil
	for _, f := range h.takeWrites() {
		if f.Type == proto.TypeSend {
			sends = append(sends, f.Body.(*proto.Send))
		}
	}
	want := proto.Attachment{ID: "0123456789abcdef0123456789abcdef", Name: "cat.png", Size: 12, Mime: "image/png", Width: 4, Height: 3}
	if len(sends) != 1 || sends[0].ClientID != "img1" || sends[0].Attachment == nil || *sends[0].Attachment != want {
		t.Fatalf("after the upload: %+v", sends)
	}
	if len(h.c.AwaitingUpload()) != 0 {
		t.Fatal("still awaiting after the upload")
	}

	// A refused upload fails its message.
	_, _, err = h.c.SendAttachment(h.now, "f2", conv, proto.MsgFile, "", Attachment{Name: "x.html", Size: 6, Mime: "text/html"})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.c.UploadFailed(h.now, "f2", proto.CodeUploadType, "not allowed"); err != nil {
		t.Fatal(err)
	}
	h.poll()
	for _, p := range h.c.Pending(conv) {
		if p.ClientID == "f2" && (p.Status != StatusFailed || p.ErrorCode != proto.CodeUploadType) {
			t.Fatalf("after a refused upload: %+v", p)
		}
	}
	// Bad input.
	if _, _, err := h.c.SendAttachment(h.now, "", conv, proto.MsgText, "", Attachment{Name: "a", Mime: "image/png"}); err == nil {
		t.Fatal("a text message with an attachment accepted")
	}
	if _, _, err := h.c.SendAttachment(h.now, "", conv, proto.MsgFile, "", Attachment{Name: "../a", Mime: "image/png"}); err == nil {
		t.Fatal("a path as a file name accepted")
	}
}

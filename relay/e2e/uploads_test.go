package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
)

// uploadReq is one request to the attachment endpoints; it returns the
// status, the answer's code (a refusal) or id (an upload), its headers and
// its body.
func uploadReq(t *testing.T, req *http.Request) (status int, code proto.Code, id string, h http.Header, body []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var j struct {
		Code proto.Code `json:"code"`
		ID   string     `json:"id"`
	}
	_ = json.Unmarshal(body, &j)
	return resp.StatusCode, j.Code, j.ID, resp.Header, body
}

// TestUploads: the attachment endpoints of a relay, over HTTP, with the
// messages that carry an upload over the WebSocket (on the edge relay: the
// front door's handler on R2, the Durable Object's answers). An upload
// larger than one chunk goes up whole and comes back whole and by range;
// a streamed body with Upload-Length is taken, one that ends early is
// refused (4242); the peer downloads it once sent to them, a stranger is
// refused (4203); the per-user limit of uploads a minute holds across
// requests (4301 with Retry-After); after a recall the blob is deleted and
// a download answers 410 (4236).
func TestUploads(t *testing.T) {
	t.Parallel()
	r := startRelay(t, "--uploads-per-minute", "4")
	base := "http://" + r.addr + "/v1/uploads"
	post := func(user string, body io.Reader, length int64, uploadLength string) (int, proto.Code, string, http.Header) {
		req, err := http.NewRequest("POST", base, body)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = length
		req.Header.Set("Authorization", "Bearer "+token(user, time.Hour))
		req.Header.Set("Content-Type", "application/pdf")
		if uploadLength != "" {
			req.Header.Set("Upload-Length", uploadLength)
		}
		st, code, id, h, _ := uploadReq(t, req)
		return st, code, id, h
	}
	get := func(user, id, conv, rg string) (int, proto.Code, http.Header, []byte) {
		req, err := http.NewRequest("GET", base+"/"+id+"?conv="+conv, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token(user, time.Hour))
		if rg != "" {
			req.Header.Set("Range", rg)
		}
		st, code, _, h, body := uploadReq(t, req)
		return st, code, h, body
	}

	data := make([]byte, 300_000) // above one chunk of a streamed put
	for i := range data {
		data[i] = byte(i*7 + i>>9)
	}
	st, _, id, _ := post("alice", bytes.NewReader(data), int64(len(data)), "")
	if st != 201 || !proto.ValidAttachmentID(id) {
		t.Fatalf("upload: %d %q", st, id)
	}
	// Streamed (chunked, no Content-Length) with Upload-Length: taken;
	// ending early: refused.
	if st, code, _, _ := post("alice", io.MultiReader(bytes.NewReader(data[:100_000])), -1, "100000"); st != 201 {
		t.Fatalf("streamed upload: %d %d", st, code)
	}
	if st, code, _, _ := post("alice", io.MultiReader(bytes.NewReader(data[:90_000])), -1, "100000"); st != 400 || code != proto.CodeUploadIncomplete {
		t.Fatalf("streamed upload ending early: %d %d, want 400 %d", st, code, proto.CodeUploadIncomplete)
	}

	conv := proto.P2PID("alice", "bob")
	alice := dialRaw(t, r.wsURL())
	alice.hello("alice", "a1")
	alice.send(proto.TypeSend, 2, &proto.Send{ConvID: conv, ClientID: "file-1", MsgType: proto.MsgFile,
		Attachment: &proto.Attachment{ID: id, Name: "report.pdf", Size: int64(len(data)), Mime: "application/pdf"}})
	f := alice.reply(2)
	ack, ok := f.Body.(*proto.Ack)
	if !ok {
		t.Fatalf("the message with the attachment was not acknowledged: %s %+v", f.Type, f.Body)
	}

	if st, _, _, body := get("bob", id, conv, ""); st != 200 || !bytes.Equal(body, data) {
		t.Fatalf("bob's download: %d, %d bytes (same: %v)", st, len(body), bytes.Equal(body, data))
	}
	st, _, h, body := get("bob", id, conv, "bytes=70000-70099")
	if st != 206 || !bytes.Equal(body, data[70000:70100]) || h.Get("Content-Range") != "bytes 70000-70099/300000" {
		t.Fatalf("range: %d %q, %d bytes (same: %v)", st, h.Get("Content-Range"), len(body), bytes.Equal(body, data[70000:70100]))
	}
	if st, code, _, _ := get("carol", id, conv, ""); st != 403 || code != proto.CodeForbidden {
		t.Fatalf("carol: %d %d, want 403 %d", st, code, proto.CodeForbidden)
	}

	// Three uploads so far (the one cut short counted too); the limit is
	// four a minute.
	if st, _, _, _ := post("alice", bytes.NewReader([]byte("x")), 1, ""); st != 201 {
		t.Fatalf("fourth upload: %d", st)
	}
	st, code, _, h2 := post("alice", bytes.NewReader([]byte("x")), 1, "")
	if st != 429 || code != proto.CodeBusy {
		t.Fatalf("fifth upload in a minute: %d %d, want 429 %d", st, code, proto.CodeBusy)
	}
	if ra, err := strconv.Atoi(h2.Get("Retry-After")); err != nil || ra < 1 || ra > 60 {
		t.Fatalf("Retry-After %q", h2.Get("Retry-After"))
	}
	if st, _, _, _ := post("bob", bytes.NewReader([]byte("x")), 1, ""); st != 201 {
		t.Fatalf("bob's upload: %d", st)
	}

	alice.send(proto.TypeAmend, 3, &proto.Amend{ConvID: conv, ClientID: "recall-1", Op: proto.MsgRecall, Target: ack.Seq})
	if _, ok := alice.reply(3).Body.(*proto.Ack); !ok {
		t.Fatal("the recall was not acknowledged")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, code, _, _ := get("bob", id, conv, "")
		if st == 410 && code == proto.CodeAttachmentGone {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the recall: %d %d, want 410 %d", st, code, proto.CodeAttachmentGone)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

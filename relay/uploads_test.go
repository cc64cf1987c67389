//go:build !js

package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
)

// httpUpload is one POST /v1/uploads.
type httpUpload struct {
	token, mime string
	body        io.Reader
	length      int64  // Content-Length; -1: streamed (chunked)
	uploadLen   string // Upload-Length header, when set
}

type httpReply struct {
	status int
	code   proto.Code
	header http.Header
	body   []byte
	id     string
}

func (r *testRelay) upload(u httpUpload) httpReply {
	r.t.Helper()
	req, err := http.NewRequest("POST", r.url+"/v1/uploads", u.body)
	ok(r.t, err)
	req.ContentLength = u.length
	if u.token != "" {
		req.Header.Set("Authorization", "Bearer "+u.token)
	}
	if u.mime != "" {
		req.Header.Set("Content-Type", u.mime)
	}
	if u.uploadLen != "" {
		req.Header.Set("Upload-Length", u.uploadLen)
	}
	// The body goes only once the relay asks for it: a refusal sent before
	// the relay reads anything (a declared size above the limit) would
	// otherwise race the body still being written, and the client could see
	// the connection reset instead of the answer.
	req.Header.Set("Expect", "100-continue")
	return r.do(req)
}

func (r *testRelay) download(token, id, conv, rangeHeader string) httpReply {
	r.t.Helper()
	path := r.url + "/v1/uploads/" + id
	if conv != "" {
		path += "?conv=" + conv
	}
	req, err := http.NewRequest("GET", path, nil)
	ok(r.t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rangeHeader != "" {
		req.Header.Set("Range", rangeHeader)
	}
	return r.do(req)
}

func (r *testRelay) do(req *http.Request) httpReply {
	r.t.Helper()
	resp, err := plainHTTP.Do(req)
	ok(r.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	ok(r.t, err)
	out := httpReply{status: resp.StatusCode, header: resp.Header, body: b}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		var j struct {
			Code proto.Code `json:"code"`
			ID   string     `json:"id"`
		}
		_ = json.Unmarshal(b, &j)
		out.code, out.id = j.Code, j.ID
	}
	return out
}

// blobCount reports how many uploads m holds.
func blobCount(m *MemoryBlobStore) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for k := range m.blobs {
		if strings.HasPrefix(k, "u/") {
			n++
		}
	}
	return n
}

// TestUploadRefusals: every upload the relay refuses gets its documented
// HTTP status and code, and leaves nothing in the blob store.
func TestUploadRefusals(t *testing.T) {
	// Not parallel with the package's other tests: its uploads would load
	// the machine under their timing-sensitive ones (TestSlowConsumer).
	blobs := NewMemoryBlobStore()
	r := startRelay(t, func(o *Options) {
		o.Blobs, o.MaxUpload, o.UploadTypes = blobs, 1<<20, []string{"image/*", "application/pdf"}
		o.UploadsPerMinute, o.UploadByteRate = -1, -1
	})
	alice := r.token("alice")
	expired, err := MintToken(testSecret, "alice", time.Minute, time.Now().Add(-time.Hour))
	ok(t, err)
	data := bytes.Repeat([]byte("x"), 1000)
	body := func() io.Reader { return bytes.NewReader(data) }
	chunked := func(b []byte) io.Reader { return io.MultiReader(bytes.NewReader(b)) } // no length known to net/http

	for _, c := range []struct {
		name   string
		u      httpUpload
		status int
		code   proto.Code
	}{
		{"no token", httpUpload{mime: "image/png", body: body(), length: 1000}, 401, proto.CodeUnauthorized},
		{"forged token", httpUpload{token: alice + "x", mime: "image/png", body: body(), length: 1000}, 401, proto.CodeUnauthorized},
		{"expired token", httpUpload{token: expired, mime: "image/png", body: body(), length: 1000}, 401, proto.CodeTokenExpired},
		{"type not allowed", httpUpload{token: alice, mime: "text/html", body: body(), length: 1000}, 415, proto.CodeUploadType},
		{"no type is octet-stream, not allowed here", httpUpload{token: alice, body: body(), length: 1000}, 415, proto.CodeUploadType},
		{"not a media type", httpUpload{token: alice, mime: "image", body: body(), length: 1000}, 415, proto.CodeUploadType},
		{"declared above the limit", httpUpload{token: alice, mime: "application/pdf", body: bytes.NewReader(make([]byte, 1<<20+1)), length: 1<<20 + 1}, 413, proto.CodeUploadTooLarge},
		{"streamed above the limit", httpUpload{token: alice, mime: "image/png", body: chunked(data), length: -1, uploadLen: fmt.Sprint(1<<20 + 1)}, 413, proto.CodeUploadTooLarge},
		{"streamed without a length", httpUpload{token: alice, mime: "image/png", body: chunked(data), length: -1}, 411, proto.CodeUploadIncomplete},
		{"streamed shorter than declared", httpUpload{token: alice, mime: "image/png", body: chunked(data), length: -1, uploadLen: "1001"}, 400, proto.CodeUploadIncomplete},
		{"streamed longer than declared", httpUpload{token: alice, mime: "image/png", body: chunked(data), length: -1, uploadLen: "999"}, 400, proto.CodeUploadIncomplete},
		{"two lengths that differ", httpUpload{token: alice, mime: "image/png", body: body(), length: 1000, uploadLen: "10"}, 400, proto.CodeUploadIncomplete},
	} {
		got := r.upload(c.u)
		if got.status != c.status || got.code != c.code {
			t.Errorf("%s: got %d %d (%s), want %d %d", c.name, got.status, got.code, got.body, c.status, c.code)
		}
		if n := blobCount(blobs); n != 0 {
			t.Fatalf("%s: %d blobs stored", c.name, n)
		}
	}
	// The limit itself, declared and streamed, with parameters on the type.
	got := r.upload(httpUpload{token: alice, mime: "application/PDF; name=x", body: bytes.NewReader(make([]byte, 1<<20)), length: 1 << 20})
	equal(t, got.status, 201, "an upload at the limit")
	got = r.upload(httpUpload{token: alice, mime: "image/webp", body: chunked(data), length: -1, uploadLen: "1000"})
	equal(t, got.status, 201, "a streamed upload with Upload-Length")
	equal(t, blobCount(blobs), 2, "blobs stored")
	m, err := blobs.Stat(t.Context(), uploadKey(got.id))
	ok(t, err)
	equal(t, m, BlobMeta{Size: 1000, ContentType: "image/webp", Owner: "alice"}, "stored metadata")
}

// TestUploadUserLimits: a user's uploads per minute and upload bytes are
// limited per user (429, 4301, with Retry-After); other users are not
// affected, and a refused upload stores nothing.
func TestUploadUserLimits(t *testing.T) {
	// Not parallel with the package's other tests: its uploads would load
	// the machine under their timing-sensitive ones (TestSlowConsumer).
	blobs := NewMemoryBlobStore()
	r := startRelay(t, func(o *Options) {
		o.Blobs, o.MaxUpload, o.UploadsPerMinute, o.UploadByteRate = blobs, 64<<10, 3, 1024
	})
	up := func(user string, n int) httpReply {
		return r.upload(httpUpload{token: r.token(user), mime: "image/png", body: bytes.NewReader(make([]byte, n)), length: int64(n)})
	}
	// Bytes: the burst is MaxUpload; after it, 1 KiB/s.
	equal(t, up("alice", 64<<10).status, 201, "one upload of the whole burst")
	got := up("alice", 10<<10)
	equal(t, [2]int{got.status, int(got.code)}, [2]int{429, int(proto.CodeBusy)}, "bytes used up")
	if ra := got.header.Get("Retry-After"); ra != "10" {
		t.Errorf("Retry-After = %q, want 10 (10 KiB at 1 KiB/s)", ra)
	}
	equal(t, up("bob", 10<<10).status, 201, "another user")
	// Count: 3 a minute.
	equal(t, up("carol", 1).status, 201, "carol 1")
	equal(t, up("carol", 1).status, 201, "carol 2")
	equal(t, up("carol", 1).status, 201, "carol 3")
	got = up("carol", 1)
	equal(t, [2]int{got.status, int(got.code)}, [2]int{429, int(proto.CodeBusy)}, "carol's fourth upload in a minute")
	equal(t, blobCount(blobs), 5, "uploads stored")
}

// TestAttachmentFlow, on every kind of blob store and on two message
// stores: an uploaded file is sent in a message; the peer receives it with
// the attachment (size and type from the upload, whatever the sender said),
// finds it in history and sync, and downloads the same bytes, whole or by
// range; a stranger, a member of another conversation and anyone guessing
// ids are refused alike; a message naming an upload of someone else's, or
// none, is refused (4243) and stores nothing.
func TestAttachmentFlow(t *testing.T) {
	// Not parallel with the package's other tests: its uploads would load
	// the machine under their timing-sensitive ones (TestSlowConsumer).
	for _, store := range []string{"memory", "sqlite"} {
		for name, open := range blobStores(t) {
			t.Run(store+"/"+name, func(t *testing.T) {
				t.Parallel()
				testAttachmentFlow(t, store, open(t))
			})
		}
	}
}

func testAttachmentFlow(t *testing.T, store string, blobs BlobStore) {
	r := startRelay(t, func(o *Options) {
		o.Blobs = blobs
		if store == "sqlite" {
			s, err := OpenSQLite(t.TempDir(), SQLiteOptions{})
			ok(t, err)
			o.Store = s
		}
	})
	alice, _ := login(t, r, "alice", "d")
	bob, _ := login(t, r, "bob", "d")
	carol, _ := login(t, r, "carol", "d")
	p2p := proto.P2PID("alice", "bob")
	data := make([]byte, 300_000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	up := r.upload(httpUpload{token: r.token("alice"), mime: "image/png", body: bytes.NewReader(data), length: int64(len(data))})
	equal(t, up.status, 201, "upload")
	if !proto.ValidAttachmentID(up.id) || len(up.id) != 32 {
		t.Fatalf("upload id %q", up.id)
	}

	// The sender claims another size and type: the relay's are the upload's.
	att := &proto.Attachment{ID: up.id, Name: "cat.png", Size: 1, Mime: "image/gif", Width: 640, Height: 480}
	f := alice.call(proto.TypeSend, &proto.Send{ConvID: p2p, ClientID: "img1", MsgType: proto.MsgImage, Text: "look", Attachment: att})
	equal(t, f.Type, proto.TypeAck, "send of the image")
	want := proto.Attachment{ID: up.id, Name: "cat.png", Size: int64(len(data)), Mime: "image/png", Width: 640, Height: 480}
	d := bob.push(proto.TypeDeliver).Body.(*proto.Deliver).Message
	if d.Attachment == nil || *d.Attachment != want || len(d.Body) != 0 || d.Text != "look" {
		t.Fatalf("delivered %+v (attachment %+v)", d, d.Attachment)
	}
	page := bob.call(proto.TypeHistory, &proto.History{ConvID: p2p, Limit: 10}).Body.(*proto.HistoryPage)
	if len(page.Messages) != 1 || page.Messages[0].Attachment == nil || *page.Messages[0].Attachment != want || len(page.Messages[0].Body) != 0 {
		t.Fatalf("history %+v", page.Messages)
	}
	sr := bob.call(proto.TypeSync, &proto.Sync{}).Body.(*proto.SyncResult)
	if len(sr.Conversations) != 1 || sr.Conversations[0].LastMessage == nil || sr.Conversations[0].LastMessage.Attachment == nil ||
		*sr.Conversations[0].LastMessage.Attachment != want {
		t.Fatalf("sync %+v", sr.Conversations)
	}

	// Downloads: the peer by the conversation, the uploader without one.
	bobTok, aliceTok, carolTok := r.token("bob"), r.token("alice"), r.token("carol")
	got := r.download(bobTok, up.id, p2p, "")
	if got.status != 200 || !bytes.Equal(got.body, data) {
		t.Fatalf("bob's download: %d, %d bytes", got.status, len(got.body))
	}
	equal(t, got.header.Get("Content-Type"), "image/png", "content type")
	equal(t, got.header.Get("X-Content-Type-Options"), "nosniff", "nosniff")
	equal(t, got.header.Get("Content-Disposition"), "attachment", "never rendered inline")
	equal(t, got.header.Get("Content-Security-Policy"), "default-src 'none'; sandbox", "never run as a page of the relay's origin")
	got = r.download(aliceTok, up.id, "", "")
	equal(t, [2]int{got.status, len(got.body)}, [2]int{200, len(data)}, "the uploader's download")
	for _, c := range []struct {
		rng    string
		status int
		from   int
		to     int // exclusive
		cr     string
	}{
		{"bytes=0-9", 206, 0, 10, "bytes 0-9/300000"},
		{"bytes=299990-", 206, 299990, 300000, "bytes 299990-299999/300000"},
		{"bytes=-5", 206, 299995, 300000, "bytes 299995-299999/300000"},
		{"bytes=1000-1000000", 206, 1000, 300000, "bytes 1000-299999/300000"},
		{"bytes=0-", 200, 0, 300000, ""},
		{"bytes=0-1,5-6", 200, 0, 300000, ""}, // several ranges: the whole blob
		{"bytes=300000-", 416, 0, 0, "bytes */300000"},
	} {
		got := r.download(bobTok, up.id, p2p, c.rng)
		if got.status != c.status || got.header.Get("Content-Range") != c.cr {
			t.Errorf("Range %s: %d %q, want %d %q", c.rng, got.status, got.header.Get("Content-Range"), c.status, c.cr)
			continue
		}
		if c.status != 416 && !bytes.Equal(got.body, data[c.from:c.to]) {
			t.Errorf("Range %s: wrong bytes (%d)", c.rng, len(got.body))
		}
	}

	// Refusals, all one answer.
	g := carol.call(proto.TypeCreateGroup, &proto.CreateGroup{Name: "carol's", Members: []string{"alice"}}).Body.(*proto.ConvResult).Conversation
	alice.push(proto.TypeConvUpdate)
	for _, c := range []struct {
		name, token, id, conv string
		status                int
		code                  proto.Code
	}{
		{"stranger, no conversation", carolTok, up.id, "", 403, proto.CodeForbidden},
		{"stranger naming the conversation", carolTok, up.id, p2p, 403, proto.CodeForbidden},
		{"member of a group it was not sent in", carolTok, up.id, g.ID, 403, proto.CodeForbidden},
		{"unknown id", bobTok, "0123456789abcdef0123456789abcdef", p2p, 403, proto.CodeForbidden},
		{"malformed id", bobTok, "..%2f..%2fsecret", p2p, 403, proto.CodeForbidden},
		{"peer without the conversation", bobTok, up.id, "", 403, proto.CodeForbidden},
		{"no token", "", up.id, p2p, 401, proto.CodeUnauthorized},
	} {
		got := r.download(c.token, c.id, c.conv, "")
		if got.status != c.status || got.code != c.code {
			t.Errorf("%s: %d %d, want %d %d", c.name, got.status, got.code, c.status, c.code)
		}
	}

	// Sending someone else's upload, or none, stores nothing.
	for _, c := range []struct {
		name string
		from *client
		user string
		conv string
		id   string
		code proto.Code
	}{
		{"bob sends alice's upload", bob, "bob", p2p, up.id, proto.CodeAttachment},
		{"an id nobody uploaded", alice, "alice", p2p, "0123456789abcdef0123456789abcdef", proto.CodeAttachment},
		{"alice's upload into a group she is not in", alice, "alice", "g:elsewhere", up.id, proto.CodeForbidden},
	} {
		f := c.from.call(proto.TypeSend, &proto.Send{ConvID: c.conv, ClientID: "bad-" + c.user, MsgType: proto.MsgFile,
			Attachment: &proto.Attachment{ID: c.id, Name: "x.bin", Size: 1, Mime: "application/octet-stream"}})
		equal(t, errCode(t, f), c.code, c.name)
	}
	page = alice.call(proto.TypeHistory, &proto.History{ConvID: p2p, Limit: 10}).Body.(*proto.HistoryPage)
	equal(t, len(page.Messages), 1, "messages after the refused sends")
	got = r.download(carolTok, up.id, g.ID, "")
	equal(t, got.status, 403, "carol still refused after alice's refused send")

	// Sent into carol's group, it opens to that group's members.
	f = alice.call(proto.TypeSend, &proto.Send{ConvID: g.ID, ClientID: "img2", MsgType: proto.MsgImage, Attachment: att})
	equal(t, f.Type, proto.TypeAck, "the same upload into the group")
	got = r.download(carolTok, up.id, g.ID, "")
	equal(t, [2]int{got.status, len(got.body)}, [2]int{200, len(data)}, "carol downloads through the group")
	equal(t, r.download(carolTok, up.id, p2p, "").status, 403, "but not through alice and bob's conversation")
}

// TestUploadHandlerApart: the upload endpoints served apart from the relay,
// by a handler built anew for every request (as a stateless front end
// does), with the relay's token check (TokenVerifier), its store's answers
// (Server.MayDownload, IsParty), its upload limits (Server.AdmitUpload) and
// its index of uploads (Server.RecordUpload): the limits hold across the
// handlers, since the relay keeps them; a token the relay refuses is
// refused alike; a failing limit check, or an upload the relay cannot
// record, refuses with 503 and stores nothing; the relay's store knows
// each upload's uploader.
func TestUploadHandlerApart(t *testing.T) {
	blobs := NewMemoryBlobStore()
	r := startRelay(t, func(o *Options) { o.Blobs, o.UploadsPerMinute = blobs, 2 })
	verify, err := TokenVerifier(Options{Secret: testSecret, Data: t.TempDir()})
	ok(t, err)
	var admitErr, recordErr error
	serve := func(req *http.Request) *httptest.ResponseRecorder {
		h, err := NewUploadHandler(UploadOptions{
			Blobs: blobs, Verify: verify, MayDownload: r.srv.MayDownload, IsMember: r.srv.IsParty,
			Admit: func(_ context.Context, user string, size int64) (time.Duration, error) {
				if admitErr != nil {
					return 0, admitErr
				}
				return r.srv.AdmitUpload(user, size), nil
			},
			Uploaded: func(ctx context.Context, user, id string) error {
				if recordErr != nil {
					return recordErr
				}
				return r.srv.RecordUpload(ctx, user, id)
			},
			Logger: testLogger(),
		})
		ok(t, err)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	post := func(token string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/v1/uploads", strings.NewReader("0123456789"))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "image/png")
		return serve(req)
	}
	var id string
	for i := range 2 {
		rec := post(r.token("alice"))
		equal(t, rec.Code, 201, fmt.Sprintf("upload %d", i))
		var j uploadReply
		ok(t, json.Unmarshal(rec.Body.Bytes(), &j))
		id = j.ID
	}
	equal(t, post(r.token("alice")).Code, 429, "the relay's limit, across handlers")
	equal(t, post(r.token("bob")).Code, 201, "another user")
	expired, err := MintToken(testSecret, "alice", time.Second, time.Now().Add(-time.Hour))
	ok(t, err)
	rec := post(expired)
	equal(t, rec.Code, 401, "expired token")
	if !strings.Contains(rec.Body.String(), fmt.Sprint(proto.CodeTokenExpired)) {
		t.Errorf("expired token: %s", rec.Body)
	}
	forged, err := MintToken("another-secret-0123456789abcdef0123456789", "alice", time.Hour, time.Now())
	ok(t, err)
	equal(t, post(forged).Code, 401, "a token of another secret")
	admitErr = fmt.Errorf("relay object unavailable")
	equal(t, post(r.token("carol")).Code, 503, "limits unavailable")
	admitErr = nil
	recordErr = fmt.Errorf("relay object unavailable")
	equal(t, post(r.token("carol")).Code, 503, "the upload cannot be recorded")
	recordErr = nil
	equal(t, blobCount(blobs), 3, "uploads stored")
	ids, err := r.srv.store.(UploadIndex).UploadsOf(context.Background(), "alice", "", 10)
	ok(t, err)
	equal(t, [2]any{len(ids), slices.Contains(ids, id)}, [2]any{2, true}, "alice's uploads in the relay's index")

	get := func(user, conv, rg string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/v1/uploads/"+id+"?conv="+conv, nil)
		req.Header.Set("Authorization", "Bearer "+r.token(user))
		if rg != "" {
			req.Header.Set("Range", rg)
		}
		return serve(req)
	}
	rec = get("alice", "", "bytes=2-4")
	equal(t, [2]any{rec.Code, rec.Body.String()}, [2]any{206, "234"}, "the uploader, a range")
	equal(t, get("bob", proto.P2PID("alice", "bob"), "").Code, 403, "bob: not sent to him")
}

// TestUploadIdleCut: an upload whose body stops arriving is cut after the
// handler's IdleTimeout (30 s by default, docs/security.md), long before
// the server's own timeouts, and stores nothing.
func TestUploadIdleCut(t *testing.T) {
	t.Parallel()
	blobs := NewMemoryBlobStore()
	h, err := NewUploadHandler(UploadOptions{
		Blobs: blobs,
		Verify: func(string, time.Time) (string, time.Time, *proto.Error) {
			return "alice", time.Now().Add(time.Hour), nil
		},
		MayDownload: func(context.Context, string, string, string) (bool, error) { return true, nil },
		IdleTimeout: 300 * time.Millisecond,
		Logger:      testLogger(),
	})
	ok(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	ok(t, err)
	defer c.Close()
	_, err = fmt.Fprintf(c, "POST /v1/uploads HTTP/1.1\r\nHost: relay\r\nAuthorization: Bearer t\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n%s", bytes.Repeat([]byte("x"), 1000))
	ok(t, err)
	// And nothing more: the connection must end (an answer, then EOF, or a
	// reset) within a few idle timeouts.
	start := time.Now()
	ok(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err = io.Copy(io.Discard, c)
	if ne, isNet := err.(net.Error); isNet && ne.Timeout() {
		t.Fatal("a stalled upload was still open after 10 s")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("a stalled upload was cut after %v", took)
	}
	equal(t, blobCount(blobs), 0, "nothing stored")
}

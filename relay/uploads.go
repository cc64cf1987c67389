package relay

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
	"golang.org/x/time/rate"
)

// Attachments travel beside the WebSocket, over plain HTTP:
//
//	POST /v1/uploads          body = the file, Content-Type = its media type,
//	                          Authorization: Bearer <token>; length in
//	                          Content-Length, or in Upload-Length when the
//	                          body is streamed (chunked)
//	                          → 201 {"id", "size", "mime"}
//	GET  /v1/uploads/{id}?conv=<conversation id>   (Range supported)
//	                          → the bytes, to the uploader, or to a user who
//	                          may read a message of ?conv carrying it
//
// A message refers to an upload by id; the relay accepts it only from the
// uploader (4243 otherwise) and records, before storing the message, that
// the attachment was sent in that conversation. A download names the
// conversation and is allowed to whoever may read a message of it that
// carries the attachment: a party of a one-to-one conversation, or a group
// member at the time it was sent, whether still a member or not.
//
// Refusals are JSON {"code", "message"} with the HTTP status:
//
//	401 4001/4002  no token, an invalid one, or an expired one
//	403 4203       not the uploader nor a reader of a message of ?conv
//	               carrying it, no such upload,
//	               or no such conversation (one answer, so ids cannot be probed)
//	404 4204       to a reader of a message of ?conv carrying it: the
//	               attachment was deleted with its uploader's account
//	411 4242       no Content-Length and no Upload-Length
//	400 4242       a body shorter or longer than its declared length
//	413 4240       a declared length above MaxUpload
//	415 4241       a media type not on the allow-list
//	416 4200       a Range outside the blob
//	429 4301       the user's upload rate or bytes are used up; Retry-After says when to retry
//	503 4300       the blob store failed
//
// The handler depends on a BlobStore, a token check and a read check
// only, so it serves unchanged wherever those three exist.

// DefaultMaxUpload is the largest upload accepted by default: 100 MiB.
const DefaultMaxUpload = 100 << 20

// DefaultUploadTypes is the default allow-list of upload media types:
// images, audio, video, PDF, plain text and common office and archive
// files. Patterns are media types, "type/*" or "*/*" (anything).
var DefaultUploadTypes = []string{
	"image/*", "audio/*", "video/*", "text/plain", "text/markdown", "text/csv",
	"application/pdf", "application/zip", "application/gzip", "application/json",
	"application/octet-stream",
	"application/msword", "application/vnd.openxmlformats-officedocument.*",
	"application/vnd.ms-excel", "application/vnd.ms-powerpoint", "application/vnd.oasis.opendocument.*",
}

// UploadOptions configure NewUploadHandler.
type UploadOptions struct {
	// Blobs keeps the uploads. Required.
	Blobs BlobStore
	// Verify checks a bearer token at now, as the WebSocket Hello is
	// checked, and returns its user. Required.
	Verify func(token string, now time.Time) (user string, exp time.Time, perr *proto.Error)
	// SignIn checks a user whose token verified as a hello is checked
	// after its token: a banned user (4004, answered 403) and a token
	// issued before a revocation that covers the user (4013, 401) are
	// refused, so neither can upload or download with a token still
	// unexpired (Server.SignIn). nil: nothing beyond the token.
	SignIn func(ctx context.Context, user, token string) *proto.Error
	// MayDownload reports whether user may read a message of conv that
	// carries attachment id (the uploader always may). Required.
	MayDownload func(ctx context.Context, user, conv, id string) (bool, error)
	// Uploaded records that user uploaded id, before its bytes are
	// stored, so that deleting the user deletes them (UploadIndex); an
	// error refuses the upload with 503. nil: nothing is recorded.
	Uploaded func(ctx context.Context, user, id string) error
	// IsMember reports whether user is a member of conv now. It decides
	// who is told that an attachment was deleted with its message (4236);
	// nil tells only the uploader.
	IsMember func(ctx context.Context, user, conv string) (bool, error)
	// MaxUpload is the largest upload accepted, in bytes. Defaults to
	// DefaultMaxUpload (100 MiB).
	MaxUpload int64
	// AllowTypes are the media types an upload may declare ("image/png",
	// "image/*", "*/*"). Defaults to DefaultUploadTypes.
	AllowTypes []string
	// UploadsPerMinute is how many uploads one user may start per minute
	// on this node, all devices together; the burst is as many at once.
	// Defaults to 60; negative disables the limit.
	UploadsPerMinute float64
	// UploadByteRate is the sustained number of upload bytes a second one
	// user may send on this node; the burst is MaxUpload, so one upload of
	// any allowed size passes at once. Defaults to 1 MiB/s (some 3.5 GiB an
	// hour); negative disables the limit.
	UploadByteRate float64
	// Admit charges one upload of size bytes to user's upload limits
	// where they are kept, and returns 0 or how long to wait (then
	// charging nothing); an error refuses the upload with 503. It is for a
	// handler that keeps no state of its own between requests (on
	// Cloudflare Workers, a front end that asks the relay's Durable Object,
	// Server.AdmitUpload). nil: the handler's own per-user buckets, set by
	// UploadsPerMinute and UploadByteRate.
	Admit func(ctx context.Context, user string, size int64) (time.Duration, error)
	// IdleTimeout ends an upload whose body sends nothing for this long
	// (the server's ReadTimeout would end a large upload on a slow link).
	// Defaults to 30 s.
	IdleTimeout time.Duration
	// Origins are the allowed browser origins, as Options.Origins; CORS
	// answers follow them. Defaults to any origin (tokens are never
	// cookies, so a cross-site request carries no authority).
	Origins []string
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// uploadHandler serves POST /v1/uploads and GET /v1/uploads/{id}.
type uploadHandler struct {
	o   UploadOptions
	mux *http.ServeMux

	mu    sync.Mutex
	users map[string]*uploadLimits
	swept time.Time
}

// uploadLimits are one user's upload buckets.
type uploadLimits struct {
	count, bytes *rate.Limiter
	used         time.Time
}

// NewUploadHandler returns the attachment endpoints as an http.Handler,
// to be mounted at /v1/uploads and /v1/uploads/.
func NewUploadHandler(o UploadOptions) (http.Handler, error) {
	if o.Blobs == nil || o.Verify == nil || o.MayDownload == nil {
		return nil, errors.New("relay: upload handler needs a blob store, a token check and a membership check")
	}
	if o.MaxUpload == 0 {
		o.MaxUpload = DefaultMaxUpload
	}
	if o.MaxUpload < 0 {
		return nil, fmt.Errorf("relay: MaxUpload %d is negative", o.MaxUpload)
	}
	if o.AllowTypes == nil {
		o.AllowTypes = DefaultUploadTypes
	}
	for _, p := range o.AllowTypes {
		if _, err := path.Match(p, ""); err != nil || !strings.Contains(p, "/") {
			return nil, fmt.Errorf("relay: upload type pattern %q is not type/subtype, type/* or */*", p)
		}
	}
	if o.UploadsPerMinute == 0 {
		o.UploadsPerMinute = 60
	}
	if o.UploadByteRate == 0 {
		o.UploadByteRate = 1 << 20
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	h := &uploadHandler{o: o, users: make(map[string]*uploadLimits)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/uploads", h.upload)
	mux.HandleFunc("GET /v1/uploads/{id}", h.download)
	mux.HandleFunc("OPTIONS /v1/uploads", h.preflight)
	mux.HandleFunc("OPTIONS /v1/uploads/{id}", h.preflight)
	h.mux = mux
	return h, nil
}

func (h *uploadHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.cors(w, r)
	h.mux.ServeHTTP(w, r)
}

// cors lets browser pages of allowed origins call the endpoints with an
// Authorization header and read the range headers.
func (h *uploadHandler) cors(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return
	}
	hd := w.Header()
	if len(h.o.Origins) == 0 {
		hd.Set("Access-Control-Allow-Origin", "*")
	} else if rules.AdmitOrigin(origin, r.Host, h.o.Origins) == nil {
		hd.Set("Access-Control-Allow-Origin", origin)
		hd.Add("Vary", "Origin")
	} else {
		return
	}
	hd.Set("Access-Control-Expose-Headers", "Content-Range, Content-Length, Accept-Ranges, Retry-After")
}

func (h *uploadHandler) preflight(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Access-Control-Allow-Methods", "GET, POST")
	hd.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Upload-Length, Range")
	hd.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

// uploadReply is the JSON answer to a successful upload.
type uploadReply struct {
	ID   string `json:"id"`
	Size int64  `json:"size"`
	Mime string `json:"mime"`
}

func (h *uploadHandler) upload(w http.ResponseWriter, r *http.Request) {
	user, ok := h.auth(w, r)
	if !ok {
		return
	}
	mt := "application/octet-stream"
	if ct := r.Header.Get("Content-Type"); ct != "" {
		parsed, _, err := mime.ParseMediaType(ct)
		if err != nil || !proto.ValidMime(strings.ToLower(parsed)) {
			refuse(w, http.StatusUnsupportedMediaType, proto.Errorf(proto.CodeUploadType, "content type %q is not a media type", proto.Clip(ct, 64)))
			return
		}
		mt = strings.ToLower(parsed)
	}
	if !h.allowed(mt) {
		refuse(w, http.StatusUnsupportedMediaType, proto.Errorf(proto.CodeUploadType, "content type %s is not allowed here", mt))
		return
	}
	size := r.ContentLength
	if ul := r.Header.Get("Upload-Length"); ul != "" {
		n, err := strconv.ParseInt(ul, 10, 64)
		if err != nil || n < 0 || (size >= 0 && size != n) {
			refuse(w, http.StatusBadRequest, proto.Errorf(proto.CodeUploadIncomplete, "Upload-Length %q is not the body's length", proto.Clip(ul, 32)))
			return
		}
		size = n
	}
	if size < 0 {
		refuse(w, http.StatusLengthRequired, proto.Errorf(proto.CodeUploadIncomplete, "declare the length: Content-Length, or Upload-Length with a streamed body"))
		return
	}
	if size > h.o.MaxUpload {
		refuse(w, http.StatusRequestEntityTooLarge, proto.Errorf(proto.CodeUploadTooLarge, "%d bytes is above this relay's limit of %d", size, h.o.MaxUpload))
		return
	}
	admit := func(ctx context.Context, user string, size int64) (time.Duration, error) {
		return h.admit(user, size), nil
	}
	if h.o.Admit != nil {
		admit = h.o.Admit
	}
	wait, err := admit(r.Context(), user, size)
	if err != nil {
		h.unavailable(w, "upload: limits", err)
		return
	}
	if wait > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(int64(math.Ceil(wait.Seconds())), 10))
		refuse(w, http.StatusTooManyRequests, proto.Errorf(proto.CodeBusy, "upload limit reached; retry in %s", wait.Round(time.Second)))
		return
	}
	id := randomHex(16) // 128 random bits: an id cannot be guessed
	if h.o.Uploaded != nil {
		if err := h.o.Uploaded(r.Context(), user, id); err != nil {
			h.unavailable(w, "upload: record", err)
			return
		}
	}
	body := &idleReader{r: r.Body, rc: http.NewResponseController(w), idle: h.o.IdleTimeout}
	err = h.o.Blobs.Put(r.Context(), uploadKey(id), body, BlobMeta{Size: size, ContentType: mt, Owner: user})
	switch {
	case errors.Is(err, ErrBlobSize):
		refuse(w, http.StatusBadRequest, proto.Errorf(proto.CodeUploadIncomplete, "the body is not the %d bytes declared", size))
		return
	case err != nil && r.Context().Err() != nil:
		h.o.Logger.Debug("upload cut by the client", "user", user, "err", err)
		return
	case err != nil:
		if body.err != nil {
			// The client's connection failed or stalled, not the store.
			h.o.Logger.Debug("upload body failed", "user", user, "err", body.err)
			refuse(w, http.StatusBadRequest, proto.Errorf(proto.CodeUploadIncomplete, "the body ended before its %d bytes", size))
			return
		}
		h.o.Logger.Error("upload: blob store", "user", user, "err", err)
		refuse(w, http.StatusServiceUnavailable, proto.Errorf(proto.CodeUnavailable, "storage unavailable, retry"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Location", "/v1/uploads/"+id)
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(uploadReply{ID: id, Size: size, Mime: mt})
}

func (h *uploadHandler) download(w http.ResponseWriter, r *http.Request) {
	user, ok := h.auth(w, r)
	if !ok {
		return
	}
	id, conv := r.PathValue("id"), r.URL.Query().Get("conv")
	// One refusal for every way of not being allowed: an id that does not
	// exist looks like one that is not yours.
	forbidden := proto.Errorf(proto.CodeForbidden, "no such attachment in a conversation of yours")
	if !proto.ValidAttachmentID(id) {
		refuse(w, http.StatusForbidden, forbidden)
		return
	}
	ctx := r.Context()
	meta, err := h.o.Blobs.Stat(ctx, uploadKey(id))
	if errors.Is(err, ErrBlobNotFound) {
		h.gone(w, r, user, id, conv, forbidden)
		return
	}
	if err != nil {
		h.unavailable(w, "download: stat", err)
		return
	}
	if meta.Owner != user {
		if !proto.ValidConvID(conv) {
			refuse(w, http.StatusForbidden, forbidden)
			return
		}
		_, err := h.o.Blobs.Stat(ctx, linkKey(id, conv))
		if errors.Is(err, ErrBlobNotFound) {
			refuse(w, http.StatusForbidden, forbidden)
			return
		}
		if err != nil {
			h.unavailable(w, "download: link", err)
			return
		}
		may, err := h.o.MayDownload(ctx, user, conv, id)
		if err != nil {
			h.unavailable(w, "download: members", err)
			return
		}
		if !may {
			refuse(w, http.StatusForbidden, forbidden)
			return
		}
	}
	hd := w.Header()
	hd.Set("Accept-Ranges", "bytes")
	hd.Set("Content-Type", meta.ContentType)
	// The bytes are whatever a user sent: never rendered as a page of
	// this origin, never sniffed into something else.
	hd.Set("Content-Disposition", "attachment")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	hd.Set("Cache-Control", "private, max-age=31536000, immutable")
	hd.Set("ETag", `"`+id+`"`)
	off, n, status := int64(0), meta.Size, http.StatusOK
	if rg := r.Header.Get("Range"); rg != "" && ifRangeMatches(r, id) {
		var ok, whole bool
		off, n, ok, whole = parseRange(rg, meta.Size)
		switch {
		case !ok:
			hd.Set("Content-Range", "bytes */"+strconv.FormatInt(meta.Size, 10))
			refuse(w, http.StatusRequestedRangeNotSatisfiable, proto.Errorf(proto.CodeBadRequest, "range %q is outside the %d bytes", proto.Clip(rg, 64), meta.Size))
			return
		case !whole:
			status = http.StatusPartialContent
			hd.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, off+n-1, meta.Size))
		}
	}
	rc, err := h.o.Blobs.Get(ctx, uploadKey(id), off, n)
	if err != nil {
		h.unavailable(w, "download: get", err)
		return
	}
	defer rc.Close()
	hd.Set("Content-Length", strconv.FormatInt(n, 10))
	w.WriteHeader(status)
	if _, err := io.Copy(w, rc); err != nil {
		h.o.Logger.Debug("download cut", "user", user, "id", id, "err", err)
	}
}

// auth reads the bearer token and checks it as a Hello's is checked.
func (h *uploadHandler) auth(w http.ResponseWriter, r *http.Request) (string, bool) {
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="parley"`)
		refuse(w, http.StatusUnauthorized, proto.Errorf(proto.CodeUnauthorized, "Authorization: Bearer <token> required"))
		return "", false
	}
	token = strings.TrimSpace(token)
	user, _, perr := h.o.Verify(token, h.o.Now())
	if perr == nil && h.o.SignIn != nil {
		perr = h.o.SignIn(r.Context(), user, token)
	}
	switch {
	case perr == nil:
		return user, true
	case perr.Code == proto.CodeBanned:
		refuse(w, http.StatusForbidden, perr)
	default:
		w.Header().Set("WWW-Authenticate", `Bearer realm="parley", error="invalid_token"`)
		refuse(w, http.StatusUnauthorized, perr)
	}
	return "", false
}

// allowed reports whether media type mt matches the allow-list.
func (h *uploadHandler) allowed(mt string) bool {
	for _, p := range h.o.AllowTypes {
		if ok, _ := path.Match(strings.ToLower(p), mt); ok {
			return true
		}
	}
	return false
}

// admit charges one upload of size bytes to user's buckets and returns 0,
// or how long to wait, charging nothing, when either is empty.
func (h *uploadHandler) admit(user string, size int64) time.Duration {
	if h.o.UploadsPerMinute < 0 && h.o.UploadByteRate < 0 {
		return 0
	}
	now := h.o.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if now.Sub(h.swept) > time.Minute {
		// Full buckets of users gone quiet cost memory for nothing.
		for u, l := range h.users {
			if now.Sub(l.used) > 10*time.Minute {
				delete(h.users, u)
			}
		}
		h.swept = now
	}
	l := h.users[user]
	if l == nil {
		l = &uploadLimits{}
		if h.o.UploadsPerMinute > 0 {
			l.count = rate.NewLimiter(rate.Limit(h.o.UploadsPerMinute/60), max(1, int(h.o.UploadsPerMinute)))
		}
		if h.o.UploadByteRate > 0 {
			l.bytes = rate.NewLimiter(rate.Limit(h.o.UploadByteRate), int(min(h.o.MaxUpload, math.MaxInt32)))
		}
		h.users[user] = l
	}
	l.used = now
	var wait time.Duration
	var cr, br *rate.Reservation
	if l.count != nil {
		cr = l.count.ReserveN(now, 1)
		wait = max(wait, cr.DelayFrom(now))
	}
	if l.bytes != nil && size > 0 {
		br = l.bytes.ReserveN(now, int(min(size, int64(l.bytes.Burst()))))
		wait = max(wait, br.DelayFrom(now))
	}
	if wait > 0 {
		if cr != nil {
			cr.CancelAt(now)
		}
		if br != nil {
			br.CancelAt(now)
		}
	}
	return wait
}

func (h *uploadHandler) unavailable(w http.ResponseWriter, what string, err error) {
	h.o.Logger.Error("upload handler: "+what, "err", err)
	refuse(w, http.StatusServiceUnavailable, proto.Errorf(proto.CodeUnavailable, "storage unavailable, retry"))
}

// refuse writes a JSON refusal.
func refuse(w http.ResponseWriter, status int, perr *proto.Error) {
	hd := w.Header()
	hd.Del("Content-Disposition")
	hd.Set("Content-Type", "application/json")
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Code    proto.Code `json:"code"`
		Message string     `json:"message"`
	}{perr.Code, perr.Message})
}

// gone answers the download of an attachment whose bytes are not there:
// 410 with 4236 when it was deleted with the message that carried it
// (session_lifecycle.go) and the asker is its uploader or names a
// conversation it was sent in; 404 with 4204 when it was deleted with its
// uploader's account (admin_users.go) and the asker may read a message of
// the conversation it names that carries it; the usual refusal otherwise.
func (h *uploadHandler) gone(w http.ResponseWriter, r *http.Request, user, id, conv string, forbidden *proto.Error) {
	ctx := r.Context()
	meta, err := h.o.Blobs.Stat(ctx, goneKey(id))
	if errors.Is(err, ErrBlobNotFound) && proto.ValidConvID(conv) {
		// Sent in conv (the link is written only for an upload that
		// exists) and not deleted with a message: its uploader's
		// deletion took it.
		if _, lerr := h.o.Blobs.Stat(ctx, linkKey(id, conv)); lerr == nil {
			if may, merr := h.o.MayDownload(ctx, user, conv, id); merr == nil && may {
				refuse(w, http.StatusNotFound, proto.Errorf(proto.CodeNotFound, "the attachment was deleted with its uploader's account"))
				return
			}
		}
	}
	if err == nil && meta.Owner != user {
		if !proto.ValidConvID(conv) || h.o.IsMember == nil {
			err = ErrBlobNotFound
		} else if _, err = h.o.Blobs.Stat(ctx, linkKey(id, conv)); err == nil {
			if member, merr := h.o.IsMember(ctx, user, conv); merr != nil || !member {
				err = ErrBlobNotFound
			}
		}
	}
	if err != nil {
		refuse(w, http.StatusForbidden, forbidden)
		return
	}
	refuse(w, http.StatusGone, proto.Errorf(proto.CodeAttachmentGone, "the attachment was deleted with its message"))
}

// goneKey marks an attachment deleted with its message; its owner is the
// uploader's.
func goneKey(id string) string { return "g/" + id }

// uploadKey is where an upload's bytes are kept.
func uploadKey(id string) string { return "u/" + id }

// linkKey records that attachment id was sent in conv. Conversation ids
// hold ':' and '.', which keys do not: the id goes hex-encoded.
func linkKey(id, conv string) string { return "l/" + id + "/" + hex.EncodeToString([]byte(conv)) }

// linkAttachment checks that sender uploaded a, fills in its size and
// media type from the upload, and records that it is sent in conv, so the
// conversation's members may download it. The record is written before the
// message is stored: a message never refers to an attachment its readers
// cannot fetch (a failed store leaves a record the uploader chose to make).
func linkAttachment(ctx context.Context, blobs BlobStore, sender, conv string, a *proto.Attachment) error {
	meta, err := blobs.Stat(ctx, uploadKey(a.ID))
	if errors.Is(err, ErrBlobNotFound) || err == nil && meta.Owner != sender {
		return proto.Errorf(proto.CodeAttachment, "attachment %s is not one you uploaded", a.ID)
	}
	if err != nil {
		return err
	}
	a.Size, a.Mime = meta.Size, meta.ContentType
	if err := blobs.Put(ctx, linkKey(a.ID, conv), strings.NewReader(""), BlobMeta{ContentType: "application/octet-stream"}); err != nil {
		return err
	}
	return nil
}

// idleReader extends the connection's read deadline before every read, so
// an upload lasts as long as its bytes keep coming.
type idleReader struct {
	r    io.Reader
	rc   *http.ResponseController
	idle time.Duration
	err  error // the body's own failure, if any
}

func (b *idleReader) Read(p []byte) (int, error) {
	_ = b.rc.SetReadDeadline(time.Now().Add(b.idle))
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

// ifRangeMatches applies If-Range (RFC 9110 §13.1.5): the blob of an id
// never changes, so its ETag always matches; a date cannot be compared and
// the whole blob is sent.
func ifRangeMatches(r *http.Request, id string) bool {
	ir := r.Header.Get("If-Range")
	return ir == "" || ir == `"`+id+`"`
}

// parseRange reads a Range header of one byte range (RFC 9110 §14.1.2) over
// size bytes: the range's offset and length, ok = false when it is
// unsatisfiable, whole = true when the header is to be ignored (not bytes,
// several ranges, malformed) or covers everything.
func parseRange(h string, size int64) (off, n int64, ok, whole bool) {
	spec, found := strings.CutPrefix(h, "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, size, true, true
	}
	first, last, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, size, true, true
	}
	if first == "" { // suffix: the last n bytes
		k, err := strconv.ParseInt(last, 10, 64)
		if err != nil || k < 0 {
			return 0, size, true, true
		}
		if k == 0 {
			return 0, 0, false, false
		}
		k = min(k, size)
		return size - k, k, true, k == size
	}
	a, err := strconv.ParseInt(first, 10, 64)
	if err != nil || a < 0 {
		return 0, size, true, true
	}
	b := size - 1
	if last != "" {
		if b, err = strconv.ParseInt(last, 10, 64); err != nil || b < a {
			return 0, size, true, true
		}
		b = min(b, size-1)
	}
	if a >= size {
		return 0, 0, false, false
	}
	return a, b - a + 1, true, a == 0 && b == size-1
}

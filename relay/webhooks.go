package relay

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-im/parley/proto"
)

// Webhooks tell the application's server what happened, for moderation,
// push notifications and analytics: a POST of one JSON event to
// Options.Webhook, signed with Options.WebhookSecret. Delivery never holds
// up the relay: events wait in a bounded queue (one beyond it is dropped
// and counted), a failed request (a network error, a timeout, a status
// other than 2xx) is retried with exponential backoff, each retry queued
// again when its time comes.
//
// Signature: the headers Parley-Timestamp (unix seconds) and
// Parley-Signature ("v1=" and the hex HMAC-SHA256, under the secret, of the
// timestamp, a ".", and the body exactly as received). A receiver
// recomputes it, compares in constant time, and refuses a timestamp more
// than a few minutes away from its clock (a replayed request). A retry
// carries the same Parley-Event-Id and body, and a fresh timestamp and
// signature.

// Webhook event types.
const (
	HookMessage     = "after-message"      // a message was stored (a send, or the admin API)
	HookGroupChange = "after-group-change" // a group was created or changed
	HookUserOnline  = "user-online"        // a user's first session opened, on any relay
	HookUserOffline = "user-offline"       // a user's last session closed
	HookUserDeleted = "user-deleted"       // the admin API deleted a user
)

// HookEvent is the body of one webhook request.
type HookEvent struct {
	ID   string `json:"id"`   // unique per event; a retry repeats it
	Type string `json:"type"` // one of the Hook constants
	Time int64  `json:"time"` // unix milliseconds, relay clock
	// One of these, by Type.
	Message *HookMessageData `json:"message,omitempty"`
	Group   *HookGroupData   `json:"group,omitempty"`
	User    string           `json:"user,omitempty"` // user-online, user-offline, user-deleted
}

// HookMessageData is a stored message.
type HookMessageData struct {
	ConversationID string   `json:"conversationId"`
	Seq            uint64   `json:"seq"`
	Sender         string   `json:"sender"`
	ClientID       string   `json:"clientId"`
	Type           string   `json:"type"`
	Text           string   `json:"text,omitempty"`
	Body           []byte   `json:"body,omitempty"` // base64
	CreatedAt      int64    `json:"createdAt"`
	Members        []string `json:"members,omitempty"` // who it is for
}

// HookGroupData is a group after a change.
type HookGroupData struct {
	ID      string   `json:"id"`
	Change  string   `json:"change"` // "created", …
	Name    string   `json:"name,omitempty"`
	Members []string `json:"members,omitempty"`
}

// SignWebhook returns the Parley-Signature value of body sent at ts (unix
// seconds) under secret.
func SignWebhook(secret []byte, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(strconv.FormatInt(ts, 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}

// VerifyWebhook checks a request's signature and that its timestamp is
// within tolerance of now: what a receiver does with each request.
func VerifyWebhook(secret []byte, timestamp, signature string, body []byte, now time.Time, tolerance time.Duration) bool {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return false
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return false
	}
	return hmac.Equal([]byte(SignWebhook(secret, ts, body)), []byte(signature))
}

// webhooks delivers events; a nil *webhooks drops them all.
type webhooks struct {
	url      string
	secret   []byte
	client   *http.Client
	retries  int
	backoff  time.Duration
	ctx      context.Context
	log      *slog.Logger
	queue    chan hookJob
	wg       sync.WaitGroup
	sent     atomic.Uint64 // delivered (2xx)
	failed   atomic.Uint64 // attempts that failed
	dropped  atomic.Uint64 // events dropped: queue full, or out of retries
	retrying atomic.Int64  // retries waiting for their time
}

type hookJob struct {
	id      string
	body    []byte
	attempt int
}

// hookWorkers is how many requests are in flight at once.
const hookWorkers = 4

func newWebhooks(ctx context.Context, o Options, m *metrics) *webhooks {
	if o.Webhook == "" {
		return nil
	}
	h := &webhooks{
		url: o.Webhook, secret: []byte(o.WebhookSecret), retries: o.WebhookRetries, backoff: o.WebhookBackoff,
		ctx: ctx, log: o.Logger, queue: make(chan hookJob, o.WebhookQueue),
		client: &http.Client{Timeout: o.WebhookTimeout, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a redirect is an answer, not a place to post the event again
		}},
	}
	m.counterFunc("parley_webhook_sent_total", "Webhook events the receiver accepted (2xx).", &h.sent)
	m.counterFunc("parley_webhook_failed_total", "Webhook requests that failed (network error, timeout, status other than 2xx); each is retried until out of retries.", &h.failed)
	m.counterFunc("parley_webhook_dropped_total", "Webhook events dropped: the queue was full, or every retry failed.", &h.dropped)
	m.gaugeFunc("parley_webhook_queue_events", "Webhook events waiting for a worker.", func() float64 { return float64(len(h.queue)) })
	for range hookWorkers {
		h.wg.Add(1)
		go h.work()
	}
	return h
}

// emit queues an event; it never blocks.
func (h *webhooks) emit(e HookEvent) {
	if h == nil {
		return
	}
	e.ID = "evt_" + randomHex(12)
	e.Time = time.Now().UnixMilli()
	body, err := json.Marshal(e)
	if err != nil {
		h.log.Error("webhook: encode", "err", err)
		return
	}
	h.enqueue(hookJob{id: e.ID, body: body})
}

func (h *webhooks) enqueue(j hookJob) {
	select {
	case h.queue <- j:
	default:
		if n := h.dropped.Add(1); n&(n-1) == 0 { // logged at 1, 2, 4, 8, … drops
			h.log.Warn("webhook queue full: event dropped", "dropped", n)
		}
	}
}

func (h *webhooks) work() {
	defer h.wg.Done()
	for {
		select {
		case j := <-h.queue:
			h.deliver(j)
		case <-h.ctx.Done():
			return
		}
	}
}

// deliver makes one attempt at j and schedules the next on failure.
func (h *webhooks) deliver(j hookJob) {
	err := h.post(j)
	if err == nil {
		h.sent.Add(1)
		return
	}
	h.failed.Add(1)
	if j.attempt >= h.retries {
		h.dropped.Add(1)
		h.log.Warn("webhook failed, out of retries", "event", j.id, "attempts", j.attempt+1, "err", err)
		return
	}
	wait := min(h.backoff<<j.attempt, time.Minute)
	h.log.Debug("webhook failed, retrying", "event", j.id, "attempt", j.attempt+1, "in", wait, "err", err)
	j.attempt++
	h.retrying.Add(1)
	time.AfterFunc(wait, func() {
		h.retrying.Add(-1)
		if h.ctx.Err() == nil {
			h.enqueue(j)
		}
	})
}

type hookStatusError int

func (e hookStatusError) Error() string { return "status " + strconv.Itoa(int(e)) }

func (h *webhooks) post(j hookJob) error {
	req, err := http.NewRequestWithContext(h.ctx, http.MethodPost, h.url, bytes.NewReader(j.body))
	if err != nil {
		return err
	}
	ts := time.Now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "parley-relay")
	req.Header.Set("Parley-Event-Id", j.id)
	req.Header.Set("Parley-Timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("Parley-Signature", SignWebhook(h.secret, ts, j.body))
	resp, err := h.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return hookStatusError(resp.StatusCode)
	}
	return nil
}

// message reports a stored message.
func (h *webhooks) message(m proto.Message, members []string) {
	if h == nil {
		return
	}
	h.emit(HookEvent{Type: HookMessage, Message: &HookMessageData{
		ConversationID: m.ConvID, Seq: m.Seq, Sender: m.Sender, ClientID: m.ClientID, Type: m.MsgType,
		Text: m.Text, Body: m.Body, CreatedAt: m.CreatedAt, Members: members,
	}})
}

// groupChanged reports a group after a change.
func (h *webhooks) groupChanged(c proto.Conversation, change string) {
	if h == nil {
		return
	}
	h.emit(HookEvent{Type: HookGroupChange, Group: &HookGroupData{ID: c.ID, Change: change, Name: c.Name, Members: c.Members}})
}

// presence reports a user coming online or going offline.
func (h *webhooks) presence(user string, online bool) {
	if h == nil {
		return
	}
	typ := HookUserOffline
	if online {
		typ = HookUserOnline
	}
	h.emit(HookEvent{Type: typ, User: user})
}

// userDeleted reports a user the admin API deleted.
func (h *webhooks) userDeleted(user string) {
	if h == nil {
		return
	}
	h.emit(HookEvent{Type: HookUserDeleted, User: user})
}

//go:build !js

package relay

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
)

// hookSink is a test receiver of webhooks: it checks each signature and
// records the events, answering the first fail requests of each event with
// 500.
type hookSink struct {
	t      *testing.T
	secret []byte
	fail   int

	mu       sync.Mutex
	events   []HookEvent
	attempts map[string]int
	bad      int
	got      chan struct{}
}

func newHookSink(t *testing.T, secret string, fail int) (*hookSink, *httptest.Server) {
	h := &hookSink{t: t, secret: []byte(secret), fail: fail, attempts: map[string]int{}, got: make(chan struct{}, 1024)}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return h, srv
}

func (h *hookSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	if !VerifyWebhook(h.secret, r.Header.Get("Parley-Timestamp"), r.Header.Get("Parley-Signature"), body, time.Now(), 5*time.Minute) {
		h.bad++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var e HookEvent
	if err := json.Unmarshal(body, &e); err != nil || e.ID != r.Header.Get("Parley-Event-Id") {
		h.bad++
		http.Error(w, "bad event", http.StatusBadRequest)
		return
	}
	h.attempts[e.ID]++
	if h.attempts[e.ID] <= h.fail {
		http.Error(w, "try again", http.StatusInternalServerError)
		return
	}
	h.events = append(h.events, e)
	h.got <- struct{}{}
}

// wait returns the first event of type typ, waiting up to 10 s.
func (h *hookSink) wait(typ string, match func(HookEvent) bool) HookEvent {
	h.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		h.mu.Lock()
		for _, e := range h.events {
			if e.Type == typ && (match == nil || match(e)) {
				h.mu.Unlock()
				return e
			}
		}
		h.mu.Unlock()
		select {
		case <-h.got:
		case <-deadline:
			h.t.Fatalf("no %s webhook within 10 s", typ)
		}
	}
}

// TestWebhooks: messages, group changes and users coming online and going
// offline reach the receiver signed; a receiver answering 500 gets the same
// event again, with the same id, until it takes it.
func TestWebhooks(t *testing.T) {
	t.Parallel()
	for _, fail := range []int{0, 2} {
		sink, srv := newHookSink(t, testAdminSecret, fail)
		r := startRelay(t, func(o *Options) {
			o.AdminSecret = testAdminSecret // signs the webhooks too
			o.Webhook = srv.URL
			o.WebhookBackoff = 20 * time.Millisecond
		})
		alice := loginOn(t, r, "alice", "laptop", "web")
		on := sink.wait(HookUserOnline, func(e HookEvent) bool { return e.User == "alice" })
		equal(t, on.User, "alice", "online")
		alice.ack(proto.P2PID("alice", "bob"), "c1", "hello bob")
		m := sink.wait(HookMessage, nil).Message
		equal(t, [3]string{m.Sender, m.Text, m.ConversationID}, [3]string{"alice", "hello bob", proto.P2PID("alice", "bob")}, "message")
		equal(t, m.Members, []string{"alice", "bob"}, "who it is for")
		alice.call(proto.TypeCreateGroup, &proto.CreateGroup{ConvID: "g:alice.trip", Name: "trip", Members: []string{"bob"}})
		g := sink.wait(HookGroupChange, nil).Group
		equal(t, [2]string{g.ID, g.Change}, [2]string{"g:alice.trip", "created"}, "group created")
		alice.c.CloseNow()
		sink.wait(HookUserOffline, func(e HookEvent) bool { return e.User == "alice" })
		sink.mu.Lock()
		equal(t, sink.bad, 0, "requests with a bad signature")
		for id, n := range sink.attempts {
			equal(t, n, fail+1, "attempts of "+id)
		}
		sink.mu.Unlock()
		if fail > 0 {
			if got := r.metric("parley_webhook_failed_total"); got == "0" || got == "" {
				t.Errorf("parley_webhook_failed_total = %q after refusals", got)
			}
		}
	}
}

// TestWebhookNeverAnswers: a receiver that never answers holds up nothing:
// messages are acked and delivered at once while its requests hang, and
// events beyond the queue are dropped and counted.
func TestWebhookNeverAnswers(t *testing.T) {
	t.Parallel()
	hang := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(hang); srv.Close() })
	r := startRelay(t, func(o *Options) {
		o.Webhook = srv.URL
		o.WebhookSecret = testAdminSecret
		o.WebhookQueue = 4
		o.WebhookTimeout = time.Minute
	})
	alice := loginOn(t, r, "alice", "laptop", "web")
	bob := loginOn(t, r, "bob", "phone", "node")
	conv := proto.P2PID("alice", "bob")
	for i := range 30 {
		a := alice.ack(conv, fmt.Sprint("m", i), "hi")
		equal(t, a.Seq, uint64(i+1), "acked while the webhook hangs")
		equal(t, bob.push(proto.TypeDeliver).Body.(*proto.Deliver).Message.Seq, uint64(i+1), "delivered while the webhook hangs")
	}
	if got := r.metric("parley_webhook_dropped_total"); got == "0" || got == "" {
		t.Errorf("parley_webhook_dropped_total = %q, want events dropped", got)
	}
}

func TestWebhookSignature(t *testing.T) {
	t.Parallel()
	secret := []byte(testAdminSecret)
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"id":"evt_1","type":"user-online","time":1,"user":"alice"}`)
	sig := SignWebhook(secret, now.Unix(), body)
	ts := "1800000000"
	equal(t, VerifyWebhook(secret, ts, sig, body, now, 5*time.Minute), true, "valid")
	equal(t, VerifyWebhook(secret, ts, sig, append(body, ' '), now, 5*time.Minute), false, "body changed")
	equal(t, VerifyWebhook([]byte("another secret of enough bytes, yes"), ts, sig, body, now, 5*time.Minute), false, "other secret")
	equal(t, VerifyWebhook(secret, "1800000001", sig, body, now, 5*time.Minute), false, "timestamp changed")
	equal(t, VerifyWebhook(secret, ts, sig, body, now.Add(6*time.Minute), 5*time.Minute), false, "too old: a replay")
	equal(t, VerifyWebhook(secret, "x", sig, body, now, 5*time.Minute), false, "not a timestamp")
}

// TestWebhookRedirectNotFollowed: a receiver that answers with a redirect
// has answered (a failure, retried to it); the event is never posted where
// the redirect points, which could be anywhere the receiver's owner names.
func TestWebhookRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	hits := map[string]int{}
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits["elsewhere"]++
		mu.Unlock()
	}))
	t.Cleanup(other.Close)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits["receiver"]++
		mu.Unlock()
		http.Redirect(w, r, other.URL+"/hook", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(srv.Close)
	r := startRelay(t, func(o *Options) {
		o.Webhook = srv.URL
		o.WebhookSecret = testAdminSecret
		o.WebhookBackoff = 10 * time.Millisecond
		o.WebhookRetries = 2
	})
	loginOn(t, r, "alice", "laptop", "web")
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := hits["receiver"]
		mu.Unlock()
		if n >= 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	equal(t, hits["elsewhere"], 0, "requests where the redirect points")
	if hits["receiver"] < 3 {
		t.Fatalf("the receiver got %d requests, want the first and 2 retries: a redirect is a failure", hits["receiver"])
	}
}

// TestWebhookSignatureDocumented: a request carries the headers
// docs/deployment.md describes, Parley-Timestamp in unix seconds and
// Parley-Signature "v1=" and the hex HMAC-SHA256 of timestamp "." body,
// computed here as a receiver would, without the relay's code; the event's
// time is in unix milliseconds.
func TestWebhookSignatureDocumented(t *testing.T) {
	t.Parallel()
	type request struct {
		ts, sig string
		body    []byte
	}
	got := make(chan request, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- request{r.Header.Get("Parley-Timestamp"), r.Header.Get("Parley-Signature"), body}
	}))
	t.Cleanup(srv.Close)
	before := time.Now()
	r := startRelay(t, func(o *Options) {
		o.Webhook = srv.URL
		o.WebhookSecret = testAdminSecret
	})
	loginOn(t, r, "alice", "laptop", "web")
	req := <-got
	ts, err := strconv.ParseInt(req.ts, 10, 64)
	ok(t, err)
	if ts < before.Unix() || ts > time.Now().Unix() {
		t.Errorf("Parley-Timestamp %d is not the unix second it was sent in", ts)
	}
	mac := hmac.New(sha256.New, []byte(testAdminSecret))
	mac.Write([]byte(req.ts + "." + string(req.body)))
	equal(t, req.sig, "v1="+hex.EncodeToString(mac.Sum(nil)), "Parley-Signature")
	var e HookEvent
	ok(t, json.Unmarshal(req.body, &e))
	if e.Time < before.UnixMilli() || e.Time > time.Now().UnixMilli() {
		t.Errorf("time %d is not unix milliseconds", e.Time)
	}
}

// TestWebhookMetricsDocumented: with a webhook configured, /metrics exposes
// every series the Webhooks table of docs/deployment.md lists, with its type.
func TestWebhookMetricsDocumented(t *testing.T) {
	t.Parallel()
	_, srv := newHookSink(t, testAdminSecret, 0)
	r := startRelay(t, func(o *Options) {
		o.Webhook = srv.URL
		o.WebhookSecret = testAdminSecret
	})
	_, page := r.get("/metrics")
	doc, err := os.ReadFile("../docs/deployment.md")
	ok(t, err)
	_, section, _ := strings.Cut(string(doc), "\n## Webhooks\n")
	section, _, _ = strings.Cut(section, "\n## ")
	rows := regexp.MustCompile("(?m)^\\| `(parley_[a-z_]+)` \\| ([a-z]+) \\|").FindAllStringSubmatch(section, -1)
	if len(rows) < 4 {
		t.Fatalf("the Webhooks section lists %d series", len(rows))
	}
	for _, m := range rows {
		if !strings.Contains(page, "# TYPE "+m[1]+" "+m[2]+"\n") {
			t.Errorf("/metrics has no %s %s, which docs/deployment.md lists", m[2], m[1])
		}
	}
}

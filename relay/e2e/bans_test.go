package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// adminJSON calls the relay's admin API with the secret and a JSON body
// (nil for none) and returns the status and the decoded answer.
func adminJSON(t *testing.T, r *relayProc, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, r.adminURL()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testAdminSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s %s: status %d, answer: %v", method, path, resp.StatusCode, err)
	}
	return resp.StatusCode, out
}

// kickedEvents returns the kicked events of d's client, and the states it
// reports after the first of them. Events come in order, on one goroutine.
func kickedEvents(d *device) (kicked chan core.Event, states chan core.State) {
	kicked, states = make(chan core.Event, 4), make(chan core.State, 64)
	after := false
	d.c.On(func(e core.Event) {
		switch {
		case e.Kind == core.EventKicked:
			after = true
			select {
			case kicked <- e:
			default:
			}
		case e.Kind == core.EventState && after:
			select {
			case states <- e.State:
			default:
			}
		}
	})
	return kicked, states
}

// TestAdminBan: the relay process (native, or the Workers relay with
// PARLEY_E2E_RELAY=edge) bans alice through its admin API. Her connected
// client gets kicked with 4004 and the reason and does not come back,
// though it reconnects after any other loss within 20 ms; a new client of
// hers, with a token minted after the ban, is refused the same way, and
// so is an upload of hers (403, 4004); bob is not touched. Once the ban is
// lifted she connects and uploads again; after a revocation of her tokens
// an upload with a token issued before it is refused (401, 4013).
func TestAdminBan(t *testing.T) {
	r := startRelay(t, "--admin-secret", testAdminSecret)
	defer func() {
		if t.Failed() && edgeTarget() {
			t.Log(edgeLog(r))
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	alice := newDevice(t, r.wsURL(), "alice", "a1", 1, nil)
	kicked, states := kickedEvents(alice)
	if err := alice.c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	bob := newDevice(t, r.wsURL(), "bob", "b1", 2, nil)
	if err := bob.c.Connect(ctx); err != nil {
		t.Fatal(err)
	}

	status, body := adminJSON(t, r, "PUT", "/admin/v1/users/alice/ban", map[string]any{"reason": "spam"})
	if status != http.StatusOK || body["banned"] != true {
		t.Fatalf("ban: %d %v", status, body)
	}
	select {
	case e := <-kicked:
		if e.Code != proto.CodeBanned || e.Reason != "spam" {
			t.Fatalf("kicked with %d %q, want %d %q", e.Code, e.Reason, proto.CodeBanned, "spam")
		}
	case <-ctx.Done():
		t.Fatal("alice's client was not kicked")
	}
	// It stays down: no dial in a time its backoff would have dialled many.
	stay := time.After(time.Second)
	for waiting := true; waiting; {
		select {
		case s := <-states:
			if s != core.StateDisconnected {
				t.Fatalf("after the ban alice's client went %s", s)
			}
		case <-stay:
			waiting = false
		}
	}
	if s := alice.c.State(); s != core.StateDisconnected {
		t.Fatalf("alice's client is %s, want disconnected", s)
	}
	if _, err := bob.c.SendText(ctx, proto.P2PID("alice", "bob"), "still here"); err != nil {
		t.Fatalf("bob after alice's ban: %v", err)
	}

	status, body = adminJSON(t, r, "GET", "/admin/v1/users/alice/ban", nil)
	if status != http.StatusOK || body["banned"] != true || body["reason"] != "spam" {
		t.Fatalf("read the ban: %d %v", status, body)
	}

	// A new client, a new device and a token minted now: refused alike.
	again := newDevice(t, r.wsURL(), "alice", "a2", 3, nil)
	refused, _ := kickedEvents(again)
	if err := again.c.Connect(ctx); err == nil {
		t.Fatal("a banned user's new client connected")
	}
	select {
	case e := <-refused:
		if e.Code != proto.CodeBanned || e.Reason != "spam" {
			t.Fatalf("refused with %d %q, want %d %q", e.Code, e.Reason, proto.CodeBanned, "spam")
		}
	case <-ctx.Done():
		t.Fatal("no refusal event")
	}

	// Nor can a banned user upload with a token still unexpired.
	if st, code := banUpload(t, r, "alice"); st != http.StatusForbidden || code != proto.CodeBanned {
		t.Fatalf("a banned user's upload: %d %d, want 403 %d", st, code, proto.CodeBanned)
	}

	status, body = adminJSON(t, r, "DELETE", "/admin/v1/users/alice/ban", nil)
	if status != http.StatusOK || body["banned"] != false {
		t.Fatalf("lift the ban: %d %v", status, body)
	}
	if st, code := banUpload(t, r, "alice"); st != http.StatusCreated && st != http.StatusOK {
		t.Fatalf("an upload after the ban was lifted: %d %d", st, code)
	}
	back := newDevice(t, r.wsURL(), "alice", "a3", 4, nil)
	if err := back.c.Connect(ctx); err != nil {
		t.Fatalf("after the ban was lifted: %v", err)
	}
	if err := back.c.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	msgs, err := back.c.Messages(ctx, proto.P2PID("alice", "bob"), 0, 10)
	if err != nil || len(msgs) != 1 || msgs[0].Text != "still here" {
		t.Fatalf("alice's messages once back: %+v %v", msgs, err)
	}
	// A token issued before a revocation of the user's tokens cannot upload.
	if status, body := adminJSON(t, r, "POST", "/admin/v1/revocations", map[string]any{"user": "alice"}); status != http.StatusOK {
		t.Fatalf("revoke: %d %v", status, body)
	}
	if st, code := banUpload(t, r, "alice"); st != http.StatusUnauthorized || code != proto.CodeTokenRevoked {
		t.Fatalf("an upload with a revoked token: %d %d, want 401 %d", st, code, proto.CodeTokenRevoked)
	}
}

// banUpload uploads a small file as user, with a token issued now, and
// returns the answer's status and code.
func banUpload(t *testing.T, r *relayProc, user string) (int, proto.Code) {
	t.Helper()
	req, err := http.NewRequest("POST", "http://"+r.addr+"/v1/uploads", strings.NewReader("%PDF-1.4 ban"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token(user, time.Hour))
	req.Header.Set("Content-Type", "application/pdf")
	st, code, _, _, _ := uploadReq(t, req)
	return st, code
}

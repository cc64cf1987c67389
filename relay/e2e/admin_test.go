package e2e

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/client"
	"github.com/parley-im/parley/sdk-wasm/core"
)

const testAdminSecret = "e2e-admin-secret-0123456789abcdef0123456789"

// adminCall calls the relay's admin API ("" sends no secret) and returns
// the status.
func adminCall(t *testing.T, r *relayProc, method, path, secret string) int {
	t.Helper()
	req, err := http.NewRequest(method, r.adminURL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestAdminDeleteUser: the relay process deletes alice through its admin
// API. Without the secret, or with a wrong one, it refuses and alice goes
// on. With it, alice's client is kicked (4014) and does not come back, her
// token no longer opens a session nor uploads (4014, user deleted), and bob
// still reads her message,
// sent by "alice", whose profile now says deleted — what his app shows as
// a deleted user. The attachment she sent him is deleted with her: his
// download of it answers 404 with 4204.
func TestAdminDeleteUser(t *testing.T) {
	r := startRelay(t, "--admin-secret", testAdminSecret)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	alice := newDevice(t, r.wsURL(), "alice", "a1", 1, nil)
	kicked := make(chan core.Event, 1)
	alice.c.On(func(e core.Event) {
		if e.Kind == core.EventKicked {
			select {
			case kicked <- e:
			default:
			}
		}
	})
	if err := alice.c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	oldToken := token("alice", time.Hour) // minted before the deletion
	nick := "Alice"
	if _, err := alice.c.SetProfile(ctx, proto.SetProfile{Nickname: &nick}); err != nil {
		t.Fatal(err)
	}
	conv := proto.P2PID("alice", "bob")
	if _, err := alice.c.SendText(ctx, conv, "hi bob"); err != nil {
		t.Fatal(err)
	}

	// An attachment of hers, sent to bob.
	uploads := "http://" + r.addr + "/v1/uploads"
	req, err := http.NewRequest("POST", uploads, bytes.NewReader([]byte("%PDF-1.4 alice's")))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token("alice", time.Hour))
	req.Header.Set("Content-Type", "application/pdf")
	st, code, upload, _, _ := uploadReq(t, req)
	if st != http.StatusCreated {
		t.Fatalf("alice's upload: %d %d", st, code)
	}
	raw := dialRaw(t, r.wsURL())
	raw.hello("alice", "a9")
	raw.send(proto.TypeSend, 2, &proto.Send{ConvID: conv, ClientID: "file-1", MsgType: proto.MsgFile,
		Attachment: &proto.Attachment{ID: upload, Name: "a.pdf", Size: 16, Mime: "application/pdf"}})
	if f := raw.reply(2); f.Type != proto.TypeAck {
		t.Fatalf("the message with the attachment: %s %+v", f.Type, f.Body)
	}
	bobGet := func() (int, proto.Code) {
		req, err := http.NewRequest("GET", uploads+"/"+upload+"?conv="+conv, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token("bob", time.Hour))
		st, code, _, _, _ := uploadReq(t, req)
		return st, code
	}
	if st, code := bobGet(); st != http.StatusOK {
		t.Fatalf("bob's download before the deletion: %d %d", st, code)
	}

	for _, secret := range []string{"", "wrong-secret-0123456789abcdef0123456789"} {
		if got := adminCall(t, r, "DELETE", "/admin/v1/users/alice", secret); got != http.StatusUnauthorized {
			t.Fatalf("secret %q: status %d, want 401", secret, got)
		}
	}
	if _, err := alice.c.SendText(ctx, conv, "still here"); err != nil {
		t.Fatalf("after the refused calls: %v", err)
	}

	if got := adminCall(t, r, "DELETE", "/admin/v1/users/alice", testAdminSecret); got != http.StatusOK {
		t.Fatalf("delete: status %d", got)
	}
	select {
	case e := <-kicked:
		if e.Code != proto.CodeUserDeleted {
			t.Fatalf("kicked with %d", e.Code)
		}
	case <-ctx.Done():
		t.Fatal("alice's client was not kicked")
	}

	if st, code := bobGet(); st != http.StatusNotFound || code != proto.CodeNotFound {
		t.Fatalf("bob's download after the deletion: %d %d, want 404 %d", st, code, proto.CodeNotFound)
	}

	// Her token no longer works: a new client with it is refused.
	againClient, err := client.New(client.Options{
		URL:       r.wsURL(),
		TokenFunc: func(context.Context) (string, error) { return oldToken, nil },
		Store:     client.NewMemoryStore(),
		Config:    core.Config{DeviceID: "a2", RequestTimeout: 5 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { againClient.Close() })
	again := &device{user: "alice", name: "a2", c: againClient}
	refused := make(chan core.Event, 1)
	again.c.On(func(e core.Event) {
		if e.Kind == core.EventKicked {
			select {
			case refused <- e:
			default:
			}
		}
	})
	if err := again.c.Connect(ctx); err == nil {
		t.Fatal("alice's token still opens a session")
	}
	select {
	case e := <-refused:
		if e.Code != proto.CodeUserDeleted {
			t.Fatalf("refused with %d, want %d", e.Code, proto.CodeUserDeleted)
		}
	case <-ctx.Done():
		t.Fatal("no refusal event")
	}
	up, err := http.NewRequest("POST", "http://"+r.addr+"/v1/uploads", strings.NewReader("%PDF-1.4 deleted"))
	if err != nil {
		t.Fatal(err)
	}
	up.Header.Set("Authorization", "Bearer "+oldToken)
	up.Header.Set("Content-Type", "application/pdf")
	if st, code, _, _, _ := uploadReq(t, up); st != http.StatusUnauthorized || code != proto.CodeUserDeleted {
		t.Fatalf("an upload with her token after the deletion: %d %d, want 401 %d", st, code, proto.CodeUserDeleted)
	}

	bob := newDevice(t, r.wsURL(), "bob", "b1", 3, nil)
	if err := bob.c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := bob.c.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	var msgs []core.Message
	msgs, err = bob.c.Messages(ctx, conv, 0, 50)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 3 || msgs[0].Sender != "alice" || msgs[0].Text != "hi bob" || msgs[1].Attachment == nil {
		t.Fatalf("bob's messages: %+v", msgs)
	}
	ps, err := bob.c.Profiles(ctx, []string{"alice"})
	if err != nil {
		t.Fatal(err)
	}
	if !ps[0].Deleted || ps[0].Nickname != "" {
		t.Fatalf("alice's profile as bob reads it: %+v", ps[0])
	}
}

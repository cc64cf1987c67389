package relay

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
)

const testAdminSecret = "admin-secret-of-at-least-32-bytes-long"

// admin calls the admin API of r with secret ("" sends no header).
func (r *testRelay) admin(method, path, secret string, body any) (int, map[string]any) {
	r.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		ok(r.t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, r.url+path, rd)
	ok(r.t, err)
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	resp, err := plainHTTP.Do(req)
	ok(r.t, err)
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	if len(b) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			out = map[string]any{"raw": string(b)}
		}
	}
	return resp.StatusCode, out
}

func withAdmin(o *Options) { o.AdminSecret = testAdminSecret }

// TestAdminSecret: without the secret, with a wrong one, or with the right
// one as anything but a bearer token, every route answers 401 with code
// 4001 and changes nothing; with no secret configured the API is not there;
// a short secret is refused at start.
func TestAdminSecret(t *testing.T) {
	t.Parallel()
	r := startRelay(t, withAdmin)
	alice := loginOn(t, r, "alice", "laptop", "web")
	for _, rt := range adminRoutes {
		path := strings.ReplaceAll(rt.path, "{user}", "alice")
		for _, secret := range []string{"", "wrong", testAdminSecret + "x", testAdminSecret[:len(testAdminSecret)-1]} {
			status, body := r.admin(rt.method, path, secret, map[string]any{})
			equal(t, status, http.StatusUnauthorized, rt.path+" with secret "+secret)
			equal(t, body["code"], any(float64(proto.CodeUnauthorized)), rt.path+" code")
		}
		req, _ := http.NewRequest(rt.method, r.url+path, strings.NewReader("{}"))
		req.Header.Set("Authorization", "Basic "+testAdminSecret)
		resp, err := plainHTTP.Do(req)
		ok(t, err)
		resp.Body.Close()
		equal(t, resp.StatusCode, http.StatusUnauthorized, rt.path+" with the secret as Basic")
	}
	alice.quiet("no refused admin call reached the session")

	off := startRelay(t, nil)
	status, _ := off.admin("POST", "/admin/v1/users/alice/kick", testAdminSecret, map[string]any{})
	equal(t, status, http.StatusNotFound, "admin API without a secret configured")

	if _, err := New(Options{Data: t.TempDir(), Secret: testSecret, Store: NewMemoryStore(), AdminSecret: "short"}); err == nil {
		t.Error("New accepted a short admin secret")
	}
}

// TestAdminGroupsAndMessages: a group created with a chosen id reaches its
// members' sessions; a message sent as a member or as system is stored and
// delivered; bad input is refused with its code and changes nothing.
func TestAdminGroupsAndMessages(t *testing.T) {
	t.Parallel()
	r := startRelay(t, withAdmin)
	alice := loginOn(t, r, "alice", "laptop", "web")
	bob := loginOn(t, r, "bob", "phone", "react-native")

	status, g := r.admin("POST", "/admin/v1/groups", testAdminSecret, map[string]any{"id": "g:ops-room", "name": "Ops", "owner": "alice", "members": []string{"bob"}})
	equal(t, status, http.StatusCreated, "create group")
	equal(t, g["id"], any("g:ops-room"), "the chosen id, outside alice's namespace")
	equal(t, alice.push(proto.TypeConvUpdate).Body.(*proto.ConvUpdate).Conversation.ID, "g:ops-room", "alice told")
	equal(t, bob.push(proto.TypeConvUpdate).Body.(*proto.ConvUpdate).Conversation.Members, []string{"alice", "bob"}, "bob told")
	status, _ = r.admin("POST", "/admin/v1/groups", testAdminSecret, map[string]any{"id": "g:ops-room", "name": "Ops", "owner": "alice", "members": []string{"bob"}})
	equal(t, status, http.StatusOK, "the same group again: idempotent")
	status, e := r.admin("POST", "/admin/v1/groups", testAdminSecret, map[string]any{"id": "g:ops-room", "owner": "alice", "members": []string{"carol"}})
	equal(t, status, http.StatusConflict, "the id with other members")
	equal(t, e["code"], any(float64(proto.CodeConflict)), "conflict code")

	status, m := r.admin("POST", "/admin/v1/messages", testAdminSecret, map[string]any{"conversationId": "g:ops-room", "from": "system", "text": "maintenance at 22:00"})
	equal(t, status, http.StatusOK, "system message")
	equal(t, m["seq"], any(float64(2)), "seq: after the created message")
	for _, c := range []*client{alice, bob} {
		equal(t, c.push(proto.TypeDeliver).Body.(*proto.Deliver).Message.MsgType, proto.MsgSystem, "created message")
		d := c.push(proto.TypeDeliver).Body.(*proto.Deliver).Message
		equal(t, d.Sender+": "+d.Text, "system: maintenance at 22:00", "delivered")
	}
	status, m = r.admin("POST", "/admin/v1/messages", testAdminSecret, map[string]any{"conversationId": proto.P2PID("alice", "bob"), "from": "alice", "text": "hi bob", "clientId": "c1"})
	equal(t, status, http.StatusOK, "as alice to bob")
	equal(t, bob.push(proto.TypeDeliver).Body.(*proto.Deliver).Message.Text, "hi bob", "bob gets it")
	equal(t, alice.push(proto.TypeDeliver).Body.(*proto.Deliver).Message.ClientID, "c1", "alice's devices too")
	status, m = r.admin("POST", "/admin/v1/messages", testAdminSecret, map[string]any{"conversationId": proto.P2PID("alice", "bob"), "from": "alice", "text": "hi bob", "clientId": "c1"})
	equal(t, status, http.StatusOK, "the same client id again")
	equal(t, m["duplicate"], any(true), "a duplicate, not stored twice")

	bad := []struct {
		what string
		path string
		body any
		code proto.Code
	}{
		{"system into no such group", "/admin/v1/messages", map[string]any{"conversationId": "g:nothing", "from": "system", "text": "x"}, proto.CodeForbidden},
		{"carol into alice and bob's chat", "/admin/v1/messages", map[string]any{"conversationId": proto.P2PID("alice", "bob"), "from": "carol", "text": "x"}, proto.CodeForbidden},
		{"carol into the group", "/admin/v1/messages", map[string]any{"conversationId": "g:ops-room", "from": "carol", "text": "x"}, proto.CodeForbidden},
		{"empty text", "/admin/v1/messages", map[string]any{"conversationId": "g:ops-room", "from": "system"}, proto.CodeBadRequest},
		{"bad sender", "/admin/v1/messages", map[string]any{"conversationId": "g:ops-room", "from": "a b", "text": "x"}, proto.CodeBadRequest},
		{"unknown field", "/admin/v1/messages", map[string]any{"conversationId": "g:ops-room", "from": "system", "text": "x", "urgent": true}, proto.CodeBadRequest},
		{"group without owner", "/admin/v1/groups", map[string]any{"members": []string{"bob"}}, proto.CodeBadRequest},
		{"system as owner", "/admin/v1/groups", map[string]any{"owner": "system", "members": []string{"bob"}}, proto.CodeBadRequest},
		{"group with a p2p id", "/admin/v1/groups", map[string]any{"id": "p:alice:bob", "owner": "alice", "members": []string{"bob"}}, proto.CodeBadRequest},
		{"kick a bad user id", "/admin/v1/users/a%20b/kick", map[string]any{}, proto.CodeBadRequest},
		{"revoke a bad user id", "/admin/v1/revocations", map[string]any{"user": "a b"}, proto.CodeBadRequest},
		{"revoke far ahead", "/admin/v1/revocations", map[string]any{"before": time.Now().Add(48 * time.Hour).Unix()}, proto.CodeBadRequest},
	}
	for _, c := range bad {
		status, e := r.admin("POST", c.path, testAdminSecret, c.body)
		if status < 400 || status >= 500 {
			t.Errorf("%s: status %d", c.what, status)
		}
		equal(t, e["code"], any(float64(c.code)), c.what)
	}
	alice.quiet("nothing from refused calls")
	bob.quiet("nothing from refused calls")
	// A user named system cannot sign in: it would speak in every group.
	c := dial(t, r, true)
	c.write(proto.Frame{Type: proto.TypeHello, ID: 1, Body: &proto.Hello{Version: proto.Version, Token: r.token(proto.SystemUser), DeviceID: "d"}})
	c.expectClose(proto.CodeUnauthorized)
}

// TestAdminKick: every session of the user, on every relay, closes with
// 4003; other users stay.
func TestAdminKick(t *testing.T) {
	t.Parallel()
	rs := cluster(t, 2, withAdmin)
	a1 := loginOn(t, rs[0], "alice", "laptop", "web")
	a2 := loginOn(t, rs[1], "alice", "phone", "react-native")
	bob := loginOn(t, rs[1], "bob", "phone", "react-native")
	status, _ := rs[0].admin("POST", "/admin/v1/users/alice/kick", testAdminSecret, map[string]any{"reason": "account locked"})
	equal(t, status, http.StatusOK, "kick")
	a1.expectClose(proto.CodeKicked)
	a2.expectClose(proto.CodeKicked)
	bob.quiet("bob stays")
}

// TestAdminOpenAPI: docs/openapi.json describes exactly the routes the relay
// serves, each request body with exactly the fields its handler reads.
func TestAdminOpenAPI(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../docs/openapi.json")
	ok(t, err)
	var doc struct {
		OpenAPI string `json:"openapi"`
		Paths   map[string]map[string]struct {
			RequestBody *struct {
				Content map[string]struct {
					Schema struct {
						Ref string `json:"$ref"`
					} `json:"schema"`
				} `json:"content"`
			} `json:"requestBody"`
			Security []map[string][]string `json:"security"`
		} `json:"paths"`
		Components struct {
			Schemas map[string]struct {
				Properties map[string]any `json:"properties"`
				Required   []string       `json:"required"`
			} `json:"schemas"`
		} `json:"components"`
	}
	ok(t, json.Unmarshal(b, &doc))
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi %q", doc.OpenAPI)
	}
	var documented, served []string
	for path, ops := range doc.Paths {
		for method := range ops {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	for _, rt := range adminRoutes {
		served = append(served, rt.method+" "+rt.path)
		op := doc.Paths[rt.path][strings.ToLower(rt.method)]
		if rt.body == nil {
			continue
		}
		if op.RequestBody == nil {
			t.Errorf("%s %s: no request body documented", rt.method, rt.path)
			continue
		}
		ref := op.RequestBody.Content["application/json"].Schema.Ref
		schema, found := doc.Components.Schemas[strings.TrimPrefix(ref, "#/components/schemas/")]
		if !found {
			t.Errorf("%s %s: schema %q not found", rt.method, rt.path, ref)
			continue
		}
		var fields, required, props []string
		typ := reflect.TypeOf(rt.body).Elem()
		for i := range typ.NumField() {
			name, opts, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			fields = append(fields, name)
			if opts != "omitempty" {
				required = append(required, name)
			}
		}
		for p := range schema.Properties {
			props = append(props, p)
		}
		sort.Strings(fields)
		sort.Strings(props)
		sort.Strings(required)
		req := slices.Clone(schema.Required)
		sort.Strings(req)
		equal(t, props, fields, rt.path+": documented fields")
		equal(t, req, required, rt.path+": required fields")
	}
	sort.Strings(documented)
	sort.Strings(served)
	equal(t, documented, served, "documented operations")
}

// TestAdminMembersAndPresence: members added and removed on an owner's
// authority reach the group's sessions; a plain member's authority is
// refused and changes nothing; a user's presence reads online while they
// are connected.
func TestAdminMembersAndPresence(t *testing.T) {
	t.Parallel()
	r := startRelay(t, withAdmin)
	alice := loginOn(t, r, "alice", "laptop", "web")
	carol := loginOn(t, r, "carol", "phone", "react-native")
	status, _ := r.admin("POST", "/admin/v1/groups", testAdminSecret, map[string]any{"id": "g:crew", "name": "Crew", "owner": "alice", "members": []string{"bob"}})
	equal(t, status, http.StatusCreated, "create")
	alice.push(proto.TypeConvUpdate)

	status, e := r.admin("POST", "/admin/v1/groups/g:crew/members", testAdminSecret, map[string]any{"by": "bob", "add": []string{"carol"}})
	if status < 400 || status >= 500 {
		t.Fatalf("a plain member's authority: status %d %v", status, e)
	}
	carol.quiet("nothing for carol after a refused add")
	status, g := r.admin("POST", "/admin/v1/groups/g:crew/members", testAdminSecret, map[string]any{"by": "alice", "add": []string{"carol"}, "remove": []string{"bob"}})
	equal(t, status, http.StatusOK, "add carol, remove bob")
	equal(t, g["members"], any([]any{"alice", "carol"}), "the members after")
	carol.await("carol told of the group", func(f proto.Frame) bool {
		d, isDeliver := f.Body.(*proto.Deliver)
		return isDeliver && d.Message.ConvID == "g:crew"
	})
	status, e = r.admin("POST", "/admin/v1/groups/g:crew/members", testAdminSecret, map[string]any{"by": "alice"})
	equal(t, e["code"], any(float64(proto.CodeBadRequest)), "nothing to change")

	status, p := r.admin("GET", "/admin/v1/users/alice/presence", testAdminSecret, nil)
	equal(t, status, http.StatusOK, "presence")
	equal(t, p["online"], any(true), "alice online")
	_, p = r.admin("GET", "/admin/v1/users/zed/presence", testAdminSecret, nil)
	equal(t, p["online"], any(false), "zed never seen: offline")
}

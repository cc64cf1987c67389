//go:build !js

package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
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

// TestAdminDeleteUser, on SQLite and PostgreSQL: deleting alice closes her
// session (4003) and refuses her token after (4013); she leaves her groups
// (the one she owned goes to its admin, the one she was alone in is
// dismissed), bob's contact and carol's block of her become no relation on
// their devices, her profile is a tombstone, her presence, subscriptions
// and feed are gone from the store, and the messages she sent stay in bob's
// history under her id. A second call changes nothing more.
func TestAdminDeleteUser(t *testing.T) {
	t.Parallel()
	for name, open := range map[string]func(t *testing.T) Store{
		"sqlite": func(t *testing.T) Store {
			s, err := OpenSQLite(t.TempDir(), SQLiteOptions{Synchronous: "NORMAL"})
			ok(t, err)
			return s
		},
		"postgres": func(t *testing.T) Store { return openPostgres(t, postgresDSN(t), PostgresOptions{MaxConns: 4}) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			store := open(t)
			r := startRelay(t, func(o *Options) { withAdmin(o); o.Store = store })
			alice, _ := login(t, r, "alice", "laptop")
			bob, _ := login(t, r, "bob", "phone")
			carol, _ := login(t, r, "carol", "phone")
			call := func(c *client, typ proto.Type, body any) proto.Frame {
				t.Helper()
				f := c.call(typ, body)
				if f.Type == proto.TypeError {
					t.Fatalf("%s: %+v", typ, f.Body)
				}
				return f
			}
			call(alice, proto.TypeCreateGroup, &proto.CreateGroup{ConvID: "g:alice.crew", Name: "Crew", Members: []string{"bob", "carol"}})
			call(alice, proto.TypeGroupOp, &proto.GroupOp{ConvID: "g:alice.crew", Op: proto.OpRole, Users: []string{"carol"}, Role: proto.RoleAdmin})
			call(alice, proto.TypeCreateGroup, &proto.CreateGroup{ConvID: "g:alice.solo", Name: "Solo"})
			call(alice, proto.TypeSend, &proto.Send{ConvID: proto.P2PID("alice", "bob"), ClientID: "m1", MsgType: proto.MsgText, Text: "hello bob"})
			call(alice, proto.TypeContact, &proto.Contact{User: "bob", Op: proto.ContactRequest})
			call(bob, proto.TypeContact, &proto.Contact{User: "alice", Op: proto.ContactAccept})
			call(carol, proto.TypeContact, &proto.Contact{User: "alice", Op: proto.ContactBlock})
			call(alice, proto.TypeSubscribePresence, &proto.SubscribePresence{Users: []string{"carol"}})
			call(bob, proto.TypeSubscribePresence, &proto.SubscribePresence{Users: []string{"alice"}})
			nick := "Alice"
			call(alice, proto.TypeSetProfile, &proto.SetProfile{Nickname: &nick})
			call(alice, proto.TypeSetStatus, &proto.SetStatus{Status: "here"})

			status, reply := r.admin("DELETE", "/admin/v1/users/alice", testAdminSecret, nil)
			equal(t, status, http.StatusOK, "delete")
			equal(t, reply["groups"], any([]any{"g:alice.crew", "g:alice.solo"}), "groups left")
			equal(t, reply["relations"], any(float64(2)), "bob's contact and carol's block cleared")
			alice.expectClose(proto.CodeUserDeleted)
			bob.await("bob's contact of alice cleared", func(f proto.Frame) bool {
				u, isUpdate := f.Body.(*proto.UserUpdate)
				return isUpdate && u.Entry.Relation != nil && u.Entry.Relation.User == "alice" && u.Entry.Relation.State == proto.RelNone
			})
			carol.await("carol's block of alice cleared", func(f proto.Frame) bool {
				u, isUpdate := f.Body.(*proto.UserUpdate)
				return isUpdate && u.Entry.Relation != nil && u.Entry.Relation.User == "alice" && !u.Entry.Relation.Blocked
			})

			// The old token is refused, as a deleted user's.
			c := dial(t, r, true)
			c.request(proto.TypeHello, &proto.Hello{Version: proto.Version, Token: oldToken(t, "alice"), DeviceID: "laptop"})
			for _, f := range c.expectClose(proto.CodeUserDeleted) {
				if f.Type == proto.TypeWelcome {
					t.Fatal("alice's old token still works")
				}
			}

			// The store, checked after.
			g := store.(Grouper)
			for conv, want := range map[string][2]string{"g:alice.crew": {"", proto.RoleOwner}, "g:alice.solo": {"", ""}} {
				a, err := g.MemberRole(ctx, conv, "alice")
				ok(t, err)
				c, err := g.MemberRole(ctx, conv, "carol")
				ok(t, err)
				equal(t, [2]string{a, c}, want, conv+": roles of alice and carol")
			}
			ps := store.(PresenceStore)
			prof, err := ps.Profiles(ctx, []string{"alice"})
			ok(t, err)
			if !prof[0].Deleted || prof[0].Nickname != "" {
				t.Fatalf("profile after: %+v", prof[0])
			}
			pr, err := ps.Presence(ctx, []string{"alice"})
			ok(t, err)
			equal(t, pr[0].Status, "", "status erased")
			w, err := ps.Watchers(ctx, "alice", time.Now().UnixMilli())
			ok(t, err)
			equal(t, len(w), 0, "nobody watches alice")
			w, err = ps.Watchers(ctx, "carol", time.Now().UnixMilli())
			ok(t, err)
			equal(t, len(w), 0, "alice watches nobody")
			entries, _, err := store.Feed(ctx, "alice", 0, 100)
			ok(t, err)
			equal(t, len(entries), 0, "alice's feed")
			page, err := store.History(ctx, "bob", proto.History{ConvID: proto.P2PID("alice", "bob"), Limit: 50})
			ok(t, err)
			if len(page.Messages) != 1 || page.Messages[0].Sender != "alice" || page.Messages[0].Text != "hello bob" {
				t.Fatalf("bob's history: %+v", page.Messages)
			}
			in, err := store.(Revoker).SignInOf(ctx, "alice")
			before := in.RevokedBefore
			ok(t, err)
			if before < time.Now().Unix() {
				t.Fatalf("revoked before %d", before)
			}

			status, reply = r.admin("DELETE", "/admin/v1/users/alice", testAdminSecret, nil)
			equal(t, status, http.StatusOK, "delete again")
			equal(t, [2]any{reply["groups"], reply["relations"]}, [2]any{nil, any(float64(0))}, "nothing more to do")
			status, reply = r.admin("DELETE", "/admin/v1/users/system", testAdminSecret, nil)
			equal(t, [2]any{status, reply["code"]}, [2]any{http.StatusBadRequest, any(float64(proto.CodeBadRequest))}, "the system user")
		})
	}
}

// oldToken mints a token of user issued a minute ago: before any
// revocation the test made.
func oldToken(t *testing.T, user string) string {
	t.Helper()
	tok, err := MintToken(testSecret, user, time.Hour, time.Now().Add(-time.Minute))
	ok(t, err)
	return tok
}

// TestAdminDeleteUserInvitations: under the consent policy, a deleted
// user's pending invitation is declined: it is gone from the group's
// pending list and the user never becomes a member.
func TestAdminDeleteUserInvitations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := NewMemoryStore()
	r := startRelay(t, func(o *Options) { withAdmin(o); o.Store = store; o.InvitePolicy = "consent" })
	bob, _ := login(t, r, "bob", "phone")
	f := bob.call(proto.TypeCreateGroup, &proto.CreateGroup{ConvID: "g:bob.club", Name: "Club", Members: []string{"alice"}})
	equal(t, f.Type, proto.TypeConvResult, "create")
	inv, err := store.GroupPending(ctx, "alice", "")
	ok(t, err)
	equal(t, len(inv), 1, "alice invited")
	status, _ := r.admin("DELETE", "/admin/v1/users/alice", testAdminSecret, nil)
	equal(t, status, http.StatusOK, "delete")
	inv, err = store.GroupPending(ctx, "alice", "")
	ok(t, err)
	equal(t, len(inv), 0, "the invitation declined")
	role, err := store.MemberRole(ctx, "g:bob.club", "alice")
	ok(t, err)
	equal(t, role, "", "alice is no member")
}

// TestAdminAddEndsJoinRequest: a member added through the admin API whose
// join request was pending ends it as a member's own add would, in the
// change's transaction: the owner's feed entry for the request turns Done,
// the owner's connected device is told at once, and the pending request is
// gone from the store (a device offline now gets the Done entry in its next
// user sync).
func TestAdminAddEndsJoinRequest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := NewMemoryStore()
	r := startRelay(t, func(o *Options) { withAdmin(o); o.Store = store })
	status, _ := r.admin("POST", "/admin/v1/groups", testAdminSecret, map[string]any{"id": "g:club", "name": "Club", "owner": "alice", "members": []string{"bob"}})
	equal(t, status, http.StatusCreated, "create")
	alice := loginOn(t, r, "alice", "laptop", "web")
	f := alice.call(proto.TypeGroupOp, &proto.GroupOp{ConvID: "g:club", Op: proto.OpUpdate, Info: &proto.GroupInfo{JoinPolicy: proto.JoinApproval}})
	equal(t, f.Type, proto.TypeConvResult, "approval policy")
	carol := loginOn(t, r, "carol", "phone", "web")
	f = carol.call(proto.TypeGroupOp, &proto.GroupOp{ConvID: "g:club", Op: proto.OpRequest, Note: "let me in"})
	if f.Type == proto.TypeError {
		t.Fatalf("join request refused: %+v", f.Body)
	}
	alice.await("alice told of the request", func(f proto.Frame) bool {
		u, isUpdate := f.Body.(*proto.UserUpdate)
		return isUpdate && u.Entry.Notice != nil && u.Entry.Notice.User == "carol" && !u.Entry.Notice.Done
	})

	status, g := r.admin("POST", "/admin/v1/groups/g:club/members", testAdminSecret, map[string]any{"by": "alice", "add": []string{"carol"}})
	equal(t, status, http.StatusOK, "admin adds carol")
	equal(t, g["members"], any([]any{"alice", "bob", "carol"}), "the members after")
	alice.await("alice told the request is done", func(f proto.Frame) bool {
		u, isUpdate := f.Body.(*proto.UserUpdate)
		return isUpdate && u.Entry.Notice != nil && u.Entry.Notice.User == "carol" && u.Entry.Notice.Done
	})
	entries, _, err := store.Feed(ctx, "alice", 0, 100)
	ok(t, err)
	var done bool
	for _, e := range entries {
		if e.Notice != nil && e.Notice.User == "carol" {
			done = e.Notice.Done
		}
	}
	equal(t, done, true, "the request's entry in alice's feed is Done")
	pending, err := store.GroupPending(ctx, "alice", "g:club")
	ok(t, err)
	equal(t, len(pending), 0, "no request left pending")
}

// TestAdminAnswersDocumented holds the answers to docs/openapi.json: each
// route, called as an application would, answers a status the document lists
// for it, and a success's JSON carries the required fields of the documented
// schema and no field the schema lacks; an error carries code and message.
func TestAdminAnswersDocumented(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../docs/openapi.json")
	ok(t, err)
	type schema struct {
		Ref        string         `json:"$ref"`
		Type       string         `json:"type"`
		Properties map[string]any `json:"properties"`
		Required   []string       `json:"required"`
	}
	var doc struct {
		Paths map[string]map[string]struct {
			Responses map[string]struct {
				Ref     string `json:"$ref"`
				Content map[string]struct {
					Schema schema `json:"schema"`
				} `json:"content"`
			} `json:"responses"`
		} `json:"paths"`
		Components struct {
			Schemas map[string]schema `json:"schemas"`
		} `json:"components"`
	}
	ok(t, json.Unmarshal(b, &doc))

	r := startRelay(t, withAdmin)
	loginOn(t, r, "alice", "laptop", "web")
	calls := []struct {
		method, route, path string
		body                any
	}{
		{"POST", "/admin/v1/groups", "/admin/v1/groups", map[string]any{"id": "g:ops", "name": "Ops", "owner": "alice", "members": []string{"bob"}}},
		{"POST", "/admin/v1/groups", "/admin/v1/groups", map[string]any{"id": "g:ops", "name": "Ops", "owner": "alice", "members": []string{"bob"}}},
		{"POST", "/admin/v1/groups", "/admin/v1/groups", map[string]any{"id": "g:ops", "owner": "alice", "members": []string{"carol"}}},
		{"POST", "/admin/v1/groups", "/admin/v1/groups", map[string]any{"owner": "a b"}},
		{"POST", "/admin/v1/messages", "/admin/v1/messages", map[string]any{"conversationId": "g:ops", "from": "system", "text": "hi"}},
		{"POST", "/admin/v1/messages", "/admin/v1/messages", map[string]any{"conversationId": "g:ops", "from": "carol", "text": "hi"}},
		{"POST", "/admin/v1/messages", "/admin/v1/messages", map[string]any{"conversationId": "g:ops", "from": "system", "text": strings.Repeat("x", proto.MaxTextBytes+1)}},
		{"POST", "/admin/v1/groups/{id}/members", "/admin/v1/groups/g:ops/members", map[string]any{"by": "alice", "add": []string{"carol"}}},
		{"POST", "/admin/v1/groups/{id}/members", "/admin/v1/groups/g:ops/members", map[string]any{"by": "bob", "add": []string{"dave"}}},
		{"POST", "/admin/v1/groups/{id}/members", "/admin/v1/groups/g:none/members", map[string]any{"by": "alice", "add": []string{"dave"}}},
		{"GET", "/admin/v1/users/{user}/presence", "/admin/v1/users/alice/presence", nil},
		{"POST", "/admin/v1/users/{user}/kick", "/admin/v1/users/alice/kick", map[string]any{"reason": "locked"}},
		{"POST", "/admin/v1/revocations", "/admin/v1/revocations", map[string]any{"user": "alice"}},
		{"PUT", "/admin/v1/users/{user}/ban", "/admin/v1/users/bob/ban", map[string]any{"until": time.Now().Add(time.Hour).Unix(), "reason": "spam"}},
		{"GET", "/admin/v1/users/{user}/ban", "/admin/v1/users/bob/ban", nil},
		{"DELETE", "/admin/v1/users/{user}/ban", "/admin/v1/users/bob/ban", nil},
		{"GET", "/admin/v1/users/{user}/ban", "/admin/v1/users/bob/ban", nil},
		{"DELETE", "/admin/v1/users/{user}", "/admin/v1/users/carol", nil},
		{"DELETE", "/admin/v1/users/{user}", "/admin/v1/users/a%20b", nil},
	}
	called := map[string]bool{}
	for _, c := range calls {
		what := fmt.Sprintf("%s %s", c.method, c.path)
		called[c.method+" "+c.route] = true
		status, reply := r.admin(c.method, c.path, testAdminSecret, c.body)
		resp, found := doc.Paths[c.route][strings.ToLower(c.method)].Responses[strconv.Itoa(status)]
		if !found {
			t.Errorf("%s answered %d, which docs/openapi.json does not list (%v)", what, status, reply)
			continue
		}
		if status >= 400 {
			if _, has := reply["code"]; !has {
				t.Errorf("%s: error without a code: %v", what, reply)
			}
			if _, has := reply["message"]; !has {
				t.Errorf("%s: error without a message: %v", what, reply)
			}
			continue
		}
		s := resp.Content["application/json"].Schema
		if s.Ref != "" {
			s = doc.Components.Schemas[strings.TrimPrefix(s.Ref, "#/components/schemas/")]
		}
		if s.Properties == nil {
			continue // any object
		}
		for k := range reply {
			if _, has := s.Properties[k]; !has {
				t.Errorf("%s: answer field %q is not in docs/openapi.json (%v)", what, k, reply)
			}
		}
		for _, k := range s.Required {
			if _, has := reply[k]; !has {
				t.Errorf("%s: answer lacks the required field %q (%v)", what, k, reply)
			}
		}
	}
	for _, rt := range adminRoutes {
		if !called[rt.method+" "+rt.path] {
			t.Errorf("%s %s is not called", rt.method, rt.path)
		}
	}
}

// TestAdminStoreDown: with the store unreachable every route answers a
// status docs/openapi.json lists for it, with a code.
func TestAdminStoreDown(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../docs/openapi.json")
	ok(t, err)
	var doc struct {
		Paths map[string]map[string]struct {
			Responses map[string]any `json:"responses"`
		} `json:"paths"`
	}
	ok(t, json.Unmarshal(b, &doc))
	store := NewMemoryStore()
	r := startRelay(t, func(o *Options) { withAdmin(o); o.Store = store })
	ok(t, store.Close())
	bodies := map[string]any{
		"/admin/v1/groups":                map[string]any{"id": "g:ops", "owner": "alice", "members": []string{"bob"}},
		"/admin/v1/messages":              map[string]any{"conversationId": "g:ops", "from": "system", "text": "hi"},
		"/admin/v1/groups/{id}/members":   map[string]any{"by": "alice", "add": []string{"carol"}},
		"/admin/v1/revocations":           map[string]any{"user": "alice"},
		"/admin/v1/users/{user}/kick":     map[string]any{},
		"/admin/v1/users/{user}/ban":      map[string]any{"reason": "spam"},
		"/admin/v1/users/{user}":          nil,
		"/admin/v1/users/{user}/presence": nil,
	}
	for _, rt := range adminRoutes {
		path := strings.NewReplacer("{user}", "alice", "{id}", "g:ops").Replace(rt.path)
		var body any
		if rt.body != nil {
			body = bodies[rt.path]
		}
		status, reply := r.admin(rt.method, path, testAdminSecret, body)
		if _, found := doc.Paths[rt.path][strings.ToLower(rt.method)].Responses[strconv.Itoa(status)]; !found {
			t.Errorf("%s %s with the store down answered %d, which docs/openapi.json does not list (%v)", rt.method, rt.path, status, reply)
		}
		if status >= 400 && reply["code"] == nil {
			t.Errorf("%s %s: error without a code: %v", rt.method, rt.path, reply)
		}
	}
}

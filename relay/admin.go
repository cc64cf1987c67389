package relay

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
)

// The admin API is for the application's own servers: JSON over HTTP on the
// relay's operator listener (AdminHandler, --admin-addr), each request
// carrying Options.AdminSecret as a bearer token. It is off when no secret
// is set. docs/openapi.json describes it; TestAdminOpenAPI holds the two
// together.

// adminRoute is one operation of the admin API.
type adminRoute struct {
	method, path string
	body         any // the request body's type (a pointer to a zero value), nil for none
	serve        func(s *Server, r *http.Request, body any) (status int, reply any, err error)
}

// adminRoutes lists every operation; docs/openapi.json has the same.
var adminRoutes = []adminRoute{
	{"POST", "/admin/v1/groups", &adminGroup{}, (*Server).adminCreateGroup},
	{"POST", "/admin/v1/messages", &adminMessage{}, (*Server).adminSend},
	{"POST", "/admin/v1/users/{user}/kick", &adminKick{}, (*Server).adminKick},
	{"POST", "/admin/v1/revocations", &adminRevoke{}, (*Server).adminRevoke},
	{"POST", "/admin/v1/groups/{id}/members", &adminMembers{}, (*Server).adminGroupMembers}, // admin_groups.go
	{"GET", "/admin/v1/users/{user}/presence", nil, (*Server).adminPresence},                // admin_groups.go
	{"DELETE", "/admin/v1/users/{user}", nil, (*Server).adminDeleteUser},                    // admin_users.go
	{"PUT", "/admin/v1/users/{user}/ban", &adminBan{}, (*Server).adminSetBan},               // admin_bans.go
	{"GET", "/admin/v1/users/{user}/ban", nil, (*Server).adminGetBan},                       // admin_bans.go
	{"DELETE", "/admin/v1/users/{user}/ban", nil, (*Server).adminLiftBan},                   // admin_bans.go
}

// adminGroup creates a group with its members. Unlike a client's, the id
// may be any group id ("g:" and a name); empty asks the relay for one.
type adminGroup struct {
	ID      string   `json:"id,omitempty"`
	Name    string   `json:"name,omitempty"`
	Owner   string   `json:"owner"`   // the group's creator, a member
	Members []string `json:"members"` // the others
}

// adminMessage sends a message into a conversation as a user, or as
// "system" (proto.SystemUser) into any conversation that exists.
type adminMessage struct {
	ConversationID string `json:"conversationId"`
	From           string `json:"from"`
	Type           string `json:"type,omitempty"`     // text (default) or custom
	Text           string `json:"text,omitempty"`     // for text
	Body           []byte `json:"body,omitempty"`     // for custom: base64 in JSON
	ClientID       string `json:"clientId,omitempty"` // idempotency key; default random
}

// adminKick closes every session of a user, on every relay, with 4003.
type adminKick struct {
	Reason string `json:"reason,omitempty"`
}

// adminRevoke revokes tokens issued before a time: of one user, or of
// everyone when User is empty. Before is unix seconds; 0 means now, and
// then tokens issued in the current second are revoked too.
type adminRevoke struct {
	User   string `json:"user,omitempty"`
	Before int64  `json:"before,omitempty"`
}

// adminError is the body of every refused admin request.
type adminError struct {
	Code    proto.Code `json:"code"`
	Message string     `json:"message"`
}

// mountAdmin adds the admin API to mux when a secret is set.
func (s *Server) mountAdmin(mux *http.ServeMux) {
	if s.opts.AdminSecret == "" {
		return
	}
	want := sha256.Sum256([]byte(s.opts.AdminSecret))
	for _, rt := range adminRoutes {
		rt := rt
		mux.HandleFunc(rt.method+" "+rt.path, func(w http.ResponseWriter, r *http.Request) {
			s.serveAdmin(w, r, want, rt)
		})
	}
}

// maxAdminBody bounds an admin request body.
const maxAdminBody = 1 << 20

func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request, want [32]byte, rt adminRoute) {
	token, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	// Hashes of equal length, compared in constant time: neither the
	// secret's bytes nor its length leak through timing.
	got := sha256.Sum256([]byte(token))
	if !found || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		s.warnLog.info("admin request refused: missing or wrong secret", "path", r.URL.Path, "remote", r.RemoteAddr)
		writeAdmin(w, http.StatusUnauthorized, adminError{Code: proto.CodeUnauthorized, Message: "missing or wrong admin secret (Authorization: Bearer <secret>)"})
		return
	}
	var body any
	if rt.body != nil {
		body = newLike(rt.body)
		dec := json.NewDecoder(io.LimitReader(r.Body, maxAdminBody+1))
		dec.DisallowUnknownFields()
		if err := dec.Decode(body); err != nil && !(errors.Is(err, io.EOF) && r.ContentLength <= 0) {
			writeAdmin(w, http.StatusBadRequest, adminError{Code: proto.CodeBadRequest, Message: "request body: " + err.Error()})
			return
		}
	}
	status, reply, err := rt.serve(s, r, body)
	if err != nil {
		var perr *proto.Error
		if !errors.As(err, &perr) {
			s.log.Error("admin request failed", "path", r.URL.Path, "err", err)
			perr = storeFailure(err)
		}
		writeAdmin(w, adminStatus(perr.Code), adminError{Code: perr.Code, Message: perr.Message})
		return
	}
	s.log.Info("admin request", "method", r.Method, "path", r.URL.Path, "status", status)
	writeAdmin(w, status, reply)
}

// newLike returns a pointer to a new zero value of the type v points to.
func newLike(v any) any {
	switch v.(type) {
	case *adminGroup:
		return &adminGroup{}
	case *adminMessage:
		return &adminMessage{}
	case *adminKick:
		return &adminKick{}
	case *adminRevoke:
		return &adminRevoke{}
	case *adminMembers:
		return &adminMembers{}
	case *adminBan:
		return &adminBan{}
	}
	panic(fmt.Sprintf("relay: admin body %T", v))
}

func writeAdmin(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// adminStatus maps a code to the HTTP status of its reply.
func adminStatus(c proto.Code) int {
	switch {
	case c == proto.CodeUnauthorized:
		return http.StatusUnauthorized
	case c == proto.CodeForbidden:
		return http.StatusForbidden
	case c == proto.CodeNotFound:
		return http.StatusNotFound
	case c == proto.CodeConflict:
		return http.StatusConflict
	case c == proto.CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	case c >= 4200 && c < 4300:
		return http.StatusBadRequest
	}
	return http.StatusServiceUnavailable
}

// adminUser reads and checks the {user} of the path.
func adminUser(r *http.Request) (string, *proto.Error) {
	u := r.PathValue("user")
	if !proto.ValidName(u) {
		return "", proto.Errorf(proto.CodeBadRequest, "invalid user id %q", u)
	}
	return u, nil
}

func (s *Server) adminCreateGroup(r *http.Request, body any) (int, any, error) {
	b := body.(*adminGroup)
	if !proto.ValidName(b.Owner) || b.Owner == proto.SystemUser {
		return 0, nil, proto.Errorf(proto.CodeBadRequest, "owner: invalid user id %q", b.Owner)
	}
	req := &proto.CreateGroup{ConvID: b.ID, Name: b.Name, Members: b.Members}
	if perr := proto.Validate(req); perr != nil {
		return 0, nil, perr
	}
	spec, perr := rules.PlanGroup(b.Owner, req, time.Now(), func() string { return proto.GroupPrefix + randomHex(12) })
	if perr != nil {
		return 0, nil, perr
	}
	spec.Announce = true // the store writes the created message with the group (group_created.go)
	conv, created, err := s.store.CreateGroup(r.Context(), spec)
	if err != nil {
		return 0, nil, err
	}
	var first *proto.Message
	if created && conv.LastMessage != nil {
		m := *conv.LastMessage
		first = &m
	} else if conv.LastSeq == 0 { // a group an older build created without it
		m, fresh, err := appendCreated(r.Context(), s.store, conv, spec.Creator, time.Now().UnixMilli()) // group_created.go
		if err != nil {
			return 0, nil, err
		}
		if fresh {
			first = &m
		}
	}
	if created {
		s.env.fan.publish(spec.Members, "",
			proto.MustEncode(proto.Frame{Type: proto.TypeConvUpdate, Body: &proto.ConvUpdate{Conversation: conv}}))
	}
	if first != nil {
		s.env.fan.publish(spec.Members, "", proto.MustEncode(proto.Frame{Type: proto.TypeDeliver, Body: &proto.Deliver{Message: *first}}))
		conv = withCreated(conv, *first)
	}
	if created {
		s.hooks.groupChanged(conv, "created") // webhooks.go
		return http.StatusCreated, adminConv(conv), nil
	}
	return http.StatusOK, adminConv(conv), nil
}

// adminConversation is a conversation as the admin API shows it.
type adminConversation struct {
	ID        string   `json:"id"`
	Kind      string   `json:"kind"`
	Name      string   `json:"name,omitempty"`
	Members   []string `json:"members,omitempty"`
	LastSeq   uint64   `json:"lastSeq"`
	CreatedAt int64    `json:"createdAt,omitempty"`
}

func adminConv(c proto.Conversation) adminConversation {
	return adminConversation{ID: c.ID, Kind: c.Kind, Name: c.Name, Members: c.Members, LastSeq: c.LastSeq, CreatedAt: c.CreatedAt}
}

// adminMessageReply answers a message sent through the admin API.
type adminMessageReply struct {
	ConversationID string `json:"conversationId"`
	Seq            uint64 `json:"seq"`
	ClientID       string `json:"clientId"`
	CreatedAt      int64  `json:"createdAt"`
	Duplicate      bool   `json:"duplicate,omitempty"`
}

func (s *Server) adminSend(r *http.Request, body any) (int, any, error) {
	b := body.(*adminMessage)
	if !proto.ValidName(b.From) {
		return 0, nil, proto.Errorf(proto.CodeBadRequest, "from: invalid user id %q", b.From)
	}
	send := proto.Send{ConvID: b.ConversationID, ClientID: b.ClientID, MsgType: b.Type, Text: b.Text, Body: b.Body}
	if send.MsgType == "" {
		send.MsgType = proto.MsgText
	}
	if send.ClientID == "" {
		send.ClientID = "admin-" + randomHex(12)
	}
	if perr := proto.Validate(&send); perr != nil {
		return 0, nil, perr
	}
	if b.From != proto.SystemUser {
		if perr := rules.AdmitParty(b.From, send.ConvID); perr != nil {
			return 0, nil, perr
		}
	}
	// Straight to the store: its transaction orders this message among the
	// committer's batches as it orders any two writers.
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	res, err := s.store.Append(ctx, []AppendRequest{{Sender: b.From, Device: "admin", Send: send, CreatedAt: time.Now().UnixMilli()}})
	if err != nil {
		return 0, nil, err
	}
	if len(res) != 1 {
		return 0, nil, proto.Errorf(proto.CodeInternal, "store returned %d results for 1 message", len(res))
	}
	if res[0].Err != nil {
		return 0, nil, res[0].Err
	}
	m := res[0].Message
	if !res[0].Duplicate {
		s.metrics.stored.Add(1)
		s.env.fan.publish(res[0].Members, "", proto.MustEncode(proto.Frame{Type: proto.TypeDeliver, Body: &proto.Deliver{Message: m}}))
		s.hooks.message(m, res[0].Members) // webhooks.go
	}
	return http.StatusOK, adminMessageReply{ConversationID: m.ConvID, Seq: m.Seq, ClientID: m.ClientID, CreatedAt: m.CreatedAt, Duplicate: res[0].Duplicate}, nil
}

func (s *Server) adminKick(r *http.Request, body any) (int, any, error) {
	user, perr := adminUser(r)
	if perr != nil {
		return 0, nil, perr
	}
	reason := body.(*adminKick).Reason
	if reason == "" {
		reason = "signed out by the application"
	}
	if len(reason) > 200 {
		return 0, nil, proto.Errorf(proto.CodeBadRequest, "reason above 200 bytes")
	}
	s.ctl.closeUser(user, "", proto.CodeKicked, reason)
	return http.StatusOK, struct{}{}, nil
}

// adminRevokeReply answers a revocation with the time it took effect from.
type adminRevokeReply struct {
	User   string `json:"user,omitempty"`
	Before int64  `json:"before"`
}

func (s *Server) adminRevoke(r *http.Request, body any) (int, any, error) {
	b := body.(*adminRevoke)
	if b.User != "" && !proto.ValidName(b.User) {
		return 0, nil, proto.Errorf(proto.CodeBadRequest, "user: invalid user id %q", b.User)
	}
	before := b.Before
	switch {
	case before == 0:
		// iat has whole seconds: a token issued in this second may be
		// older than the call, so it is revoked too.
		before = time.Now().Unix() + 1
	case before < 0 || before > time.Now().Add(24*time.Hour).Unix():
		return 0, nil, proto.Errorf(proto.CodeBadRequest, "before: %d is not a unix time in seconds up to a day ahead", before)
	}
	rv, isRevoker := s.store.(Revoker)
	if !isRevoker {
		return 0, nil, proto.Errorf(proto.CodeNotSupported, "this relay's store keeps no revocations")
	}
	if err := rv.RevokeTokens(r.Context(), b.User, before); err != nil {
		return 0, nil, err
	}
	s.ctl.revoke(b.User, before, 0, "")
	return http.StatusOK, adminRevokeReply{User: b.User, Before: before}, nil
}

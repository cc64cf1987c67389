package relay

import (
	"net/http"
	"time"

	"github.com/parley-im/parley/proto"
)

// adminMembers adds and removes members of a group on the authority of one
// of its owners or admins (By), as that member's own request would: the
// store checks By's role, records each change as a system message in the
// group's log and tells the members concerned.
type adminMembers struct {
	By     string   `json:"by"`
	Add    []string `json:"add,omitempty"`
	Remove []string `json:"remove,omitempty"`
}

func (s *Server) adminGroupMembers(r *http.Request, body any) (int, any, error) {
	b := body.(*adminMembers)
	conv := r.PathValue("id")
	if !proto.ValidGroupID(conv) {
		return 0, nil, proto.Errorf(proto.CodeBadRequest, "invalid group id %q", conv)
	}
	if !proto.ValidName(b.By) {
		return 0, nil, proto.Errorf(proto.CodeBadRequest, "by: invalid user id %q", b.By)
	}
	if len(b.Add) == 0 && len(b.Remove) == 0 {
		return 0, nil, proto.Errorf(proto.CodeBadRequest, "nothing to add or remove")
	}
	g, isGrouper := s.store.(Grouper)
	if !isGrouper {
		return 0, nil, proto.Errorf(proto.CodeNotSupported, "this relay's store has no group changes")
	}
	var view *proto.Conversation
	for _, step := range []struct {
		op    string
		users []string
	}{{proto.OpAdd, b.Add}, {proto.OpRemove, b.Remove}} {
		if len(step.users) == 0 {
			continue
		}
		op := proto.GroupOp{ConvID: conv, Op: step.op, Users: step.users}
		if perr := proto.Validate(&op); perr != nil {
			return 0, nil, perr
		}
		out, err := g.ChangeGroup(r.Context(), GroupRequest{Actor: b.By, Op: op, Now: time.Now().UnixMilli(), Feed: true})
		if err != nil {
			return 0, nil, err
		}
		s.publishGroupOutcome(out, step.op) // admin_users.go
		if out.View != nil {
			view = out.View
		}
	}
	if view == nil {
		return http.StatusOK, struct{}{}, nil
	}
	return http.StatusOK, adminConv(*view), nil
}

// adminPresence answers whether a user is online, with their custom status
// and when they were last seen.
type adminPresenceReply struct {
	User     string `json:"user"`
	Online   bool   `json:"online"`
	Status   string `json:"status,omitempty"`
	LastSeen int64  `json:"lastSeen,omitempty"` // unix ms the last device left; 0 while online or never seen
}

func (s *Server) adminPresence(r *http.Request, _ any) (int, any, error) {
	user, perr := adminUser(r)
	if perr != nil {
		return 0, nil, perr
	}
	ps, err := s.Presence(r.Context(), []string{user})
	if err != nil {
		return 0, nil, err
	}
	out := adminPresenceReply{User: user}
	if len(ps) > 0 {
		out.Online, out.Status, out.LastSeen = ps[0].Online, ps[0].Status, ps[0].LastSeen
	}
	return http.StatusOK, out, nil
}

package relay

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
)

// Deleting a user (DELETE /admin/v1/users/{user}), for an application
// whose user closed their account. In order:
//
//  1. every session of the user closes, on every relay (4014, user
//     deleted), and every token issued until now is refused as a deleted
//     account's (4014; the store records the deletion beside a
//     revocation), so no device of theirs comes back, and one that was
//     offline learns why;
//  2. the user leaves each group they are a member of, as their own leave
//     would (a system message in the group): an owner first hands the
//     group to its oldest admin, or else its oldest member, and an owner
//     alone dismisses it;
//  3. every other user's contact, request or block of them becomes no
//     relation, through the feed, so those users' devices converge;
//  4. every attachment they uploaded is deleted from the blob store (the
//     store keeps an index of each user's uploads, UploadIndex), and its
//     entry then; a download of it answers 404 with 4204;
//  5. the store erases their status, last-seen time, presence
//     subscriptions (theirs and those to them), feed, and replaces their
//     profile with a tombstone ({user, deleted: true}).
//
// Messages they sent stay in the conversations they were sent to, under the
// same sender id: the other members keep their history, and a client shows
// the sender as a deleted user by the tombstone; their attachments no
// longer download. Every step is idempotent, so a deletion that failed
// half-way is finished by calling it again; a webhook "user-deleted"
// reports it.

// adminDeleteReply answers a deletion.
type adminDeleteReply struct {
	User      string   `json:"user"`
	DeletedAt int64    `json:"deletedAt"`        // unix ms
	Groups    []string `json:"groups,omitempty"` // the groups the user left (or dismissed)
	Relations int      `json:"relations"`        // other users' relation entries cleared
	Uploads   int      `json:"uploads"`          // uploads deleted from the blob store
}

func (s *Server) adminDeleteUser(r *http.Request, _ any) (int, any, error) {
	user, perr := adminUser(r)
	if perr != nil {
		return 0, nil, perr
	}
	if user == proto.SystemUser {
		return 0, nil, proto.Errorf(proto.CodeBadRequest, "user %q is reserved", user)
	}
	er, isEraser := s.store.(UserEraser)
	rv, isRevoker := s.store.(Revoker)
	if !isEraser || !isRevoker {
		return 0, nil, proto.Errorf(proto.CodeNotSupported, "this relay's store cannot delete users")
	}
	ctx, cancel := context.WithTimeout(r.Context(), 60*time.Second)
	defer cancel()
	now := time.Now()

	s.ctl.closeUser(user, "", proto.CodeUserDeleted, "user deleted")
	before := now.Unix() + 1 // tokens issued in this second too
	if err := rv.RecordDeletion(ctx, user, before); err != nil {
		return 0, nil, err
	}
	if err := rv.RevokeTokens(ctx, user, before); err != nil {
		return 0, nil, err
	}
	// A session that signed in between the close above and the deletion's
	// record is closed here, as a deleted user's too.
	s.ctl.revoke(user, before, proto.CodeUserDeleted, "user deleted")

	groups, told, err := s.leaveAllGroups(ctx, user, now.UnixMilli())
	if err != nil {
		return 0, nil, err
	}
	others, err := er.RelationsTo(ctx, user)
	if err != nil {
		return 0, nil, err
	}
	cleared := 0
	for _, o := range others {
		keys := []FeedKey{{o, rules.FeedRelation, user}}
		out, err := s.store.UpdateFeed(ctx, keys, func(cur []proto.UserEntry) ([]*proto.UserEntry, error) {
			if r := relationOf(cur[0], user); r.State == proto.RelNone && !r.Blocked {
				return []*proto.UserEntry{nil}, nil
			}
			return []*proto.UserEntry{{Relation: &proto.Relation{User: user, At: now.UnixMilli()}}}, nil
		})
		if err != nil {
			return 0, nil, err
		}
		if out[0] != nil {
			cleared++
			s.env.fan.publish([]string{o}, "", proto.MustEncode(proto.Frame{Type: proto.TypeUserUpdate, Body: &proto.UserUpdate{Entry: *out[0]}}))
		}
	}
	uploads, err := s.deleteUploads(ctx, user)
	if err != nil {
		return 0, nil, err
	}
	p, err := er.EraseUser(ctx, user, now.UnixMilli())
	if err != nil {
		return 0, nil, err
	}
	// The tombstone replaces the cached profile on the devices of those
	// most likely to show it: the user's contacts and fellow members.
	// Others' caches read it when they next ask (core.ProfileFresh).
	to := append(others, told...)
	slices.Sort(to)
	to = slices.DeleteFunc(slices.Compact(to), func(u string) bool { return u == user })
	if len(to) > 0 {
		s.env.fan.publish(to, "", proto.MustEncode(proto.Frame{Type: proto.TypeProfiles, Body: &proto.Profiles{List: []proto.Profile{p}}}))
	}
	s.hooks.userDeleted(user) // webhooks.go
	s.log.Info("user deleted", "user", user, "groups", len(groups), "relations", cleared, "uploads", uploads)
	return http.StatusOK, adminDeleteReply{User: user, DeletedAt: now.UnixMilli(), Groups: groups, Relations: cleared, Uploads: uploads}, nil
}

// deleteUploads deletes user's uploads from the blob store, a page at a
// time, each page's index entries after its blobs: a deletion cut short
// leaves the entries of blobs it may not have deleted, for the next call.
// It returns how many it deleted. Without a blob store or an upload index
// there is nothing to delete.
func (s *Server) deleteUploads(ctx context.Context, user string) (int, error) {
	ux, isIndex := s.store.(UploadIndex)
	if !isIndex || s.env.blobs == nil {
		return 0, nil
	}
	n := 0
	for {
		ids, err := ux.UploadsOf(ctx, user, "", 100)
		if err != nil || len(ids) == 0 {
			return n, err
		}
		for _, id := range ids {
			if err := s.env.blobs.Delete(ctx, uploadKey(id)); err != nil {
				return n, err
			}
		}
		if err := ux.DropUploads(ctx, user, ids); err != nil {
			return n, err
		}
		n += len(ids)
	}
}

// leaveAllGroups makes user leave every group they are a member of,
// handing a group they own to a successor first (rules.Successor); it
// returns the groups left and the members told of it.
func (s *Server) leaveAllGroups(ctx context.Context, user string, now int64) (left, told []string, err error) {
	var groups []string
	for cursor := uint64(0); ; {
		convs, more, err := s.store.Sync(ctx, user, cursor, 200)
		if err != nil {
			return nil, nil, err
		}
		for _, c := range convs {
			cursor = max(cursor, c.Version)
			if c.Kind == proto.KindGroup && !slices.Contains(groups, c.ID) {
				groups = append(groups, c.ID)
			}
		}
		if !more || len(convs) == 0 {
			break
		}
	}
	for _, conv := range groups {
		role, err := s.store.MemberRole(ctx, conv, user)
		if err != nil {
			return nil, nil, err
		}
		if role == "" {
			continue // left before, or removed
		}
		if role == proto.RoleOwner {
			var members []proto.Member
			for after := ""; ; {
				page, err := s.store.GroupMembers(ctx, user, proto.Members{ConvID: conv, After: after})
				if err != nil {
					return nil, nil, err
				}
				members = append(members, page.Members...)
				if len(page.Members) < memberPageLimit {
					break
				}
				after = page.Members[len(page.Members)-1].User
			}
			if next := rules.Successor(members, user); next != "" {
				if _, err := s.adminGroupOp(ctx, user, proto.GroupOp{ConvID: conv, Op: proto.OpTransfer, Users: []string{next}}, now); err != nil {
					return nil, nil, err
				}
			}
		}
		to, err := s.adminGroupOp(ctx, user, proto.GroupOp{ConvID: conv, Op: proto.OpLeave}, now)
		if err != nil {
			return nil, nil, err
		}
		left = append(left, conv)
		told = append(told, to...)
	}
	// Invitations still waiting for the user's answer are declined, so
	// that no group takes them in later.
	invites, err := s.store.GroupPending(ctx, user, "")
	if err != nil {
		return nil, nil, err
	}
	for _, n := range invites {
		if _, err := s.adminGroupOp(ctx, user, proto.GroupOp{ConvID: n.ConvID, Op: proto.OpAnswerInvite}, now); err != nil {
			return nil, nil, err
		}
	}
	return left, told, nil
}

// adminGroupOp applies op by actor and tells those concerned, as the
// actor's own request would; it returns who got the system messages.
func (s *Server) adminGroupOp(ctx context.Context, actor string, op proto.GroupOp, now int64) ([]string, error) {
	out, err := s.store.ChangeGroup(ctx, GroupRequest{Actor: actor, Op: op, Now: now, Feed: true})
	if err != nil {
		return nil, err
	}
	s.publishGroupOutcome(out, op.Op)
	return out.To, nil
}

// publishGroupOutcome delivers a group change's system messages and user
// feed entries (fanout.groupOutcome) and reports it to the webhook.
func (s *Server) publishGroupOutcome(out GroupOutcome, op string) {
	s.env.fan.groupOutcome(&out)
	if out.View != nil {
		s.hooks.groupChanged(*out.View, op)
	}
}

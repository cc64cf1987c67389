//go:build !js

package relay

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
)

// TestGroupJoinPolicyAndFull: a join request to a group that takes members
// by invitation only is refused 4225; an add or a join past the member
// limit is refused 4226; neither changes the group.
func TestGroupJoinPolicyAndFull(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := NewMemoryStore()
	t.Cleanup(func() { s.Close() })
	refused := func(what string, err error, want proto.Code) {
		t.Helper()
		var perr *proto.Error
		if !errors.As(err, &perr) || perr.Code != want {
			t.Fatalf("%s: got %v, want %d", what, err, want)
		}
	}

	_, _, err := s.CreateGroup(ctx, GroupSpec{ID: "g:closed", Creator: "owner", Members: []string{"owner", "member"}, CreatedAt: 1})
	ok(t, err)
	_, err = s.ChangeGroup(ctx, GroupRequest{Actor: "outsider", Now: 2, Op: proto.GroupOp{ConvID: "g:closed", Op: proto.OpRequest, Note: "me"}})
	refused("request to an invitation-only group", err, proto.CodeJoinPolicy)

	members := []string{"owner"}
	for i := 1; i < proto.MaxGroupMembers; i++ {
		members = append(members, fmt.Sprintf("u%d", i))
	}
	_, _, err = s.CreateGroup(ctx, GroupSpec{ID: "g:full", Creator: "owner", Members: members, CreatedAt: 1, Info: rules.GroupInfo{JoinPolicy: proto.JoinOpen}})
	ok(t, err)
	_, err = s.ChangeGroup(ctx, GroupRequest{Actor: "owner", Now: 2, Op: proto.GroupOp{ConvID: "g:full", Op: proto.OpAdd, Users: []string{"one-more"}}})
	refused("add past the limit", err, proto.CodeGroupFull)
	_, err = s.ChangeGroup(ctx, GroupRequest{Actor: "one-more", Now: 3, Op: proto.GroupOp{ConvID: "g:full", Op: proto.OpRequest}})
	refused("join past the limit", err, proto.CodeGroupFull)
	got, err := s.Members(ctx, "g:full")
	ok(t, err)
	equal(t, len(got), proto.MaxGroupMembers, "members of the full group")
}

package rules

import (
	"slices"
	"time"

	"github.com/parley-im/parley/proto"
)

// GroupSpec is a normalised CreateGroup: an id, and the sorted, deduplicated
// members including the creator.
type GroupSpec struct {
	ID        string
	Name      string
	Creator   string
	Members   []string
	CreatedAt int64 // unix milliseconds
}

// PlanGroup normalises a CreateGroup request from creator at now. newID
// supplies an id when the client left it empty; it is not called otherwise.
func PlanGroup(creator string, req *proto.CreateGroup, now time.Time, newID func() string) (GroupSpec, *proto.Error) {
	members := make([]string, 0, len(req.Members)+1)
	members = append(members, creator)
	members = append(members, req.Members...)
	slices.Sort(members)
	members = slices.Compact(members)
	if len(members) > proto.MaxGroupMembers {
		return GroupSpec{}, proto.Errorf(proto.CodeTooLarge, "more than %d members", proto.MaxGroupMembers)
	}
	id := req.ConvID
	if id == "" {
		id = newID()
	}
	return GroupSpec{ID: id, Name: req.Name, Creator: creator, Members: members, CreatedAt: now.UnixMilli()}, nil
}

// SameGroup decides whether creating spec over an existing conversation of
// kind, creator and sorted members is an idempotent repeat (nil: same
// creator, same members) or a conflict (4209).
func SameGroup(kind, creator string, members []string, spec GroupSpec) *proto.Error {
	if kind != proto.KindGroup || creator != spec.Creator || !slices.Equal(members, spec.Members) {
		return proto.Errorf(proto.CodeConflict, "conversation %s exists with other members", spec.ID)
	}
	return nil
}

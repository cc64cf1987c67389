package rules

import (
	"slices"
	"strings"
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
	Info      GroupInfo
	// Keyed: the request had no id and an idempotency key, and the id was
	// derived from (creator, key) by newID; a repeat is then the same
	// request whatever the members are by now.
	Keyed bool
	// Announce: the store writes the group's created system message as
	// seq 1 in the transaction that creates the group (the relay's
	// creates set it; a bare store call leaves the group empty).
	Announce bool
}

// PlanGroup normalises a CreateGroup request from creator at now. newID
// supplies an id when the client left it empty (from the request's key, when
// it has one); it is not called otherwise.
func PlanGroup(creator string, req *proto.CreateGroup, now time.Time, newID func() string) (GroupSpec, *proto.Error) {
	if perr := AdmitGroupName(req.Name); perr != nil {
		return GroupSpec{}, perr
	}
	members := make([]string, 0, len(req.Members)+1)
	members = append(members, creator)
	members = append(members, req.Members...)
	slices.Sort(members)
	members = slices.Compact(members)
	if len(members) > proto.MaxGroupMembers {
		// The creator counts: 1,000 others fit in the frame but not in the
		// group, which is full as when members are added to it.
		return GroupSpec{}, proto.Errorf(proto.CodeGroupFull, "a group has at most %d members", proto.MaxGroupMembers)
	}
	id, keyed := req.ConvID, false
	if id == "" {
		id, keyed = newID(), req.Key != ""
	}
	info := GroupInfo{Avatar: req.Avatar, Notice: req.Notice, Custom: req.Custom, JoinPolicy: req.JoinPolicy}
	return GroupSpec{ID: id, Name: req.Name, Creator: creator, Members: members, CreatedAt: now.UnixMilli(), Info: info, Keyed: keyed}, nil
}

// SameGroup decides whether creating spec over an existing conversation of
// kind, creator and sorted members is an idempotent repeat (nil: same
// creator, same members; a keyed spec only needs the same creator, as the
// members may have changed since the first request) or a conflict (4209).
func SameGroup(kind, creator string, members []string, spec GroupSpec) *proto.Error {
	if kind != proto.KindGroup || creator != spec.Creator || (!spec.Keyed && !slices.Equal(members, spec.Members)) {
		return proto.Errorf(proto.CodeConflict, "conversation %s exists with other members", spec.ID)
	}
	return nil
}

// AdmitGroupName refuses (4256) a group name holding a C0 or C1 control
// character or a bidirectional embedding, override or isolate (U+202A–U+202E,
// U+2066–U+2069): a name shown to every member must not reorder or hide the
// text around it (Unicode Technical Standard #39 §3, Trojan Source).
func AdmitGroupName(name string) *proto.Error {
	for _, r := range name {
		switch {
		case r < 0x20, r >= 0x7f && r <= 0x9f:
			return proto.Errorf(proto.CodeBadName, "group name holds control character U+%04X", r)
		case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
			return proto.Errorf(proto.CodeBadName, "group name holds bidirectional control U+%04X", r)
		}
	}
	return nil
}

// AdmitGroupQuota decides whether a user who created total groups, recent of
// them in the last hour, may create one more: 4257 at maxTotal or maxHour
// (either ≤ 0 is no limit).
func AdmitGroupQuota(total, recent, maxTotal, maxHour int) *proto.Error {
	switch {
	case maxTotal > 0 && total >= maxTotal:
		return proto.Errorf(proto.CodeGroupLimit, "%d groups created, the most one user may create", maxTotal)
	case maxHour > 0 && recent >= maxHour:
		return proto.Errorf(proto.CodeGroupLimit, "%d groups created in the last hour, the most allowed; try later", maxHour)
	}
	return nil
}

// Group id policies: who may choose a group's id.
const (
	// GroupIDsServer refuses every client-chosen id: the relay names all
	// groups (the default). A create without an id carries an idempotency
	// key instead (see GroupSpec.Keyed).
	GroupIDsServer = "server"
	// GroupIDsClient accepts a client-chosen id only inside the creator's
	// namespace, g:<creator>.<rest>; an empty id gets one from the relay.
	GroupIDsClient = "client"
	// GroupIDsAny accepts any well-formed id, first come first served.
	GroupIDsAny = "any"
)

// AdmitGroupID decides whether creator may ask for group id (empty: the
// relay picks one) under policy: 4258 for an id the policy does not let the
// client choose. A namespaced id cannot be squatted by another user: only
// its creator can create it, so nobody is put into a group under an id they
// (or their app) expected to hold.
func AdmitGroupID(creator, id, policy string) *proto.Error {
	if id == "" || policy == GroupIDsAny {
		return nil
	}
	if policy == GroupIDsClient && strings.HasPrefix(id, proto.GroupPrefix+creator+".") && len(id) > len(proto.GroupPrefix+creator+".") {
		return nil
	}
	if policy == GroupIDsServer {
		return proto.Errorf(proto.CodeGroupID, "group ids are assigned by the relay; leave the id empty")
	}
	return proto.Errorf(proto.CodeGroupID, "a chosen group id must start with %s%s.", proto.GroupPrefix, creator)
}

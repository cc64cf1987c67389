package main

import (
	"context"
	"fmt"

	"github.com/parley-im/parley/proto"
)

const roomDefaultRate = 10

// roomSpec is one large room of --room-members users, --room-talkers of
// whom send: every message fans out to everyone else at once.
func (bn *bench) roomSpec(rate float64) pacedSpec {
	m, t := bn.cfg.roomSize, bn.cfg.talkers
	return pacedSpec{
		name: "room", rate: rate, cast: roomsCast(1, m, t),
		what:   fmt.Sprintf("room — one room of %s members, %d of them sending", fmtNum(float64(m), 0), t),
		params: map[string]any{"members": m, "talkers": t, "max_group_members": proto.MaxGroupMembers},
		notes: []string{
			fmt.Sprintf("One group conversation, created by its first member with all the others; every message must reach the other %s members exactly once, so one send becomes %s deliveries at once.", fmtNum(float64(m-1), 0), fmtNum(float64(m-1), 0)),
			fmt.Sprintf("The protocol caps a group at %s members (proto.MaxGroupMembers; CreateGroup above it is refused with 4213): a room of 2,000 is not possible, so the room is as large as allowed.", fmtNum(proto.MaxGroupMembers, 0)),
		},
	}
}

func (bn *bench) room(ctx context.Context) *scenarioResult {
	s := bn.pacedScenario(ctx, bn.roomSpec(bn.rateFor(roomDefaultRate)), bn.cfg.runs, bn.cfg.duration)
	s.budget("room send → delivered p99", "deliver_p99_ms", latencyBudgetP99ms, 0, "ms")
	return s
}

package relay

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// userState is what all of one user's sessions on this node share: how many
// there are, and the rates their frames and bytes are held to together.
type userState struct {
	sessions int
	frames   *rate.Limiter // nil when disabled
	bytes    *rate.Limiter // nil when disabled
}

// allow takes one frame of n bytes at now from the user's allowance; it
// returns the name of the limit that refused it, or "".
func (u *userState) allow(now time.Time, n int) string {
	if u.frames != nil && !u.frames.AllowN(now, 1) {
		return limitUserFrames
	}
	if u.bytes != nil && !u.bytes.AllowN(now, n) {
		return limitUserBytes
	}
	return ""
}

// userTable counts each user's sessions on this node and holds their shared
// rate limiters. Limits are per node: a relay of several nodes lets a user
// hold MaxSessionsPerUser on each.
type userTable struct {
	maxSessions int     // <= 0: no limit
	frameRate   float64 // <= 0: no limit
	byteRate    float64 // <= 0: no limit
	byteBurst   int

	mu sync.Mutex
	m  map[string]*userState
}

func newUserTable(o Options) *userTable {
	t := &userTable{maxSessions: o.MaxSessionsPerUser, frameRate: o.UserRateLimit, byteRate: o.UserByteRate, m: make(map[string]*userState)}
	if t.byteRate > 0 {
		// One second's worth at once, and never below a few frames: a
		// burst below one frame would refuse that frame for ever.
		t.byteBurst = max(int(t.byteRate), 4*o.MaxFrame)
	}
	return t
}

// join adds a session of user and returns the user's state, or nil when the
// user holds maxSessions already. replacing reports a session that takes
// the place of one of the same device, which it will close: it is let in.
func (t *userTable) join(user string, replacing bool) *userState {
	t.mu.Lock()
	defer t.mu.Unlock()
	u := t.m[user]
	if u == nil {
		u = &userState{}
		if t.frameRate > 0 {
			u.frames = rate.NewLimiter(rate.Limit(t.frameRate), max(1, int(2*t.frameRate)))
		}
		if t.byteRate > 0 {
			u.bytes = rate.NewLimiter(rate.Limit(t.byteRate), t.byteBurst)
		}
		t.m[user] = u
	}
	if t.maxSessions > 0 && u.sessions >= t.maxSessions && !replacing {
		return nil
	}
	u.sessions++
	return u
}

// leave removes a session of user that join admitted.
func (t *userTable) leave(user string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if u := t.m[user]; u != nil {
		if u.sessions--; u.sessions <= 0 {
			delete(t.m, user)
		}
	}
}

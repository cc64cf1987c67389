package relay

import (
	"sync"

	"github.com/parley-im/parley/proto"
)

// hub indexes this node's authenticated sessions by user and by device, and
// fans frames out to them. Delivery only enqueues (never blocks), so one slow
// session cannot hold up anyone else.
type hub struct {
	mu      sync.RWMutex
	users   map[string][]*Session
	devices map[deviceKey]*Session
	n       int
	onLost  func()   // set before the hub subscribes
	ctl     *control // the roster and kicks of sessions across nodes (control.go); set before the hub subscribes
}

type deviceKey struct{ user, device string }

func newHub() *hub {
	return &hub{users: make(map[string][]*Session), devices: make(map[deviceKey]*Session)}
}

// add registers s and returns the session of the same (user, device) it
// replaces, if any; the caller closes that one (4003). When that device's
// session began after s, nothing changes and stale is true: the caller
// closes s. held runs first, under the hub's lock: when it reports true,
// nothing changes and again is true (the caller checks s again and may
// retry). Whatever held did not see is thus done after s is in the hub,
// where it finds s (endLog). first runs under the hub's lock, before any
// delivery can reach s, so the Welcome it enqueues is always the first
// frame the client sees.
func (h *hub) add(s *Session, held func() bool, first func()) (replaced *Session, stale, again bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if held() {
		return nil, false, true
	}
	key := deviceKey{s.user, s.device}
	replaced = h.devices[key]
	if replaced != nil && replaced.began > s.began {
		// The device already has a session on a connection opened after
		// this one: s is a hello read late from a connection the client
		// has left. It must not replace the newer one.
		return nil, true, false
	}
	if replaced != nil {
		h.removeLocked(replaced)
	}
	h.devices[key] = s
	h.users[s.user] = append(h.users[s.user], s)
	h.n++
	first()
	return replaced, false, false
}

// hasDevice reports whether device of user has a session here.
func (h *hub) hasDevice(user, device string) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.devices[deviceKey{user, device}] != nil
}

// remove unregisters s; removing a session twice or one never added is a
// no-op.
func (h *hub) remove(s *Session) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.removeLocked(s)
}

func (h *hub) removeLocked(s *Session) {
	list := h.users[s.user]
	for i, x := range list {
		if x == s {
			list[i] = list[len(list)-1]
			list[len(list)-1] = nil
			list = list[:len(list)-1]
			h.n--
			break
		}
	}
	if len(list) == 0 {
		delete(h.users, s.user)
	} else {
		h.users[s.user] = list
	}
	key := deviceKey{s.user, s.device}
	if h.devices[key] == s {
		delete(h.devices, key)
	}
}

var _ Receiver = (*hub)(nil)

// resyncFrame tells a client that pushes may have been lost.
var resyncFrame = proto.MustEncode(proto.Frame{Type: proto.TypeResync})

// Deliver enqueues e.Frame on every local session of e.Users but e.Except, or
// for a kick closes the sessions of that device. It never blocks.
func (h *hub) Deliver(e Envelope) {
	if e.Control != nil {
		h.onControl(e) // control.go
		return
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, u := range e.Users {
		for _, s := range h.users[u] {
			switch {
			case s.id == e.Except:
			case e.Kick == "":
				s.write(e.Frame)
			case s.device == e.Kick && s.began < e.KickAt:
				s.Close(proto.CodeKicked, "replaced by a newer connection of the same device")
			}
		}
	}
}

// Lost tells every local session to sync again: what the bus dropped is in
// the store, and each client knows its own cursor.
func (h *hub) Lost() {
	if h.onLost != nil {
		h.onLost()
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, list := range h.users {
		for _, s := range list {
			s.write(resyncFrame)
		}
	}
}

// count returns the number of registered sessions.
func (h *hub) count() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.n
}

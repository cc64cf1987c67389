package rules

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/parley-im/parley/proto"
)

// DevicePolicy is how many sessions one user may hold open at once per
// platform, across every relay node. A platform it does not name has no
// limit. One session per device id holds whatever the policy says: a new
// connection of a device replaces its old one.
type DevicePolicy map[string]int

// ParseDevicePolicy reads a policy written as comma-separated
// platform=limit pairs, e.g. "web=1,node=unlimited,react-native=1,miniapp=1".
// A limit is a positive number or "unlimited"; "other" names the sessions
// whose hello carried no platform. The empty string is the default policy:
// no limit but one session per device id.
func ParseDevicePolicy(s string) (DevicePolicy, error) {
	p := DevicePolicy{}
	if strings.TrimSpace(s) == "" {
		return p, nil
	}
	for _, part := range strings.Split(s, ",") {
		name, limit, ok := strings.Cut(strings.TrimSpace(part), "=")
		name, limit = strings.TrimSpace(name), strings.TrimSpace(limit)
		if !ok || !proto.ValidPlatform(name) {
			return nil, fmt.Errorf("device policy %q: %q is not platform=limit", s, part)
		}
		if _, dup := p[name]; dup {
			return nil, fmt.Errorf("device policy %q: %s given twice", s, name)
		}
		if limit == "unlimited" {
			p[name] = 0
			continue
		}
		n, err := strconv.Atoi(limit)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("device policy %q: limit %q of %s is not a positive number or unlimited", s, limit, name)
		}
		p[name] = n
	}
	return p, nil
}

// String writes p back in the syntax ParseDevicePolicy reads, platforms in
// order.
func (p DevicePolicy) String() string {
	names := make([]string, 0, len(p))
	for n := range p {
		names = append(names, n)
	}
	slices.Sort(names)
	parts := make([]string, len(names))
	for i, n := range names {
		if p[n] == 0 {
			parts[i] = n + "=unlimited"
		} else {
			parts[i] = n + "=" + strconv.Itoa(p[n])
		}
	}
	return strings.Join(parts, ",")
}

// PlatformOf is the policy key of a hello's platform: "other" when empty.
func PlatformOf(platform string) string {
	if platform == "" {
		return "other"
	}
	return platform
}

// DeviceSession is one open session of a user as the device policy sees it.
type DeviceSession struct {
	Session  string // session id, unique across relay nodes
	Device   string
	Platform string // as in the hello; "" counts as "other"
	Began    int64  // when its connection opened, unix ns (relay clocks)
}

// OverPolicy returns the sessions of one user that the policy closes: per
// platform with a limit, the oldest beyond it. Every node holding the same
// list decides the same: ties in Began are broken by session id.
func OverPolicy(p DevicePolicy, sessions []DeviceSession) []DeviceSession {
	if len(p) == 0 {
		return nil
	}
	by := map[string][]DeviceSession{}
	for _, s := range sessions {
		k := PlatformOf(s.Platform)
		if p[k] > 0 {
			by[k] = append(by[k], s)
		}
	}
	var over []DeviceSession
	for k, list := range by {
		if extra := len(list) - p[k]; extra > 0 {
			SortSessions(list)
			over = append(over, list[:extra]...)
		}
	}
	SortSessions(over)
	return over
}

// SortSessions orders sessions oldest first, ties by session id.
func SortSessions(list []DeviceSession) {
	slices.SortFunc(list, func(a, b DeviceSession) int {
		return cmp.Or(cmp.Compare(a.Began, b.Began), cmp.Compare(a.Session, b.Session))
	})
}

package rules

import (
	"net/url"
	"path"
	"strings"

	"github.com/parley-im/parley/proto"
)

// AdmitOrigin decides whether a WebSocket whose request carried the Origin
// header origin, for the Host host, may open, given the allow-list patterns.
// A refusal is 4008, which the edge sends after the upgrade so that a
// browser sees the code instead of a failed handshake (1006), which a
// client would retry for ever.
//
// No patterns allow every origin; so do a request without Origin (not a
// browser) and a same-origin one. A pattern is either a host ("app.example.com",
// "*.example.com", "localhost:5173"), matched against the origin's host in
// any scheme, or an origin ("https://app.example.com", "https://*.example.com"),
// whose scheme must match too. Host patterns use path.Match, case-insensitive.
func AdmitOrigin(origin, host string, patterns []string) *proto.Error {
	if len(patterns) == 0 || origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return proto.Errorf(proto.CodeOriginForbidden, "origin %q is not a URL", proto.Clip(origin, 128))
	}
	if strings.EqualFold(u.Host, host) {
		return nil
	}
	for _, p := range patterns {
		scheme, hostPattern, hasScheme := strings.Cut(p, "://")
		if !hasScheme {
			hostPattern = p
		} else if !strings.EqualFold(scheme, u.Scheme) {
			continue
		}
		if ok, _ := path.Match(strings.ToLower(hostPattern), strings.ToLower(u.Host)); ok {
			return nil
		}
	}
	return proto.Errorf(proto.CodeOriginForbidden, "origin %s is not allowed", proto.Clip(origin, 128))
}

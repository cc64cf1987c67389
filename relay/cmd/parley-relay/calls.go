package main

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/parley-im/parley/relay"
	"github.com/parley-im/parley/relay/turnserver"
	"github.com/pion/stun/v4"
)

// callFlags adds the call flags (relay.CallOptions and the embedded TURN
// server) to e. Once e is parsed, check reports a value that cannot work,
// and start sets the options on o and starts the TURN server when asked;
// stop closes it.
func callFlags(e *envFlags) (check func() error, start func(o *relay.Options) (stop func(), err error)) {
	fs := e.fs
	disable := fs.Bool("calls-off", false, "refuse call invitations (4266)")
	ring := fs.Duration("call-ring-timeout", 45*time.Second, "a call nobody answers ends after this (reason timeout)")
	nodeTimeout := fs.Duration("call-node-timeout", 15*time.Second, "a relay node silent this long on the bus is taken for gone by the calls it shares with this one, which end for its devices (reason failed)")
	stunURLs := fs.String("stun", "", "comma-separated STUN URLs handed to calls, e.g. stun:turn.example.com:3478 (default: the embedded TURN server's, when on)")
	turnURLs := fs.String("turn-urls", "", "comma-separated URLs of an external TURN server (coturn with use-auth-secret), e.g. turn:turn.example.com:3478?transport=udp")
	secret := fs.String("turn-secret", "", "secret shared with the TURN server: calls get time-limited TURN REST API credentials made with it")
	ttl := fs.Duration("turn-ttl", 12*time.Hour, "how long handed-out TURN credentials stay valid")
	listen := fs.String("turn-listen", "", "run the embedded TURN server on this UDP address, e.g. 0.0.0.0:3478 (needs --turn-secret and --turn-public-ip)")
	publicIP := fs.String("turn-public-ip", "", "the embedded TURN server's address as clients reach it")
	realm := fs.String("turn-realm", "parley", "the embedded TURN server's realm")
	private := fs.Bool("turn-allow-private-peers", false, "let the embedded TURN server relay to loopback and private addresses (tests on one machine; never on the internet)")
	for name, variable := range map[string]string{
		"calls-off": "PARLEY_CALLS_OFF", "call-ring-timeout": "PARLEY_CALL_RING_TIMEOUT", "call-node-timeout": "PARLEY_CALL_NODE_TIMEOUT", "stun": "PARLEY_STUN",
		"turn-urls": "PARLEY_TURN_URLS", "turn-secret": "PARLEY_TURN_SECRET", "turn-ttl": "PARLEY_TURN_TTL",
		"turn-listen": "PARLEY_TURN_LISTEN", "turn-public-ip": "PARLEY_TURN_PUBLIC_IP", "turn-realm": "PARLEY_TURN_REALM",
		"turn-allow-private-peers": "PARLEY_TURN_ALLOW_PRIVATE_PEERS",
	} {
		e.bind(name, variable)
	}
	check = func() error {
		if *ring <= 0 {
			return fmt.Errorf("--call-ring-timeout %s is not positive", *ring)
		}
		if *nodeTimeout <= 0 {
			return fmt.Errorf("--call-node-timeout %s is not positive", *nodeTimeout)
		}
		if *ttl <= 0 {
			return fmt.Errorf("--turn-ttl %s is not positive", *ttl)
		}
		// Handed to every device as they are: a typo would fail each
		// call's RTCPeerConnection, not the relay.
		if err := checkICEURLs("stun", *stunURLs, false); err != nil {
			return err
		}
		if err := checkICEURLs("turn-urls", *turnURLs, true); err != nil {
			return err
		}
		if (*turnURLs != "" || *listen != "") && *secret == "" {
			return errors.New("--turn-urls and --turn-listen need --turn-secret")
		}
		if *listen != "" && *publicIP == "" {
			return errors.New("--turn-listen needs --turn-public-ip, the address clients reach it at")
		}
		return nil
	}
	start = func(o *relay.Options) (func(), error) {
		o.Calls = relay.CallOptions{Disable: *disable, RingTimeout: *ring, STUNURLs: splitList(*stunURLs),
			TURNURLs: splitList(*turnURLs), TURNSecret: *secret, TURNCredentialTTL: *ttl, NodeTimeout: *nodeTimeout}
		if *listen == "" {
			return func() {}, nil
		}
		t, err := turnserver.Start(turnserver.Config{Listen: *listen, PublicIP: *publicIP, Realm: *realm,
			Secret: *secret, AllowPrivatePeers: *private})
		if err != nil {
			return nil, err
		}
		urls := t.URLs()
		o.Calls.TURNURLs = append(o.Calls.TURNURLs, urls...)
		if len(o.Calls.STUNURLs) == 0 { // a TURN server answers STUN binding requests too
			for _, u := range urls {
				o.Calls.STUNURLs = append(o.Calls.STUNURLs, "stun:"+u[len("turn:"):len(u)-len("?transport=udp")])
			}
		}
		return func() { _ = t.Close() }, nil
	}
	return check, start
}

// checkICEURLs reports the first item of list, flag's comma-separated URLs,
// that is empty or not a STUN URL (RFC 7064 §3.1), or with turn not a TURN
// URL (RFC 7065 §3.1).
func checkICEURLs(flag, list string, turn bool) error {
	if list == "" {
		return nil
	}
	schemes, form := []stun.SchemeType{stun.SchemeTypeSTUN, stun.SchemeTypeSTUNS}, "stun:HOST[:PORT] or stuns:HOST[:PORT] (RFC 7064)"
	if turn {
		schemes, form = []stun.SchemeType{stun.SchemeTypeTURN, stun.SchemeTypeTURNS}, "turn:HOST[:PORT][?transport=udp|tcp] or turns:… (RFC 7065)"
	}
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return fmt.Errorf("--%s %q has an empty item", flag, list)
		}
		if err := checkICEURL(item, schemes); err != nil {
			return fmt.Errorf("--%s %q: %v; want %s", flag, item, err, form)
		}
	}
	return nil
}

// checkICEURL reports why raw is not a URL of one of schemes.
func checkICEURL(raw string, schemes []stun.SchemeType) error {
	u, err := stun.ParseURI(raw)
	if err != nil {
		return err
	}
	if !slices.Contains(schemes, u.Scheme) {
		return fmt.Errorf("a %s: URL", u.Scheme)
	}
	// ParseURI takes more than the RFCs: a path or a user in the host
	// ("stun:host/x", "turn:me@host"), any integer for the port, an empty
	// query, and it drops a fragment. What it read must spell raw back.
	host := u.Host
	if strings.Contains(host, ":") {
		if a, err := netip.ParseAddr(host); err != nil || !a.Is6() || a.Zone() != "" {
			return fmt.Errorf("host %q is not an IPv6 address", host)
		}
		host = "[" + host + "]"
	} else if err := checkHostname(host); err != nil {
		return err
	}
	if u.Port < 1 || u.Port > 65535 {
		return fmt.Errorf("port %d is out of range", u.Port)
	}
	_, rest, _ := strings.Cut(raw, ":")
	hostport, query, hasQuery := strings.Cut(rest, "?")
	if hostport != host && hostport != host+":"+strconv.Itoa(u.Port) {
		return fmt.Errorf("%q is not a host and an optional port", hostport)
	}
	if hasQuery && (u.Scheme == stun.SchemeTypeSTUN || u.Scheme == stun.SchemeTypeSTUNS ||
		query != "transport=udp" && query != "transport=tcp") {
		return fmt.Errorf("query %q is not allowed", query)
	}
	return nil
}

// checkHostname reports why h is neither an IPv4 address nor a DNS name,
// the forms of RFC 3986 §3.2.2 a STUN or TURN client resolves (RFC 7064
// §3.2, RFC 7065 §3.2). Underscores pass: resolvers take them.
func checkHostname(h string) error {
	if a, err := netip.ParseAddr(h); err == nil && a.Is4() {
		return nil
	}
	if h == "" || len(h) > 253 {
		return fmt.Errorf("host %q is not 1 to 253 bytes", h)
	}
	labels := strings.Split(h, ".")
	for _, l := range labels {
		ok := l != "" && len(l) <= 63 && l[0] != '-' && l[len(l)-1] != '-'
		for i := 0; ok && i < len(l); i++ {
			c := l[i]
			ok = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'
		}
		if !ok {
			return fmt.Errorf("host %q is not a DNS name or an IP address", h)
		}
	}
	// RFC 1123 §2.1: a name's last label is never numeric, so this was
	// meant as an IPv4 address.
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return fmt.Errorf("host %q is not an IPv4 address", h)
	}
	return nil
}

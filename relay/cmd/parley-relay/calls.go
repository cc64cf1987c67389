package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/parley-im/parley/relay"
	"github.com/parley-im/parley/relay/turnserver"
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
	stun := fs.String("stun", "", "comma-separated STUN URLs handed to calls, e.g. stun:turn.example.com:3478 (default: the embedded TURN server's, when on)")
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
		if (*turnURLs != "" || *listen != "") && *secret == "" {
			return errors.New("--turn-urls and --turn-listen need --turn-secret")
		}
		if *listen != "" && *publicIP == "" {
			return errors.New("--turn-listen needs --turn-public-ip, the address clients reach it at")
		}
		return nil
	}
	start = func(o *relay.Options) (func(), error) {
		o.Calls = relay.CallOptions{Disable: *disable, RingTimeout: *ring, STUNURLs: splitList(*stun),
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

//go:build js && wasm

package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/parley-im/parley/relay"
)

// relayFlags applies the relay options a deployment may set in the
// PARLEY_RELAY_FLAGS variable, written as parley-relay's flags of the same
// names (e.g. "--heartbeat 20s --rate-limit 50"): the ones that mean
// something on Workers. Listeners, stores, buses and the admin address are
// Cloudflare's business there.
func relayFlags(o *relay.Options, line string) error {
	fs := flag.NewFlagSet("PARLEY_RELAY_FLAGS", flag.ContinueOnError)
	fs.DurationVar(&o.Heartbeat, "heartbeat", o.Heartbeat, "ping interval announced to clients")
	fs.Float64Var(&o.RateLimit, "rate-limit", o.RateLimit, "frames per second per connection")
	fs.IntVar(&o.RateBurst, "rate-burst", o.RateBurst, "burst of the per-connection frame rate")
	leeway := fs.Duration("token-leeway", o.TokenLeeway, "clock skew allowed on token times; 0: none")
	fs.Float64Var(&o.UserByteRate, "user-byte-rate", o.UserByteRate, "bytes per second per user")
	fs.IntVar(&o.MaxSessionsPerUser, "max-sessions-per-user", o.MaxSessionsPerUser, "sessions per user")
	fs.StringVar(&o.GroupIDs, "group-ids", o.GroupIDs, "who names groups: server, client or any")
	if err := fs.Parse(strings.Fields(line)); err != nil {
		return fmt.Errorf("PARLEY_RELAY_FLAGS: %w", err)
	}
	// As on parley-relay: --token-leeway 0 means no leeway, which the
	// relay's options spell as a negative value (zero is their default).
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "token-leeway" {
			o.TokenLeeway = *leeway
			if *leeway == 0 {
				o.TokenLeeway = -1
			}
		}
	})
	return nil
}

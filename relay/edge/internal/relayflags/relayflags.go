// Package relayflags reads the relay options a Workers deployment sets in
// its PARLEY_RELAY_FLAGS variable, written as parley-relay's flags of the
// same names and read as parley-relay reads them. It is plain Go, so its
// tests run natively.
package relayflags

import (
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/parley-im/parley/relay"
)

// Apply applies the relay options a deployment may set in the
// PARLEY_RELAY_FLAGS variable, written as parley-relay's flags of the same
// names (e.g. "--heartbeat 20s --rate-limit 50"): the ones that mean
// something on Workers. Listeners, stores, buses and the admin address are
// Cloudflare's business there; the admin secret is PARLEY_ADMIN_SECRET.
// A value parley-relay refuses is refused, and a 0 means what it means to
// parley-relay, not relay.Options' default.
func Apply(o *relay.Options, line string) error {
	fs := flag.NewFlagSet("PARLEY_RELAY_FLAGS", flag.ContinueOnError)
	fs.DurationVar(&o.Heartbeat, "heartbeat", o.Heartbeat, "ping interval announced to clients")
	fs.Float64Var(&o.RateLimit, "rate-limit", o.RateLimit, "frames per second per connection")
	fs.IntVar(&o.RateBurst, "rate-burst", o.RateBurst, "burst of the per-connection frame rate")
	leeway := fs.Duration("token-leeway", o.TokenLeeway, "clock skew allowed on token times; 0: none")
	fs.Float64Var(&o.UserByteRate, "user-byte-rate", o.UserByteRate, "bytes per second per user")
	fs.IntVar(&o.MaxSessionsPerUser, "max-sessions-per-user", o.MaxSessionsPerUser, "sessions per user")
	fs.StringVar(&o.GroupIDs, "group-ids", o.GroupIDs, "who names groups: server, client or any")
	fs.Int64Var(&o.MaxUpload, "max-upload", o.MaxUpload, "largest attachment accepted, in bytes")
	types := fs.String("upload-types", "", "comma-separated media types an upload may have")
	fs.Float64Var(&o.UploadsPerMinute, "uploads-per-minute", o.UploadsPerMinute, "uploads one user may start per minute; negative disables")
	fs.Float64Var(&o.UploadByteRate, "upload-byte-rate", o.UploadByteRate, "upload bytes a second one user may send; negative disables")
	fs.DurationVar(&o.RecallWindow, "recall-window", o.RecallWindow, "how long a sender may recall a message; negative: never")
	fs.StringVar(&o.InvitePolicy, "invite-policy", o.InvitePolicy, "how users come into a group: direct or consent")
	fs.IntVar(&o.MaxGroupsPerUser, "max-groups-per-user", o.MaxGroupsPerUser, "groups one user may create in all; negative: no limit")
	fs.IntVar(&o.MaxGroupsPerHour, "max-groups-per-hour", o.MaxGroupsPerHour, "groups one user may create in any hour; negative: no limit")
	fs.IntVar(&o.MaxRelations, "max-relations", o.MaxRelations, "contacts, requests and blocks one user may hold; negative: no cap")
	if err := fs.Parse(strings.Fields(line)); err != nil {
		return fmt.Errorf("PARLEY_RELAY_FLAGS: %w", err)
	}
	// As on parley-relay: --token-leeway 0 means no leeway and
	// --max-sessions-per-user 0 no limit, which the relay's options spell
	// as a negative value (zero is their default); a zero that would refuse
	// everything is refused.
	var err error
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "heartbeat":
			if o.Heartbeat <= 0 {
				err = fmt.Errorf("PARLEY_RELAY_FLAGS: --heartbeat %s is not positive", o.Heartbeat)
			}
		case "rate-limit", "user-byte-rate":
			if v, _ := strconv.ParseFloat(f.Value.String(), 64); v == 0 {
				err = fmt.Errorf("PARLEY_RELAY_FLAGS: --%s 0 would refuse every frame; use a negative value to disable", f.Name)
			}
		case "rate-burst":
			if o.RateBurst < 0 {
				err = fmt.Errorf("PARLEY_RELAY_FLAGS: --rate-burst %d is negative", o.RateBurst)
			}
		case "max-sessions-per-user":
			if o.MaxSessionsPerUser == 0 {
				o.MaxSessionsPerUser = -1
			}
		case "token-leeway":
			o.TokenLeeway = *leeway
			if *leeway == 0 {
				o.TokenLeeway = -1
			}
		case "upload-types":
			o.UploadTypes = nil
			for _, t := range strings.Split(*types, ",") {
				if t = strings.TrimSpace(t); t != "" {
					o.UploadTypes = append(o.UploadTypes, t)
				}
			}
		case "max-upload":
			if o.MaxUpload <= 0 {
				err = fmt.Errorf("PARLEY_RELAY_FLAGS: --max-upload %d is not positive", o.MaxUpload)
			}
		case "recall-window":
			if o.RecallWindow == 0 {
				err = fmt.Errorf("PARLEY_RELAY_FLAGS: --recall-window 0 would give no time to recall; use a negative value for never")
			}
		case "invite-policy":
			if o.InvitePolicy != "direct" && o.InvitePolicy != "consent" {
				err = fmt.Errorf("PARLEY_RELAY_FLAGS: --invite-policy %q is not direct or consent", o.InvitePolicy)
			}
		case "max-groups-per-user", "max-groups-per-hour", "max-relations":
			if f.Value.String() == "0" {
				err = fmt.Errorf("PARLEY_RELAY_FLAGS: --%s 0 would refuse every one; use a negative value for no limit", f.Name)
			}
		case "uploads-per-minute", "upload-byte-rate":
			if v, _ := strconv.ParseFloat(f.Value.String(), 64); v == 0 {
				err = fmt.Errorf("PARLEY_RELAY_FLAGS: --%s 0 would refuse every upload; use a negative value to disable", f.Name)
			}
		}
	})
	return err
}

package relayflags

import (
	"testing"

	"github.com/parley-im/parley/relay"
)

// TestApplyReadsFlagsAsParleyRelay: PARLEY_RELAY_FLAGS are parley-relay's
// flags, so a value parley-relay refuses is refused here too, and a 0 that
// parley-relay reads as "none" is not turned into relay.Options' default.
func TestApplyReadsFlagsAsParleyRelay(t *testing.T) {
	t.Parallel()
	for _, line := range []string{
		"--heartbeat 0", "--heartbeat -5s", "--rate-limit 0", "--user-byte-rate 0", "--rate-burst -1",
		"--max-upload 0", "--uploads-per-minute 0", "--upload-byte-rate 0", "--bogus 1",
		"--recall-window 0", "--invite-policy open", "--max-groups-per-user 0", "--max-groups-per-hour 0", "--max-relations 0",
	} {
		var o relay.Options
		if err := Apply(&o, line); err == nil {
			t.Errorf("%q: accepted, want an error", line)
		}
	}
	var o relay.Options
	if err := Apply(&o, "--heartbeat 20s --rate-limit -1 --max-sessions-per-user 0 --token-leeway 0 --upload-types image/png,text/*"); err != nil {
		t.Fatal(err)
	}
	if o.MaxSessionsPerUser >= 0 || o.TokenLeeway >= 0 {
		t.Errorf("max sessions %d, token leeway %v: want both negative (none), as parley-relay reads a 0", o.MaxSessionsPerUser, o.TokenLeeway)
	}
	if o.Heartbeat.Seconds() != 20 || o.RateLimit != -1 || len(o.UploadTypes) != 2 {
		t.Errorf("options %+v: the flags given were not applied", o)
	}
	o = relay.Options{}
	if err := Apply(&o, "--recall-window -1s --invite-policy consent --max-groups-per-user 3 --max-groups-per-hour -1 --max-relations 7"); err != nil {
		t.Fatal(err)
	}
	if o.RecallWindow >= 0 || o.InvitePolicy != "consent" || o.MaxGroupsPerUser != 3 || o.MaxGroupsPerHour != -1 || o.MaxRelations != 7 {
		t.Errorf("options %+v: the group and recall flags given were not applied", o)
	}
}

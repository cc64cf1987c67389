package main

import (
	"bytes"
	"context"
	"testing"
)

// TestSessionFlags: flags of the device policy, admin API and webhooks that
// cannot work are refused before anything starts.
func TestSessionFlags(t *testing.T) {
	t.Parallel()
	long := "0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"bad device policy", []string{"serve", "--device-policy", "web=0"}},
		{"device policy syntax", []string{"serve", "--device-policy", "web"}},
		{"short admin secret", []string{"serve", "--admin-secret", "short"}},
		{"admin secret without the admin listener", []string{"serve", "--admin-addr", "off", "--admin-secret", long}},
		{"webhook without a secret", []string{"serve", "--webhook", "http://127.0.0.1:9/hook"}},
		{"short webhook secret", []string{"serve", "--webhook", "http://127.0.0.1:9/hook", "--webhook-secret", "short"}},
		{"zero webhook queue", []string{"serve", "--webhook-queue", "0"}},
	} {
		var stdout, stderr bytes.Buffer
		if got := run(context.Background(), tc.args, &stdout, &stderr); got != 2 {
			t.Errorf("%s: exit %d, want 2; stderr:\n%s", tc.name, got, stderr.String())
		}
	}
}

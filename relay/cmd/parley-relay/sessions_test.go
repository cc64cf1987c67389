package main

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/parley-im/parley/relay"
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

// TestServeAdminAPI: with --admin-secret (here from PARLEY_ADMIN_SECRET's
// flag), the admin API is on the admin listener, never the public one, and
// refuses a request without the secret.
func TestServeAdminAPI(t *testing.T) {
	secret := "0123456789abcdef0123456789abcdef"
	url, admin, _ := servingAdmin(t, "--data", t.TempDir(), "--admin-secret", secret)
	call := func(base, auth string) int {
		req, err := http.NewRequest("POST", base+"/admin/v1/revocations", strings.NewReader(`{"user":"alice"}`))
		if err != nil {
			t.Fatal(err)
		}
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		resp, err := plainHTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := call(admin, secret); code != http.StatusOK {
		t.Errorf("admin API with the secret: %d", code)
	}
	if code := call(admin, ""); code != http.StatusUnauthorized {
		t.Errorf("admin API without the secret: %d", code)
	}
	if code := call(url, secret); code == http.StatusOK {
		t.Error("admin API served on the public listener")
	}
}

// TestWebhookUsage: --webhook's usage names every event the relay posts.
func TestWebhookUsage(t *testing.T) {
	t.Parallel()
	usage := serveFlags(t)["webhook"][0]
	for _, event := range []string{relay.HookMessage, relay.HookGroupChange, relay.HookUserOnline, relay.HookUserOffline, relay.HookUserDeleted} {
		if !strings.Contains(usage, event) {
			t.Errorf("--webhook usage %q does not name %s", usage, event)
		}
	}
}

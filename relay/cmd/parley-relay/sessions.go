package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/parley-im/parley/relay"
	"github.com/parley-im/parley/relay/rules"
)

// sessionFlags adds the flags of the device policy, the admin API and
// webhooks to e. Once e is parsed, check reports a value that cannot work
// and apply sets them on o.
func sessionFlags(e *envFlags) (check func(adminAddr string) error, apply func(o *relay.Options)) {
	fs := e.fs
	policy := fs.String("device-policy", "", `sessions per user at once, per platform, across relays, e.g. "web=1,node=unlimited,react-native=1,miniapp=1"; the oldest over a limit is closed with 4012 (default: no limit but one per device id)`)
	adminSecret := fs.String("admin-secret", "", "turns on the admin API (/admin/v1/ on --admin-addr) for requests with Authorization: Bearer SECRET (>= 32 bytes; default: off)")
	webhook := fs.String("webhook", "", "URL to POST signed events to: after-message, after-group-change, user-online, user-offline, user-deleted (default: none)")
	webhookSecret := fs.String("webhook-secret", "", "HMAC-SHA256 key of the webhook signatures (>= 32 bytes; default: --admin-secret)")
	webhookQueue := fs.Int("webhook-queue", 4096, "webhook events waiting at most; beyond it they are dropped and counted, never waited for")
	webhookRetries := fs.Int("webhook-retries", 5, "retries of a failed webhook request, with exponential backoff; negative: none")
	webhookTimeout := fs.Duration("webhook-timeout", 5*time.Second, "bound on one webhook request")
	nodeID := fs.String("node-id", "", "this relay node's id in the store's presence (up to 64 letters, digits, ._-); a relay restarted under the same id takes back the sessions its killed predecessor left online (default: random per process)")
	nodeLease := fs.Duration("node-lease", 15*time.Second, "liveness lease of this node in the store, renewed every third of it; a killed node's users go offline within 4/3 of it")
	for name, variable := range map[string]string{
		"node-id": "PARLEY_NODE_ID", "node-lease": "PARLEY_NODE_LEASE",
		"device-policy": "PARLEY_DEVICE_POLICY", "admin-secret": "PARLEY_ADMIN_SECRET",
		"webhook": "PARLEY_WEBHOOK", "webhook-secret": "PARLEY_WEBHOOK_SECRET", "webhook-queue": "PARLEY_WEBHOOK_QUEUE",
		"webhook-retries": "PARLEY_WEBHOOK_RETRIES", "webhook-timeout": "PARLEY_WEBHOOK_TIMEOUT",
	} {
		e.bind(name, variable)
	}
	check = func(adminAddr string) error {
		// relay.New refuses it too, but only after the store is open, and
		// with exit status 1.
		if *nodeID != "" && !relay.ValidNodeID(*nodeID) {
			return fmt.Errorf("--node-id %q is not 1 to 64 bytes of letters, digits and ._-", *nodeID)
		}
		if *nodeLease < time.Second {
			return fmt.Errorf("--node-lease %v is below 1s", *nodeLease)
		}
		if _, err := rules.ParseDevicePolicy(*policy); err != nil {
			return fmt.Errorf("--device-policy: %w", err)
		}
		if *adminSecret != "" && len(*adminSecret) < relay.MinSecretBytes {
			return fmt.Errorf("--admin-secret of %d bytes is shorter than %d", len(*adminSecret), relay.MinSecretBytes)
		}
		if *adminSecret != "" && adminAddr == "" {
			return errors.New("--admin-secret serves the admin API on --admin-addr, which is off")
		}
		if *webhook != "" && *webhookSecret == "" && *adminSecret == "" {
			return errors.New("--webhook needs --webhook-secret (or --admin-secret) to sign its requests")
		}
		if *webhookSecret != "" && len(*webhookSecret) < relay.MinSecretBytes {
			return fmt.Errorf("--webhook-secret of %d bytes is shorter than %d", len(*webhookSecret), relay.MinSecretBytes)
		}
		if *webhookQueue < 1 || *webhookTimeout <= 0 {
			return errors.New("--webhook-queue and --webhook-timeout must be positive")
		}
		return nil
	}
	apply = func(o *relay.Options) {
		o.DevicePolicy, o.AdminSecret = *policy, *adminSecret
		o.NodeID, o.NodeLease = *nodeID, *nodeLease
		o.Webhook, o.WebhookSecret, o.WebhookQueue, o.WebhookTimeout = *webhook, *webhookSecret, *webhookQueue, *webhookTimeout
		o.WebhookRetries = *webhookRetries
		if o.WebhookRetries == 0 {
			o.WebhookRetries = -1 // relay.Options: negative is none, zero the default
		}
	}
	return check, apply
}

//go:build !js

package client

import (
	"time"

	"github.com/parley-im/parley/sdk-wasm/core"
)

// What differs for a native program.
const (
	// clientName goes into Hello, with the Version.
	clientName = "parley-go"
	// deviceIDPrefix starts a generated device id.
	deviceIDPrefix = "d-"
	// newWaitsForLoad: New may block, so it returns the store's load error.
	newWaitsForLoad = true
	// writeTimeout gives up on a write the network does not take in time.
	writeTimeout = 10 * time.Second
)

// appendEventJSON: natively there is no BridgeEvent encoder, and
// Options.OnEventJSON is never called.
func appendEventJSON([]byte, *core.Event, storedMsg) []byte { return nil }

// hostValue: natively no host holds a batch.
type hostValue = struct{}

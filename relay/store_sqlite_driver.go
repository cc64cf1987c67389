//go:build !js

package relay

import _ "modernc.org/sqlite" // registers the "sqlite" driver

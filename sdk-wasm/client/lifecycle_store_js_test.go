package client

import "testing"

// TestJSStoreLifecycle runs the lifecycle cache checks through a JavaScript
// storage adapter, the way IndexedDB is reached: every lifecycle field
// crosses the bridge as a plain object and back.
func TestJSStoreLifecycle(t *testing.T) {
	s, _ := newJSAdapter(t)
	defer s.Close()
	testLifecycleCache(t, s)
}

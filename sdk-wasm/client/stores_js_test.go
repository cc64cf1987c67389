package client

import "testing"

// testStores are the stores every platform has.
func testStores() map[string]func(t *testing.T, file string) Store {
	return map[string]func(t *testing.T, file string) Store{
		"memory": func(*testing.T, string) Store { return NewMemoryStore() },
	}
}

package relay

// writerVFS under js/wasm: the SQLite there is the host's (a Durable
// Object's storage), which writes its own log.
func writerVFS() (string, error) { return "", nil }

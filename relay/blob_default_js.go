package relay

// defaultBlobStore: js/wasm has no file system to keep uploads in, so a
// relay built for it serves them only from an Options.Blobs of its own.
func defaultBlobStore(string) (BlobStore, error) { return nil, nil }

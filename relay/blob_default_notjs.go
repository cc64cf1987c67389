//go:build !js

package relay

import "path/filepath"

// defaultBlobStore is the BlobStore a relay uses when Options.Blobs is nil:
// files under dataDir/uploads.
func defaultBlobStore(dataDir string) (BlobStore, error) {
	return NewLocalBlobStore(filepath.Join(dataDir, "uploads"))
}

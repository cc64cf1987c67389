package relay

import (
	"context"
	"slices"
	"strings"
)

// UploadIndex keeps which uploads each user made, so that deleting a user
// (admin_users.go) deletes the bytes they uploaded. The upload handler
// records an upload before its bytes are stored (UploadOptions.Uploaded):
// every blob of an upload has its entry, and an upload that failed leaves
// an entry that leads to no blob. A blob deleted with the last message
// carrying it (a recall, a delete for everyone) takes its entry with it. Every store implements it; an entry is a
// row of the store's meta table.
type UploadIndex interface {
	// AddUploads records, in one transaction, that each of ups was
	// uploaded by its user; recording one again is no error.
	AddUploads(ctx context.Context, ups []Upload) error
	// UploadsOf returns up to limit of user's upload ids after after, in
	// byte order.
	UploadsOf(ctx context.Context, user, after string, limit int) ([]string, error)
	// DropUploads forgets user's uploads ids; forgetting one not recorded
	// is no error.
	DropUploads(ctx context.Context, user string, ids []string) error
}

// Upload is one entry of UploadIndex: user uploaded ID.
type Upload struct {
	User, ID string
}

// uploadBatch is how many uploads one store transaction records. The
// relay records each upload before its bytes (UploadOptions.Uploaded),
// and the uploads of a burst wait for one another's transactions on the
// store's writer: they are recorded together, a bounded batch at a time.
const uploadBatch = 256

var _ UploadIndex = (*MemoryStore)(nil)

// uploadPrefix starts the meta keys of user's uploads: "upload:user:id".
// A user id holds no ':', so the prefix of one user is no other's.
func uploadPrefix(user string) string { return "upload:" + user + ":" }

// uploadRange bounds the meta keys of user's uploads after after: from
// (exclusive) and to (exclusive; ';' follows ':').
func uploadRange(user, after string) (from, to string) {
	p := uploadPrefix(user)
	return p + after, p[:len(p)-1] + ";"
}

// AddUploads implements UploadIndex.
func (s *MemoryStore) AddUploads(_ context.Context, ups []Upload) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.uploads == nil {
		s.uploads = make(map[string]map[string]bool)
	}
	for _, u := range ups {
		if s.uploads[u.User] == nil {
			s.uploads[u.User] = make(map[string]bool)
		}
		s.uploads[u.User][u.ID] = true
	}
	return nil
}

// UploadsOf implements UploadIndex.
func (s *MemoryStore) UploadsOf(_ context.Context, user, after string, limit int) ([]string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	var out []string
	for id := range s.uploads[user] {
		if id > after {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out[:min(len(out), limit)], nil
}

// DropUploads implements UploadIndex.
func (s *MemoryStore) DropUploads(_ context.Context, user string, ids []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	for _, id := range ids {
		delete(s.uploads[user], id)
	}
	if len(s.uploads[user]) == 0 {
		delete(s.uploads, user)
	}
	return nil
}

// uploadIDs returns the upload ids of meta keys of user's uploads.
func uploadIDs(user string, keys []string) []string {
	p := uploadPrefix(user)
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		if id, ok := strings.CutPrefix(k, p); ok {
			out = append(out, id)
		}
	}
	return out
}

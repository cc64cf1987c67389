package relay

import (
	"context"

	"github.com/parley-im/parley/proto"
)

var _ AttachmentFinder = (*MemoryStore)(nil)

// AttachmentSeqs implements AttachmentFinder.
func (s *MemoryStore) AttachmentSeqs(ctx context.Context, conv, id string) ([]uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	c := s.convs[conv]
	if c == nil {
		return nil, nil
	}
	var out []uint64
	for i := range c.msgs {
		if m := &c.msgs[i]; proto.IsAttachmentType(m.MsgType) && carries(m.Body, id) {
			out = append(out, m.Seq)
		}
	}
	return out, nil
}

package relay

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/parley-im/parley/proto"
)

// Attachment messages. A Send naming an attachment is checked against the
// blob store before it goes to the committer (linkAttachment): only the
// uploader may send it, its size and media type come from the upload, and
// the conversation is recorded as one its members may download it from.
//
// The stores keep an attachment message's Attachment CBOR-encoded in the
// message's body column (an attachment type has no body of its own), so the
// three stores and their schemas serve rich messages unchanged; the relay
// folds it in before storing (foldAttachment) and out again on every path
// a stored message leaves by (unfoldAttachment).

// attach admits the attachment of send b for the session's user and folds
// it into the body. It returns a refusal or a store failure.
func (s *Session) attach(b *proto.Send) error {
	blobs := s.env.blobs
	if blobs == nil {
		return proto.Errorf(proto.CodeNotSupported, "this relay does not take attachments")
	}
	ctx := s.env.ctx
	if proto.KindOf(b.ConvID) == proto.KindGroup {
		// Recorded only for a conversation the sender is in: nobody opens
		// their uploads to a group they cannot write to.
		members, err := s.env.store.Members(ctx, b.ConvID)
		if err != nil {
			return err
		}
		if _, found := slices.BinarySearch(members, s.user); !found {
			return proto.Errorf(proto.CodeForbidden, "not a member of %s", b.ConvID)
		}
	}
	a := *b.Attachment
	if err := linkAttachment(ctx, blobs, s.user, b.ConvID, &a); err != nil {
		return err
	}
	foldAttachment(b, &a)
	return nil
}

// foldAttachment moves a into b's body, the form the stores keep.
func foldAttachment(b *proto.Send, a *proto.Attachment) {
	b.Body, b.Attachment = proto.MarshalAttachment(a), nil
}

// unfoldAttachment turns a stored attachment message back into its wire
// form. A body that does not decode is left as it is.
func unfoldAttachment(m *proto.Message) {
	if m == nil || m.Attachment != nil || len(m.Body) == 0 || !proto.IsAttachmentType(m.MsgType) {
		return
	}
	if a, err := proto.UnmarshalAttachment(m.Body); err == nil {
		m.Attachment, m.Body = a, nil
	}
}

// unfoldConvs unfolds the last messages of convs in place.
func unfoldConvs(convs []proto.Conversation) {
	for i := range convs {
		unfoldConv(&convs[i])
	}
}

// unfoldConv unfolds c's last message.
func unfoldConv(c *proto.Conversation) {
	if lm := c.LastMessage; lm != nil && proto.IsAttachmentType(lm.MsgType) {
		m := *lm // the store may share the pointer with its cache
		unfoldAttachment(&m)
		c.LastMessage = &m
	}
}

// AttachmentFinder finds the messages an attachment was sent in.
type AttachmentFinder interface {
	// AttachmentSeqs returns the seqs of the messages of conv that carry
	// attachment id, ascending.
	AttachmentSeqs(ctx context.Context, conv, id string) ([]uint64, error)
}

// carries reports whether body, a stored attachment message's body, is
// attachment id.
func carries(body []byte, id string) bool {
	a, err := proto.UnmarshalAttachment(body)
	return err == nil && a.ID == id
}

// mayDownload answers the upload handler's question from the store:
// whether user may read a message of conv that carries attachment id. A
// party of a one-to-one conversation reads all of it; a group's present
// or former member reads the messages of their memberships
// (group_spans.go), so a removed member keeps the attachments they could
// see and a member added later does not get those sent before.
func mayDownload(store Store) func(ctx context.Context, user, conv, id string) (bool, error) {
	return func(ctx context.Context, user, conv, id string) (bool, error) {
		if a, b, ok := proto.P2PMembers(conv); ok {
			return user == a || user == b, nil
		}
		spans, err := store.ReadSpans(ctx, conv, user)
		if err != nil || spans == nil {
			return false, err
		}
		seqs, err := store.AttachmentSeqs(ctx, conv, id)
		if err != nil {
			return false, err
		}
		return slices.ContainsFunc(seqs, spans.Has), nil
	}
}

// isPartyOf answers UploadOptions.IsMember from the store: a party of a
// one-to-one conversation, or a present member of a group.
func isPartyOf(store Store) func(ctx context.Context, user, conv string) (bool, error) {
	return func(ctx context.Context, user, conv string) (bool, error) {
		if a, b, ok := proto.P2PMembers(conv); ok {
			return user == a || user == b, nil
		}
		members, err := store.Members(ctx, conv)
		if err != nil {
			return false, err
		}
		return slices.Contains(members, user), nil
	}
}

// mountUploads serves the attachment endpoints on mux from Options.Blobs
// (or the default blob store) and gives the sessions the store for their
// sends. Without a blob store it mounts nothing.
func (s *Server) mountUploads(mux *http.ServeMux, tokens *tokenPolicy) error {
	o := &s.opts
	blobs := o.Blobs
	if blobs == nil {
		var err error
		if blobs, err = defaultBlobStore(o.Data); err != nil {
			return err
		}
		if blobs == nil {
			return nil
		}
	}
	h, err := NewUploadHandler(UploadOptions{
		Blobs: blobs, Verify: tokens.verify, MayDownload: mayDownload(s.store), IsMember: isPartyOf(s.store),
		Uploaded: s.RecordUpload, SignIn: s.SignIn,
		MaxUpload: o.MaxUpload, AllowTypes: o.UploadTypes,
		UploadsPerMinute: o.UploadsPerMinute, UploadByteRate: o.UploadByteRate,
		Origins: o.Origins, Logger: o.Logger,
	})
	if err != nil {
		return err
	}
	s.env.blobs = blobs
	s.uploads = h.(*uploadHandler)
	mux.Handle("/v1/uploads", h)
	mux.Handle("/v1/uploads/", h)
	return nil
}

// AdmitUpload charges one upload of size bytes by user to this relay's
// per-user upload limits (Options.UploadsPerMinute, UploadByteRate) and
// returns 0, or how long to wait, charging nothing. It answers
// UploadOptions.Admit for upload endpoints served apart from the relay
// that keeps the limits. Without uploads (no blob store) it returns 0.
func (s *Server) AdmitUpload(user string, size int64) time.Duration {
	if s.uploads == nil {
		return 0
	}
	return s.uploads.admit(user, size)
}

// RecordUpload records in the relay's store that user uploaded id
// (UploadIndex), so that deleting the user deletes it, and returns once it
// is stored: UploadOptions.Uploaded for upload endpoints served apart from
// the relay. The uploads recorded at once share a store transaction
// (uploadBatch at most). A store without an upload index records nothing.
func (s *Server) RecordUpload(ctx context.Context, user, id string) error {
	if s.uploadIndex == nil {
		return nil
	}
	_, err := s.uploadIndex.do(ctx, Upload{User: user, ID: id})
	return err
}

// newUploadIndex returns the batcher of RecordUpload over store's
// UploadIndex, or nil for a store without one.
func newUploadIndex(store Store) *writeBatcher[Upload, struct{}] {
	ux, ok := store.(UploadIndex)
	if !ok {
		return nil
	}
	return newWriteBatcher(uploadBatch, func(ctx context.Context, ups []Upload) ([]struct{}, error) {
		if err := ux.AddUploads(ctx, ups); err != nil {
			return nil, err
		}
		return make([]struct{}, len(ups)), nil
	})
}

// SignIn checks a user whose token verified against the relay's bans and
// revocations, as a hello is checked (4004 banned, 4013 revoked; a store
// that cannot answer lets the user through, logged):
// UploadOptions.SignIn for upload endpoints served apart from the relay.
func (s *Server) SignIn(ctx context.Context, user, token string) *proto.Error {
	return s.gate().check(ctx, time.Now(), user, token)
}

// MayDownload reports, from the relay's store, whether user may read a
// message of conv carrying attachment id: UploadOptions.MayDownload for
// upload endpoints served apart from the relay.
func (s *Server) MayDownload(ctx context.Context, user, conv, id string) (bool, error) {
	return mayDownload(s.store)(ctx, user, conv, id)
}

// IsParty reports, from the relay's store, whether user is a party of
// conv now (a one-to-one party or a present group member):
// UploadOptions.IsMember for upload endpoints served apart from the relay.
func (s *Server) IsParty(ctx context.Context, user, conv string) (bool, error) {
	return isPartyOf(s.store)(ctx, user, conv)
}

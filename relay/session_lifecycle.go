package relay

import (
	"cmp"
	"errors"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay/rules"
)

// amend hands an Amend to the committer as one more item of the
// connection's ordered sends: the store decides the actor's right and
// changes the target in the transaction that appends the event, and the
// committer acks it and fans it out as it does a message. A recall or a
// delete for everyone asks the store to record, in that transaction, the
// release of the attachment it erases (BlobReleaser), so that a record
// exists exactly when the erasing event is stored.
func (s *Session) amend(now time.Time, id uint64, b *proto.Amend) {
	release := (b.Op == proto.MsgRecall || b.Op == proto.MsgDelete) && s.env.releasesBlobs()
	s.send(now, id, &proto.Send{ConvID: b.ConvID, ClientID: b.ClientID, MsgType: b.Op, Text: b.Text}, b.Target, release)
}

// releasesBlobs reports whether this relay deletes the blobs of erased
// attachments: it has a blob store, and a store that tells whether an
// attachment is still carried.
func (e *sessionEnv) releasesBlobs() bool {
	_, ok := e.store.(AttachmentUser)
	return ok && e.blobs != nil
}

// releaseAttachment deletes the blob of attachment id once no stored
// message carries it any more, leaving a tombstone so that a download
// answers 4236 (gone) rather than a refusal, and its uploader's upload
// index entry, then drops the release's record token (BlobReleaser). It runs after a recall or a delete for
// everyone was stored, off the committer, and at start for the records a
// stopped relay left; a failure is logged and keeps the blob and
// the record (nothing is lost that a message still needs).
func (e *sessionEnv) releaseAttachment(id, token string) {
	au, ok := e.store.(AttachmentUser)
	if !ok || e.blobs == nil {
		return
	}
	if e.deleteUnused(au, id) {
		if br, ok := e.store.(BlobReleaser); ok {
			if err := br.DoneBlobRelease(e.ctx, token); err != nil {
				e.log.Warn("attachment release: drop record", "id", id, "err", err)
			}
		}
	}
}

// deleteUnused deletes the blob of attachment id unless a stored message
// carries it; it reports whether that is settled (in use, deleted, or no
// blob), false after a failure.
func (e *sessionEnv) deleteUnused(au AttachmentUser, id string) bool {
	ctx := e.ctx
	used, err := au.AttachmentInUse(ctx, id)
	if err != nil {
		e.log.Warn("attachment release: in use?", "id", id, "err", err)
		return false
	}
	if used {
		return true
	}
	meta, err := e.blobs.Stat(ctx, uploadKey(id))
	if err != nil {
		if !errors.Is(err, ErrBlobNotFound) {
			e.log.Warn("attachment release: stat", "id", id, "err", err)
			return false
		}
		// Deleted already, maybe by a release cut short before it
		// dropped the index entry: the tombstone names the uploader.
		if gone, err := e.blobs.Stat(ctx, goneKey(id)); err == nil {
			return e.forgetUpload(id, gone.Owner)
		}
		return true
	}
	if err := e.blobs.Put(ctx, goneKey(id), strings.NewReader(""), BlobMeta{ContentType: "application/octet-stream", Owner: meta.Owner}); err != nil {
		e.log.Warn("attachment release: tombstone", "id", id, "err", err)
		return false
	}
	if err := e.blobs.Delete(ctx, uploadKey(id)); err != nil {
		e.log.Warn("attachment release: delete", "id", id, "err", err)
		return false
	}
	return e.forgetUpload(id, meta.Owner)
}

// forgetUpload drops attachment id, whose blob is deleted, from its
// uploader's upload index (UploadIndex). The entry leads to no blob any
// more, and nothing else drops it before the uploader's account is
// deleted: every recalled attachment left one row in the store for good.
// It reports whether that is settled; after a failure the release's record
// stays, and the next try finds the tombstone.
func (e *sessionEnv) forgetUpload(id, owner string) bool {
	ux, ok := e.store.(UploadIndex)
	if !ok || owner == "" {
		return true
	}
	if err := ux.DropUploads(e.ctx, owner, []string{id}); err != nil {
		e.log.Warn("attachment release: drop upload entry", "id", id, "err", err)
		return false
	}
	return true
}

// sweepReleases returns what goes through the release records a relay
// left (stopped between storing a recall and deleting its blob). They are
// listed now, at start, before any session records one of its own; a
// record another relay on the same store writes is written with its
// event, so a listed record's event is always stored.
func (e *sessionEnv) sweepReleases() func() {
	br, ok := e.store.(BlobReleaser)
	if !ok || e.blobs == nil {
		return func() {}
	}
	left, err := br.BlobReleases(e.ctx)
	if err != nil {
		e.log.Warn("attachment release: list records", "err", err)
		return func() {}
	}
	return func() {
		for _, token := range slices.Sorted(maps.Keys(left)) {
			e.releaseAttachment(left[token], token)
		}
	}
}

// hideMessage serves a HideMessage ("delete for me"): an entry of the
// caller's own feed, so only the caller's devices learn of it — the live
// ones by a UserUpdate, the others by their next UserSync. The caller must
// be a member of the conversation; hiding a message twice changes nothing.
func (s *Session) hideMessage(id uint64, b *proto.HideMessage) {
	if err := s.memberOf(b.ConvID); err != nil {
		s.replyErr(id, err)
		return
	}
	keys := []FeedKey{{s.user, rules.FeedHidden, proto.MessageID(b.ConvID, b.Seq)}}
	out, err := s.env.store.UpdateFeed(s.env.ctx, keys, func(cur []proto.UserEntry) ([]*proto.UserEntry, error) {
		return []*proto.UserEntry{rules.PlanHide(cur[0], b.ConvID, b.Seq)}, nil
	})
	if err != nil {
		s.replyErr(id, err)
		return
	}
	s.feedChanged(id, keys, out)
}

// redactHide returns m as viewer may see it. A hide event an older relay
// stored in the conversation's log is its sender's own business: anyone
// else gets a copy without sender, device, client id or target, which
// changes nothing and says nothing about who hid what. Any other message
// is returned as it is.
func redactHide(viewer string, m *proto.Message) *proto.Message {
	if m == nil || m.MsgType != proto.MsgHide || m.Sender == viewer {
		return m
	}
	return &proto.Message{ConvID: m.ConvID, Seq: m.Seq, MsgType: proto.MsgHide, CreatedAt: m.CreatedAt}
}

// receipts answers which other members have read a conversation up to a
// seq.
func (s *Session) receipts(id uint64, b *proto.Receipts) {
	if perr := rules.AdmitParty(s.user, b.ConvID); perr != nil {
		s.replyErr(id, perr)
		return
	}
	rr, ok := s.env.store.(ReceiptReader)
	if !ok {
		s.replyErr(id, proto.Errorf(proto.CodeNotSupported, "this relay's store keeps no read receipts"))
		return
	}
	if perr, err := s.admitSeq(b.ConvID, b.Seq); err != nil || perr != nil {
		s.replyErr(id, cmp.Or[error](perr, err))
		return
	}
	read, unread, err := rr.Receipts(s.env.ctx, s.user, b.ConvID, b.Seq)
	if err == nil {
		read, unread, err = s.onlyReaders(b.ConvID, b.Seq, read, unread) // session_group.go
	}
	if err != nil {
		s.replyErr(id, err)
		return
	}
	s.reply(proto.Frame{Type: proto.TypeReceiptList, ID: id, Body: &proto.ReceiptList{
		ConvID: b.ConvID, Seq: b.Seq, Read: read, Unread: unread}})
}

// peerRead tells the other member of a p2p conversation that this user's
// read cursor moved (its peerReadSeq), after conv, the reader's view, was
// stored. Only what changed for the peer is sent: their own cursor is not
// the reader's.
func (s *Session) peerRead(conv proto.Conversation) {
	a, b, ok := proto.P2PMembers(conv.ID)
	if !ok {
		return
	}
	peer := a
	if peer == s.user {
		peer = b
	}
	s.env.fan.publish([]string{peer}, s.id, proto.MustEncode(proto.Frame{Type: proto.TypeConvUpdate, Body: &proto.ConvUpdate{
		Conversation: proto.Conversation{ID: conv.ID, Kind: proto.KindP2P, LastSeq: conv.LastSeq,
			PeerReadSeq: conv.ReadSeq, Version: conv.Version, CreatedAt: conv.CreatedAt}}}))
}

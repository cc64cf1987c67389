//go:build !js

package relay

import (
	"bytes"
	"testing"

	"github.com/parley-im/parley/proto"
)

// TestAttachmentVisibility: an attachment download follows history
// visibility, not the member list. A removed member keeps the attachments
// of the messages they could read; a member added later (or added again)
// does not get one sent while they were out, until it is sent again.
func TestAttachmentVisibility(t *testing.T) {
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			r := startRelay(t, func(o *Options) {
				o.Blobs = NewMemoryBlobStore()
				switch store {
				case "sqlite":
					s, err := OpenSQLite(t.TempDir(), SQLiteOptions{})
					ok(t, err)
					o.Store = s
				case "postgres":
					o.Store = openPostgres(t, postgresDSN(t), PostgresOptions{MaxConns: 4})
				}
			})
			alice, _ := login(t, r, "alice", "d")
			data := []byte("a picture, or close enough")
			upload := func() string {
				t.Helper()
				up := r.upload(httpUpload{token: r.token("alice"), mime: "image/png", body: bytes.NewReader(data), length: int64(len(data))})
				equal(t, up.status, 201, "upload")
				return up.id
			}
			send := func(conv, client, id string) {
				t.Helper()
				f := alice.call(proto.TypeSend, &proto.Send{ConvID: conv, ClientID: client, MsgType: proto.MsgImage,
					Attachment: &proto.Attachment{ID: id, Name: "p.png", Size: 1, Mime: "image/png"}})
				equal(t, f.Type, proto.TypeAck, "send "+client)
			}
			op := func(o proto.GroupOp) {
				t.Helper()
				f := alice.call(proto.TypeGroupOp, &o)
				equal(t, f.Type, proto.TypeConvResult, o.Op)
			}
			may := func(user, id, conv string) int {
				t.Helper()
				return r.download(r.token(user), id, conv, "").status
			}
			g := alice.call(proto.TypeCreateGroup, &proto.CreateGroup{Name: "pics", Members: []string{"bob", "carol"}}).Body.(*proto.ConvResult).Conversation

			before := upload()
			send(g.ID, "before", before)
			op(proto.GroupOp{ConvID: g.ID, Op: proto.OpRemove, Users: []string{"carol"}})
			gap := upload()
			send(g.ID, "gap", gap)
			op(proto.GroupOp{ConvID: g.ID, Op: proto.OpAdd, Users: []string{"carol", "dave"}})
			after := upload()
			send(g.ID, "after", after)

			for _, c := range []struct {
				user, id, what string
				want           int
			}{
				{"bob", before, "a member throughout, before", 200},
				{"bob", gap, "a member throughout, the gap", 200},
				{"carol", before, "added again: what she saw before her removal", 200},
				{"carol", gap, "added again: nothing of the gap", 403},
				{"carol", after, "added again: what came after", 200},
				{"dave", before, "added later: nothing from before", 403},
				{"dave", gap, "added later: nothing from before (the gap)", 403},
				{"dave", after, "added later: what came after", 200},
				{"erin", before, "never a member", 403},
			} {
				equal(t, may(c.user, c.id, g.ID), c.want, c.what)
			}

			// Removed for good: carol keeps what she could read.
			op(proto.GroupOp{ConvID: g.ID, Op: proto.OpRemove, Users: []string{"carol"}})
			equal(t, may("carol", before, g.ID), 200, "removed: the attachment of a message she read")
			equal(t, may("carol", after, g.ID), 200, "removed: the one of her second membership")
			equal(t, may("carol", gap, g.ID), 403, "removed: still nothing of the gap")
			late := upload()
			send(g.ID, "late", late)
			equal(t, may("carol", late, g.ID), 403, "removed: nothing sent after")

			// Sent again, it opens to who reads the new message.
			send(g.ID, "before-again", before)
			equal(t, may("dave", before, g.ID), 200, "dave, once it is sent again")
			equal(t, may("carol", gap, g.ID), 403, "carol, who did not get it again")
		})
	}
}

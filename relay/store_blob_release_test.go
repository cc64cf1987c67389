package relay

import (
	"context"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
)

// testStoreBlobReleases: a recall or a delete for everyone asked to
// (AppendRequest.Release) records the release of the attachment it erases
// in the transaction that stores it, under the event's token, and names it
// in its result; a refused amend, a duplicate, an amend of a message
// without attachment and an amend not asked to record nothing. Records are
// kept until dropped.
func testStoreBlobReleases(t *testing.T, open func(t *testing.T) Store) {
	t.Run("attachments/blob release recorded with its amend", func(t *testing.T) {
		ctx := context.Background()
		s := open(t)
		br, isReleaser := s.(BlobReleaser)
		if !isReleaser {
			t.Fatalf("%T keeps no blob release records", s)
		}
		ab := proto.P2PID("alice", "bob")
		image := func(cid, id string) AppendRequest {
			return AppendRequest{Sender: "alice", Device: "d", CreatedAt: 1000, Send: proto.Send{ConvID: ab, ClientID: cid,
				MsgType: proto.MsgImage, Body: proto.MarshalAttachment(&proto.Attachment{ID: id, Name: "x.png", Size: 5, Mime: "image/png"})}}
		}
		amend := func(sender, cid, op string, target uint64, release bool) AppendRequest {
			return AppendRequest{Sender: sender, Device: "d", CreatedAt: 2000, Target: target, Release: release, RecallWindow: time.Hour,
				Send: proto.Send{ConvID: ab, ClientID: cid, MsgType: op}}
		}
		records := func(what string, want map[string]string) {
			t.Helper()
			left, err := br.BlobReleases(ctx)
			ok(t, err)
			equal(t, left, want, what)
		}
		records("records of a new store", map[string]string{})

		const up1, up2, up3, up4 = "attachment-one-0001", "attachment-two-0002", "attachment-three-03", "attachment-four-004"
		res, err := s.Append(ctx, []AppendRequest{
			image("i1", up1), // seq 1
			{Sender: "alice", Device: "d", CreatedAt: 1000, Send: proto.Send{ConvID: ab, ClientID: "t1", MsgType: proto.MsgText, Text: "hi"}}, // seq 2
			image("i2", up2), // seq 3
			image("i3", up3), // seq 4
		})
		ok(t, err)
		for i, r := range res {
			if r.Err != nil || r.Released != "" {
				t.Fatalf("message %d: %+v", i, r)
			}
		}

		res, err = s.Append(ctx, []AppendRequest{
			amend("bob", "r-bob", proto.MsgRecall, 1, true),      // refused: not bob's
			amend("alice", "r-text", proto.MsgRecall, 2, true),   // no attachment
			amend("alice", "r-plain", proto.MsgRecall, 4, false), // not asked to record
			amend("alice", "d-img", proto.MsgDelete, 3, true),    // seq 7: erases up2
		})
		ok(t, err)
		if res[0].Err == nil || res[0].Released != "" {
			t.Fatalf("bob's recall of alice's message: %+v, want a refusal releasing nothing", res[0])
		}
		equal(t, [3]string{res[1].Released, res[2].Released, res[3].Released}, [3]string{"", "", up2}, "released")
		for i, r := range res[1:] {
			if r.Err != nil {
				t.Fatalf("amend %d: %v", i+1, r.Err)
			}
		}
		token := releaseToken(&res[3].Message)
		records("records after the amends", map[string]string{token: up2})

		// The same amend again is a duplicate: no second record.
		res, err = s.Append(ctx, []AppendRequest{amend("alice", "d-img", proto.MsgDelete, 3, true)})
		ok(t, err)
		if !res[0].Duplicate || res[0].Released != "" {
			t.Fatalf("repeated amend: %+v, want a duplicate releasing nothing", res[0])
		}
		// An attachment sent and recalled in one batch.
		res, err = s.Append(ctx, []AppendRequest{image("i4", up4), amend("alice", "r-i4", proto.MsgRecall, 8, true)})
		ok(t, err)
		equal(t, [2]uint64{res[0].Message.Seq, res[1].Message.Seq}, [2]uint64{8, 9}, "seqs")
		equal(t, res[1].Released, up4, "released by the recall of a message of the same batch")
		token4 := releaseToken(&res[1].Message)
		records("records", map[string]string{token: up2, token4: up4})

		ok(t, br.DoneBlobRelease(ctx, token))
		ok(t, br.DoneBlobRelease(ctx, token))
		records("records after one is dropped", map[string]string{token4: up4})
	})
}

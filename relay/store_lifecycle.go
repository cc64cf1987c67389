package relay

import (
	"context"

	"github.com/fxamacker/cbor/v2"
	"github.com/parley-im/parley/proto"
)

// ReceiptReader answers read receipts. A store without it answers them with
// 4215.
type ReceiptReader interface {
	// Receipts splits the other members of conv by whether their read
	// cursor is at or past seq; user must be a member.
	Receipts(ctx context.Context, user, conv string, seq uint64) (read, unread []string, err error)
}

// AttachmentUser tells whether an attachment is still carried by a
// message. A store without it keeps every blob after a recall.
type AttachmentUser interface {
	// AttachmentInUse reports whether any stored message, of any
	// conversation, carries attachment id. A recalled message carries
	// none: a recall erases its body.
	AttachmentInUse(ctx context.Context, id string) (bool, error)
}

// msgExtras are the fields of a stored message beyond the columns every
// message has: the lifecycle's (reply, mentions, recalled, edited,
// reactions, target), kept by the SQL stores in one CBOR column, ext, with
// the keys of proto.Message.
type msgExtras struct {
	ReplyTo   uint64           `cbor:"10,keyasint,omitempty"`
	Mentions  []string         `cbor:"11,keyasint,omitempty"`
	Recalled  bool             `cbor:"12,keyasint,omitempty"`
	EditedAt  int64            `cbor:"13,keyasint,omitempty"`
	Reactions []proto.Reaction `cbor:"14,keyasint,omitempty"`
	Target    uint64           `cbor:"16,keyasint,omitempty"`
}

// encodeExtras returns m's ext column: nil (NULL) when m has none.
func encodeExtras(m *proto.Message) []byte {
	x := msgExtras{ReplyTo: m.ReplyTo, Mentions: m.Mentions, Recalled: m.Recalled, EditedAt: m.EditedAt,
		Reactions: m.Reactions, Target: m.Target}
	if x.ReplyTo == 0 && len(x.Mentions) == 0 && !x.Recalled && x.EditedAt == 0 && len(x.Reactions) == 0 && x.Target == 0 {
		return nil
	}
	b, err := cbor.Marshal(&x)
	if err != nil {
		panic("relay: encoding message extras: " + err.Error()) // plain fields: cannot fail
	}
	return b
}

// decodeExtras fills m's lifecycle fields from an ext column.
func decodeExtras(b []byte, m *proto.Message) error {
	if len(b) == 0 {
		return nil
	}
	var x msgExtras
	if err := cbor.Unmarshal(b, &x); err != nil {
		return err
	}
	m.ReplyTo, m.Mentions, m.Recalled, m.EditedAt, m.Reactions, m.Target =
		x.ReplyTo, x.Mentions, x.Recalled, x.EditedAt, x.Reactions, x.Target
	return nil
}

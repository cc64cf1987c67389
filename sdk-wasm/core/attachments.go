package core

import (
	"time"

	"github.com/parley-im/parley/proto"
)

// Attachments. An image, file, audio or video message goes into the outbox
// at once, with its Attachment's ID empty: the entry waits there, written
// to the relay by nothing, while the driver uploads the file (the core does
// no I/O and never sees the bytes). AttachmentUploaded gives it the id the
// relay assigned and lets it go out like any other send; UploadFailed fails
// it for good. Entries waiting for an upload do not hold back the sends
// behind them: a message takes its place in the conversation when it is
// sent, so a large file does not stop the chat.
//
// A waiting entry is persisted like any other, so after a restart the
// driver finds it (AwaitingUpload) and uploads the file again from where
// it kept it.

// Attachment describes the file of an image, file, audio or video message.
type Attachment struct {
	ID         string `json:"id"`                   // the relay's upload id; empty while the upload is pending
	Name       string `json:"name"`                 // file name
	Size       int64  `json:"size"`                 // bytes
	Mime       string `json:"mime"`                 // media type, e.g. image/png
	Width      uint32 `json:"width,omitempty"`      // pixels, for images and videos
	Height     uint32 `json:"height,omitempty"`     // pixels, for images and videos
	DurationMs uint64 `json:"durationMs,omitempty"` // for audio and video
}

func attachmentFromWire(a *proto.Attachment) *Attachment {
	if a == nil {
		return nil
	}
	return &Attachment{ID: a.ID, Name: a.Name, Size: a.Size, Mime: a.Mime, Width: a.Width, Height: a.Height, DurationMs: a.DurationMs}
}

func (a *Attachment) wire() *proto.Attachment {
	if a == nil {
		return nil
	}
	return &proto.Attachment{ID: a.ID, Name: a.Name, Size: a.Size, Mime: a.Mime, Width: a.Width, Height: a.Height, DurationMs: a.DurationMs}
}

// awaitsUpload reports whether m is an attachment message whose file is not
// uploaded yet.
func (m *Message) awaitsUpload() bool {
	return m.Attachment != nil && m.Attachment.ID == "" && m.Status != StatusSent
}

// SendAttachment queues an attachment message whose file the driver is to
// upload: a, without its ID, describes the file. The message is persisted
// and announced as pending at once and waits in the outbox until
// AttachmentUploaded. clientID "" lets the core choose one; one already in
// the outbox queues nothing twice. The operation resolves once the relay
// acknowledged the message.
func (c *Core) SendAttachment(now time.Time, clientID, conv, msgType, text string, a Attachment) (uint64, Message, error) {
	c.begin()
	defer c.flush()
	if c.state == StateClosed {
		return 0, Message{}, &proto.Error{Code: proto.CodeClientClosed, Message: "client closed"}
	}
	if !proto.IsAttachmentType(msgType) {
		return 0, Message{}, invalid("send: " + msgType + " is not an attachment type (image, file, audio, video)")
	}
	if a.ID != "" {
		return 0, Message{}, invalid("send: the attachment's id comes from its upload")
	}
	if clientID == "" {
		clientID = c.newID()
	} else if e := c.byClient[clientID]; e != nil {
		if e.Message.ConvID != conv || e.Message.Type != msgType || e.Message.Attachment == nil || e.Message.Attachment.Name != a.Name {
			return 0, Message{}, invalid("client id " + clientID + " is already used by another message in the outbox")
		}
		op := c.newOp()
		c.sendOps[clientID] = append(c.sendOps[clientID], op)
		return op, e.Message, nil
	}
	// Checked as the relay will check it once the upload gave it an id.
	probe := a.wire()
	probe.ID = "0000000000000000"
	if err := proto.Validate(&proto.Send{ConvID: conv, ClientID: clientID, MsgType: msgType, Text: text, Attachment: probe}); err != nil {
		return 0, Message{}, invalid(err.Message)
	}
	if x, y, ok := proto.P2PMembers(conv); ok && c.meta.UserID != "" && x != c.meta.UserID && y != c.meta.UserID {
		return 0, Message{}, &proto.Error{Code: proto.CodeForbidden, Message: "not a member of " + conv}
	}
	att := a
	op, e := c.enqueue(now, Message{ClientID: clientID, ConvID: conv, Type: msgType, Text: text, Attachment: &att})
	return op, e.Message, nil
}

// AttachmentUploaded completes the upload of the outbox entry clientID:
// id, size and mime are what the relay answered. The message is persisted
// with them, announced (messageUpdate) and sent.
func (c *Core) AttachmentUploaded(now time.Time, clientID, id string, size int64, mime string) error {
	c.begin()
	defer c.flush()
	e := c.byClient[clientID]
	if e == nil || e.Message.Attachment == nil {
		return invalid("no attachment message " + clientID + " in the outbox")
	}
	if !proto.ValidAttachmentID(id) {
		return invalid("invalid upload id")
	}
	if e.Message.Attachment.ID != "" {
		return nil // a second report of the same upload
	}
	a := *e.Message.Attachment
	a.ID = id
	if size >= 0 {
		a.Size = size
	}
	if proto.ValidMime(mime) {
		a.Mime = mime
	}
	e.Message.Attachment = &a
	c.batch.OutboxPut = append(c.batch.OutboxPut, *e)
	m := e.Message
	c.emit(Event{Kind: EventMessageUpdate, Message: &m})
	c.pumpSends(now)
	return nil
}

// UploadFailed fails the outbox entry clientID whose upload the relay
// refused for good (or whose file is gone): it is marked failed with code
// and stays in the outbox, where Resend puts it back in line and the driver
// uploads again, or Discard drops it.
func (c *Core) UploadFailed(now time.Time, clientID string, code proto.Code, reason string) error {
	c.begin()
	defer c.flush()
	e := c.byClient[clientID]
	if e == nil || !e.Message.awaitsUpload() {
		return invalid("no message " + clientID + " waits for an upload")
	}
	e.Message.Status, e.Message.ErrorCode = StatusFailed, code
	c.batch.OutboxPut = append(c.batch.OutboxPut, *e)
	m := e.Message
	c.emit(Event{Kind: EventMessageUpdate, Message: &m})
	c.resolveSend(clientID, Result{Err: &proto.Error{Code: code, Message: reason}})
	return nil
}

// AwaitingUpload returns the pending outbox messages whose file is still
// to be uploaded, in send order: what a driver uploads after a restart.
func (c *Core) AwaitingUpload() []Message {
	var out []Message
	for _, e := range c.outbox {
		if e.Message.awaitsUpload() && e.Message.Status == StatusPending {
			m := e.Message
			out = append(out, m)
		}
	}
	return out
}

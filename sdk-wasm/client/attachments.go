package client

import (
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// SendAttachmentAsync queues an attachment message whose file the caller
// uploads (see core.SendAttachment) and returns at once with the pending
// message and a channel that yields the ack (or the error) once. The
// message waits in the outbox until AttachmentUploaded.
func (c *Client) SendAttachmentAsync(clientID, conv, msgType, text string, a core.Attachment) (core.Message, <-chan SendResult, error) {
	var pending core.Message
	ch, err := c.loop.start(func(cr *core.Core, now time.Time) (uint64, error) {
		op, m, err := cr.SendAttachment(now, clientID, conv, msgType, text, a)
		pending = m
		return op, err
	})
	if err != nil {
		return core.Message{}, nil, err
	}
	out := make(chan SendResult, 1)
	go func() {
		select {
		case r := <-ch:
			out <- SendResult{Message: deref(r.Message), Err: r.Err}
		case <-c.loop.done:
			out <- SendResult{Err: c.loop.stopped()}
		}
	}()
	return pending, out, nil
}

// AttachmentUploaded gives the outbox entry clientID the relay's upload id
// (and the size and media type it answered); the message then goes out.
func (c *Client) AttachmentUploaded(clientID, id string, size int64, mime string) error {
	var err error
	if lerr := c.loop.do(func(cr *core.Core, now time.Time) { err = cr.AttachmentUploaded(now, clientID, id, size, mime) }); lerr != nil {
		return lerr
	}
	return err
}

// UploadFailed fails the outbox entry clientID whose upload cannot succeed.
func (c *Client) UploadFailed(clientID string, code proto.Code, reason string) error {
	var err error
	if lerr := c.loop.do(func(cr *core.Core, now time.Time) { err = cr.UploadFailed(now, clientID, code, reason) }); lerr != nil {
		return lerr
	}
	return err
}

// AwaitingUpload returns the outbox messages whose file is still to be
// uploaded.
func (c *Client) AwaitingUpload() ([]core.Message, error) {
	var out []core.Message
	err := c.loop.do(func(cr *core.Core, _ time.Time) { out = cr.AwaitingUpload() })
	return out, err
}

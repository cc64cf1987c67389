package main

import (
	"context"
	"syscall/js"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/sdk-wasm/core"
)

// registerAttachments adds the methods of attachment messages
// (sdk-wasm/client/attachments.go). The upload itself runs in TypeScript;
// the module only keeps the outbox entry waiting for it.
func registerAttachments(b *bridge) {
	// sendAttachment(conv, type, text, clientId, name, size, mime, width,
	// height, durationMs, signal) → Promise<StoredMessage> on ack.
	b.async("sendAttachment", func(c *jsClient, args []js.Value) (work, error) {
		var a core.Attachment
		var conv, typ, text, clientID string
		var w, h, d, size uint64
		var err error
		for i, p := range []*string{&conv, &typ, &text, &clientID} {
			if *p, err = argString(args, i, [...]string{"conv", "type", "text", "clientId"}[i]); err != nil {
				return nil, err
			}
		}
		if a.Name, err = argString(args, 4, "name"); err != nil {
			return nil, err
		}
		if size, err = argUint(args, 5, "size"); err != nil {
			return nil, err
		}
		if a.Mime, err = argString(args, 6, "mime"); err != nil {
			return nil, err
		}
		for i, p := range []*uint64{&w, &h, &d} {
			if *p, err = argUint(args, 7+i, [...]string{"width", "height", "durationMs"}[i]); err != nil {
				return nil, err
			}
		}
		if w > proto.MaxDimension || h > proto.MaxDimension {
			return nil, invalidArg("width and height must be at most 65536")
		}
		a.Size, a.Width, a.Height, a.DurationMs = int64(size), uint32(w), uint32(h), d
		return withSignal(args, 10, func(ctx context.Context) ([]byte, error) {
			pending, res, err := c.SendAttachmentAsync(clientID, conv, typ, text, a)
			if err != nil {
				return nil, err
			}
			return awaitSend(ctx, c, pending.ClientID, res)
		})
	})
	b.async("attachmentUploaded", func(c *jsClient, args []js.Value) (work, error) {
		clientID, err := argString(args, 0, "clientId")
		if err != nil {
			return nil, err
		}
		id, err := argString(args, 1, "id")
		if err != nil {
			return nil, err
		}
		size, err := argUint(args, 2, "size")
		if err != nil {
			return nil, err
		}
		mime, err := argString(args, 3, "mime")
		if err != nil {
			return nil, err
		}
		return func() ([]byte, error) { return nil, c.AttachmentUploaded(clientID, id, int64(size), mime) }, nil
	})
	b.async("uploadFailed", func(c *jsClient, args []js.Value) (work, error) {
		clientID, err := argString(args, 0, "clientId")
		if err != nil {
			return nil, err
		}
		code, err := argUint(args, 1, "code")
		if err != nil {
			return nil, err
		}
		reason, err := argString(args, 2, "reason")
		if err != nil {
			return nil, err
		}
		return func() ([]byte, error) { return nil, c.UploadFailed(clientID, proto.Code(code), reason) }, nil
	})
	b.async("awaitingUpload", func(c *jsClient, _ []js.Value) (work, error) {
		return func() ([]byte, error) { return messages(c.AwaitingUpload()) }, nil
	})
}

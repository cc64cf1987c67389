//go:build !js

package client

import (
	"context"
	"errors"

	"github.com/coder/websocket"
	"github.com/parley-im/parley/proto"
)

// readLimit bounds one message from the relay before it is read into
// memory; the core's own limit (Config.MaxFrame) is lower.
const readLimit = 16 << 20

// wsSocket is a Socket over coder/websocket.
type wsSocket struct {
	ws *websocket.Conn
	// ctx ends with Close, so that a Read still blocked when the closing
	// handshake gave up returns.
	ctx    context.Context
	cancel context.CancelFunc
}

// dialWebSocket is the default Options.Dial.
func dialWebSocket(ctx context.Context, url string) (Socket, error) {
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(readLimit)
	s := &wsSocket{ws: ws}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

func (s *wsSocket) Read(ctx context.Context) ([]byte, error) {
	stop := context.AfterFunc(ctx, s.cancel)
	defer stop()
	for {
		typ, b, err := s.ws.Read(s.ctx)
		if err != nil {
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				return nil, &CloseError{Code: proto.Code(ce.Code), Reason: ce.Reason}
			}
			return nil, err
		}
		if typ == websocket.MessageBinary { // the protocol is binary; text is ignored
			return b, nil
		}
	}
}

func (s *wsSocket) Write(ctx context.Context, b []byte) error {
	return s.ws.Write(ctx, websocket.MessageBinary, b)
}

// Close waits for the peer's close frame (up to 5 s), so the client calls
// it on a goroutine of its own.
func (s *wsSocket) Close(code proto.Code, reason string) error {
	err := s.ws.Close(websocket.StatusCode(code), reason)
	s.cancel()
	return err
}

// Package ws is the wire generator's own client side of RFC 6455: an
// ordinary opening handshake, then a bare non-blocking socket whose
// frames are taken apart in place. It is a package of its own, apart from
// the generator, so that fuzzing its reader does not instrument the SDK
// and SQLite that parley-bench also links.
package ws

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	mrand "math/rand/v2"

	"golang.org/x/sys/unix"
)

// A generator that receives 45,000 deliveries a second spends most of its
// CPU per frame, so its clients do not go through a general WebSocket
// library: after an ordinary opening handshake (§4.1) each connection is a bare non-blocking
// socket that the worker's one poll loop reads many frames at a time, and
// parseFrame takes the frames apart in place. Server frames are unmasked
// (§5.1); no extension is negotiated, so a reserved bit is an error
// (§5.2); fragmented messages are reassembled and control frames answered
// (§5.4, §5.5). Anything else is refused with an error that names it.

const guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11" // RFC 6455 §1.3

// WebSocket opcodes (RFC 6455 §5.2).
const (
	Continuation = 0x0
	Text         = 0x1
	Binary       = 0x2
	Close        = 0x8
	Ping         = 0x9
	Pong         = 0xA
)

// MaxMessage bounds a message the client reassembles.
const MaxMessage = 4 << 20

var (
	errMasked       = errors.New("websocket: masked server frame (RFC 6455 §5.1)")
	errReserved     = errors.New("websocket: reserved bits set, no extension negotiated (RFC 6455 §5.2)")
	errOpcode       = errors.New("websocket: reserved opcode (RFC 6455 §5.2)")
	errControl      = errors.New("websocket: fragmented or longer than 125 bytes control frame (RFC 6455 §5.5)")
	errLength       = errors.New("websocket: payload length not in its minimal form or above 2^63 (RFC 6455 §5.2)")
	errTooBig       = errors.New("websocket: message too large")
	errFragment     = errors.New("websocket: continuation frame outside a fragmented message, or a new message inside one (RFC 6455 §5.4)")
	ErrClosedByPeer = errors.New("websocket: connection closed")
)

// frame is one parsed frame; payload aliases the parsed bytes.
type frame struct {
	fin     bool
	op      byte
	payload []byte
}

// parseFrame parses the server frame at the start of b, whose payload may
// be at most max bytes. It returns the frame and its length in b; n is 0,
// with no error, while b holds only part of the frame.
func parseFrame(b []byte, max int) (f frame, n int, err error) {
	if len(b) < 2 {
		return f, 0, nil
	}
	b0, b1 := b[0], b[1]
	if b0&0x70 != 0 {
		return f, 0, errReserved
	}
	if b1&0x80 != 0 {
		return f, 0, errMasked
	}
	f.fin, f.op = b0&0x80 != 0, b0&0x0f
	switch f.op {
	case Continuation, Text, Binary:
	case Close, Ping, Pong:
		if !f.fin || b1&0x7f > 125 {
			return f, 0, errControl
		}
	default:
		return f, 0, errOpcode
	}
	h, size := 2, uint64(b1&0x7f)
	switch size {
	case 126:
		if len(b) < 4 {
			return f, 0, nil
		}
		h, size = 4, uint64(binary.BigEndian.Uint16(b[2:]))
		if size < 126 {
			return f, 0, errLength
		}
	case 127:
		if len(b) < 10 {
			return f, 0, nil
		}
		h, size = 10, binary.BigEndian.Uint64(b[2:])
		if size < 1<<16 || size > 1<<63-1 {
			return f, 0, errLength
		}
	}
	if size > uint64(max) {
		return f, 0, errTooBig
	}
	if uint64(len(b)-h) < size {
		return f, 0, nil
	}
	n = h + int(size)
	f.payload = b[h:n:n]
	return f, n, nil
}

// Reader turns the bytes read from one connection into messages and
// control frames.
type Reader struct {
	buf        []byte // buf[start:end] is read and not yet parsed
	start, end int
	msg        []byte // the fragments so far of a fragmented message
	msgOp      byte   // its opcode; 0 when none is open
}

func NewReader(size int) *Reader { return &Reader{buf: make([]byte, size)} }

// space returns where the next read goes: the free tail of the buffer,
// after moving a partial frame to the front or growing the buffer for it.
func (r *Reader) Space() []byte {
	if r.start == r.end {
		r.start, r.end = 0, 0
	}
	if r.end == len(r.buf) {
		if r.start > 0 {
			r.end = copy(r.buf, r.buf[r.start:r.end])
			r.start = 0
		} else {
			r.buf = append(r.buf, make([]byte, len(r.buf))...)
		}
	}
	return r.buf[r.end:]
}

// wrote records n bytes read into space().
func (r *Reader) Wrote(n int) { r.end += n }

// next returns the next whole message (op Text or Binary) or control
// frame from the bytes read; ok is false when it needs more bytes. The
// payload is valid until the next call to space.
func (r *Reader) Next() (op byte, payload []byte, ok bool, err error) {
	for {
		f, n, err := parseFrame(r.buf[r.start:r.end], MaxMessage)
		if err != nil || n == 0 {
			return 0, nil, false, err
		}
		r.start += n
		switch {
		case f.op >= Close:
			return f.op, f.payload, true, nil
		case f.op == Continuation:
			if r.msgOp == 0 {
				return 0, nil, false, errFragment
			}
			if len(r.msg)+len(f.payload) > MaxMessage {
				return 0, nil, false, errTooBig
			}
			r.msg = append(r.msg, f.payload...)
			if f.fin {
				op, r.msgOp = r.msgOp, 0
				return op, r.msg, true, nil
			}
		case r.msgOp != 0:
			return 0, nil, false, errFragment
		case f.fin:
			return f.op, f.payload, true, nil
		default:
			r.msgOp, r.msg = f.op, append(r.msg[:0], f.payload...)
		}
	}
}

// AppendFrame appends a final client frame (masked, RFC 6455 §5.3) of op
// carrying p to dst.
func AppendFrame(dst []byte, op byte, p []byte) []byte {
	dst = append(dst, 0x80|op)
	switch n := len(p); {
	case n < 126:
		dst = append(dst, 0x80|byte(n))
	case n < 1<<16:
		dst = append(dst, 0x80|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x80|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	var key [4]byte
	binary.LittleEndian.PutUint32(key[:], mrand.Uint32())
	dst = append(dst, key[:]...)
	for i, c := range p {
		dst = append(dst, c^key[i&3])
	}
	return dst
}

// Dial opens a WebSocket to rawURL (ws://) and returns its socket as a
// non-blocking file descriptor the caller owns, and the reader holding
// whatever the server sent right after its handshake response.
func Dial(ctx context.Context, rawURL string) (int, *Reader, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return -1, nil, err
	}
	if u.Scheme != "ws" {
		return -1, nil, fmt.Errorf("websocket: dial %s: only ws:// is supported", rawURL)
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return -1, nil, err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	var k [16]byte
	_, _ = rand.Read(k[:])
	key := base64.StdEncoding.EncodeToString(k[:])
	req := &http.Request{Method: http.MethodGet, URL: u, Header: http.Header{}}
	path := u.RequestURI()
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
		path, u.Host, key); err != nil {
		return -1, nil, fmt.Errorf("websocket: handshake: %w", err)
	}
	br := bufio.NewReaderSize(c, 4096)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return -1, nil, fmt.Errorf("websocket: handshake: %w", err)
	}
	sum := sha1.Sum([]byte(key + guid))
	switch {
	case resp.StatusCode != http.StatusSwitchingProtocols:
		return -1, nil, fmt.Errorf("websocket: handshake: status %s", resp.Status)
	case !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") || !headerHasToken(resp.Header, "Connection", "upgrade"):
		return -1, nil, errors.New("websocket: handshake: no Upgrade: websocket and Connection: Upgrade in the response")
	case resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]):
		return -1, nil, errors.New("websocket: handshake: wrong Sec-WebSocket-Accept")
	case resp.Header.Get("Sec-WebSocket-Extensions") != "":
		return -1, nil, errors.New("websocket: handshake: the server chose an extension that was not offered")
	}
	r := NewReader(4096)
	n, _ := br.Read(r.buf[:br.Buffered()])
	r.Wrote(n)
	// Take the socket away from the runtime's poller: a duplicate
	// descriptor outlives Close, which unregisters the original.
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		return -1, nil, err
	}
	fd := -1
	cerr := rc.Control(func(s uintptr) { fd, err = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) })
	if err = errors.Join(cerr, err); err != nil {
		return -1, nil, err
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, nil, err
	}
	return fd, r, nil
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// WriteAll writes b to the non-blocking socket fd, waiting up to timeout
// for room when the socket buffer is full.
func WriteAll(fd int, b []byte, timeout time.Duration) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			if err := wait(fd, unix.POLLOUT, timeout); err != nil {
				return err
			}
			continue
		case err != nil:
			return err
		}
		b = b[n:]
	}
	return nil
}

// wait waits until fd is ready for events, or fails after timeout.
func wait(fd int, events int16, timeout time.Duration) error {
	for {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: events}}
		n, err := unix.Poll(pfd, int(timeout/time.Millisecond))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("websocket: no progress in %s", timeout)
		}
		return nil
	}
}

// ReadMessage reads from the non-blocking socket fd into r until a whole
// data message is there, answering pings, and returns it. It serves the
// handshake's first exchange, before the poll loop owns the socket.
func ReadMessage(fd int, r *Reader, timeout time.Duration) ([]byte, error) {
	for {
		op, p, ok, err := r.Next()
		if err != nil {
			return nil, err
		}
		if ok {
			switch op {
			case Close:
				return nil, ErrClosedByPeer
			case Ping:
				if err := WriteAll(fd, AppendFrame(nil, Pong, p), timeout); err != nil {
					return nil, err
				}
			case Text, Binary:
				return p, nil
			}
			continue
		}
		sp := r.Space()
		n, err := unix.Read(fd, sp)
		switch {
		case err == unix.EINTR:
		case err == unix.EAGAIN:
			if err := wait(fd, unix.POLLIN, timeout); err != nil {
				return nil, err
			}
		case err != nil:
			return nil, err
		case n == 0:
			return nil, ErrClosedByPeer
		default:
			r.Wrote(n)
		}
	}
}

// AppendServerFrame appends p to dst as one unmasked frame, the way a
// server sends it (RFC 6455 §5.2): what the reader takes apart, for tests
// and fake servers.
func AppendServerFrame(dst []byte, fin bool, op byte, p []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	dst = append(dst, b0)
	switch n := len(p); {
	case n < 126:
		dst = append(dst, byte(n))
	case n < 1<<16:
		dst = append(dst, 126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	return append(dst, p...)
}

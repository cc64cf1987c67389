package ws

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/sys/unix"
)

func TestWSParseFrame(t *testing.T) {
	t.Parallel()
	for _, size := range []int{0, 1, 125, 126, 65535, 65536, 70000} {
		p := bytes.Repeat([]byte{'x'}, size)
		b := AppendServerFrame(nil, true, Binary, p)
		// Every proper prefix is incomplete, never an error.
		for i := range len(b) {
			if _, n, err := parseFrame(b[:i], MaxMessage); n != 0 || err != nil {
				t.Fatalf("size %d, prefix %d: n %d, err %v", size, i, n, err)
			}
		}
		f, n, err := parseFrame(append(b, 0x82), MaxMessage)
		if err != nil || n != len(b) || !f.fin || f.op != Binary || !bytes.Equal(f.payload, p) {
			t.Fatalf("size %d: n %d of %d, err %v, fin %v op %d", size, n, len(b), err, f.fin, f.op)
		}
	}
	for _, c := range []struct {
		name string
		b    []byte
		want error
	}{
		{"masked", []byte{0x82, 0x81, 1, 2, 3, 4, 'x'}, errMasked},
		{"rsv1", []byte{0xc2, 0x01, 'x'}, errReserved},
		{"opcode 3", []byte{0x83, 0x00}, errOpcode},
		{"opcode 11", []byte{0x8b, 0x00}, errOpcode},
		{"fragmented ping", []byte{0x09, 0x00}, errControl},
		{"long close", append([]byte{0x88, 126, 0, 126}, make([]byte, 126)...), errControl},
		{"16-bit length under 126", []byte{0x82, 126, 0, 125}, errLength},
		{"64-bit length under 65536", []byte{0x82, 127, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, errLength},
		{"64-bit length with its top bit", []byte{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0}, errLength},
		{"too large", []byte{0x82, 127, 0, 0, 0, 0, 0x10, 0, 0, 0}, errTooBig},
	} {
		if _, _, err := parseFrame(c.b, MaxMessage); !errors.Is(err, c.want) {
			t.Errorf("%s: err %v, want %v", c.name, err, c.want)
		}
	}
}

// TestWSReader: fragments are reassembled around an interleaved control
// frame, whatever the bytes' split into reads; protocol errors are refused.
func TestWSReader(t *testing.T) {
	t.Parallel()
	var stream []byte
	stream = append(stream, AppendServerFrame(nil, true, Binary, []byte("one"))...)
	stream = append(stream, AppendServerFrame(nil, false, Text, []byte("tw"))...)
	stream = append(stream, AppendServerFrame(nil, true, Ping, []byte("p"))...)
	stream = append(stream, AppendServerFrame(nil, false, Continuation, []byte("o "))...)
	stream = append(stream, AppendServerFrame(nil, true, Continuation, bytes.Repeat([]byte("2"), 5000))...)
	stream = append(stream, AppendServerFrame(nil, true, Close, []byte{0x03, 0xe8})...)
	want := []string{"2:one", "9:p", "1:two " + strings.Repeat("2", 5000), "8:\x03\xe8"}
	for _, chunk := range []int{1, 2, 3, 7, 100, 4096, len(stream)} {
		var parts [][]byte
		for i := 0; i < len(stream); i += chunk {
			parts = append(parts, stream[i:min(i+chunk, len(stream))])
		}
		got, err := readParts(NewReader(16), parts...)
		if err != nil {
			t.Fatalf("chunk %d: %v", chunk, err)
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("chunk %d: got %q", chunk, got)
		}
	}
	for name, b := range map[string][]byte{
		"continuation first": AppendServerFrame(nil, true, Continuation, []byte("x")),
		"message inside a fragmented one": append(AppendServerFrame(nil, false, Binary, []byte("a")),
			AppendServerFrame(nil, true, Binary, []byte("b"))...),
	} {
		r := NewReader(64)
		r.Wrote(copy(r.Space(), b))
		var err error
		for ok := true; ok && err == nil; {
			_, _, ok, err = r.Next()
		}
		if !errors.Is(err, errFragment) {
			t.Errorf("%s: err %v", name, err)
		}
	}
}

// TestWSAgainstCoder: the client talks to a coder/websocket server — the
// library the relay serves with — in both directions: messages of every
// length form, a fragmented one, a ping the client must answer, and the
// close.
func TestWSAgainstCoder(t *testing.T) {
	t.Parallel()
	sizes := []int{0, 1, 125, 126, 65535, 65536, 300_000}
	pinged := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(1 << 20)
		ctx := r.Context()
		// Echo what the client sends, one message per size.
		for range sizes {
			typ, m, err := c.Read(ctx)
			if err != nil {
				return
			}
			if err := c.Write(ctx, typ, m); err != nil {
				return
			}
		}
		// A fragmented message: coder writes a frame per Write.
		wr, err := c.Writer(ctx, websocket.MessageText)
		if err != nil {
			return
		}
		for _, part := range []string{"frag", "ment", "ed"} {
			if _, err := wr.Write([]byte(part)); err != nil {
				return
			}
		}
		if err := wr.Close(); err != nil {
			return
		}
		// Ping: answered only while something reads, which CloseRead does.
		readCtx := c.CloseRead(ctx)
		pctx, cancel := context.WithTimeout(readCtx, 10*time.Second)
		pinged <- c.Ping(pctx)
		cancel()
		c.Close(websocket.StatusNormalClosure, "bye")
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	fd, r, err := Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"))
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	for _, size := range sizes {
		p := make([]byte, size)
		for i := range p {
			p[i] = byte(i * 7)
		}
		if err := WriteAll(fd, AppendFrame(nil, Binary, p), 10*time.Second); err != nil {
			t.Fatal(err)
		}
		m, err := ReadMessage(fd, r, 10*time.Second)
		if err != nil || !bytes.Equal(m, p) {
			t.Fatalf("size %d: echo of %d bytes, err %v", size, len(m), err)
		}
	}
	m, err := ReadMessage(fd, r, 10*time.Second)
	if err != nil || string(m) != "fragmented" {
		t.Fatalf("fragmented: %q %v", m, err)
	}
	// ReadMessage answers the ping on its way to the close.
	if _, err := ReadMessage(fd, r, 10*time.Second); !errors.Is(err, ErrClosedByPeer) {
		t.Fatalf("after the ping: %v, want the close", err)
	}
	if err := <-pinged; err != nil {
		t.Fatalf("ping unanswered: %v", err)
	}
}

func TestWSDialRefusesNonWebSocket(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Upgrade", "websocket")
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Sec-WebSocket-Accept", "wrong")
		w.WriteHeader(http.StatusSwitchingProtocols)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, _, err := Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")); err == nil || !strings.Contains(err.Error(), "Sec-WebSocket-Accept") {
		t.Fatalf("wrong accept key: %v", err)
	}
	if _, _, err := Dial(ctx, srv.URL); err == nil {
		t.Fatal("http:// dialled")
	}
}

// readParts feeds parts to r, one read each, and returns the messages it
// takes apart ("op:payload", op as the digit '0'+op) up to the first
// protocol error, which it returns.
func readParts(r *Reader, parts ...[]byte) (out []string, err error) {
	for _, part := range parts {
		for len(part) > 0 {
			n := copy(r.Space(), part)
			r.Wrote(n)
			part = part[n:]
		}
		for {
			op, p, ok, err := r.Next()
			if err != nil {
				return out, err
			}
			if !ok {
				break
			}
			out = append(out, string('0'+op)+":"+string(p))
		}
	}
	return out, nil
}

// FuzzWSReader feeds untrusted server bytes to the reader, split in two
// reads at every point the fuzzer picks: it must not panic, must bound what
// it returns, and must read the same messages however the bytes are split.
func FuzzWSReader(f *testing.F) {
	f.Add(AppendServerFrame(nil, true, Binary, []byte("hello")), uint16(3))
	f.Add(append(AppendServerFrame(nil, false, Text, []byte("a")), AppendServerFrame(nil, true, Continuation, []byte("b"))...), uint16(2))
	f.Add(AppendServerFrame(nil, true, Ping, nil), uint16(1))
	f.Add(AppendServerFrame(nil, true, Binary, make([]byte, 300)), uint16(200))
	f.Add([]byte{0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0}, uint16(5))
	f.Fuzz(func(t *testing.T, b []byte, split uint16) {
		read := func(parts ...[]byte) ([]string, error) {
			out, err := readParts(NewReader(8), parts...)
			for _, m := range out {
				op, n := m[0]-'0', len(m)-2
				if n > MaxMessage || (op >= Close && n > 125) {
					t.Fatalf("op %d with %d bytes", op, n)
				}
			}
			return out, err
		}
		whole, err1 := read(b)
		s := int(split) % (len(b) + 1)
		parts, err2 := read(b[:s], b[s:])
		if strings.Join(whole, "|") != strings.Join(parts, "|") || (err1 == nil) != (err2 == nil) {
			t.Fatalf("split at %d: %q %v against %q %v", s, parts, err2, whole, err1)
		}
	})
}

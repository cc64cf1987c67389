package turnserver

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/turn/v4"
)

// TestPrivatePeersRefused: a client holding valid credentials gets an
// allocation, but no permission to relay to a loopback, private or
// link-local address, so the TURN server is no way into the operator's
// network; a public peer is permitted. AllowPrivatePeers lifts it.
func TestPrivatePeersRefused(t *testing.T) {
	for _, allow := range []bool{false, true} {
		srv, err := Start(Config{Listen: "127.0.0.1:0", PublicIP: "127.0.0.1", RelayBind: "127.0.0.1", Secret: "turn-secret", AllowPrivatePeers: allow})
		if err != nil {
			t.Fatal(err)
		}
		relay := allocate(t, srv, "turn-secret")
		for _, peer := range []string{"127.0.0.1", "10.1.2.3", "192.168.0.9", "169.254.1.1"} {
			_, err := relay.WriteTo([]byte("x"), &net.UDPAddr{IP: net.ParseIP(peer), Port: 9})
			if refused := err != nil; refused == allow {
				t.Errorf("AllowPrivatePeers %v: relaying to %s: %v", allow, peer, err)
			}
		}
		// A documentation address (RFC 5737): public, and nobody's.
		if _, err := relay.WriteTo([]byte("x"), &net.UDPAddr{IP: net.ParseIP("192.0.2.1"), Port: 9}); err != nil {
			t.Errorf("relaying to a public peer: %v", err)
		}
		srv.Close()
	}
}

// allocate returns a relayed connection from srv, with credentials of the
// TURN REST convention signed with secret.
func allocate(t *testing.T, srv *Server, secret string) net.PacketConn {
	t.Helper()
	user := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10) + ":alice"
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(user))
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: srv.Addr().String(), TURNServerAddr: srv.Addr().String(), Conn: conn,
		Username: user, Password: base64.StdEncoding.EncodeToString(mac.Sum(nil)), Realm: "parley",
		LoggerFactory: logging.NewDefaultLoggerFactory(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	relay, err := c.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { relay.Close() })
	return relay
}

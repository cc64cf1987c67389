// Package turnserver is the TURN server parley-relay can run beside the
// relay (github.com/pion/turn/v4), so a small deployment needs nothing else
// for calls behind NATs. It checks the time-limited credentials the relay
// hands out (the TURN REST API convention, see rules.TURNCredentials) with
// the secret both share; it never asks the relay anything.
//
// It is a package of its own so that only the binary links pion/turn: the
// relay package, which also builds for js/wasm, does not.
package turnserver

import (
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/pion/logging"
	"github.com/pion/turn/v4"
)

// Config configures a Server.
type Config struct {
	// Listen is the UDP address to serve TURN on. Defaults to
	// "0.0.0.0:3478".
	Listen string
	// PublicIP is the address clients reach this server at, given to them
	// as the relayed address. Required.
	PublicIP string
	// RelayBind is the local address relayed sockets bind to. Defaults to
	// "0.0.0.0".
	RelayBind string
	// Realm is the TURN realm. Defaults to "parley".
	Realm string
	// Secret is the shared secret of the relay's CallOptions.TURNSecret.
	// Required.
	Secret string
	// AllowPrivatePeers lets clients relay to loopback, private and
	// link-local addresses. Defaults to false: a TURN server that relays
	// anywhere lets any user with credentials reach the operator's
	// internal network. Tests on one machine set it.
	AllowPrivatePeers bool
}

// Server is a running TURN server.
type Server struct {
	srv  *turn.Server
	conn net.PacketConn
	ip   string
}

// Start listens and serves until Close.
func Start(cfg Config) (*Server, error) {
	if cfg.Secret == "" {
		return nil, errors.New("turnserver: a secret is required")
	}
	ip := net.ParseIP(cfg.PublicIP)
	if ip == nil {
		return nil, fmt.Errorf("turnserver: public IP %q is not an IP address", cfg.PublicIP)
	}
	if cfg.Listen == "" {
		cfg.Listen = "0.0.0.0:3478"
	}
	if cfg.RelayBind == "" {
		cfg.RelayBind = "0.0.0.0"
	}
	if cfg.Realm == "" {
		cfg.Realm = "parley"
	}
	conn, err := net.ListenPacket("udp4", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("turnserver: %w", err)
	}
	logs := logging.NewDefaultLoggerFactory()
	logs.DefaultLogLevel = logging.LogLevelWarn
	permit := func(_ net.Addr, peer net.IP) bool {
		return cfg.AllowPrivatePeers || PublicPeer(peer)
	}
	srv, err := turn.NewServer(turn.ServerConfig{
		Realm:         cfg.Realm,
		AuthHandler:   turn.LongTermTURNRESTAuthHandler(cfg.Secret, logs.NewLogger("turn")),
		LoggerFactory: logs,
		PacketConnConfigs: []turn.PacketConnConfig{{
			PacketConn:            conn,
			RelayAddressGenerator: &turn.RelayAddressGeneratorStatic{RelayAddress: ip, Address: cfg.RelayBind},
			PermissionHandler:     permit,
		}},
	})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("turnserver: %w", err)
	}
	return &Server{srv: srv, conn: conn, ip: cfg.PublicIP}, nil
}

// PublicPeer reports whether a TURN client may relay to ip by default: not
// loopback, private, link-local, multicast or unspecified.
func PublicPeer(ip net.IP) bool {
	return !(ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsMulticast() || ip.IsUnspecified() || ip.IsInterfaceLocalMulticast())
}

// URLs returns the TURN URLs clients use for this server, for the relay's
// CallOptions.TURNURLs.
func (s *Server) URLs() []string {
	port := s.conn.LocalAddr().(*net.UDPAddr).Port
	return []string{"turn:" + net.JoinHostPort(s.ip, strconv.Itoa(port)) + "?transport=udp"}
}

// Addr returns the address the server listens on.
func (s *Server) Addr() net.Addr { return s.conn.LocalAddr() }

// Close stops the server and frees its sockets.
func (s *Server) Close() error { return s.srv.Close() }

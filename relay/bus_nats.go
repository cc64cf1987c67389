//go:build !js

package relay

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/parley-im/parley/relay/internal/buswire"
)

var _ Bus = (*NATSBus)(nil)

// NATSOptions configure a NATSBus.
type NATSOptions struct {
	// Prefix starts every subject. It keeps deployments on one NATS apart
	// only from mistakes, not from each other: give each deployment its own
	// NATS account (or permissions limited to its prefix) and its own Key.
	// Defaults to "parley".
	Prefix string
	// Name is the connection name NATS shows in its monitoring. Defaults to
	// "parley-relay".
	Name string
	// Logger receives connection events. Defaults to slog.Default().
	Logger *slog.Logger

	// Key, when set, authenticates every envelope: each publish carries an
	// HMAC-SHA256 of its subject and payload under Key, and envelopes
	// without a valid one are dropped and counted (Rejected). Every relay
	// of a deployment must have the same Key, at least 32 bytes. Defaults
	// to none: anything published on the subjects is trusted, so the NATS
	// accounts alone must keep other publishers out.
	Key []byte

	// CredsFile is a NATS credentials file (user JWT and NKey seed) to
	// authenticate with. Defaults to none.
	CredsFile string

	// NKeyFile is a file holding a user NKey seed to authenticate with.
	// Defaults to none.
	NKeyFile string

	// TLSCA is a PEM file of the CAs that sign the NATS servers'
	// certificates; setting it requires TLS. Defaults to the system roots
	// when the URL is tls://.
	TLSCA string

	// TLSCert and TLSKey are a PEM client certificate and its key, for
	// servers that verify clients. Both or neither.
	TLSCert, TLSKey string
}

// NATSBus is a Bus over NATS core pub/sub, for several relay nodes.
//
// Subjects are per user: <prefix>.u.<base64url(user)>. A node subscribes to
// the subjects of the users it holds sessions of, so it receives only what its
// connected users need, never every message of the cluster. An envelope for n
// users is n publishes of the same small payload.
//
// NATS core delivers at most once and keeps nothing: a node that was
// disconnected has missed envelopes. On every reconnect the bus reports Lost
// to its receivers (which tell their clients to sync), and a node whose own
// publishes were dropped tells every node, through <prefix>.lost, to do the
// same. Messages are in the store before they are published, so nothing is
// lost, only late.
type NATSBus struct {
	nc     *nats.Conn
	prefix string
	log    *slog.Logger

	mu   sync.Mutex
	subs map[*natsSub]struct{}

	// dropped records that a publish failed; after the next reconnect the
	// bus asks every node to repair.
	dropped atomic.Bool

	key      []byte        // NATSOptions.Key
	rejected atomic.Uint64 // envelopes dropped for a missing or bad tag
}

// Rejected returns how many envelopes the bus dropped because Key was set
// and they were unsigned or badly signed.
func (b *NATSBus) Rejected() uint64 { return b.rejected.Load() }

// seal signs payload for subject when the bus has a key.
func (b *NATSBus) seal(subject string, payload []byte) []byte {
	if b.key == nil {
		return payload
	}
	return buswire.Seal(b.key, subject, payload)
}

// open checks what arrived on subject when the bus has a key; false means
// it is dropped (and counted).
func (b *NATSBus) open(subject string, data []byte) ([]byte, bool) {
	if b.key == nil {
		return data, true
	}
	payload, err := buswire.Open(b.key, subject, data)
	if err != nil {
		if b.rejected.Add(1) == 1 || b.log.Enabled(context.Background(), slog.LevelDebug) {
			b.log.Warn("bus: dropped an envelope without a valid signature (is another publisher on the subjects, or a relay without the bus key?)", "subject", subject)
		}
		return nil, false
	}
	return payload, true
}

// NewNATSBus connects to the NATS server at url (nats://host:port, or a comma
// separated list) and returns a bus on it. It fails when no server answers;
// after that, it reconnects by itself for as long as it lives.
func NewNATSBus(url string, o NATSOptions) (*NATSBus, error) {
	if o.Prefix == "" {
		o.Prefix = "parley"
	}
	if strings.ContainsAny(o.Prefix, " \t\r\n*>") {
		return nil, fmt.Errorf("relay: NATS subject prefix %q has a space or wildcard", o.Prefix)
	}
	if o.Name == "" {
		o.Name = "parley-relay"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Key != nil && len(o.Key) < buswire.MinKeyBytes {
		return nil, fmt.Errorf("relay: bus key of %d bytes is shorter than %d", len(o.Key), buswire.MinKeyBytes)
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return nil, errors.New("relay: NATS client certificate and key go together")
	}
	b := &NATSBus{prefix: o.Prefix, log: o.Logger, subs: make(map[*natsSub]struct{}), key: o.Key}
	var auth []nats.Option
	if o.CredsFile != "" {
		auth = append(auth, nats.UserCredentials(o.CredsFile))
	}
	if o.NKeyFile != "" {
		opt, err := nats.NkeyOptionFromSeed(o.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("relay: NATS NKey seed %s: %w", o.NKeyFile, err)
		}
		auth = append(auth, opt)
	}
	if o.TLSCA != "" {
		auth = append(auth, nats.RootCAs(o.TLSCA))
	}
	if o.TLSCert != "" {
		auth = append(auth, nats.ClientCert(o.TLSCert, o.TLSKey))
	}
	nc, err := nats.Connect(url, append(auth,
		nats.Name(o.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.ReconnectJitter(250*time.Millisecond, time.Second),
		nats.Timeout(2*time.Second),
		nats.PingInterval(5*time.Second),
		nats.MaxPingsOutstanding(2),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			b.log.Warn("bus disconnected", "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			b.log.Info("bus reconnected", "server", nc.ConnectedUrlRedacted())
			go b.reconnected()
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			b.log.Warn("bus error", "err", err)
			if errors.Is(err, nats.ErrSlowConsumer) {
				b.lost() // this node dropped envelopes it was sent
			}
		}),
	)...)
	if err != nil {
		return nil, fmt.Errorf("relay: connect to NATS at %s: %w", url, err)
	}
	b.nc = nc
	return b, nil
}

// reconnected runs after NATS came back: the subscriptions are re-sent; once
// the server has them (the flush), everything pushed from now on arrives, and
// the receivers repair what was missed.
func (b *NATSBus) reconnected() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_ = b.nc.FlushWithContext(ctx)
	cancel()
	if b.dropped.Swap(false) {
		// Publishes made while disconnected may have been refused: every
		// node may be missing pushes this one sent.
		if err := b.nc.Publish(b.prefix+".lost", b.seal(b.prefix+".lost", nil)); err != nil {
			b.dropped.Store(true)
		}
	}
	b.lost()
}

// lost reports Lost to every receiver of this node.
func (b *NATSBus) lost() {
	for _, s := range b.subscriptions() {
		s.r.Lost()
	}
}

// subscriptions is a snapshot of the bus's subscriptions.
func (b *NATSBus) subscriptions() []*natsSub {
	b.mu.Lock()
	defer b.mu.Unlock()
	subs := make([]*natsSub, 0, len(b.subs))
	for s := range b.subs {
		subs = append(subs, s)
	}
	return subs
}

// Close ends every subscription and closes the connection.
func (b *NATSBus) Close() {
	for _, s := range b.subscriptions() {
		s.Close()
	}
	b.nc.Close()
}

// Connected reports whether the bus is connected to a NATS server now.
func (b *NATSBus) Connected() bool { return b.nc.IsConnected() }

// subject is the subject of user's envelopes. base64url keeps any user id,
// dots and wildcards included, to one subject token.
func (b *NATSBus) subject(user string) string {
	return b.prefix + ".u." + base64.RawURLEncoding.EncodeToString([]byte(user))
}

// Publish implements Bus.
func (b *NATSBus) Publish(_ context.Context, e Envelope) error {
	payload := buswire.Encode(buswire.Envelope{Except: e.Except, Kick: e.Kick, KickAt: uint64(max(e.KickAt, 0)), Frame: e.Frame, Control: e.Control})
	var first error
	for _, u := range e.Users {
		subject := b.subject(u)
		if err := b.nc.Publish(subject, b.seal(subject, payload)); err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		b.dropped.Store(true)
		return fmt.Errorf("relay: publish to NATS: %w", first)
	}
	return nil
}

// Subscribe implements Bus. Envelopes of every watched user go through one
// channel to one goroutine, in the order NATS delivered them: per user, the
// publish order of each publishing node.
func (b *NATSBus) Subscribe(r Receiver) (Subscription, error) {
	s := &natsSub{bus: b, r: r, users: make(map[string]*natsWatch), in: make(chan *nats.Msg, 1<<14), done: make(chan struct{})}
	lost, err := b.nc.Subscribe(b.prefix+".lost", func(m *nats.Msg) {
		if _, ok := b.open(m.Subject, m.Data); ok {
			r.Lost()
		}
	})
	if err != nil {
		return nil, fmt.Errorf("relay: subscribe to NATS: %w", err)
	}
	s.lostSub = lost
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	go s.dispatch()
	return s, nil
}

type natsSub struct {
	bus     *NATSBus
	r       Receiver
	in      chan *nats.Msg
	done    chan struct{}
	lostSub *nats.Subscription

	mu     sync.Mutex
	users  map[string]*natsWatch
	closed bool
}

// natsWatch is one user's subscription, shared by that user's sessions.
type natsWatch struct {
	refs  int
	ready chan struct{} // closed once the first Watch has an answer
	sub   *nats.Subscription
	err   error
}

func (s *natsSub) dispatch() {
	prefix := s.bus.prefix + ".u."
	for {
		select {
		case m := <-s.in:
			user, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(m.Subject, prefix))
			if err != nil {
				continue
			}
			data, ok := s.bus.open(m.Subject, m.Data)
			if !ok {
				continue
			}
			w, err := buswire.Decode(data)
			if err != nil {
				s.bus.log.Warn("bus: dropped a malformed envelope", "subject", m.Subject, "err", err)
				continue
			}
			s.r.Deliver(Envelope{Users: []string{string(user)}, Except: w.Except, Kick: w.Kick, KickAt: int64(min(w.KickAt, math.MaxInt64)), Frame: w.Frame, Control: w.Control})
		case <-s.done:
			return
		}
	}
}

// Watch implements Subscription.
func (s *natsSub) Watch(ctx context.Context, user string) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	w := s.users[user]
	first := w == nil
	if first {
		w = &natsWatch{ready: make(chan struct{})}
		s.users[user] = w
	}
	w.refs++
	s.mu.Unlock()

	if first {
		w.sub, w.err = s.bus.nc.ChanSubscribe(s.bus.subject(user), s.in)
		if w.err == nil {
			w.err = s.confirm(ctx)
		}
		close(w.ready)
	} else {
		select {
		case <-w.ready:
		case <-ctx.Done():
			s.Unwatch(user)
			return ctx.Err()
		}
	}
	if w.err != nil {
		s.Unwatch(user)
		return fmt.Errorf("relay: subscribe to NATS: %w", w.err)
	}
	return nil
}

// confirm waits until the server has processed the subscription just sent.
// While NATS is away it does not wait: the subscription is re-sent on
// reconnect, and Lost follows, which repairs whatever this session missed.
func (s *natsSub) confirm(ctx context.Context) error {
	if s.bus.nc.IsReconnecting() {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	err := s.bus.nc.FlushWithContext(ctx)
	if err != nil && (s.bus.nc.IsReconnecting() || s.bus.nc.Status() == nats.CONNECTING) {
		return nil
	}
	return err
}

// Unwatch implements Subscription.
func (s *natsSub) Unwatch(user string) {
	s.mu.Lock()
	w := s.users[user]
	if w == nil {
		s.mu.Unlock()
		return
	}
	w.refs--
	if w.refs > 0 {
		s.mu.Unlock()
		return
	}
	delete(s.users, user)
	s.mu.Unlock()
	// refs reached zero, so the first Watch has returned and ready is closed.
	if w.sub != nil {
		_ = w.sub.Unsubscribe()
	}
}

// Close implements Subscription.
func (s *natsSub) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	users := s.users
	s.users = nil
	s.mu.Unlock()
	for _, w := range users {
		<-w.ready
		if w.sub != nil {
			_ = w.sub.Unsubscribe()
		}
	}
	_ = s.lostSub.Unsubscribe()
	s.bus.mu.Lock()
	delete(s.bus.subs, s)
	s.bus.mu.Unlock()
	close(s.done)
}

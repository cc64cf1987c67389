// Command parley-relay runs the Parley relay and mints development tokens.
//
//	parley-relay serve [flags]          run the relay (SIGINT/SIGTERM drain it)
//	parley-relay token --user alice     print a token signed with the relay's secret
//	parley-relay version                print the version
//
// Every flag has a PARLEY_* environment variable; a flag given on the command
// line wins over the variable.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/parley-im/parley/proto"
	"github.com/parley-im/parley/relay"
	"github.com/parley-im/parley/relay/internal/buswire"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = ""

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage:
  parley-relay serve [flags]     run the relay
  parley-relay token --user ID   print a token for ID
  parley-relay version           print the version
Run "parley-relay COMMAND -h" for a command's flags.
`

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stdout, stderr)
	case "token":
		return token(args[1:], stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintf(stdout, "parley-relay %s (protocol %d, %s)\n", versionString(), proto.Version, goVersion())
		return 0
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "parley-relay: unknown command %q\n%s", args[0], usage)
	return 2
}

// envFlags binds flags to PARLEY_* variables: after parsing, every flag not
// given on the command line takes its variable's value when that is set.
type envFlags struct {
	fs  *flag.FlagSet
	env map[string]string // flag name -> variable
}

func newFlagSet(name string, stderr io.Writer) *envFlags {
	fs := flag.NewFlagSet("parley-relay "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return &envFlags{fs: fs, env: make(map[string]string)}
}

// bind records that flag name reads variable when not given.
func (e *envFlags) bind(name, variable string) {
	e.env[name] = variable
	f := e.fs.Lookup(name)
	f.Usage += " (env " + variable + ")"
}

// set reports whether flag name was given, on the command line or by its
// variable.
func (e *envFlags) set(name string) bool {
	given := false
	e.fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	if v, ok := os.LookupEnv(e.env[name]); ok && v != "" {
		given = true
	}
	return given
}

func (e *envFlags) parse(args []string) error {
	if err := e.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errReported // the flag package has printed it, with the usage
	}
	if e.fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", e.fs.Arg(0))
	}
	given := make(map[string]bool)
	e.fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for name, variable := range e.env {
		v, ok := os.LookupEnv(variable)
		if given[name] || !ok || v == "" {
			continue
		}
		if err := e.fs.Set(name, v); err != nil {
			return fmt.Errorf("invalid %s=%q: %v", variable, v, err)
		}
	}
	return nil
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	e := newFlagSet("serve", stderr)
	fs := e.fs
	addr := fs.String("addr", "127.0.0.1:8787", "listen address")
	data := fs.String("data", "./parley-data", "data directory (SQLite database, generated secret)")
	secret := fs.String("secret", "", "HS256 token secret (default: the file DATA/secret, created on first start)")
	origins := fs.String("origins", "", "comma-separated allowed Origin patterns (default: any origin; auth is by token, not cookie)")
	static := fs.String("static", "", "directory to serve at / (the web demo)")
	adminAddr := fs.String("admin-addr", "127.0.0.1:8788", `operator listener: /metrics and, with --pprof, /debug/pprof/ ("off" for none; keep it off the internet; the default, when taken, is skipped with a warning)`)
	pprofOn := fs.Bool("pprof", false, "serve Go's profiler at /debug/pprof/ on --admin-addr")
	devTokens := fs.Bool("dev-tokens", false, "DEMO ONLY: POST /dev/token?user=NAME mints a token for anyone (refused unless --addr is loopback)")
	devTokensPublic := fs.Bool("dev-tokens-public", false, "let --dev-tokens serve a non-loopback --addr: anyone who reaches it can sign in as anyone")
	heartbeat := fs.Duration("heartbeat", 25*time.Second, "client ping interval; silent connections close after 2.5x")
	maxFrame := fs.Int("max-frame", proto.DefaultMaxFrame, "largest frame accepted, in bytes")
	rateLimit := fs.Float64("rate-limit", 200, "frames per second one connection may send; negative disables")
	rateBurst := fs.Int("rate-burst", 0, "frames one connection may send at once above the rate (default 2x rate-limit)")
	sendQueue := fs.Int("send-queue", 512, "frames queued per connection before it is closed as a slow consumer; above --max-inflight-per-conn, whose acks it must hold")
	synchronous := fs.String("synchronous", "FULL", "SQLite synchronous mode: FULL (durable across power loss) or NORMAL")
	storeURL := fs.String("store", "sqlite", "where messages are kept: sqlite (in --data) or a postgres://… URL shared by several relays")
	storeParts := fs.Int("store-partitions", 1, "SQLite store only: spread the conversations over this many databases in --data, each with its own writer (1 to 64; fixed once the relay holds data)")
	busURL := fs.String("bus", "memory", "fan-out between relays: memory (one relay) or a nats://… URL (comma-separated servers)")
	busPrefix := fs.String("bus-prefix", "parley", "NATS subject prefix (separates deployments only from mistakes: give each its own NATS account and bus key)")
	busKey := fs.String("bus-key", "", "cluster key (>= 32 bytes, the same on every relay): envelopes are signed with it and unsigned ones dropped")
	busCreds := fs.String("bus-creds", "", "NATS credentials file (user JWT and NKey seed)")
	busNKey := fs.String("bus-nkey", "", "file holding a NATS user NKey seed")
	busTLSCA := fs.String("bus-tls-ca", "", "PEM file of the CAs of the NATS servers (requires TLS)")
	busTLSCert := fs.String("bus-tls-cert", "", "PEM client certificate for NATS (with --bus-tls-key)")
	busTLSKey := fs.String("bus-tls-key", "", "PEM key of --bus-tls-cert")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	checkOverload, applyOverload := overloadFlags(e)
	checkCalls, startCalls := callFlags(e)
	checkSessions, applySessions := sessionFlags(e) // sessions.go
	applyUploads := uploadFlags(e)
	maxSessions := fs.Int("max-sessions-per-user", 64, "sessions one user may hold open on this node, all devices together; 0 or negative: no limit")
	userRate := fs.Float64("user-rate-limit", 1000, "frames per second one user may send across their sessions on this node; negative disables")
	userBytes := fs.Float64("user-byte-rate", 2<<20, "bytes per second one user may send across their sessions on this node; negative disables")
	sendQueueBytes := fs.Int("send-queue-bytes", 4<<20, "bytes queued per connection before it is closed as a slow consumer")
	maxConns := fs.Int("max-conns", 10000, "TCP connections held open at once, of every kind; negative disables (keep below ulimit -n)")
	maxConnsPerIP := fs.Int("max-conns-per-ip", 256, "TCP connections held open from one address; negative disables (raise it behind a proxy)")
	tokenAudience := fs.String("token-audience", "", "aud claim every token must carry (default: not checked)")
	tokenIssuer := fs.String("token-issuer", "", "iss claim every token must carry (default: not checked)")
	maxTokenTTL := fs.Duration("max-token-ttl", 0, "refuse tokens whose exp - iat is above this (default 0: any lifetime)")
	tokenLeeway := fs.Duration("token-leeway", relay.DefaultTokenLeeway, "clock skew forgiven on exp, nbf and iat; sessions end this long after exp unless renewed")
	maxGroups := fs.Int("max-groups-per-user", 500, "groups one user may create in all; negative: no limit")
	maxGroupsHour := fs.Int("max-groups-per-hour", 60, "groups one user may create in any hour; negative: no limit")
	maxRelations := fs.Int("max-relations", 5000, "contacts, requests and blocks one user may hold (ended ones included); negative: no cap")
	groupIDs := fs.String("group-ids", "server", "who names groups: server (the relay only), client (chosen ids must be g:CREATOR.x) or any")
	recallWindow := fs.Duration("recall-window", 2*time.Minute, "how long a sender may recall a message (group admins: any time); negative: never")
	invitePolicy := fs.String("invite-policy", "direct", "how users come into a group: direct (added at once) or consent (invited; a member once they accept)")
	for name, variable := range map[string]string{
		"group-ids": "PARLEY_GROUP_IDS", "invite-policy": "PARLEY_INVITE_POLICY", "recall-window": "PARLEY_RECALL_WINDOW",
		"max-groups-per-user": "PARLEY_MAX_GROUPS_PER_USER", "max-groups-per-hour": "PARLEY_MAX_GROUPS_PER_HOUR", "max-relations": "PARLEY_MAX_RELATIONS",
		"token-audience": "PARLEY_TOKEN_AUDIENCE", "token-issuer": "PARLEY_TOKEN_ISSUER",
		"max-token-ttl": "PARLEY_MAX_TOKEN_TTL", "token-leeway": "PARLEY_TOKEN_LEEWAY",
		"store": "PARLEY_STORE", "store-partitions": "PARLEY_STORE_PARTITIONS", "bus": "PARLEY_BUS", "bus-prefix": "PARLEY_BUS_PREFIX",
		"bus-key": "PARLEY_BUS_KEY", "bus-creds": "PARLEY_BUS_CREDS", "bus-nkey": "PARLEY_BUS_NKEY",
		"bus-tls-ca": "PARLEY_BUS_TLS_CA", "bus-tls-cert": "PARLEY_BUS_TLS_CERT", "bus-tls-key": "PARLEY_BUS_TLS_KEY",
		"addr": "PARLEY_ADDR", "data": "PARLEY_DATA", "secret": "PARLEY_SECRET", "origins": "PARLEY_ORIGINS",
		"static": "PARLEY_STATIC", "pprof": "PARLEY_PPROF", "dev-tokens": "PARLEY_DEV_TOKENS",
		"dev-tokens-public": "PARLEY_DEV_TOKENS_PUBLIC", "admin-addr": "PARLEY_ADMIN_ADDR", "heartbeat": "PARLEY_HEARTBEAT", "max-frame": "PARLEY_MAX_FRAME",
		"rate-limit": "PARLEY_RATE_LIMIT", "rate-burst": "PARLEY_RATE_BURST", "send-queue": "PARLEY_SEND_QUEUE", "synchronous": "PARLEY_SYNCHRONOUS",
		"log-level": "PARLEY_LOG_LEVEL", "max-conns": "PARLEY_MAX_CONNS", "max-conns-per-ip": "PARLEY_MAX_CONNS_PER_IP",
		"max-sessions-per-user": "PARLEY_MAX_SESSIONS_PER_USER", "user-rate-limit": "PARLEY_USER_RATE_LIMIT",
		"user-byte-rate": "PARLEY_USER_BYTE_RATE", "send-queue-bytes": "PARLEY_SEND_QUEUE_BYTES",
	} {
		e.bind(name, variable)
	}
	if err := e.parse(args); err != nil {
		return badUsage(stderr, err)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return badUsage(stderr, fmt.Errorf("invalid --log-level %q", *logLevel))
	}
	if *maxFrame < 1024 {
		return badUsage(stderr, fmt.Errorf("--max-frame %d is below 1024", *maxFrame))
	}
	if *rateBurst < 0 {
		return badUsage(stderr, fmt.Errorf("--rate-burst %d is negative", *rateBurst))
	}
	if *sendQueue < 1 {
		return badUsage(stderr, fmt.Errorf("--send-queue %d is below 1", *sendQueue))
	}
	if *sendQueueBytes < 1 {
		return badUsage(stderr, fmt.Errorf("--send-queue-bytes %d is below 1", *sendQueueBytes))
	}
	if *userRate == 0 || *userBytes == 0 {
		return badUsage(stderr, errors.New("--user-rate-limit and --user-byte-rate 0 would refuse every frame; use a negative value to disable"))
	}
	if *heartbeat <= 0 {
		return badUsage(stderr, fmt.Errorf("--heartbeat %s is not positive", *heartbeat))
	}
	if *rateLimit == 0 {
		return badUsage(stderr, errors.New("--rate-limit 0 would refuse every frame; use a negative value to disable"))
	}
	// relay.Options reads zero as its default: these flags would silently
	// take 500, 60, 5000 or 2 minutes for a 0.
	if *maxGroups == 0 || *maxGroupsHour == 0 || *maxRelations == 0 {
		return badUsage(stderr, errors.New("--max-groups-per-user, --max-groups-per-hour and --max-relations 0 would refuse every one; use a negative value for no limit"))
	}
	if *recallWindow == 0 {
		return badUsage(stderr, errors.New("--recall-window 0 would give no time to recall; use a negative value for never"))
	}
	if err := checkOverload(*sendQueue); err != nil {
		return badUsage(stderr, err)
	}
	if err := checkCalls(); err != nil {
		return badUsage(stderr, err)
	}
	if *adminAddr == "off" {
		*adminAddr = ""
	}
	if err := checkSessions(*adminAddr); err != nil {
		return badUsage(stderr, err)
	}
	if *pprofOn && *adminAddr == "" {
		return badUsage(stderr, errors.New("--pprof is served on --admin-addr, which is off"))
	}
	if *devTokens && !isLoopback(*addr) && !*devTokensPublic {
		return badUsage(stderr, fmt.Errorf("--dev-tokens lets anyone sign in as anyone: refused on --addr %s, which is not loopback (--dev-tokens-public overrides)", *addr))
	}
	if *maxTokenTTL < 0 || *tokenLeeway < 0 {
		return badUsage(stderr, errors.New("--max-token-ttl and --token-leeway must not be negative"))
	}
	leeway := *tokenLeeway
	if leeway == 0 {
		leeway = -1 // relay.Options: negative is none, zero the default
	}
	switch *groupIDs {
	case "server", "client", "any":
	default:
		return badUsage(stderr, fmt.Errorf("--group-ids %q is not server, client or any", *groupIDs))
	}
	if *invitePolicy != "direct" && *invitePolicy != "consent" {
		return badUsage(stderr, fmt.Errorf("--invite-policy %q is not direct or consent", *invitePolicy))
	}
	// Checked whatever --bus is: a key that only fails once the relays
	// move to NATS is found late.
	if *busKey != "" && len(*busKey) < buswire.MinKeyBytes {
		return badUsage(stderr, fmt.Errorf("--bus-key of %d bytes is shorter than %d", len(*busKey), buswire.MinKeyBytes))
	}
	sync := strings.ToUpper(*synchronous)
	if sync != "FULL" && sync != "NORMAL" {
		return badUsage(stderr, fmt.Errorf("--synchronous %q is not FULL or NORMAL", *synchronous))
	}
	if *storeParts < 1 || *storeParts > relay.MaxStorePartitions {
		return badUsage(stderr, fmt.Errorf("--store-partitions %d: from 1 to %d", *storeParts, relay.MaxStorePartitions))
	}
	if *storeParts > 1 && *storeURL != "" && *storeURL != "sqlite" {
		return badUsage(stderr, errors.New("--store-partitions is for the SQLite store"))
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	var staticFS *staticFiles
	if *static != "" {
		var err error
		if staticFS, err = newStaticFiles(*static); err == nil {
			err = checkDataOutsideStatic(*static, *data)
		}
		if err != nil {
			fmt.Fprintf(stderr, "parley-relay: %v\n", err)
			return 1
		}
	}
	natsOpts := relay.NATSOptions{Prefix: *busPrefix, Logger: log, CredsFile: *busCreds, NKeyFile: *busNKey,
		TLSCA: *busTLSCA, TLSCert: *busTLSCert, TLSKey: *busTLSKey}
	if *busKey != "" {
		natsOpts.Key = []byte(*busKey)
	}
	store, bus, err := openBackends(ctx, *storeURL, *busURL, natsOpts, sqliteParts{dir: *data, n: *storeParts, sync: sync})
	if err != nil {
		fmt.Fprintf(stderr, "parley-relay: %v\n", err)
		return 1
	}
	var fanout relay.Bus // nil, not a nil *NATSBus, selects the default
	if bus != nil {
		fanout = bus
	}
	opts := relay.Options{
		Data: *data, Secret: *secret, Origins: splitList(*origins),
		Heartbeat: *heartbeat, MaxFrame: *maxFrame, RateLimit: *rateLimit, RateBurst: *rateBurst, SendQueue: *sendQueue,
		Synchronous: sync, Logger: log, Store: store, Bus: fanout,
		MaxConns: nonZero(*maxConns), MaxConnsPerIP: nonZero(*maxConnsPerIP), MaxSessionsPerUser: nonZero(*maxSessions),
		UserRateLimit: *userRate, UserByteRate: *userBytes, SendQueueBytes: *sendQueueBytes,
		GroupIDs: *groupIDs, RecallWindow: *recallWindow, InvitePolicy: *invitePolicy, MaxGroupsPerUser: *maxGroups, MaxGroupsPerHour: *maxGroupsHour, MaxRelations: *maxRelations,
		TokenAudience: *tokenAudience, TokenIssuer: *tokenIssuer, MaxTokenTTL: *maxTokenTTL, TokenLeeway: leeway,
	}
	applyOverload(&opts)
	applySessions(&opts)
	if err := applyUploads(&opts); err != nil {
		if store != nil {
			store.Close()
		}
		if bus != nil {
			bus.Close()
		}
		return badUsage(stderr, err)
	}
	stopTURN, err := startCalls(&opts)
	if err != nil {
		if store != nil {
			store.Close()
		}
		if bus != nil {
			bus.Close()
		}
		fmt.Fprintf(stderr, "parley-relay: %v\n", err)
		return 1
	}
	defer stopTURN()
	srv, err := relay.New(opts)
	if err != nil {
		if store != nil {
			store.Close()
		}
		if bus != nil {
			bus.Close()
		}
		fmt.Fprintf(stderr, "parley-relay: %v\n", err)
		return 1
	}
	x := extras{}
	if staticFS != nil {
		x.static = staticFS
	}
	if *devTokens {
		// The relay's own secret, resolved the way relay.New did.
		if x.devToken, err = relay.ResolveSecret(*secret, *data); err != nil {
			fmt.Fprintf(stderr, "parley-relay: %v\n", err)
			_ = srv.Shutdown(context.Background())
			return 1
		}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "parley-relay: %v\n", err)
		_ = srv.Shutdown(context.Background())
		return 1
	}
	var adminLn net.Listener
	if *adminAddr != "" {
		if adminLn, err = net.Listen("tcp", *adminAddr); err != nil {
			if e.set("admin-addr") {
				fmt.Fprintf(stderr, "parley-relay: admin listener: %v\n", err)
				ln.Close()
				_ = srv.Shutdown(context.Background())
				return 1
			}
			// The default address is taken, most likely by another relay
			// on this machine: run without metrics rather than not at all.
			log.Warn("admin listener not started: its default address is taken; set --admin-addr", "admin_addr", *adminAddr, "err", err)
			adminLn = nil
		}
	}
	fmt.Fprintf(stdout, "parley-relay listening on http://%s\n", ln.Addr())
	if adminLn != nil {
		fmt.Fprintf(stdout, "parley-relay admin on http://%s\n", adminLn.Addr())
	}
	log.Info("relay started", "addr", ln.Addr().String(), "data", *data, "store", redact(*storeURL), "bus", redact(*busURL), "version", versionString())
	if *devTokens && !isLoopback(*addr) {
		log.Warn("DEV TOKENS ON A PUBLIC ADDRESS: POST /dev/token signs anyone in as any user; never run this in production", "addr", ln.Addr().String())
	}
	if adminLn != nil && !isLoopback(*adminAddr) {
		log.Warn("the admin listener (metrics, profiler) is not on a loopback address: keep it off the internet", "admin_addr", adminLn.Addr().String())
	}

	served := make(chan error, 1)
	go func() { served <- srv.ServeHandler(ln, routes(srv.Handler(), x)) }()
	if adminLn != nil {
		// Few connections, from the operator: the relay's limits and
		// timeouts apply here too.
		go func() { _ = srv.ServeHandler(adminLn, adminRoutes(srv.AdminHandler(), *pprofOn)) }()
	}
	code := 0
	select {
	case <-ctx.Done():
		log.Info("draining")
	case err := <-served:
		log.Error("serve failed", "err", err)
		code = 1
	}
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	// Shutdown stops accepting first, then drains the WebSockets.
	if err := srv.Shutdown(sctx); err != nil {
		log.Error("shutdown", "err", err)
		code = 1
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) && code == 0 {
		log.Error("serve failed", "err", err)
		code = 1
	}
	log.Info("stopped")
	return code
}

func token(args []string, stdout, stderr io.Writer) int {
	e := newFlagSet("token", stderr)
	fs := e.fs
	user := fs.String("user", "", "user id the token is for (required)")
	secret := fs.String("secret", "", "HS256 secret (default: the relay's, from DATA/secret)")
	data := fs.String("data", "./parley-data", "relay data directory, for its secret")
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the token is valid")
	e.bind("secret", "PARLEY_SECRET")
	e.bind("data", "PARLEY_DATA")
	if err := e.parse(args); err != nil {
		return badUsage(stderr, err)
	}
	if *user == "" {
		return badUsage(stderr, errors.New("--user is required"))
	}
	if !proto.ValidName(*user) {
		return badUsage(stderr, fmt.Errorf("--user %q: 1 to %d characters of [A-Za-z0-9_.@-]", *user, proto.MaxNameBytes))
	}
	if *ttl <= 0 {
		return badUsage(stderr, fmt.Errorf("--ttl %s is not positive", *ttl))
	}
	key, err := relay.ResolveSecret(*secret, *data)
	if err != nil {
		fmt.Fprintf(stderr, "parley-relay: %v\n", err)
		return 1
	}
	tok, err := relay.MintToken(key, *user, *ttl, time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "parley-relay: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, tok)
	return 0
}

// errReported is a usage error already printed.
var errReported = errors.New("reported")

func badUsage(stderr io.Writer, err error) int {
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errReported):
		return 2
	}
	fmt.Fprintf(stderr, "parley-relay: %v\n", err)
	return 2
}

// nonZero maps a flag's 0 to "disabled" (-1): relay.Options reads 0 as
// "the default", a flag given as 0 means none.
func nonZero(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func goVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		return bi.GoVersion
	}
	return "go"
}

// sqliteParts is how the SQLite store is laid out: its directory, its
// partitions (--store-partitions) and its synchronous mode.
type sqliteParts struct {
	dir  string
	n    int
	sync string
}

// openBackends opens the store and bus that --store and --bus name. For the
// embedded defaults (sqlite of one partition, memory) both are nil and
// relay.New makes them.
func openBackends(ctx context.Context, storeURL, busURL string, natsOpts relay.NATSOptions, sq sqliteParts) (relay.Store, *relay.NATSBus, error) {
	var store relay.Store
	switch {
	case storeURL == "" || storeURL == "sqlite":
		// Partitions, or a data directory made with them: the count
		// recorded there must be the one asked for.
		recorded, err := relay.StorePartitionsRecorded(sq.dir)
		if err != nil {
			return nil, nil, err
		}
		if sq.n > 1 || recorded > 0 {
			if store, err = relay.OpenSQLitePartitions(sq.dir, sq.n, relay.SQLiteOptions{Synchronous: sq.sync}); err != nil {
				return nil, nil, err
			}
		}
	case strings.HasPrefix(storeURL, "postgres://"), strings.HasPrefix(storeURL, "postgresql://"):
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		pg, err := relay.NewPostgresStore(cctx, storeURL, relay.PostgresOptions{})
		cancel()
		if err != nil {
			return nil, nil, err
		}
		store = pg
	default:
		return nil, nil, fmt.Errorf("--store %q is neither sqlite nor a postgres:// URL", redact(storeURL))
	}
	switch {
	case busURL == "" || busURL == "memory":
		return store, nil, nil
	case strings.HasPrefix(busURL, "nats://"), strings.HasPrefix(busURL, "tls://"):
		bus, err := relay.NewNATSBus(busURL, natsOpts)
		if err != nil {
			if store != nil {
				store.Close()
			}
			return nil, nil, err
		}
		return store, bus, nil
	default:
		if store != nil {
			store.Close()
		}
		return nil, nil, fmt.Errorf("--bus %q is neither memory nor a nats:// URL", redact(busURL))
	}
}

// redact hides the password of a URL for logs.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}

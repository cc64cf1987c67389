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
	pprofOn := fs.Bool("pprof", false, "serve Go's profiler at /debug/pprof/ (keep off a public address)")
	devTokens := fs.Bool("dev-tokens", false, "DEMO ONLY: POST /dev/token?user=NAME mints a token for anyone")
	heartbeat := fs.Duration("heartbeat", 25*time.Second, "client ping interval; silent connections close after 2.5x")
	maxFrame := fs.Int("max-frame", proto.DefaultMaxFrame, "largest frame accepted, in bytes")
	rateLimit := fs.Float64("rate-limit", 200, "frames per second one connection may send; negative disables")
	rateBurst := fs.Int("rate-burst", 0, "frames one connection may send at once above the rate (default 2x rate-limit)")
	sendQueue := fs.Int("send-queue", 512, "frames queued per connection before it is closed as a slow consumer")
	synchronous := fs.String("synchronous", "FULL", "SQLite synchronous mode: FULL (durable across power loss) or NORMAL")
	storeURL := fs.String("store", "sqlite", "where messages are kept: sqlite (in --data) or a postgres://… URL shared by several relays")
	busURL := fs.String("bus", "memory", "fan-out between relays: memory (one relay) or a nats://… URL (comma-separated servers)")
	busPrefix := fs.String("bus-prefix", "parley", "NATS subject prefix, to share one NATS between deployments")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	for name, variable := range map[string]string{
		"store": "PARLEY_STORE", "bus": "PARLEY_BUS", "bus-prefix": "PARLEY_BUS_PREFIX",
		"addr": "PARLEY_ADDR", "data": "PARLEY_DATA", "secret": "PARLEY_SECRET", "origins": "PARLEY_ORIGINS",
		"static": "PARLEY_STATIC", "pprof": "PARLEY_PPROF", "dev-tokens": "PARLEY_DEV_TOKENS", "heartbeat": "PARLEY_HEARTBEAT", "max-frame": "PARLEY_MAX_FRAME",
		"rate-limit": "PARLEY_RATE_LIMIT", "rate-burst": "PARLEY_RATE_BURST", "send-queue": "PARLEY_SEND_QUEUE", "synchronous": "PARLEY_SYNCHRONOUS",
		"log-level": "PARLEY_LOG_LEVEL",
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
	if *heartbeat <= 0 {
		return badUsage(stderr, fmt.Errorf("--heartbeat %s is not positive", *heartbeat))
	}
	if *rateLimit == 0 {
		return badUsage(stderr, errors.New("--rate-limit 0 would refuse every frame; use a negative value to disable"))
	}
	sync := strings.ToUpper(*synchronous)
	if sync != "FULL" && sync != "NORMAL" {
		return badUsage(stderr, fmt.Errorf("--synchronous %q is not FULL or NORMAL", *synchronous))
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
	store, bus, err := openBackends(ctx, *storeURL, *busURL, *busPrefix, log)
	if err != nil {
		fmt.Fprintf(stderr, "parley-relay: %v\n", err)
		return 1
	}
	var fanout relay.Bus // nil, not a nil *NATSBus, selects the default
	if bus != nil {
		fanout = bus
	}
	srv, err := relay.New(relay.Options{
		Data: *data, Secret: *secret, Origins: splitList(*origins),
		Heartbeat: *heartbeat, MaxFrame: *maxFrame, RateLimit: *rateLimit, RateBurst: *rateBurst, SendQueue: *sendQueue,
		Synchronous: sync, Logger: log, Store: store, Bus: fanout,
	})
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
	x := extras{pprof: *pprofOn}
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
	fmt.Fprintf(stdout, "parley-relay listening on http://%s\n", ln.Addr())
	log.Info("relay started", "addr", ln.Addr().String(), "data", *data, "store", redact(*storeURL), "bus", redact(*busURL), "version", versionString())

	hs := &http.Server{
		Handler:           routes(srv.Handler(), x),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
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
	// Stop accepting first; the WebSockets already upgraded are the relay's,
	// which drains them.
	if err := hs.Shutdown(sctx); err != nil {
		log.Error("shutdown", "err", err)
		code = 1
	}
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

// openBackends opens the store and bus that --store and --bus name. For the
// embedded defaults (sqlite, memory) both are nil and relay.New makes them.
func openBackends(ctx context.Context, storeURL, busURL, prefix string, log *slog.Logger) (relay.Store, *relay.NATSBus, error) {
	var store relay.Store
	switch {
	case storeURL == "" || storeURL == "sqlite":
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
		bus, err := relay.NewNATSBus(busURL, relay.NATSOptions{Prefix: prefix, Logger: log})
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

package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/sperse/sperse/server"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

const usage = `usage: sperse-server --name NAME [--listen HOST:PORT] [--tag T]...
           [--token TOKEN | --token-file FILE] [--client-ca FILE] [--state-dir DIR]
           [--max-concurrency N] [--max-steps N] [--timeout D] [--grace D]
           [--module NAME=FILE.star]... [--sqlite NAME=PATH]... [--sqlite-rw]
           [--max-rows N] [--max-conns N] [--max-streams N]
           [--idle-timeout D] [--handshake-timeout D]
           [--cluster-key-file FILE [--gossip-listen HOST:PORT] [--join HOST:PORT[,HOST:PORT]...]]

Serves sperse clients over QUIC. Prints its address for clients
(HOST:PORT#sha256:FINGERPRINT) and, on first start, the token it generated.
SIGINT or SIGTERM shuts it down gracefully.

The server provides names beyond the builtins, which clients route cells
by: the public top-level names of each --module file (functions and
values; names starting with _ are private), and with --sqlite, the
function sql(NAME, query, *args) and each database NAME.

With --cluster-key-file, the server is a member of a cluster: it gossips
on --gossip-listen, joins the members at the --join gossip addresses (none:
it starts the cluster), and forwards work it cannot run to members that
can. Every member has the same key file (16 or more random bytes).

flags:
`

// options are the command line of sperse-server.
type options struct {
	listen         string
	name           string
	tags           stringList
	token          string
	tokenFile      string
	stateDir       string
	maxConcurrency int
	maxSteps       uint64
	timeout        time.Duration
	grace          time.Duration
	modules        []server.Module
	databases      []server.Database
	sqliteRW       bool
	maxRows        int
	clientCA       string
	limits         limits

	clusterKeyFile string
	gossipListen   string
	join           stringList
}

// limits are what one client may hold of the server.
type limits struct {
	maxConns         int
	maxStreams       int
	idleTimeout      time.Duration
	handshakeTimeout time.Duration
}

// stringList is a flag that may be repeated.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

func parseOptions(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("sperse-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.listen, "listen", "127.0.0.1:7700", "UDP `HOST:PORT` to listen on")
	fs.StringVar(&o.name, "name", "", "the server's `NAME` (required): what where() returns and remote@NAME selects")
	fs.Var(&o.tags, "tag", "a `TAG` clients may select the server by (remote@TAG); repeatable")
	fs.StringVar(&o.token, "token", "", "the client `TOKEN` (visible in the process list: prefer --token-file or SPERSE_TOKEN)")
	fs.StringVar(&o.tokenFile, "token-file", "", "`FILE` of client tokens, one a line, each optionally limited: TOKEN [tags=A,B] [provides=X,Y]")
	fs.StringVar(&o.clientCA, "client-ca", "", "PEM `FILE` of the CA whose client certificates the server requires, besides a token (mutual TLS)")
	fs.StringVar(&o.stateDir, "state-dir", "", "`DIR` for the certificate and generated token (default $XDG_STATE_HOME/sperse/server-NAME)")
	fs.IntVar(&o.maxConcurrency, "max-concurrency", runtime.NumCPU(), "evaluations run at once; more wait their turn")
	fs.Uint64Var(&o.maxSteps, "max-steps", server.DefaultMaxSteps, "Starlark steps one evaluation may take")
	fs.DurationVar(&o.timeout, "timeout", server.DefaultTimeout, "time one evaluation may take")
	fs.DurationVar(&o.grace, "grace", 30*time.Second, "on SIGINT or SIGTERM, time in-flight evaluations have to complete")
	fs.Func("module", "a Starlark `NAME=FILE` whose public top-level names the server provides; repeatable", func(v string) error {
		name, file, ok := strings.Cut(v, "=")
		if !ok || name == "" || file == "" {
			return fmt.Errorf("want NAME=FILE, got %q", v)
		}
		o.modules = append(o.modules, server.Module{Name: name, File: file})
		return nil
	})
	fs.Func("sqlite", "an SQLite database `NAME=PATH` that code queries with sql(NAME, query, *args); repeatable", func(v string) error {
		name, path, ok := strings.Cut(v, "=")
		if !ok || name == "" || path == "" {
			return fmt.Errorf("want NAME=PATH, got %q", v)
		}
		o.databases = append(o.databases, server.Database{Name: name, Path: path})
		return nil
	})
	fs.BoolVar(&o.sqliteRW, "sqlite-rw", false, "let code write to the --sqlite databases (default: read-only)")
	fs.IntVar(&o.maxRows, "max-rows", server.DefaultMaxRows, "rows one sql() call may return")
	fs.IntVar(&o.limits.maxConns, "max-conns", server.DefaultMaxConnections, "client connections open at once; more are turned away until one closes")
	fs.IntVar(&o.limits.maxStreams, "max-streams", server.DefaultMaxStreams, "evaluation streams one connection may have open at once")
	fs.DurationVar(&o.limits.idleTimeout, "idle-timeout", server.DefaultIdleTimeout, "close a connection on which nothing arrives for this long, stopping its evaluations")
	fs.DurationVar(&o.limits.handshakeTimeout, "handshake-timeout", server.DefaultHandshakeTimeout, "time a new connection has to complete its handshake")
	fs.StringVar(&o.clusterKeyFile, "cluster-key-file", "", "`FILE` holding the cluster's secret: makes the server a cluster member")
	fs.StringVar(&o.gossipListen, "gossip-listen", "127.0.0.1:7946", "`HOST:PORT` to gossip with the cluster on (UDP and TCP)")
	fs.Func("join", "gossip `HOST:PORT` of cluster members to join, comma-separated; repeatable", func(v string) error {
		for _, a := range strings.Split(v, ",") {
			if _, _, err := net.SplitHostPort(a); err != nil {
				return fmt.Errorf("want HOST:PORT, got %q", a)
			}
			o.join = append(o.join, a)
		}
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	for i := range o.databases {
		o.databases[i].Writable = o.sqliteRW
	}
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case o.name == "":
		return nil, errors.New("--name is required")
	case o.token != "" && o.tokenFile != "":
		return nil, errors.New("give --token or --token-file, not both")
	case o.maxConcurrency < 1:
		return nil, errors.New("--max-concurrency must be at least 1")
	case o.maxSteps < 1:
		return nil, errors.New("--max-steps must be at least 1")
	case o.timeout <= 0:
		return nil, errors.New("--timeout must be positive")
	case o.grace < 0:
		return nil, errors.New("--grace must not be negative")
	case o.maxRows < 1:
		return nil, errors.New("--max-rows must be at least 1")
	case o.limits.maxConns < 1:
		return nil, errors.New("--max-conns must be at least 1")
	case o.limits.maxStreams < 1:
		return nil, errors.New("--max-streams must be at least 1")
	case o.limits.idleTimeout <= 0:
		return nil, errors.New("--idle-timeout must be positive")
	case o.limits.handshakeTimeout <= 0:
		return nil, errors.New("--handshake-timeout must be positive")
	case o.sqliteRW && len(o.databases) == 0:
		return nil, errors.New("--sqlite-rw needs a --sqlite database")
	case len(o.join) > 0 && o.clusterKeyFile == "":
		return nil, errors.New("--join needs --cluster-key-file")
	}
	return o, nil
}

// run runs sperse-server with the command line args until ctx ends, and
// returns the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	o, err := parseOptions(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "sperse-server: %v\n", err)
		return exitUsage
	}
	if err := serve(ctx, o, getenv, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "sperse-server: %v\n", err)
		return exitFailed
	}
	return exitOK
}

// serve starts the server described by o, serves until ctx ends, and shuts
// it down.
func serve(ctx context.Context, o *options, getenv func(string) string, stdout, stderr io.Writer) error {
	stateDir := o.stateDir
	if stateDir == "" {
		dir, err := server.DefaultStateDir(o.name)
		if err != nil {
			return err
		}
		stateDir = dir
	}
	tokens, tokenNote, err := loadTokens(o, getenv, stateDir)
	if err != nil {
		return err
	}
	cert, err := server.LoadOrCreateCertificate(stateDir)
	if err != nil {
		return fmt.Errorf("certificate: %w", err)
	}
	var clientCAs *x509.CertPool
	if o.clientCA != "" {
		if clientCAs, err = server.LoadClientCAs(o.clientCA); err != nil {
			return err
		}
	}
	pc, err := net.ListenPacket("udp", o.listen)
	if err != nil {
		return err
	}
	defer pc.Close()
	var cluster *server.Cluster
	if o.clusterKeyFile != "" {
		secret, err := readClusterKey(o.clusterKeyFile)
		if err != nil {
			return err
		}
		cluster = &server.Cluster{Secret: secret, Gossip: o.gossipListen, Join: o.join, Advertise: clientAddress(pc.LocalAddr())}
	}
	srv, err := server.New(server.Config{
		Name:           o.name,
		Tags:           o.tags,
		ScopedTokens:   tokens,
		ClientCAs:      clientCAs,
		Certificate:    cert,
		MaxConcurrency: o.maxConcurrency,
		MaxSteps:       o.maxSteps,
		Timeout:        o.timeout,
		Modules:        o.modules,
		Databases:      o.databases,
		MaxRows:        o.maxRows,
		Logger:         slog.New(slog.NewTextHandler(stderr, nil)),
		Cluster:        cluster,
		StateDir:       stateDir,

		MaxConnections:   o.limits.maxConns,
		MaxStreams:       o.limits.maxStreams,
		IdleTimeout:      o.limits.idleTimeout,
		HandshakeTimeout: o.limits.handshakeTimeout,
	})
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(pc) }()

	addr := pc.LocalAddr().String()
	fmt.Fprintf(stdout, "sperse-server %s listening on %s fingerprint %s\n", o.name, addr, srv.Fingerprint())
	fmt.Fprintf(stdout, "address: %s#%s\n", clientAddress(pc.LocalAddr()), srv.Fingerprint())
	fmt.Fprintf(stdout, "%s\n", tokenNote)
	if names := srv.Provides(); len(names) > 0 {
		fmt.Fprintf(stdout, "provides: %s\n", strings.Join(names, ", "))
	}
	if cluster != nil {
		if err := srv.JoinCluster(ctx); err != nil {
			srv.Close()
			<-served
			return err
		}
		fmt.Fprintf(stdout, "gossip: %s\n", srv.GossipAddr())
	}

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	// A second signal cuts the grace period short.
	force, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	grace, cancel := context.WithTimeout(force, o.grace)
	defer cancel()
	if err := srv.Shutdown(grace); err != nil {
		fmt.Fprintf(stderr, "sperse-server: shutdown: %v: stopped evaluations still in flight\n", err)
	}
	if err := <-served; !errors.Is(err, server.ErrServerClosed) {
		return err
	}
	return nil
}

// loadTokens returns the client tokens, from --token, --token-file (where
// each may be scoped), SPERSE_TOKEN or the state directory, and a line
// saying where they are.
func loadTokens(o *options, getenv func(string) string, stateDir string) ([]server.Token, string, error) {
	switch {
	case o.token != "":
		return []server.Token{{Secret: o.token}}, "token: given with --token", nil
	case o.tokenFile != "":
		tokens, err := server.ReadTokenFile(o.tokenFile)
		if err != nil {
			return nil, "", err
		}
		scoped := 0
		for _, t := range tokens {
			if t.Tags != nil || t.Provides != nil {
				scoped++
			}
		}
		return tokens, fmt.Sprintf("tokens: %d from %s (%d scoped)", len(tokens), o.tokenFile, scoped), nil
	case getenv("SPERSE_TOKEN") != "":
		return []server.Token{{Secret: getenv("SPERSE_TOKEN")}}, "token: from SPERSE_TOKEN", nil
	}
	token, created, err := server.LoadOrCreateToken(stateDir)
	if err != nil {
		return nil, "", fmt.Errorf("token: %w", err)
	}
	path := filepath.Join(stateDir, server.TokenFile)
	if created {
		return []server.Token{{Secret: token}}, fmt.Sprintf("token: %s (new; shown only this once, kept in %s)", token, path), nil
	}
	return []server.Token{{Secret: token}}, fmt.Sprintf("token: kept in %s", path), nil
}

// clientAddress is the address clients should dial: the listening address,
// with this machine's name if it listens on every interface.
func clientAddress(a net.Addr) string {
	ua, ok := a.(*net.UDPAddr)
	if !ok || !ua.IP.IsUnspecified() {
		return a.String()
	}
	host, err := os.Hostname()
	if err != nil {
		return a.String()
	}
	return net.JoinHostPort(host, fmt.Sprint(ua.Port))
}

// readClusterKey reads the cluster's secret from path: its bytes, without
// surrounding white space (a key file written by hand or by openssl rand
// -hex ends with a newline).
func readClusterKey(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cluster key: %w", err)
	}
	key := bytes.TrimSpace(data)
	if len(key) < 16 {
		return nil, fmt.Errorf("cluster key %s: %d bytes, want at least 16 (for example: openssl rand -hex 32 > %s)", path, len(key), path)
	}
	return key, nil
}

// Package workspace wires a sperse workspace together for the commands: the
// reactive engine, the local interpreter, and the remote client connected to
// the servers given, or to evaluation servers embedded in this process.
//
// Embedded servers are real servers: they listen on loopback, speak QUIC,
// and the client reaches them exactly as it reaches any other, with their
// certificates pinned in memory (nothing is written to known_servers).
package workspace

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/reactive"
	"github.com/sperse/sperse/remote"
	"github.com/sperse/sperse/server"
)

// DefaultEmbedded is how many servers Start embeds when no server is given.
const DefaultEmbedded = 2

// Options says which servers a workspace uses.
type Options struct {
	Servers      []string     // addresses ("host:port" or "host:port#sha256:..."); none means embedded servers
	Token        string       // the token of Servers
	Embedded     int          // servers to embed when Servers is empty; 0 means DefaultEmbedded
	KnownServers string       // the trust-on-first-use file; "" means the default
	ClientCert   string       // a PEM certificate to present to servers that ask for one (mutual TLS), with ClientKey
	ClientKey    string       // the PEM private key of ClientCert
	Logger       *slog.Logger // nil discards logs

	// OnServers, if set, is called with a snapshot of the client's servers
	// each time they may have changed (a server connected, disconnected,
	// went away or reported its load), after stale cells were retried. It
	// is called from the client's goroutine, one call at a time; calls are
	// coalesced. It must not close the workspace.
	OnServers func([]remote.ServerInfo)
}

// Workspace is an engine and the client that evaluates its remote cells.
type Workspace struct {
	Engine *reactive.Engine
	Client *remote.Client
	Interp *lang.Interp

	embedded []*embedded
}

// embedded is a server running in this process.
type embedded struct {
	srv  *server.Server
	pc   net.PacketConn
	done chan error // Serve's result
}

// Start starts the embedded servers (if no server is given), connects the
// client to every server, and returns the workspace. A server that refuses
// the client or presents a wrong certificate is an error; a server that
// cannot be reached yet is not: the client keeps trying in the background
// and its cells wait (state unavailable) until it answers.
func Start(ctx context.Context, opts Options) (*Workspace, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cert, err := opts.clientCertificate()
	if err != nil {
		return nil, err
	}
	w := &Workspace{Interp: lang.NewInterp("local")}
	addrs, token := opts.Servers, opts.Token
	if len(addrs) == 0 {
		var err error
		if addrs, token, err = w.embed(opts.Embedded, logger); err != nil {
			w.stopEmbedded()
			return nil, err
		}
	}
	// The client tells the engine when a server connects or gets less busy,
	// so that cells waiting for one run; the engine is made after the client
	// it uses. Failed reconnections change nothing, so they retry nothing.
	var retry atomic.Pointer[reactive.Engine]
	var client atomic.Pointer[remote.Client]
	var seen serverSet
	w.Client = remote.NewClient(remote.ClientConfig{
		Token:        token,
		Certificate:  cert,
		KnownServers: opts.KnownServers,
		Interp:       w.Interp,
		Logger:       logger,
		OnChange: func() {
			c := client.Load()
			if c == nil {
				return
			}
			servers := c.Servers()
			if e := retry.Load(); e != nil && seen.update(servers) {
				e.RetryStale()
			}
			if opts.OnServers != nil {
				opts.OnServers(servers)
			}
		},
	})
	client.Store(w.Client)
	w.Interp.Remote = w.Client // calls of "remote def" functions and of on()
	w.Interp.Publisher = w.Client
	// pmap and mapreduce split their work across the servers (or run it
	// in-process while none is connected).
	w.Interp.Splitter = w.Client
	w.Engine = reactive.New(reactive.Config{
		Local:  reactive.Local{Interp: w.Interp},
		Remote: w.Client,
	})
	retry.Store(w.Engine)

	for _, addr := range addrs {
		if err := w.Client.Connect(ctx, addr); err != nil {
			if w.kept(addr) {
				logger.Warn("server not reachable yet; retrying in the background", "server", addr, "error", err)
				continue
			}
			w.Close()
			return nil, err
		}
	}
	// The servers connected by now are no news to cells defined from now on.
	seen.update(w.Client.Servers())
	return w, nil
}

// kept reports whether the client still tries to reach the server at addr
// after a failed Connect: the failure was the network's, not a refusal.
func (w *Workspace) kept(address string) bool {
	addr, _, _ := remote.SplitAddress(address)
	for _, s := range w.Client.Servers() {
		if s.Addr == addr && !s.GaveUp {
			return true
		}
	}
	return false
}

// embed starts n servers on loopback and returns their pinned addresses and
// the token they share.
func (w *Workspace) embed(n int, logger *slog.Logger) ([]string, string, error) {
	if n <= 0 {
		n = DefaultEmbedded
	}
	token, err := server.NewToken()
	if err != nil {
		return nil, "", err
	}
	var addrs []string
	for i := 1; i <= n; i++ {
		srv, err := server.New(server.Config{
			Name:   fmt.Sprintf("embedded-%d", i),
			Tags:   []string{"embedded"},
			Tokens: []string{token},
			Logger: logger.With("embedded", i),
		})
		if err != nil {
			return nil, "", err
		}
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, "", fmt.Errorf("embedded server: %w", err)
		}
		e := &embedded{srv: srv, pc: pc, done: make(chan error, 1)}
		go func() { e.done <- srv.Serve(pc) }()
		w.embedded = append(w.embedded, e)
		addrs = append(addrs, pc.LocalAddr().String()+"#"+srv.Fingerprint())
	}
	return addrs, token, nil
}

// Close stops the engine, closes the client, and shuts the embedded servers
// down. It waits for everything it started.
func (w *Workspace) Close() error {
	w.Engine.Close()
	err := w.Client.Close()
	w.stopEmbedded()
	return err
}

// stopEmbedded shuts the embedded servers down and waits for them.
func (w *Workspace) stopEmbedded() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, e := range w.embedded {
		if err := e.srv.Shutdown(ctx); err != nil {
			e.srv.Close()
		}
		<-e.done
		e.pc.Close()
	}
	w.embedded = nil
}

// serverSet is what the workspace last saw of its servers: the load of each
// one that could take work. It is safe for concurrent use.
type serverSet struct {
	mu   sync.Mutex
	load map[string]int
}

// update records servers and reports whether cells waiting for a server
// should try again: a server can take work that could not before, or one
// got less busy.
func (seen *serverSet) update(servers []remote.ServerInfo) bool {
	now := map[string]int{}
	better := false
	seen.mu.Lock()
	defer seen.mu.Unlock()
	for _, s := range servers {
		if !s.Connected || s.GoingAway {
			continue
		}
		load := s.InFlight + s.Queued
		now[s.Name] = load
		if before, ok := seen.load[s.Name]; !ok || load < before {
			better = true
		}
	}
	seen.load = now
	return better
}

// AddFlags defines the flags that choose a workspace's servers on fs,
// --server (repeatable), --token, --client-cert, --client-key and --local,
// setting o's fields. The help of each begins with prefix (for flags that
// apply only with another). The token's default, $SPERSE_TOKEN, is set in
// o.Token at once, and never shown in the help.
func (o *Options) AddFlags(fs *flag.FlagSet, prefix string) {
	fs.Var((*listFlag)(&o.Servers), "server", prefix+"evaluation server `HOST:PORT` or HOST:PORT#sha256:FINGERPRINT (repeatable); none means embedded servers")
	o.Token = os.Getenv("SPERSE_TOKEN")
	fs.Var((*secretFlag)(&o.Token), "token", prefix+"the servers' `TOKEN` (default $SPERSE_TOKEN)")
	fs.StringVar(&o.ClientCert, "client-cert", "", prefix+"PEM `FILE` of a client certificate, for servers that require one (mutual TLS); with --client-key")
	fs.StringVar(&o.ClientKey, "client-key", "", prefix+"PEM `FILE` of the private key of --client-cert")
	fs.IntVar(&o.Embedded, "local", DefaultEmbedded, prefix+"embedded servers to start when no --server is given")
}

// clientCertificate loads o's client certificate, or returns nil if it has
// none.
func (o *Options) clientCertificate() (*tls.Certificate, error) {
	switch {
	case o.ClientCert == "" && o.ClientKey == "":
		return nil, nil
	case o.ClientCert == "":
		return nil, errors.New("--client-key needs --client-cert")
	case o.ClientKey == "":
		return nil, errors.New("--client-cert needs --client-key")
	}
	cert, err := tls.LoadX509KeyPair(o.ClientCert, o.ClientKey)
	if err != nil {
		return nil, fmt.Errorf("client certificate %s (key %s): %w", o.ClientCert, o.ClientKey, err)
	}
	return &cert, nil
}

// secretFlag is a string flag whose value never shows in the help (its
// String is empty).
type secretFlag string

func (f *secretFlag) String() string     { return "" }
func (f *secretFlag) Set(s string) error { *f = secretFlag(s); return nil }

// Valid reports whether o's flags make sense: at least one server to embed.
func (o *Options) Valid() bool { return o.Embedded >= 1 }

// listFlag is a flag that may be given more than once.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

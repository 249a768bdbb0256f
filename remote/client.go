package remote

import (
	"bufio"
	"cmp"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/sperse/sperse/lang"
)

// Timings of a client's connections.
const (
	pingInterval     = time.Second          // a Ping on every control stream this often
	pongTimeout      = 4 * time.Second      // a server that answers no Ping for this long is lost
	noPongs          = "no answer to pings" // the reason a connection is closed after pongTimeout
	idleTimeout      = 10 * time.Second     // a connection with no packet for this long is lost
	keepAlivePeriod  = 2 * time.Second      // QUIC keep-alive packets this often
	handshakeTimeout = 10 * time.Second     // dialing plus Hello/Welcome, per attempt
	minBackoff       = 100 * time.Millisecond
	maxBackoff       = 5 * time.Second

	// maxControlMessage bounds the frames of the control stream (Welcome
	// with its lists of tags and provided names is the largest).
	maxControlMessage = 1 << 20
)

// ClientConfig configures a Client.
type ClientConfig struct {
	// Token is sent in Hello to every server.
	Token string

	// Certificate, if not nil, is presented to servers that ask for a
	// client certificate (mutual TLS: a server started with --client-ca).
	// A server that requires one refuses a client without it, or with one
	// its CA did not sign: Connect's error says so, and the client does not
	// retry.
	Certificate *tls.Certificate

	// KnownServers is the path of the trust-on-first-use file (see
	// KnownServers); "" means DefaultKnownServersPath. It is read and
	// written only for addresses that pin no fingerprint.
	KnownServers string

	// Interp is the client's interpreter: results, functions too, are
	// decoded with its builtins and Provided names, but never with its
	// Splitter or Remote, and with a small step limit: decoding a function
	// evaluates its default values, code the server chose, which must not
	// reach any server. Nil means lang.NewInterp("local").
	Interp *lang.Interp

	// Name is how the client introduces itself in Hello, for the servers'
	// logs; "" means "sperse on HOSTNAME".
	Name string

	// Logger receives connections, losses and trust decisions; nil discards them.
	Logger *slog.Logger

	// OnChange is called when a server connects, disconnects, is going away
	// or reports a change of load. The embedder uses it to run stale cells
	// again and redraw (reactive.Engine.RetryStale). It is called from a
	// goroutine of the client, never under the client's lock and never
	// twice at once; calls are coalesced, so one call may stand for several
	// changes. It may call the client's methods, except Close.
	OnChange func()
}

// Client evaluates remote cells on servers over QUIC. It keeps one
// connection to each server added with Connect, watches it (Ping every
// second, Status, GoAway) and reconnects when it is lost; Eval routes each
// evaluation to the least loaded connected server that can run it.
//
// A Client is safe for concurrent use. Close closes every connection and
// waits for every goroutine the client started; it must be called.
type Client struct {
	cfg   ClientConfig
	log   *slog.Logger
	known *KnownServers // nil if there is no default path (knownErr says why)

	knownErr error
	hello    string       // the client's name in Hello
	decoder  *lang.Interp // decodes results (see newDecoder)

	ctx    context.Context // done on Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine of the client
	notify chan struct{}  // holds one pending OnChange

	mu       sync.Mutex
	closed   bool
	servers  []*server       // in order of Connect
	learning map[string]bool // addresses of members being connected to, or that refused the client (see members)
}

// server is one server added with Connect. Its fields after cancel are
// guarded by Client.mu.
type server struct {
	addr   string          // HOST:PORT, normalized
	pin    string          // the fingerprint pinned in the address, or ""
	ctx    context.Context // done on Disconnect or Close
	cancel context.CancelFunc

	name      string   // from Welcome; the address until the first
	fp        string   // the fingerprint of the certificate last seen
	welcome   Welcome  // the last Welcome
	sess      *session // the live connection; nil while disconnected
	goingAway bool
	status    Status
	ours      int           // evaluations of this client in flight there
	rtt       time.Duration // smoothed round-trip time
	lastErr   error
	stopped   bool // gave up: refused, or a certificate problem

	advertised chan struct{} // if not nil, closed at the next Update (see awaitAdvert)

	via     string   // the server whose Members listed it, if it was learned so; "" if added with Connect
	members []Member // the cluster as the server last listed it (Members)

	values knownValues // the big values it keeps, as far as the client knows (cache.go)
}

// session is one connection to a server, after its handshake.
type session struct {
	conn       *quic.Conn
	ctrl       *quic.Stream
	br         *bufio.Reader // reads ctrl
	welcome    Welcome
	fp         string
	maxMessage int
	rtt        time.Duration // Hello to Welcome

	writeMu sync.Mutex // serializes writes on ctrl

	idleMu sync.Mutex
	idle   []*evalStream // evaluation streams open and unused, at most maxIdleStreams

	nextID atomic.Uint64 // the last Eval.ID given

	evals   atomic.Int64 // the evaluations in flight
	callMu  sync.Mutex
	calls   *callStream   // the call stream, once opened
	nextTag atomic.Uint64 // the last Call's Tag

	pingMu   sync.Mutex
	pingSeq  uint64
	pingSent time.Time
	lastPong time.Time // of the last Pong; the handshake's end before the first
}

// ServerInfo is a snapshot of a server known to a Client.
type ServerInfo struct {
	Name        string   // from the server's Welcome; its address until the first handshake
	Addr        string   // HOST:PORT
	Fingerprint string   // of the certificate last presented; "" if none yet
	Pinned      bool     // the fingerprint was pinned in the address given to Connect
	Tags        []string // from Welcome
	Provides    []string // from Welcome
	Limits      Limits   // from Welcome

	// Signatures are those of the published functions among Provides, from
	// Welcome (or the last Update).
	Signatures map[string]Signature

	Connected bool
	GoingAway bool          // the server said GoAway: no new work is sent to it
	RTT       time.Duration // smoothed round-trip time of Ping and Pong; 0 before the first sample

	InFlight       int // evaluations running on the server, as it last reported (all its clients)
	Queued         int // evaluations waiting for a slot there, as it last reported
	ClientInFlight int // evaluations of this client in flight there

	LastError error // why it last disconnected or failed to connect; nil while connected
	GaveUp    bool  // the client stopped reconnecting (refused, or a certificate problem); Connect again to retry

	Via     string   // the cluster member that made it known, if the client learned of it so (see Members)
	Members []string // the names of the members of its cluster, itself included, as it last listed them
}

// NewClient returns a client with no servers. Add servers with Connect.
func NewClient(cfg ClientConfig) *Client {
	if cfg.Interp == nil {
		cfg.Interp = lang.NewInterp("local")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Client{cfg: cfg, log: log, notify: make(chan struct{}, 1), hello: cfg.Name, decoder: newDecoder(cfg.Interp), learning: map[string]bool{}}
	if c.hello == "" {
		host, _ := os.Hostname()
		c.hello = "sperse on " + cmp.Or(host, "unknown host")
	}
	path := cfg.KnownServers
	if path == "" {
		path, c.knownErr = DefaultKnownServersPath()
	}
	if c.knownErr == nil {
		c.known = NewKnownServers(path)
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.wg.Add(1)
	go c.notifier()
	return c
}

// decodeMaxSteps bounds the Starlark steps of decoding one function of a
// result: evaluating its default values (see newDecoder).
const decodeMaxSteps = 100_000

// newDecoder returns the interpreter the client decodes results in: in,
// the client's interpreter, with no Splitter, no Remote and a step limit of
// decodeMaxSteps. Decoding a function evaluates its default values (as a
// def statement does), code the server chose: it must not reach a server
// (this one or another, with this client's token) and must not run long.
// Here pmap runs in process and a pinned function in place, hermetic. The
// functions decoded are the same as in's would be: a builtin they call
// later takes its place, its splitter and its caller from the evaluation
// that calls it.
func newDecoder(in *lang.Interp) *lang.Interp {
	return &lang.Interp{Where: in.Where, MaxSteps: decodeMaxSteps, Provided: in.Provided}
}

// notifier calls OnChange, once for any number of changes since its last call.
func (c *Client) notifier() {
	defer c.wg.Done()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.notify:
			if c.cfg.OnChange != nil {
				c.cfg.OnChange()
			}
		}
	}
}

// changed asks for a call of OnChange.
func (c *Client) changed() {
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// Connect adds the server at address, "HOST:PORT" or
// "HOST:PORT#sha256:FINGERPRINT", and returns after the first attempt to
// connect to it.
//
// The server's certificate must have the pinned fingerprint if the address
// has one; otherwise it is trusted on first use and must then stay the same
// (see KnownServers). A certificate problem, or a server that refuses the
// client (a bad token: a *ServerError with CodeUnauthorized; another protocol
// version: CodeVersion), is returned as an error and the server is not kept.
// A server that answers that it is shutting down counts as unreachable.
//
// If the server cannot be reached (a network failure, or no handshake within
// the attempt's own time limit of some seconds), Connect returns that error
// (a *ServerError with CodeDisconnected) but KEEPS the server: the client
// keeps trying in the background, as after a lost connection, and calls
// OnChange when it connects; Disconnect removes it. If ctx ends before the
// attempt does, the server is not kept.
//
// Connecting to an address already added does nothing and returns nil,
// unless the client gave up on it (refused, or a certificate problem) or the
// address pins another fingerprint: then Connect tries afresh and, if it
// succeeds, replaces the server.
func (c *Client) Connect(ctx context.Context, address string) error {
	return c.connect(ctx, address, "")
}

// connect is Connect, for a server learned from the Members of server via
// (or given, if via is "").
func (c *Client) connect(ctx context.Context, address, via string) error {
	addr, pin, err := SplitAddress(address)
	if err != nil {
		return err
	}
	if addr, err = NormalizeAddr(addr); err != nil {
		return err
	}
	if pin == "" && c.known == nil {
		return fmt.Errorf("server %s: no fingerprint pinned and no known servers file: %w", addr, c.knownErr)
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClientClosed
	}
	if s := c.findLocked(addr); s != nil && !s.replacedBy(pin) {
		if via == "" {
			s.via = "" // given now: kept when the cluster forgets it
		}
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()

	s := &server{addr: addr, pin: pin, name: addr, via: via}
	s.ctx, s.cancel = context.WithCancel(c.ctx)
	dctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.ctx, cancel)
	sess, permanent, err := c.dial(dctx, s)
	stop()
	cancel()
	if err != nil && (permanent || ctx.Err() != nil || c.ctx.Err() != nil) {
		s.cancel()
		if c.ctx.Err() != nil {
			return ErrClientClosed
		}
		return err
	}

	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		s.cancel()
		if sess != nil {
			sess.conn.CloseWithError(ConnClosed, "client closed")
		}
		return ErrClientClosed
	}
	if other := c.findLocked(addr); other != nil {
		if !other.replacedBy(pin) { // a concurrent Connect won
			c.mu.Unlock()
			s.cancel()
			if sess != nil {
				sess.conn.CloseWithError(ConnClosed, "duplicate connection")
			}
			return nil
		}
		c.removeLocked(other)
	}
	if sess != nil {
		c.connectedLocked(s, sess)
	} else {
		s.lastErr = err
	}
	c.servers = append(c.servers, s)
	c.wg.Add(1)
	go c.run(s, sess)
	c.mu.Unlock()
	c.changed()
	if err != nil {
		c.log.Warn("server unreachable; will keep trying", "server", addr, "err", err)
		return err
	}
	c.log.Info("connected", "server", s.name, "addr", addr, "fingerprint", sess.fp)
	return nil
}

// findLocked returns the server with address addr, or nil.
func (c *Client) findLocked(addr string) *server {
	for _, s := range c.servers {
		if s.addr == addr {
			return s
		}
	}
	return nil
}

// replacedBy reports whether Connect with the given pin replaces s (the
// caller holds Client.mu).
func (s *server) replacedBy(pin string) bool {
	return s.stopped || pin != "" && pin != s.pin
}

// removeLocked removes s from the servers and stops it.
func (c *Client) removeLocked(s *server) {
	c.servers = slices.DeleteFunc(c.servers, func(x *server) bool { return x == s })
	s.cancel()
}

// connectedLocked records that s is connected through sess.
func (c *Client) connectedLocked(s *server, sess *session) {
	s.sess = sess
	s.welcome = sess.welcome
	s.name = cmp.Or(sess.welcome.Name, s.addr)
	s.fp = sess.fp
	s.goingAway = false
	s.status = Status{}
	s.rtt = sess.rtt
	s.lastErr = nil
	for _, o := range c.servers {
		if o != s && o.name == s.name {
			c.log.Warn("two servers have the same name: selectors and Disconnect by name see both", "name", s.name, "addr", s.addr, "other", o.addr)
		}
	}
}

// Disconnect closes the connection to the server with the given name (or
// address) and forgets it. Its evaluations in flight fail as lost (their
// errors' ServerLost is true). It reports whether there was such a server.
func (c *Client) Disconnect(name string) bool {
	c.mu.Lock()
	var found *server
	for _, s := range c.servers {
		if s.name == name || s.addr == name {
			found = s
			break
		}
	}
	if found != nil {
		c.removeLocked(found)
	}
	c.mu.Unlock()
	if found != nil {
		c.log.Info("disconnected", "server", found.name, "addr", found.addr)
		c.changed()
	}
	return found != nil
}

// Close closes every connection, stops reconnecting and waits for every
// goroutine of the client. Evaluations in flight fail as lost. Close is
// idempotent; it must not be called from OnChange.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	return nil
}

// Servers returns a snapshot of the servers, in the order they were added.
func (c *Client) Servers() []ServerInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	infos := make([]ServerInfo, 0, len(c.servers))
	for _, s := range c.servers {
		infos = append(infos, ServerInfo{
			Name:           s.name,
			Addr:           s.addr,
			Fingerprint:    s.fp,
			Pinned:         s.pin != "",
			Tags:           slices.Clone(s.welcome.Tags),
			Provides:       slices.Clone(s.welcome.Provides),
			Signatures:     maps.Clone(s.welcome.Signatures),
			Limits:         s.welcome.Limits,
			Connected:      s.sess != nil,
			GoingAway:      s.goingAway,
			RTT:            s.rtt,
			InFlight:       s.status.InFlight,
			Queued:         s.status.Queued,
			ClientInFlight: s.ours,
			LastError:      s.lastErr,
			GaveUp:         s.stopped,
			Via:            s.via,
			Members:        memberNames(s.members),
		})
	}
	return infos
}

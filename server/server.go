package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/remote"
)

// ErrServerClosed is returned by Serve and ListenAndServe after Shutdown or
// Close.
var ErrServerClosed = errors.New("server closed")

// Timings of the protocol.
const (
	// refuseLinger is how long a refused client has to read Refused before
	// the server closes the connection (it normally closes it itself).
	refuseLinger = time.Second
	// evalReadTimeout bounds how long a client may take to send an Eval once
	// its first byte has arrived (an idle stream waits for it indefinitely).
	evalReadTimeout = 30 * time.Second
	// streamBufferSize is the size of the buffered reader of an evaluation
	// stream (a larger Eval is read through it).
	streamBufferSize = 512
	// resultWriteTimeout bounds how long sending a Result may take (a client
	// that stops reading).
	resultWriteTimeout = 2 * time.Minute
	// statusInterval is the least time between two Status messages.
	statusInterval = 100 * time.Millisecond
	// minDrain and maxDrain bound how long Shutdown leaves a connection open
	// after its last result, for the client to read it, when the client does
	// not close the connection itself.
	minDrain = time.Second
	maxDrain = 5 * time.Second
)

// maxControlMessage is the largest frame accepted on a control stream.
const maxControlMessage = 64 << 10

// A Server evaluates cells for the clients that connect to it. Create one
// with New; its methods are safe to call from any goroutine, except that
// Shutdown and Close must not be called from code the server runs.
type Server struct {
	cfg         Config
	log         *slog.Logger
	interp      *lang.Interp
	access      *access // the tokens and what each allows; failed authentications
	tlsConf     *tls.Config
	quicConf    *quic.Config
	fingerprint string
	provided    *provisions
	provides    []string // the static provided names, sorted (see Provides)
	limiter     *limiter
	errTimeout  error // the cause of an evaluation's context at its time limit

	wg          sync.WaitGroup // every goroutine the server starts
	loadChanged chan struct{}  // the limiter's load changed (capacity 1)
	stop        chan struct{}  // closed when the server starts closing connections
	done        chan struct{}  // closed when the server has closed and wg is done
	statusOnce  sync.Once
	closeOnce   sync.Once

	mu           sync.Mutex
	listeners    map[*listener]struct{}
	conns        map[*conn]struct{}
	shuttingDown bool          // Shutdown or Close was called: no new connections or evaluations
	evals        int           // evaluations accepted and not yet answered
	idle         chan struct{} // closed when evals drops to 0, if Shutdown waits for it
	status       remote.Status // the last Status broadcast
	cluster      *cluster      // set by JoinCluster

	busy        busyLog                                // connections refused at MaxConnections
	values      valueCache                             // big values of jobs, by content (cache.go)
	streams     atomic.Int64                           // evaluation streams accepted, for tests
	testHookRun func(ctx context.Context, name string) // called before each evaluation runs, in tests

	// Published functions (published.go).
	pub       *pubStore
	refreshMu sync.Mutex // serializes refreshPublished
	// onPublish, if not nil, is called with the document of each name
	// changed here (encoded as mergePublished takes it), after the change:
	// the cluster spreads it. Set it under mu.
	onPublish func(doc []byte)
}

// listener is one Serve's QUIC transport and listener.
type listener struct {
	tr *quic.Transport
	ln *quic.Listener
}

// New returns a server with the given configuration, ready to Serve. It
// fails if the configuration is incomplete (see Config), or a module or a
// database cannot be loaded. Close releases the databases, whether or not
// the server served.
func New(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if len(cfg.Certificate.Certificate) == 0 {
		if cfg.Certificate, err = GenerateCertificate(); err != nil {
			return nil, err
		}
	}
	fp, err := fingerprint(cfg.Certificate)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger.With("server", cfg.Name)
	prov, err := newProvisions(&cfg, log)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		log:      log,
		interp:   &lang.Interp{Where: cfg.Name, MaxSteps: cfg.MaxSteps, Provided: prov.env},
		values:   valueCache{limit: cfg.ValueCache},
		provided: prov,
		provides: prov.names(),
		tlsConf: &tls.Config{
			Certificates: []tls.Certificate{cfg.Certificate},
			NextProtos:   []string{remote.ALPN},
			MinVersion:   tls.VersionTLS13,
		},
		quicConf:    quicConfig(&cfg),
		fingerprint: fp,
		errTimeout:  fmt.Errorf("stopped after %s: the server's time limit per evaluation", cfg.Timeout),
		loadChanged: make(chan struct{}, 1),
		stop:        make(chan struct{}),
		done:        make(chan struct{}),
		listeners:   make(map[*listener]struct{}),
		conns:       make(map[*conn]struct{}),
	}
	if cfg.Cluster != nil {
		s.interp.Remote = (*hopper)(s)
	}
	s.interp.Publisher = (*publisher)(s)
	s.limiter = newLimiter(cfg.MaxConcurrency, cfg.MaxQueue, s.notifyLoad)
	if s.access, err = newAccess(s); err != nil {
		prov.close()
		return nil, err
	}
	if cfg.ClientCAs != nil {
		s.requireClientCertificates()
	}
	if err := s.openPublished(); err != nil {
		prov.close()
		return nil, err
	}
	return s, nil
}

// Fingerprint returns the fingerprint of the server's certificate, which
// clients pin: "sha256:..." (see remote.Fingerprint).
func (s *Server) Fingerprint() string { return s.fingerprint }

// Provides returns the names the server provides beyond the builtins,
// sorted: what it advertises in Welcome to a client whose token has no
// scope. The published functions among them change (see publish).
func (s *Server) Provides() []string { return slices.Clone(s.access.full.current().provides) }

// Addr returns the address the server listens on, or nil if it is not
// serving. With several Serves at once, it is one of their addresses.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	for l := range s.listeners {
		return l.ln.Addr()
	}
	return nil
}

// ListenAndServe listens on the UDP address addr ("host:port") and serves
// it (see Serve), closing the socket when it returns.
func (s *Server) ListenAndServe(addr string) error {
	if s.closing() {
		return ErrServerClosed
	}
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return err
	}
	defer pc.Close()
	return s.Serve(pc)
}

// Serve accepts QUIC connections on pc and serves them. It returns
// ErrServerClosed once the server is closed by Shutdown or Close and every
// connection is closed; any other error is one from the network. Serve does
// not close pc; the caller closes it after Serve returns. For an embedded
// server, listen on 127.0.0.1:0 first and take the address from
// pc.LocalAddr().
func (s *Server) Serve(pc net.PacketConn) error {
	tr := &quic.Transport{Conn: pc}
	ln, err := tr.Listen(s.tlsConf, s.quicConf)
	if err != nil {
		tr.Close()
		return fmt.Errorf("listen: %w", err)
	}
	l := &listener{tr: tr, ln: ln}
	s.mu.Lock()
	if s.shuttingDown {
		s.mu.Unlock()
		ln.Close()
		tr.Close()
		<-s.done
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.statusOnce.Do(func() { s.wg.Go(s.statusLoop) })
	s.mu.Unlock()
	s.log.Info("listening", "addr", ln.Addr().String(), "fingerprint", s.fingerprint)

	for {
		qc, err := ln.Accept(context.Background())
		if err != nil {
			if s.closing() {
				<-s.done // closeAll closes the listener and the transport
				return ErrServerClosed
			}
			s.mu.Lock()
			delete(s.listeners, l)
			s.mu.Unlock()
			ln.Close()
			tr.Close()
			return fmt.Errorf("accept: %w", err)
		}
		c := newConn(s, qc)
		s.mu.Lock()
		if s.shuttingDown {
			s.mu.Unlock()
			qc.CloseWithError(remote.ConnShutdown, fmt.Sprintf("server %s is shutting down", s.cfg.Name))
			continue
		}
		if len(s.conns) >= s.cfg.MaxConnections {
			s.mu.Unlock()
			s.refuseBusy(qc)
			continue
		}
		s.conns[c] = struct{}{}
		c.setStatus(s.status)
		s.wg.Go(func() { s.serveConn(c) })
		s.mu.Unlock()
	}
}

// closing reports whether Shutdown or Close was called.
func (s *Server) closing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shuttingDown
}

// Shutdown shuts the server down gracefully: it stops accepting connections
// and evaluations (a new evaluation stream is answered CodeShutdown), sends
// GoAway to every client, waits for the evaluations in flight (queued ones
// included) to complete and their results to reach the clients, and then
// closes every connection with remote.ConnShutdown. A client that has its
// results and closes its connection lets Shutdown finish at once; otherwise
// the server gives it a short time (a second or a few round trips) to read
// its last result. If ctx ends first, Shutdown closes everything as Close
// does and returns ctx's error. Calling it again, or with Close, is safe.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	first := !s.shuttingDown
	s.shuttingDown = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	var idle chan struct{}
	if s.evals > 0 {
		if s.idle == nil {
			s.idle = make(chan struct{})
		}
		idle = s.idle
	}
	for l := range s.listeners {
		l.ln.Close()
	}
	s.mu.Unlock()
	if first {
		st := s.limiter.status()
		s.log.Info("shutting down", "connections", len(conns), "running", st.InFlight, "queued", st.Queued)
	}
	for _, c := range conns {
		c.sendGoAway()
	}
	if idle != nil {
		select {
		case <-idle:
		case <-s.done:
			return nil
		case <-ctx.Done():
			s.closeAll()
			return ctx.Err()
		}
	}
	for _, c := range conns {
		if err := c.drain(ctx, s.done); err != nil {
			s.closeAll()
			return err
		}
	}
	s.closeAll()
	return nil
}

// Close closes the server at once: it stops accepting, stops every
// evaluation, closes every connection with remote.ConnShutdown, and waits
// for the server's goroutines to end. Calling it again, or with Shutdown,
// is safe.
func (s *Server) Close() error {
	s.closeAll()
	return nil
}

// closeAll is the one close path: it closes listeners and connections,
// waits for every goroutine, then closes the transports.
func (s *Server) closeAll() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.shuttingDown = true
		var listeners []*listener
		for l := range s.listeners {
			listeners = append(listeners, l)
		}
		var conns []*conn
		for c := range s.conns {
			conns = append(conns, c)
		}
		cl := s.cluster
		s.mu.Unlock()
		for _, l := range listeners {
			l.ln.Close()
		}
		close(s.stop)
		reason := fmt.Sprintf("server %s shut down", s.cfg.Name)
		for _, c := range conns {
			c.qc.CloseWithError(remote.ConnShutdown, reason)
		}
		if cl != nil {
			cl.leave() // forwarded evaluations end with the peer connections
		}
		s.wg.Wait()
		for _, l := range listeners {
			l.tr.Close()
		}
		s.provided.close()
		s.pub.close()
		s.log.Info("closed")
		close(s.done)
	})
}

// beginEval counts an evaluation stream in, unless the server is shutting
// down.
func (s *Server) beginEval() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shuttingDown {
		return false
	}
	s.evals++
	return true
}

// holdEval counts in an answer that is not an evaluation (a refusal), so
// that Shutdown waits for it to be sent as it does for evaluations.
func (s *Server) holdEval() {
	s.mu.Lock()
	s.evals++
	s.mu.Unlock()
}

// endEval counts an evaluation stream out, once it is answered.
func (s *Server) endEval() { s.endEvals(1) }

// endEvals counts n evaluations out, once they are answered.
func (s *Server) endEvals(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.evals -= n
	if s.evals == 0 && s.idle != nil {
		close(s.idle)
		s.idle = nil
	}
}

// removeConn forgets c once it is closed.
func (s *Server) removeConn(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// notifyLoad records that the load changed; statusLoop tells the clients.
func (s *Server) notifyLoad() {
	select {
	case s.loadChanged <- struct{}{}:
	default:
	}
}

// statusLoop sends Status to every client when the load changes, at most
// once every statusInterval, until the server closes.
func (s *Server) statusLoop() {
	timer := time.NewTimer(statusInterval)
	defer timer.Stop()
	for {
		select {
		case <-s.loadChanged:
		case <-s.stop:
			return
		}
		st := s.limiter.status()
		s.mu.Lock()
		if st != s.status {
			s.status = st
			for c := range s.conns {
				c.setStatus(st)
			}
		}
		s.mu.Unlock()
		timer.Reset(statusInterval)
		select {
		case <-timer.C:
		case <-s.stop:
			return
		}
	}
}

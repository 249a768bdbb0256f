package server

import (
	"fmt"
	"sync"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/sperse/sperse/remote"
)

// What a client may hold of a server: connections, streams, and time. A
// client that opens connections or streams and sends nothing holds each for
// a bounded time, and never more than these limits, so that the server keeps
// serving the others.
const (
	// DefaultMaxConnections is the default of Config.MaxConnections.
	DefaultMaxConnections = 1024

	// DefaultMaxStreams is the default of Config.MaxStreams: more
	// evaluations in flight than a server of some dozens of cores runs and
	// queues for one client.
	DefaultMaxStreams = 256

	// DefaultHandshakeTimeout is the default of Config.HandshakeTimeout.
	DefaultHandshakeTimeout = 10 * time.Second

	// DefaultIdleTimeout is the default of Config.IdleTimeout: a client
	// that vanishes mid-evaluation holds its slots this long at most.
	DefaultIdleTimeout = 10 * time.Second

	// busyLogInterval is the least time between two log records of
	// connections refused at the connection limit.
	busyLogInterval = time.Second
)

// limitDefaults fills in the defaults of the limits of c.
func (c *Config) limitDefaults() error {
	switch {
	case c.MaxConnections < 0:
		return fmt.Errorf("MaxConnections %d is negative", c.MaxConnections)
	case c.MaxStreams < 0:
		return fmt.Errorf("MaxStreams %d is negative", c.MaxStreams)
	case c.HandshakeTimeout < 0:
		return fmt.Errorf("HandshakeTimeout %s is negative", c.HandshakeTimeout)
	case c.IdleTimeout < 0:
		return fmt.Errorf("IdleTimeout %s is negative", c.IdleTimeout)
	}
	if c.MaxConnections == 0 {
		c.MaxConnections = DefaultMaxConnections
	}
	if c.MaxStreams == 0 {
		c.MaxStreams = DefaultMaxStreams
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	return nil
}

// quicConfig returns the QUIC configuration of a server with the limits of
// c: the idle timeout, and the streams one connection may open (its
// evaluation streams and its control stream). Clients open no
// unidirectional streams.
//
// The server sends no keep-alives: the client keeps its connection alive
// (sperse's client pings every second, and its QUIC stack sends
// keep-alives). A keep-alive of the server's would keep a client that sends
// nothing connected forever, since its QUIC stack acknowledges it.
func quicConfig(c *Config) *quic.Config {
	return &quic.Config{
		HandshakeIdleTimeout:  c.HandshakeTimeout / 2, // quic-go allows twice this for the whole handshake
		MaxIdleTimeout:        c.IdleTimeout,
		MaxIncomingStreams:    int64(c.MaxStreams) + 1,
		MaxIncomingUniStreams: -1,
	}
}

// busyLog logs the connections refused at the connection limit: the first at
// once, then at most one record every busyLogInterval with the count since,
// so that a flood of connections does not flood the log.
type busyLog struct {
	mu      sync.Mutex
	last    time.Time // of the last record
	refused int       // refused since the last record
}

// refuseBusy closes qc, a connection past Config.MaxConnections, with
// remote.ConnBusy: the client tries again later. The caller holds no lock.
func (s *Server) refuseBusy(qc *quic.Conn) {
	msg := fmt.Sprintf("server %s has too many connections (%d): try again later", s.cfg.Name, s.cfg.MaxConnections)
	qc.CloseWithError(remote.ConnBusy, msg)
	b := &s.busy
	b.mu.Lock()
	b.refused++
	now := time.Now()
	if now.Sub(b.last) < busyLogInterval {
		b.mu.Unlock()
		return
	}
	n := b.refused
	b.last, b.refused = now, 0
	b.mu.Unlock()
	s.log.Warn("refused", "remote", qc.RemoteAddr().String(), "reason", "connection limit",
		"max_connections", s.cfg.MaxConnections, "refused", n)
}

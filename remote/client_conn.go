package remote

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
)

// The life of a connection: dial, verify the certificate, handshake, then
// watch the control stream until the connection is lost, and dial again.

// run owns the connections to s: it watches the live one, and when it is
// lost dials again with exponential backoff until s is stopped. sess is the
// connection Connect made, or nil if its attempt failed.
func (c *Client) run(s *server, sess *session) {
	defer c.wg.Done()
	backoff := minBackoff
	for {
		if sess != nil {
			err := c.watch(s, sess)
			sess.conn.CloseWithError(ConnClosed, "client closed the connection")
			c.mu.Lock()
			if s.sess == sess {
				s.sess = nil
				s.goingAway = false
				s.status = Status{}
			}
			if s.ctx.Err() == nil {
				s.lastErr = err
			}
			c.mu.Unlock()
			if s.ctx.Err() != nil {
				return
			}
			c.log.Warn("connection lost; reconnecting", "server", s.name, "addr", s.addr, "err", err)
			c.changed()
			sess, backoff = nil, minBackoff
		}

		// Wait between backoff/2 and backoff, then dial again.
		wait := backoff/2 + rand.N(backoff/2+1)
		backoff = min(2*backoff, maxBackoff)
		t := time.NewTimer(wait)
		select {
		case <-s.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		next, permanent, err := c.dial(s.ctx, s)
		c.mu.Lock()
		if s.ctx.Err() != nil {
			c.mu.Unlock()
			if next != nil {
				next.conn.CloseWithError(ConnClosed, "client closed")
			}
			return
		}
		if err != nil {
			s.lastErr = err
			s.stopped = permanent
			c.mu.Unlock()
			if permanent {
				c.log.Error("giving up on server", "server", s.name, "addr", s.addr, "err", err)
				c.changed()
				return
			}
			c.log.Debug("reconnect failed", "server", s.name, "addr", s.addr, "err", err)
			continue
		}
		c.connectedLocked(s, next)
		c.mu.Unlock()
		c.log.Info("reconnected", "server", s.name, "addr", s.addr)
		c.changed()
		sess = next
	}
}

// watch pings the server on sess's control stream every pingInterval and
// handles what the server sends there, until the connection is lost or s is
// stopped. It returns why the connection ended.
func (c *Client) watch(s *server, sess *session) error {
	readErr := make(chan error, 1)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		readErr <- c.readControl(s, sess)
	}()
	tick := time.NewTicker(pingInterval)
	defer tick.Stop()
	for {
		select {
		case <-s.ctx.Done():
			sess.conn.CloseWithError(ConnClosed, "client closed the connection")
			<-readErr
			return context.Cause(s.ctx)
		case err := <-readErr:
			return err
		case now := <-tick.C:
			sess.pingMu.Lock()
			if silent := now.Sub(sess.lastPong); silent > pongTimeout {
				sess.pingMu.Unlock()
				err := fmt.Errorf("%s for %v", noPongs, silent.Round(time.Second))
				sess.conn.CloseWithError(ConnClosed, noPongs)
				<-readErr
				return c.lostError(s, err)
			}
			sess.pingSeq++
			seq := sess.pingSeq
			sess.pingSent = time.Now()
			sess.pingMu.Unlock()
			if err := sess.write(MsgPing, Ping{Seq: seq}); err != nil {
				sess.conn.CloseWithError(ConnProtocol, "control stream failed")
				<-readErr
				return c.lostError(s, err)
			}
		}
	}
}

// readControl handles the messages of sess's control stream until it fails.
func (c *Client) readControl(s *server, sess *session) error {
	for {
		t, body, err := ReadFrame(sess.br, maxControlMessage)
		if err != nil {
			return c.lostError(s, err)
		}
		var perr error
		switch t {
		case MsgPing:
			var p Ping
			if perr = DecodeBody(t, body, &p); perr == nil {
				if err := sess.write(MsgPong, Pong(p)); err != nil {
					return c.lostError(s, err)
				}
			}
		case MsgPong:
			var p Pong
			if perr = DecodeBody(t, body, &p); perr == nil {
				sess.pingMu.Lock()
				sess.lastPong = time.Now()
				var sample time.Duration
				if p.Seq == sess.pingSeq && !sess.pingSent.IsZero() {
					sample = time.Since(sess.pingSent)
				}
				sess.pingMu.Unlock()
				if sample > 0 {
					c.mu.Lock()
					if s.sess == sess {
						s.rtt = smooth(s.rtt, sample)
					}
					c.mu.Unlock()
				}
			}
		case MsgStatus:
			var st Status
			if perr = DecodeBody(t, body, &st); perr == nil {
				c.mu.Lock()
				changed := s.sess == sess && s.status != st
				if changed {
					s.status = st
				}
				c.mu.Unlock()
				if changed {
					c.changed()
				}
			}
		case MsgGoAway:
			var g GoAway
			if perr = DecodeBody(t, body, &g); perr == nil {
				c.mu.Lock()
				if s.sess == sess {
					s.goingAway = true
				}
				c.mu.Unlock()
				c.log.Info("server going away", "server", s.name, "reason", g.Reason)
				c.changed()
			}
		default:
			perr = fmt.Errorf("unexpected %s message on the control stream", t)
		}
		if perr != nil {
			sess.conn.CloseWithError(ConnProtocol, perr.Error())
			return &ServerError{Code: CodeBadRequest, Server: s.name,
				Message: fmt.Sprintf("server %s broke the protocol: %v", s.name, perr), Err: perr}
		}
	}
}

// lostError is the error of a connection to s lost with err.
func (c *Client) lostError(s *server, err error) error {
	c.mu.Lock()
	name := s.name
	c.mu.Unlock()
	return &ServerError{Code: CodeDisconnected, Server: name,
		Message: fmt.Sprintf("lost the connection to server %s: %s", name, describeLoss(err)), Err: err}
}

// smooth folds an RTT sample into the smoothed RTT like TCP (RFC 6298): 7/8 old, 1/8 new.
func smooth(srtt, sample time.Duration) time.Duration {
	if srtt == 0 {
		return sample
	}
	return (7*srtt + sample) / 8
}

// write writes one message on the control stream.
func (sess *session) write(t MsgType, body any) error {
	sess.writeMu.Lock()
	defer sess.writeMu.Unlock()
	return WriteFrame(sess.ctrl, t, body)
}

// trustCheck is the outcome of the certificate verification of one dial,
// written by the TLS handshake and read after it.
type trustCheck struct {
	mu       sync.Mutex
	fp       string
	newTrust bool  // verified on first use: remember it after Welcome
	err      error // the verification's failure
}

// dial connects to s and runs the handshake. permanent says that err is not
// worth retrying: a certificate problem, a refusal (but for shutting down or
// overloaded), another protocol version.
func (c *Client) dial(ctx context.Context, s *server) (sess *session, permanent bool, err error) {
	check := &trustCheck{}
	tlsConf := &tls.Config{
		MinVersion:         tls.VersionTLS13,
		NextProtos:         []string{ALPN},
		InsecureSkipVerify: true, // verified by VerifyConnection: pinned or trusted on first use
		VerifyConnection: func(cs tls.ConnectionState) error {
			return c.verify(s, cs, check)
		},
	}
	if host, _, err := net.SplitHostPort(s.addr); err == nil && net.ParseIP(host) == nil {
		tlsConf.ServerName = host
	}
	ctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	conn, err := quic.DialAddr(ctx, s.addr, tlsConf, &quic.Config{
		HandshakeIdleTimeout:  handshakeTimeout / 2,
		MaxIdleTimeout:        idleTimeout,
		KeepAlivePeriod:       keepAlivePeriod,
		MaxIncomingStreams:    -1, // servers open no streams
		MaxIncomingUniStreams: -1,
	})
	check.mu.Lock()
	fp, newTrust, verr := check.fp, check.newTrust, check.err
	check.mu.Unlock()
	if verr != nil {
		if conn != nil {
			conn.CloseWithError(ConnClosed, "certificate refused")
		}
		return nil, true, verr
	}
	if err != nil {
		return nil, false, &ServerError{Code: CodeDisconnected, Server: s.addr,
			Message: fmt.Sprintf("cannot reach server %s (retrying in the background): %v", s.addr, err), Err: err}
	}
	// The handshake's reads do not watch ctx: closing the connection ends them.
	stop := context.AfterFunc(ctx, func() { conn.CloseWithError(ConnClosed, "client gave up") })
	sess, permanent, err = c.handshake(ctx, s, conn)
	if !stop() && err == nil {
		err = fmt.Errorf("handshake with server %s: %w", s.addr, context.Cause(ctx))
	}
	if err != nil {
		conn.CloseWithError(ConnClosed, "handshake failed")
		return nil, permanent, err
	}
	sess.fp = fp
	if newTrust {
		if err := c.known.Trust(s.addr, fp); err != nil {
			var cerr *CertificateError
			if errors.As(err, &cerr) {
				conn.CloseWithError(ConnClosed, "certificate refused")
				return nil, true, err
			}
			c.log.Warn("cannot remember the server's certificate", "addr", s.addr, "fingerprint", fp, "err", err)
		} else {
			c.log.Info("trusting server on first use", "addr", s.addr, "fingerprint", fp, "file", c.known.Path())
		}
	}
	return sess, false, nil
}

// verify checks the certificate a server presented: against the pinned
// fingerprint, or the known servers file. It records the outcome in check.
func (c *Client) verify(s *server, cs tls.ConnectionState, check *trustCheck) error {
	check.mu.Lock()
	defer check.mu.Unlock()
	if len(cs.PeerCertificates) == 0 {
		check.err = &ServerError{Code: CodeBadRequest, Server: s.addr,
			Message: fmt.Sprintf("server %s presented no certificate", s.addr)}
		return check.err
	}
	fp := Fingerprint(cs.PeerCertificates[0].Raw)
	check.fp = fp
	if s.pin != "" {
		if fp != s.pin {
			check.err = &CertificateError{Addr: s.addr, Got: fp, Want: s.pin}
		}
		return check.err
	}
	known, malformed, err := c.known.Check(s.addr, fp)
	for _, m := range malformed {
		c.log.Warn("malformed line in known servers file, ignored", "err", m)
	}
	if err != nil {
		check.err = err
		return err
	}
	check.newTrust = !known
	return nil
}

// handshake opens the control stream on conn and exchanges Hello and Welcome.
func (c *Client) handshake(ctx context.Context, s *server, conn *quic.Conn) (*session, bool, error) {
	failed := func(err error) (*session, bool, error) {
		var app *quic.ApplicationError
		if errors.As(err, &app) && app.Remote && app.ErrorCode == ConnRefused {
			return nil, true, refusedError(s.addr, CodeUnauthorized, app.ErrorMessage)
		}
		return nil, false, &ServerError{Code: CodeDisconnected, Server: s.addr,
			Message: fmt.Sprintf("handshake with server %s failed: %s", s.addr, describeLoss(err)), Err: err}
	}
	ctrl, err := conn.OpenStreamSync(ctx)
	if err != nil {
		return failed(err)
	}
	if deadline, ok := ctx.Deadline(); ok {
		ctrl.SetDeadline(deadline)
	}
	start := time.Now()
	if err := WriteFrame(ctrl, MsgHello, Hello{Version: ProtocolVersion, Token: c.cfg.Token, Client: c.hello}); err != nil {
		return failed(err)
	}
	br := bufio.NewReader(ctrl)
	t, body, err := ReadFrame(br, maxControlMessage)
	if err != nil {
		return failed(err)
	}
	rtt := time.Since(start)
	protocolErr := func(err error) (*session, bool, error) {
		return nil, true, &ServerError{Code: CodeBadRequest, Server: s.addr,
			Message: fmt.Sprintf("server %s broke the protocol in the handshake: %v", s.addr, err), Err: err}
	}
	switch t {
	case MsgRefused:
		var r Refused
		if err := DecodeBody(t, body, &r); err != nil {
			return protocolErr(err)
		}
		// A server shutting down or too busy may take the client later.
		transient := r.Code == CodeShutdown || r.Code == CodeOverloaded || r.Code == CodeDisconnected
		return nil, !transient, refusedError(s.addr, r.Code, r.Message)
	case MsgWelcome:
	default:
		return protocolErr(fmt.Errorf("got %s, want welcome", t))
	}
	var w Welcome
	if err := DecodeBody(t, body, &w); err != nil {
		return protocolErr(err)
	}
	if w.Version != ProtocolVersion {
		return nil, true, &ServerError{Code: CodeVersion, Server: s.addr,
			Message: fmt.Sprintf("server %s speaks protocol version %d; this client speaks version %d: use a client and server of the same release", s.addr, w.Version, ProtocolVersion)}
	}
	ctrl.SetDeadline(time.Time{})
	maxMessage := w.Limits.MaxMessage
	if maxMessage <= 0 {
		maxMessage = DefaultMaxMessage
	}
	return &session{conn: conn, ctrl: ctrl, br: br, welcome: w, maxMessage: maxMessage, rtt: rtt, lastPong: time.Now()}, false, nil
}

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

	"github.com/fxamacker/cbor/v2"
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
			c.reconcileMembers() // its list of members no longer counts
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
	c.wg.Go(func() { c.acceptReplies(sess) })
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
		msg, perr := decodeControl(t, body)
		switch m := msg.(type) {
		case Ping:
			if err := sess.write(MsgPong, Pong(m)); err != nil {
				return c.lostError(s, err)
			}
		case Pong:
			sess.pingMu.Lock()
			sess.lastPong = time.Now()
			var sample time.Duration
			if m.Seq == sess.pingSeq && !sess.pingSent.IsZero() {
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
		case Status:
			c.mu.Lock()
			changed := s.sess == sess && s.status != m
			if changed {
				s.status = m
			}
			c.mu.Unlock()
			if changed {
				c.changed()
			}
		case Members:
			c.members(s, m)
		case update:
			c.update(s, sess, m)
		case GoAway:
			c.mu.Lock()
			if s.sess == sess {
				s.goingAway = true
			}
			c.mu.Unlock()
			c.log.Info("server going away", "server", s.name, "reason", m.Reason)
			c.changed()
		}
		if perr != nil {
			sess.conn.CloseWithError(ConnProtocol, perr.Error())
			return &ServerError{Code: CodeBadRequest, Server: s.name,
				Message: fmt.Sprintf("server %s broke the protocol: %v", s.name, perr), Err: perr}
		}
	}
}

// decodeControl decodes a message of type t that a server sent on the
// control stream after Welcome: a Ping, Pong, Status, GoAway, Members or
// update (the value, not a pointer), or an error for anything else.
func decodeControl(t MsgType, body cbor.RawMessage) (any, error) {
	var (
		msg any
		err error
	)
	switch t {
	case MsgPing:
		var p Ping
		err = DecodeBody(t, body, &p)
		msg = p
	case MsgPong:
		var p Pong
		err = DecodeBody(t, body, &p)
		msg = p
	case MsgStatus:
		var st Status
		err = DecodeBody(t, body, &st)
		msg = st
	case MsgGoAway:
		var g GoAway
		err = DecodeBody(t, body, &g)
		msg = g
	case MsgMembers:
		var m Members
		err = DecodeBody(t, body, &m)
		msg = m
	case MsgUpdate:
		var w Welcome
		err = DecodeBody(t, body, &w)
		msg = update(w)
	default:
		err = fmt.Errorf("unexpected %s message on the control stream", t)
	}
	if err != nil {
		return nil, err
	}
	return msg, nil
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
	asked    bool  // the server asked for a client certificate
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
		// The certificate is presented whatever the server asks for, so
		// that a wrong one is refused, and logged, as such.
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			check.mu.Lock()
			check.asked = true
			check.mu.Unlock()
			if c.cfg.Certificate != nil {
				return c.cfg.Certificate, nil
			}
			return &tls.Certificate{}, nil
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
		MaxIncomingStreams:    -1,              // servers open no bidirectional streams,
		MaxIncomingUniStreams: maxReplyStreams, // but one for each big Reply
	})
	check.mu.Lock()
	fp, newTrust, verr, asked := check.fp, check.newTrust, check.err, check.asked
	check.mu.Unlock()
	if verr != nil {
		if conn != nil {
			conn.CloseWithError(ConnClosed, "certificate refused")
		}
		return nil, true, verr
	}
	if cerr := c.certificateRefused(s, err, asked); cerr != nil {
		return nil, true, cerr
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
		// The server checks a client certificate after the client's side
		// of the TLS handshake is done: its refusal arrives now.
		check.mu.Lock()
		asked = check.asked
		check.mu.Unlock()
		if cerr := c.certificateRefused(s, err, asked); cerr != nil {
			return nil, true, cerr
		}
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
	w, permanent, err := decodeWelcome(s.addr, t, body)
	if err != nil {
		return nil, permanent, err
	}
	ctrl.SetDeadline(time.Time{})
	return &session{conn: conn, ctrl: ctrl, br: br, welcome: w, maxMessage: w.maxMessage(), rtt: rtt, lastPong: time.Now()}, false, nil
}

// decodeWelcome decodes the answer of the server at addr to Hello, a
// message of type t: a Welcome of this protocol version, or else the
// error of a refusal, of another version or of a broken protocol (a
// *ServerError); permanent says that the error is not worth retrying.
func decodeWelcome(addr string, t MsgType, body cbor.RawMessage) (w Welcome, permanent bool, err error) {
	protocolErr := func(err error) (Welcome, bool, error) {
		return Welcome{}, true, &ServerError{Code: CodeBadRequest, Server: addr,
			Message: fmt.Sprintf("server %s broke the protocol in the handshake: %v", addr, err), Err: err}
	}
	switch t {
	case MsgRefused:
		var r Refused
		if err := DecodeBody(t, body, &r); err != nil {
			return protocolErr(err)
		}
		// A server shutting down or too busy may take the client later.
		transient := r.Code == CodeShutdown || r.Code == CodeOverloaded || r.Code == CodeDisconnected
		return Welcome{}, !transient, refusedError(addr, r.Code, r.Message)
	case MsgWelcome:
	default:
		return protocolErr(fmt.Errorf("got %s, want welcome", t))
	}
	if err := DecodeBody(t, body, &w); err != nil {
		return protocolErr(err)
	}
	if w.Version != ProtocolVersion {
		return Welcome{}, true, &ServerError{Code: CodeVersion, Server: addr,
			Message: fmt.Sprintf("server %s speaks protocol version %d; this client speaks version %d: use a client and server of the same release", addr, w.Version, ProtocolVersion)}
	}
	return w, false, nil
}

// maxMessage returns the largest frame the server of w accepts and sends.
func (w *Welcome) maxMessage() int {
	if w.Limits.MaxMessage <= 0 {
		return DefaultMaxMessage
	}
	return w.Limits.MaxMessage
}

// certificateRefused returns the error of a connection to s that the server
// closed with a TLS alert about the client's certificate, after asking for
// one (asked), or nil if err is not that.
func (c *Client) certificateRefused(s *server, err error, asked bool) error {
	var terr *quic.TransportError
	if !asked || !errors.As(err, &terr) || !terr.Remote || !terr.ErrorCode.IsCryptoError() {
		return nil
	}
	switch alert := uint8(terr.ErrorCode - 0x100); alert {
	case 42, 43, 44, 45, 46, 48, 116: // bad, unsupported, revoked, expired, unknown certificate; unknown CA; certificate required
	default:
		return nil
	}
	msg := fmt.Sprintf("server %s requires a client certificate (mutual TLS) and refused the connection without one: give one with --client-cert and --client-key", s.addr)
	if cert := c.cfg.Certificate; cert != nil {
		subject := "given"
		if cert.Leaf != nil {
			subject = fmt.Sprintf("%q", cert.Leaf.Subject.String())
		}
		msg = fmt.Sprintf("server %s refused the client certificate %s: it accepts one signed by its client CA, current, and for client authentication", s.addr, subject)
	}
	return &ServerError{Code: CodeUnauthorized, Server: s.addr, Message: msg, Err: err}
}

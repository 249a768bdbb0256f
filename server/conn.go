package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/quic-go/quic-go"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/remote"
)

// conn is one client connection: its control stream and its evaluations.
type conn struct {
	srv    *Server
	qc     *quic.Conn
	remote string // the client's address, for logs
	client string // the client's name from Hello, for logs

	ctrl  *quic.Stream  // the control stream, once accepted
	ctrlR *bufio.Reader // reads ctrl; used by handshake, then by readControl

	statusMu  sync.Mutex
	status    remote.Status // the latest load, for writeControl to send
	statusSig chan struct{} // status changed (capacity 1)

	membersSig chan struct{} // the cluster's Members changed (capacity 1)

	updateSig chan struct{} // the provided names changed: perhaps send Update (capacity 1)
	told      *grantView    // what the client was told it may use, in Welcome; writeControl's after the handshake

	pongs      chan remote.Pong // Pongs for writeControl to send
	goAway     chan struct{}    // closed when the server shuts down
	goAwayOnce sync.Once

	// goAwayCtx is cancelled with goAway: idle evaluation streams close then.
	goAwayCtx    context.Context
	goAwayCancel context.CancelFunc

	lastResult atomic.Int64 // when the last Result was sent, in Unix nanoseconds

	kept keptTable // results kept for pipelined jobs

	grant *grant // what the client's token allows, once the handshake accepted it
}

func newConn(s *Server, qc *quic.Conn) *conn {
	goAwayCtx, goAwayCancel := context.WithCancel(context.Background())
	return &conn{
		goAwayCtx:    goAwayCtx,
		goAwayCancel: goAwayCancel,
		srv:          s,
		qc:           qc,
		remote:       qc.RemoteAddr().String(),
		statusSig:    make(chan struct{}, 1),
		membersSig:   make(chan struct{}, 1),
		updateSig:    make(chan struct{}, 1),
		pongs:        make(chan remote.Pong, 8),
		goAway:       make(chan struct{}),
	}
}

// serveConn serves c until it closes: the handshake on the control stream,
// then the control stream and the evaluation streams.
func (s *Server) serveConn(c *conn) {
	defer s.removeConn(c)
	s.log.Info("connection opened", "remote", c.remote)
	if !s.handshake(c) {
		return
	}
	s.wg.Go(c.readControl)
	s.wg.Go(c.writeControl)
	ctx := c.qc.Context()
	for {
		str, err := c.qc.AcceptStream(ctx)
		if err != nil {
			break
		}
		s.wg.Go(func() { s.serveStream(c, str) })
	}
	s.log.Info("connection closed", "remote", c.remote, "client", c.client, "reason", closeReason(context.Cause(ctx)))
}

// closeReason describes why a connection closed.
func closeReason(err error) string {
	var appErr *quic.ApplicationError
	if errors.As(err, &appErr) {
		who := "server"
		if appErr.Remote {
			who = "client"
		}
		return fmt.Sprintf("closed by the %s (code %#x)", who, uint64(appErr.ErrorCode))
	}
	if err == nil {
		return "closed"
	}
	return err.Error()
}

// handshake accepts c's control stream and its Hello, and answers Welcome or
// Refused. It reports whether the client was accepted; if not, c is closed.
func (s *Server) handshake(c *conn) bool {
	ctx, cancel := context.WithTimeout(c.qc.Context(), s.cfg.HandshakeTimeout)
	defer cancel()
	ctrl, err := c.qc.AcceptStream(ctx)
	if err != nil {
		if c.qc.Context().Err() == nil {
			msg := fmt.Sprintf("no control stream within %s", s.cfg.HandshakeTimeout)
			s.log.Warn("refused", "remote", c.remote, "reason", msg)
			c.qc.CloseWithError(remote.ConnProtocol, msg)
		}
		return false
	}
	c.ctrl, c.ctrlR = ctrl, bufio.NewReader(ctrl)
	ctrl.SetReadDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	t, body, err := remote.ReadFrame(c.ctrlR, maxControlMessage)
	ctrl.SetReadDeadline(time.Time{})
	if err != nil {
		if c.qc.Context().Err() == nil {
			s.refuse(c, remote.CodeBadRequest, "no hello: "+err.Error())
		}
		return false
	}
	if t != remote.MsgHello {
		s.refuse(c, remote.CodeBadRequest, fmt.Sprintf("got %s, want hello first on the control stream", t))
		return false
	}
	var hello remote.Hello
	if err := remote.DecodeBody(t, body, &hello); err != nil {
		v, ok := peekVersion(body)
		if !ok || v == remote.ProtocolVersion {
			s.refuse(c, remote.CodeBadRequest, "bad hello: "+err.Error())
			return false
		}
		hello.Version = v // another version's Hello: answer as to that version
	}
	c.client = truncate(hello.Client, 128)
	if hello.Version != remote.ProtocolVersion {
		upgrade := "upgrade the client"
		if hello.Version > remote.ProtocolVersion {
			upgrade = "upgrade the server"
		}
		s.refuse(c, remote.CodeVersion, fmt.Sprintf("server speaks sperse protocol %d, client speaks %d: %s",
			remote.ProtocolVersion, hello.Version, upgrade))
		return false
	}
	g := s.authenticate(c, hello.Token)
	if g == nil {
		return false
	}
	if s.closing() {
		s.refuse(c, remote.CodeShutdown, fmt.Sprintf("server %s is shutting down: use another server", s.cfg.Name))
		return false
	}
	told := g.current()
	welcome := s.welcomeFor(g, told)
	welcome.Scoped = g.scope != ""
	ctrl.SetWriteDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	err = remote.WriteFrame(ctrl, remote.MsgWelcome, welcome)
	ctrl.SetWriteDeadline(time.Time{})
	if err != nil {
		s.log.Warn("handshake failed", "remote", c.remote, "error", err)
		c.qc.CloseWithError(remote.ConnProtocol, "handshake failed")
		return false
	}
	c.grant, c.told = g, told
	s.log.Info("client accepted", append([]any{"remote", c.remote, "client", c.client}, g.logAttrs(c)...)...)
	return true
}

// helloVersion is the part of a Hello every version shares.
type helloVersion struct {
	Version int `cbor:"1,keyasint"`
}

// lenientDecMode decodes a Hello of any version: unknown fields are ignored,
// and the input is a control frame, at most maxControlMessage bytes.
var lenientDecMode = sync.OnceValue(func() cbor.DecMode {
	dm, err := cbor.DecOptions{MaxNestedLevels: 16, MaxArrayElements: 4096, MaxMapPairs: 4096}.DecMode()
	if err != nil {
		panic(err)
	}
	return dm
})

// peekVersion returns the protocol version of a Hello that a strict decode
// refused, perhaps a later version's with more fields.
func peekVersion(body []byte) (int, bool) {
	var h helloVersion
	if err := lenientDecMode().Unmarshal(body, &h); err != nil {
		return 0, false
	}
	return h.Version, true
}

// refuse answers c's Hello with Refused and closes c with remote.ConnRefused
// and the same message (which never holds the token). attrs are logged too.
func (s *Server) refuse(c *conn, code remote.ErrorCode, msg string, attrs ...any) {
	s.log.Warn("refused", append([]any{"remote", c.remote, "client", c.client, "code", code.String(), "reason", msg}, attrs...)...)
	c.ctrl.SetWriteDeadline(time.Now().Add(refuseLinger))
	if err := remote.WriteFrame(c.ctrl, remote.MsgRefused, remote.Refused{Code: code, Message: msg}); err == nil {
		c.ctrl.Close()
		// Give the client a moment to read Refused: closing the connection
		// now would discard it. The client normally closes it first.
		t := time.NewTimer(refuseLinger)
		select {
		case <-c.qc.Context().Done():
		case <-t.C:
		case <-s.stop:
		}
		t.Stop()
	}
	c.qc.CloseWithError(remote.ConnRefused, msg)
}

// readControl reads the control stream after the handshake: it answers Ping
// with Pong and closes the connection on anything a client may not send.
func (c *conn) readControl() {
	for {
		t, body, err := remote.ReadFrame(c.ctrlR, maxControlMessage)
		if err != nil {
			if c.qc.Context().Err() == nil && !errors.Is(err, io.EOF) {
				c.protocolError("bad control message: " + err.Error())
			}
			return // EOF: the client will send nothing more
		}
		switch t {
		case remote.MsgPing:
			var p remote.Ping
			if err := remote.DecodeBody(t, body, &p); err != nil {
				c.protocolError("bad ping: " + err.Error())
				return
			}
			select {
			case c.pongs <- remote.Pong(p):
			default: // a client that pings faster than it reads gets fewer pongs
			}
		case remote.MsgPong:
			// The server sends no pings; a stray pong is harmless.
		default:
			c.protocolError(fmt.Sprintf("unexpected %s on the control stream", t))
			return
		}
	}
}

// protocolError closes c because the client broke the protocol.
func (c *conn) protocolError(msg string) {
	c.srv.log.Warn("protocol error", "remote", c.remote, "client", c.client, "error", msg)
	c.qc.CloseWithError(remote.ConnProtocol, msg)
}

// writeControl is the only writer of the control stream after the
// handshake: it sends Pongs, Status when the load changes, Update when the
// provided names do, Members when the cluster does (as the client's token
// may see it: see grant.members), and GoAway.
func (c *conn) writeControl() {
	ctx := c.qc.Context()
	goAway := c.goAway
	var sent remote.Status
	var sentMembers []byte
	c.signalStatus()  // send the current load, if any
	c.signalMembers() // and the cluster's members
	c.signalUpdate()  // and the provided names, if they changed since Welcome
	for {
		var err error
		select {
		case <-ctx.Done():
			return
		case p := <-c.pongs:
			err = remote.WriteFrame(c.ctrl, remote.MsgPong, p)
		case <-c.statusSig:
			if st := c.getStatus(); st != sent {
				err = remote.WriteFrame(c.ctrl, remote.MsgStatus, st)
				sent = st
			}
		case <-c.membersSig:
			if body := c.srv.membersBody(c.grant); body != nil && !bytes.Equal(body, sentMembers) {
				err = remote.WriteFrame(c.ctrl, remote.MsgMembers, cbor.RawMessage(body))
				sentMembers = body
			}
		case <-c.updateSig:
			var w *remote.Welcome
			if w, c.told = c.nextUpdate(c.told); w != nil {
				w.Scoped = c.grant.scope != ""
				err = remote.WriteFrame(c.ctrl, remote.MsgUpdate, *w)
				if w.Scoped {
					c.signalMembers() // this server's entry in them shows what the Update does
				}
			}
		case <-goAway:
			err = remote.WriteFrame(c.ctrl, remote.MsgGoAway, remote.GoAway{
				Reason: fmt.Sprintf("server %s is shutting down", c.srv.cfg.Name)})
			goAway = nil
		}
		if err != nil {
			if ctx.Err() == nil {
				c.protocolError("control stream: " + err.Error())
			}
			return
		}
	}
}

// setStatus records the server's load for writeControl to send.
func (c *conn) setStatus(st remote.Status) {
	c.statusMu.Lock()
	c.status = st
	c.statusMu.Unlock()
	c.signalStatus()
}

func (c *conn) getStatus() remote.Status {
	c.statusMu.Lock()
	defer c.statusMu.Unlock()
	return c.status
}

func (c *conn) signalStatus() {
	select {
	case c.statusSig <- struct{}{}:
	default:
	}
}

func (c *conn) signalMembers() {
	select {
	case c.membersSig <- struct{}{}:
	default:
	}
}

// sendGoAway asks writeControl to send GoAway (once).
func (c *conn) sendGoAway() {
	c.goAwayOnce.Do(func() {
		close(c.goAway)
		c.goAwayCancel()
	})
}

// drain waits until the client has had time to read the last Result sent on
// c, the client closes c, ctx ends (returning its error) or the server
// closes.
func (c *conn) drain(ctx context.Context, done <-chan struct{}) error {
	last := c.lastResult.Load()
	if last == 0 {
		return nil
	}
	wait := min(max(8*c.qc.ConnectionStats().SmoothedRTT, minDrain), maxDrain)
	d := time.Until(time.Unix(0, last).Add(wait))
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.qc.Context().Done():
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// serveStream serves one evaluation stream: it carries one Eval after
// another, each answered with one Result before the next is read. The stream
// ends when the client closes or cancels it, when an Eval cannot be served
// (a bad request, a cancelled evaluation), or after GoAway. A stream whose
// first message is a Call is a call stream instead (see serveCalls).
func (s *Server) serveStream(c *conn, str *quic.Stream) {
	br := bufio.NewReaderSize(str, streamBufferSize)
	// The first Eval is read at once: the stream was opened for it.
	for first := true; ; first = false {
		if !first && !s.awaitEval(c, str, br) {
			return
		}
		if !s.serveEval(c, str, br, first) {
			return
		}
	}
}

// awaitEval waits for the first byte of the next Eval on an idle stream, as
// long as the connection lives: the read timeout applies once a frame has
// started. It reports false, having closed or cancelled str, if the client
// closed or cancelled the stream, or if the server sent GoAway (an Eval that
// arrives just then is refused by serveEval).
func (s *Server) awaitEval(c *conn, str *quic.Stream, br *bufio.Reader) bool {
	stopIdle := context.AfterFunc(c.goAwayCtx, func() { str.CancelRead(0) })
	_, err := br.Peek(1)
	stopIdle()
	if err == nil {
		return true
	}
	var serr *quic.StreamError
	if errors.As(err, &serr) && serr.Remote {
		// An evaluation cancelled before its first byte arrived.
		if serr.ErrorCode == remote.StreamCancelled {
			s.log.Info("evaluation", "remote", c.remote, "client", c.client, "outcome", remote.CodeCancelled.String())
		}
		str.CancelWrite(remote.StreamCancelled)
		return false
	}
	str.CancelRead(0)
	str.Close() // the client closed the idle stream, or GoAway
	return false
}

// serveEval serves the message that has started to arrive on str, the
// stream's first if first: an Eval, which it runs and answers with one
// Result, or a Call, the first of a call stream, which it serves (see
// serveCalls). It reports whether str may carry another Eval; if not, str
// has been closed or cancelled.
func (s *Server) serveEval(c *conn, str *quic.Stream, br *bufio.Reader, first bool) bool {
	s.streams.Add(1)
	start := time.Now()
	t, body, rerr := readMessage(str, br, s.cfg.MaxMessage, start)
	if rerr == nil && first && t == remote.MsgCall {
		s.serveCalls(c, str, br, body, start)
		return false
	}
	if !s.beginEval() {
		str.CancelRead(0)
		c.reply(str, remote.Result{Error: &remote.Error{Code: remote.CodeShutdown,
			Message: fmt.Sprintf("server %s is shutting down: retry on another server", s.cfg.Name)}}, true)
		return false
	}
	defer s.endEval()
	var ev remote.Eval
	if rerr == nil {
		ev, rerr = decodeEval(t, body, br)
	}
	if rerr != nil && rerr.Code == remote.CodeCancelled {
		s.log.Info("evaluation", "remote", c.remote, "client", c.client, "outcome", rerr.Code.String())
		str.CancelWrite(remote.StreamCancelled)
		return false
	}
	if rerr != nil {
		s.logBadRequest(c, rerr)
		str.CancelRead(remote.StreamBadRequest)
		c.reply(str, remote.Result{Error: rerr}, true)
		return false
	}

	// The evaluation stops when the connection closes or when the client
	// cancels the stream: its STOP_SENDING cancels str.Context(), and
	// watchStream sees a reset. An evaluation that ends within watchAfter
	// (most do) is not watched: a goroutine and the read deadlines that
	// stop it would cost more than the evaluation.
	ctx, cancel := context.WithCancelCause(str.Context())
	defer cancel(nil)
	watched := make(chan struct{})
	watch := time.AfterFunc(watchAfter, func() {
		defer close(watched)
		watchStream(br, cancel)
	})
	res, refused := s.runEval(ctx, c, ev, start)
	if !watch.Stop() {
		// A read deadline in the past ends watchStream without consuming
		// anything: the stream stays readable for the next Eval.
		str.SetReadDeadline(time.Unix(1, 0))
		<-watched
		str.SetReadDeadline(time.Time{})
	}
	if refused {
		str.CancelRead(remote.StreamBadRequest)
		c.reply(str, res, true)
		return false
	}
	if cancelledByClient(ctx) {
		str.CancelRead(remote.StreamCancelled)
		str.CancelWrite(remote.StreamCancelled)
		return false
	}
	// After GoAway, or a Result the client will not reuse the stream after,
	// the server closes the stream once the Result is sent.
	last := c.goAwayCtx.Err() != nil || (res.Error != nil && res.Error.Code != remote.CodeFailed)
	if last {
		str.CancelRead(0)
	}
	return c.reply(str, res, last) && !last
}

// runEval runs ev, which arrived from c at start, and returns its Result,
// and whether ev was refused before it ran (its job could not be decoded,
// or is not permitted, ...). ctx ends when the client cancels the
// evaluation or the connection closes.
func (s *Server) runEval(ctx context.Context, c *conn, ev remote.Eval, start time.Time) (res remote.Result, refused bool) {
	t, rerr := s.decodeTask(ev, c.grant)
	var k *kept
	if rerr == nil && ev.ID != 0 {
		k, rerr = c.kept.keep(ev.ID)
	}
	if rerr != nil {
		s.logBadRequest(c, rerr)
		return remote.Result{Error: rerr}, true
	}
	var v lang.Value
	refs, rerr := c.resolve(ctx, t, ev.ID)
	var forwardedTo string // the member that ran t, if s forwarded it
	switch {
	case rerr != nil:
		res.Error = rerr
	case s.forwards(c.grant, t):
		res, v, forwardedTo = s.forward(ctx, t)
	default:
		res, v = s.evaluate(ctx, t)
	}
	if k != nil {
		c.kept.end(ev.ID, k, v, res.Error)
	}
	if s.log.Enabled(ctx, slog.LevelInfo) {
		outcome := "ok"
		if res.Error != nil {
			outcome = res.Error.Code.String()
		}
		attrs := []any{"remote", c.remote, "client", c.client, "cell", t.name, "kind", kindName(t.kind),
			"took", res.Took, "total", time.Since(start), "outcome", outcome}
		if refs > 0 {
			attrs = append(attrs, "pipelined", refs) // inputs resolved here
		}
		if t.cached > 0 {
			attrs = append(attrs, "cached", t.cached) // values sent by hash
		}
		if forwardedTo != "" {
			attrs = append(attrs, "forwarded", forwardedTo)
		}
		if res.Error != nil && res.Error.Code != remote.CodeCancelled {
			attrs = append(attrs, "error", res.Error.Message)
		}
		s.log.Info("evaluation", attrs...)
	}
	return res, false
}

// logBadRequest logs an evaluation request refused with rerr.
func (s *Server) logBadRequest(c *conn, rerr *remote.Error) {
	level := slog.LevelWarn
	if rerr.Code == remote.CodeNoValue {
		level = slog.LevelInfo // the client sends the values again
	}
	s.log.Log(context.Background(), level, "bad evaluation request", "remote", c.remote, "client", c.client,
		"code", rerr.Code.String(), "error", rerr.Message)
}

// cancelledByClient reports whether ctx, an evaluation's context, was
// cancelled by the client (its STOP_SENDING, or a reset watchStream saw),
// rather than by the connection closing or a bad request.
func cancelledByClient(ctx context.Context) bool {
	if ctx.Err() == nil {
		return false
	}
	cause := context.Cause(ctx)
	var serr *quic.StreamError
	return errors.Is(cause, errClientCancelled) || errors.As(cause, &serr) && serr.Remote
}

// watchAfter is how long an evaluation runs before watchStream watches its
// stream.
const watchAfter = time.Millisecond

// watchStream watches r, an evaluation stream, while its Eval runs: the
// client sends nothing until it has the Result. It cancels the evaluation if
// the client resets the stream or sends bytes, and returns when r ends,
// fails otherwise (the deadline serveEval sets to stop it), or on either.
// It consumes nothing.
func watchStream(r *bufio.Reader, cancel context.CancelCauseFunc) {
	_, err := r.Peek(1)
	var serr *quic.StreamError
	switch {
	case err == nil:
		cancel(errTrailingBytes)
	case errors.As(err, &serr) && serr.Remote:
		cancel(errClientCancelled)
	}
}

// reply sends res on str, and closes str if last. It reports whether res
// was sent; if not, str is cancelled.
func (c *conn) reply(str *quic.Stream, res remote.Result, last bool) bool {
	str.SetWriteDeadline(time.Now().Add(resultWriteTimeout))
	err := remote.WriteFrame(str, remote.MsgResult, res)
	if err == nil && last {
		err = str.Close()
	}
	str.SetWriteDeadline(time.Time{})
	if err != nil {
		str.CancelRead(remote.StreamCancelled)
		str.CancelWrite(remote.StreamCancelled)
		if c.qc.Context().Err() == nil {
			c.srv.log.Warn("sending result failed", "remote", c.remote, "client", c.client, "error", err)
		}
		return false
	}
	c.lastResult.Store(time.Now().UnixNano())
	return true
}

package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/remote"
)

// These tests open connections and streams that send nothing, or vanish,
// over real loopback QUIC, and check that what they hold is bounded and
// that the server keeps serving the others.

// connCount returns how many connections s has open.
func (s *Server) connCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// waitUntil waits, bounded by testTimeout, until cond holds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// rawConn is a QUIC connection on a UDP socket of its own, which the test
// can close under it: the client vanishes without a word.
type rawConn struct {
	*quic.Conn
	pc net.PacketConn
}

// dialRaw dials ts from a socket of its own with keep-alives every
// keepAlive (none if 0) and a long idle timeout of its own, so that only the
// server's idle timeout can end the connection.
func dialRaw(t *testing.T, ts *testServer, keepAlive time.Duration) *rawConn {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr := &quic.Transport{Conn: pc}
	t.Cleanup(func() {
		tr.Close()
		pc.Close()
	})
	addr, err := net.ResolveUDPAddr("udp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	fp := ts.Fingerprint()
	tlsConf := &tls.Config{
		InsecureSkipVerify: true, // the fingerprint is checked instead
		NextProtos:         []string{remote.ALPN},
		MinVersion:         tls.VersionTLS13,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if got := remote.Fingerprint(cs.PeerCertificates[0].Raw); got != fp {
				return fmt.Errorf("fingerprint %s, want %s", got, fp)
			}
			return nil
		},
	}
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	conn, err := tr.Dial(ctx, addr, tlsConf, &quic.Config{KeepAlivePeriod: keepAlive, MaxIdleTimeout: 5 * time.Minute})
	if err != nil {
		t.Fatalf("dial %s: %v", ts.addr, err)
	}
	return &rawConn{Conn: conn, pc: pc}
}

// welcomeOn says Hello on conn and returns the client, welcomed.
func welcomeOn(t *testing.T, conn *quic.Conn) *testClient {
	t.Helper()
	c := &testClient{t: t, conn: conn}
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	ctrl, err := conn.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.ctrl, c.ctrlR = ctrl, bufio.NewReader(ctrl)
	if err := remote.WriteFrame(ctrl, remote.MsgHello, remote.Hello{Version: remote.ProtocolVersion, Token: testToken, Client: "test " + t.Name()}); err != nil {
		t.Fatal(err)
	}
	ctrl.SetReadDeadline(time.Now().Add(testTimeout))
	typ, body, err := remote.ReadFrame(c.ctrlR, remote.DefaultMaxMessage)
	ctrl.SetReadDeadline(time.Time{})
	if err != nil || typ != remote.MsgWelcome {
		t.Fatalf("answer to hello: %s %x %v, want welcome", typ, []byte(body), err)
	}
	return c
}

// wantBusy checks that a connection to ts is turned away at once with
// remote.ConnBusy: dialing fails with it, or the connection closes with it.
func wantBusy(t *testing.T, ts *testServer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	conn, err := dialContext(ctx, ts.addr, ts.Fingerprint())
	var appErr *quic.ApplicationError
	if err == nil {
		appErr = closeCause(t, conn)
	} else if !errors.As(err, &appErr) {
		t.Fatalf("dial past the connection limit: %v, want it closed with ConnBusy", err)
	}
	if appErr.ErrorCode != remote.ConnBusy || !strings.Contains(appErr.ErrorMessage, "too many connections") {
		t.Fatalf("past the connection limit: closed with %#x %q, want ConnBusy and why", uint64(appErr.ErrorCode), appErr.ErrorMessage)
	}
}

func TestConnectionLimit(t *testing.T) {
	const handshake = 2 * time.Second
	ts := startServer(t, Config{MaxConnections: 3, HandshakeTimeout: handshake}, nil)
	good := connect(t, ts)

	// Two connections that never say Hello take the other two places.
	silent := []*quic.Conn{dial(t, ts.addr, ts.Fingerprint()), dial(t, ts.addr, ts.Fingerprint())}
	waitUntil(t, "the server holds 3 connections", func() bool { return ts.connCount() == 3 })

	// A fourth is turned away at once, and so is a sperse client, which
	// keeps trying in the background.
	wantBusy(t, ts)
	cl := remote.NewClient(remote.ClientConfig{Token: testToken, KnownServers: filepath.Join(t.TempDir(), "known_servers")})
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	err := cl.Connect(ctx, ts.addr+"#"+ts.Fingerprint())
	var serr *remote.ServerError
	if !errors.As(err, &serr) || !serr.ServerLost() || !strings.Contains(err.Error(), "connection limit") {
		t.Fatalf("Connect past the connection limit: %v, want a retryable error that names the limit", err)
	}
	if s := cl.Servers(); len(s) != 1 || s[0].GaveUp {
		t.Fatalf("the client gave up on a busy server: %+v", s)
	}

	// The connection inside the limit is served meanwhile.
	if got := value(t, good.eval(remote.EvalCell, cellJob(t, "x = 6 * 7", nil))); got != "42" {
		t.Errorf("x = %s", got)
	}

	// The silent ones are closed after the handshake timeout; then the
	// waiting client gets in and evaluates.
	for _, conn := range silent {
		if appErr := closeCause(t, conn); appErr.ErrorCode != remote.ConnProtocol || !strings.Contains(appErr.ErrorMessage, "no control stream within "+handshake.String()) {
			t.Errorf("silent connection closed with %#x %q, want the handshake timeout", uint64(appErr.ErrorCode), appErr.ErrorMessage)
		}
	}
	waitUntil(t, "the client connects once there is room", func() bool { return cl.Servers()[0].Connected })
	res := cl.Eval(ctx, lang.Request{Cell: lang.ParseCell("w.sp", 1, "y = remote 6 * 9")})
	if res.Err != nil || res.Value.String() != "54" {
		t.Errorf("y = %v, %v; want 54", res.Value, res.Err)
	}
	if !strings.Contains(ts.logs.String(), "reason=\"connection limit\"") {
		t.Errorf("the refusal is not logged:\n%s", ts.logs)
	}
}

func TestHandshakeTimeout(t *testing.T) {
	const handshake = time.Second
	ts := startServer(t, Config{HandshakeTimeout: handshake}, nil)
	good := connect(t, ts)

	// One connection opens no control stream; another opens one and sends
	// the first byte of a Hello, and no more.
	none := dial(t, ts.addr, ts.Fingerprint())
	partial := dial(t, ts.addr, ts.Fingerprint())
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	ctrl, err := partial.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ctrl.Write([]byte{0x10}); err != nil { // a frame of 16 bytes, to come
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		conn *quic.Conn
		code quic.ApplicationErrorCode
		want string
	}{
		{"no control stream", none, remote.ConnProtocol, "no control stream within 1s"},
		{"half a hello", partial, remote.ConnRefused, "no hello"},
	} {
		if appErr := closeCause(t, tc.conn); appErr.ErrorCode != tc.code || !strings.Contains(appErr.ErrorMessage, tc.want) {
			t.Errorf("%s: closed with %#x %q, want %#x %q", tc.name, uint64(appErr.ErrorCode), appErr.ErrorMessage, uint64(tc.code), tc.want)
		}
	}
	if got := value(t, good.eval(remote.EvalCell, cellJob(t, "x = 6 * 7", nil))); got != "42" {
		t.Errorf("x = %s", got)
	}
	waitUntil(t, "only the good connection is left", func() bool { return ts.connCount() == 1 })
}

func TestIdleTimeout(t *testing.T) {
	const idle = 3 * time.Second
	ts := startServer(t, Config{IdleTimeout: idle}, nil)
	// The test clients send keep-alives every second: never idle.
	good := connect(t, ts)

	// A client says Hello and then sends nothing at all, not even
	// keep-alives: the server closes its connection after the idle timeout.
	welcomeOn(t, dialRaw(t, ts, 0).Conn)
	waitUntil(t, "the server holds 2 connections", func() bool { return ts.connCount() == 2 })
	waitUntil(t, "the idle connection is closed", func() bool { return ts.connCount() == 1 })
	if !strings.Contains(ts.logs.String(), "no recent network activity") {
		t.Errorf("the server's log does not say the idle connection timed out:\n%s", ts.logs)
	}
	if got := value(t, good.eval(remote.EvalCell, cellJob(t, "x = 6 * 7", nil))); got != "42" {
		t.Errorf("x = %s", got)
	}
	if err := good.conn.Context().Err(); err != nil {
		t.Errorf("the good connection was closed: %v", context.Cause(good.conn.Context()))
	}
}

func TestStreamLimit(t *testing.T) {
	const limit = 4
	ts := startServer(t, Config{MaxStreams: limit}, nil)
	c := connect(t, ts)

	// limit streams each start an Eval (its first byte) and stall.
	var stalled []*quic.Stream
	for range limit {
		str := c.open()
		if _, err := str.Write([]byte{0x10}); err != nil {
			t.Fatal(err)
		}
		stalled = append(stalled, str)
	}
	// One more cannot be opened while they are.
	var limitErr *quic.StreamLimitReachedError
	if _, err := c.conn.OpenStream(); !errors.As(err, &limitErr) {
		t.Fatalf("stream %d past the limit of %d: %v, want StreamLimitReachedError", limit+1, limit, err)
	}

	// Another client is served meanwhile.
	other := connect(t, ts)
	if got := value(t, other.eval(remote.EvalCell, cellJob(t, "x = 6 * 7", nil))); got != "42" {
		t.Errorf("x = %s", got)
	}

	// Once a stalled stream is given up, the connection may open another:
	// the limit is on streams open at once.
	stalled[0].CancelWrite(remote.StreamCancelled)
	stalled[0].CancelRead(remote.StreamCancelled)
	if got := value(t, c.eval(remote.EvalCell, cellJob(t, "y = 6 * 9", nil))); got != "54" {
		t.Errorf("y = %s", got)
	}
}

func TestClientVanishesMidEvaluation(t *testing.T) {
	const idle = 3 * time.Second
	ts := startServer(t, Config{MaxConcurrency: 1, IdleTimeout: idle, MaxSteps: 1 << 60, Timeout: time.Hour}, nil)

	// A client with keep-alives starts a loop that holds the only slot...
	raw := dialRaw(t, ts, 500*time.Millisecond)
	c := welcomeOn(t, raw.Conn)
	c.start(remote.EvalCell, cellJob(t, spinCell, nil))
	waitUntil(t, "the loop runs", func() bool { return ts.limiter.status() == remote.Status{InFlight: 1} })

	// ...and vanishes: its socket closes under the connection, which
	// sends nothing more (no CONNECTION_CLOSE, no keep-alive).
	raw.pc.Close()

	// The server notices within its idle timeout, stops the loop and frees
	// the slot: a cell of another client runs.
	waitUntil(t, "the vanished client's connection is closed", func() bool { return ts.connCount() == 0 })
	waitUntil(t, "the slot is free", func() bool { return ts.limiter.status() == remote.Status{} })
	other := connect(t, ts)
	if got := value(t, other.eval(remote.EvalCell, cellJob(t, "x = 6 * 7", nil))); got != "42" {
		t.Errorf("x = %s", got)
	}
	// The loop's evaluation is logged after it frees the slot.
	waitLog(t, ts, "outcome=disconnected")
	if logs := ts.logs.String(); !strings.Contains(logs, "cell=spin") {
		t.Errorf("the server's log does not show the loop stopped for the lost connection:\n%s", logs)
	}
}

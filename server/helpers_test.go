package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/quic-go/quic-go"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/remote"
)

// testToken is the token of test servers.
const testToken = "test-token-3f9a1c0b7d2e"

// testTimeout bounds every wait in a test: long, for a loaded machine.
const testTimeout = 60 * time.Second

// syncBuffer is a bytes.Buffer safe for concurrent use: a server's log.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testServer is a Server serving on loopback.
type testServer struct {
	*Server
	addr   string
	logs   *syncBuffer
	served chan error // Serve's result
}

// startServer starts a server with cfg (Name and Tokens defaulted) on
// 127.0.0.1:0. setup, if not nil, is called before Serve. The server is
// closed when the test ends, and its log shown if the test failed.
func startServer(t *testing.T, cfg Config, setup func(*Server)) *testServer {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "testsrv"
	}
	if cfg.Tokens == nil {
		cfg.Tokens = []string{testToken}
	}
	logs := &syncBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if setup != nil {
		setup(s)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: s, addr: pc.LocalAddr().String(), logs: logs, served: make(chan error, 1)}
	go func() { ts.served <- s.Serve(pc) }()
	t.Cleanup(func() {
		s.Close()
		select {
		case <-ts.served:
		case <-time.After(testTimeout):
			t.Errorf("Serve did not return after Close")
		}
		pc.Close()
		if t.Failed() {
			t.Logf("server log:\n%s", logs)
		}
	})
	return ts
}

// testClient speaks the protocol with remote.WriteFrame and ReadFrame.
type testClient struct {
	t       *testing.T
	conn    *quic.Conn
	ctrl    *quic.Stream
	ctrlR   *bufio.Reader
	welcome remote.Welcome
	control chan controlMsg // control messages after Welcome, until the connection closes
}

type controlMsg struct {
	typ  remote.MsgType
	body cbor.RawMessage
}

// dial opens a QUIC connection to addr, pinning the fingerprint fp.
func dial(t *testing.T, addr, fp string) *quic.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	conn, err := dialContext(ctx, addr, fp)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.CloseWithError(remote.ConnClosed, "") })
	return conn
}

func dialContext(ctx context.Context, addr, fp string) (*quic.Conn, error) {
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
	return quic.DialAddr(ctx, addr, tlsConf, &quic.Config{KeepAlivePeriod: time.Second, MaxIdleTimeout: 30 * time.Second})
}

// hello dials ts, sends hello on a new control stream and returns the
// client with the answer, unread beyond its frame.
func hello(t *testing.T, ts *testServer, h any) (*testClient, remote.MsgType, cbor.RawMessage) {
	t.Helper()
	return helloTo(t, ts.addr, ts.Fingerprint(), remote.MsgHello, h)
}

// helloTo dials addr and sends a first message of type typ.
func helloTo(t *testing.T, addr, fp string, typ remote.MsgType, h any) (*testClient, remote.MsgType, cbor.RawMessage) {
	t.Helper()
	c := &testClient{t: t, conn: dial(t, addr, fp)}
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	ctrl, err := c.conn.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.ctrl, c.ctrlR = ctrl, bufio.NewReader(ctrl)
	if err := remote.WriteFrame(ctrl, typ, h); err != nil {
		t.Fatal(err)
	}
	ctrl.SetReadDeadline(time.Now().Add(testTimeout))
	typ, body, err := remote.ReadFrame(c.ctrlR, remote.DefaultMaxMessage)
	ctrl.SetReadDeadline(time.Time{})
	if err != nil {
		t.Fatalf("reading the answer to hello: %v", err)
	}
	return c, typ, body
}

// connect returns a client that ts has welcomed. Its control messages
// after Welcome arrive on c.control.
func connect(t *testing.T, ts *testServer) *testClient {
	t.Helper()
	return connectTo(t, ts.addr, ts.Fingerprint(), testToken)
}

// connectTo returns a client that the server at addr has welcomed.
func connectTo(t *testing.T, addr, fp, token string) *testClient {
	t.Helper()
	c, typ, body := helloTo(t, addr, fp, remote.MsgHello, remote.Hello{Version: remote.ProtocolVersion, Token: token, Client: "test " + t.Name()})
	if typ != remote.MsgWelcome {
		t.Fatalf("answer to hello: %s %x, want welcome", typ, []byte(body))
	}
	if err := remote.DecodeBody(typ, body, &c.welcome); err != nil {
		t.Fatal(err)
	}
	c.control = make(chan controlMsg, 1024)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(c.control)
		for {
			typ, body, err := remote.ReadFrame(c.ctrlR, remote.DefaultMaxMessage)
			if err != nil {
				return
			}
			c.control <- controlMsg{typ, body}
		}
	}()
	t.Cleanup(func() {
		c.conn.CloseWithError(remote.ConnClosed, "")
		<-done
	})
	return c
}

// waitControl waits for a control message of type typ for which match
// (if not nil) is true, and returns its body.
func (c *testClient) waitControl(typ remote.MsgType, match func(body cbor.RawMessage) bool) cbor.RawMessage {
	c.t.Helper()
	timeout := time.After(testTimeout)
	for {
		select {
		case m, ok := <-c.control:
			if !ok {
				c.t.Fatalf("control stream ended waiting for %s", typ)
			}
			if m.typ == typ && (match == nil || match(m.body)) {
				return m.body
			}
		case <-timeout:
			c.t.Fatalf("no %s on the control stream in %s", typ, testTimeout)
		}
	}
}

// waitStatus waits for a Status equal to want.
func (c *testClient) waitStatus(want remote.Status) {
	c.t.Helper()
	c.waitControl(remote.MsgStatus, func(body cbor.RawMessage) bool {
		var st remote.Status
		return remote.DecodeBody(remote.MsgStatus, body, &st) == nil && st == want
	})
}

// open opens an evaluation stream.
func (c *testClient) open() *quic.Stream {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.t.Context(), testTimeout)
	defer cancel()
	str, err := c.conn.OpenStreamSync(ctx)
	if err != nil {
		c.t.Fatal(err)
	}
	return str
}

// start opens an evaluation stream and sends an Eval on it.
func (c *testClient) start(kind remote.EvalKind, job []byte) *quic.Stream {
	c.t.Helper()
	str := c.open()
	if err := remote.WriteFrame(str, remote.MsgEval, remote.Eval{Kind: kind, Job: job}); err != nil {
		c.t.Fatal(err)
	}
	str.Close()
	return str
}

// result reads the Result of an evaluation stream.
func (c *testClient) result(str *quic.Stream) remote.Result {
	c.t.Helper()
	res, err := readResult(str)
	if err != nil {
		c.t.Fatal(err)
	}
	return res
}

func readResult(str *quic.Stream) (remote.Result, error) {
	str.SetReadDeadline(time.Now().Add(testTimeout))
	typ, body, err := remote.ReadFrame(bufio.NewReader(str), remote.DefaultMaxMessage)
	if err != nil {
		return remote.Result{}, fmt.Errorf("reading result: %w", err)
	}
	if typ != remote.MsgResult {
		return remote.Result{}, fmt.Errorf("got %s, want result", typ)
	}
	var res remote.Result
	if err := remote.DecodeBody(typ, body, &res); err != nil {
		return remote.Result{}, err
	}
	return res, nil
}

// eval evaluates a job and returns its Result.
func (c *testClient) eval(kind remote.EvalKind, job []byte) remote.Result {
	c.t.Helper()
	return c.result(c.start(kind, job))
}

// send writes raw bytes on a new evaluation stream, closes it, and returns
// the Result.
func (c *testClient) send(raw []byte) remote.Result {
	c.t.Helper()
	str := c.open()
	if _, err := str.Write(raw); err != nil {
		c.t.Fatal(err)
	}
	str.Close()
	return c.result(str)
}

// cellJob returns the job of cell src (a cell at test.sp:1) with scope.
func cellJob(t testing.TB, src string, scope map[string]lang.Value) []byte {
	t.Helper()
	job, err := lang.EncodeJob(lang.ParseCell("test.sp", 1, src), scope)
	if err != nil {
		t.Fatal(err)
	}
	return job
}

// localValue evaluates cell src locally.
func localValue(t testing.TB, src string, scope map[string]lang.Value) lang.Value {
	t.Helper()
	c := lang.ParseCell("local.sp", 1, src)
	v, err := lang.NewInterp("local").Eval(context.Background(), c, scope)
	if err != nil {
		t.Fatalf("local %q: %v", src, err)
	}
	return v
}

// encode encodes a value.
func encode(t testing.TB, v lang.Value) []byte {
	t.Helper()
	data, err := lang.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// value decodes a Result's value and returns its repr, or fails the test.
func value(t *testing.T, res remote.Result) string {
	t.Helper()
	if res.Error != nil {
		t.Fatalf("result error: %s: %s (at %s:%d:%d)", res.Error.Code, res.Error.Message, res.Error.File, res.Error.Line, res.Error.Col)
	}
	v, err := lang.NewInterp("local").Decode(res.Value)
	if err != nil {
		t.Fatalf("decode result: %v", err)
	}
	return v.String()
}

// wantError checks that res is an error with the code and a message
// containing want.
func wantError(t *testing.T, res remote.Result, code remote.ErrorCode, want string) {
	t.Helper()
	if res.Error == nil {
		t.Fatalf("got value %x, want %s error %q", res.Value, code, want)
	}
	if res.Error.Code != code || !strings.Contains(res.Error.Message, want) {
		t.Fatalf("got %s error %q, want %s error containing %q", res.Error.Code, res.Error.Message, code, want)
	}
}

// closeCause waits for conn to close and returns the application error it
// closed with.
func closeCause(t *testing.T, conn *quic.Conn) *quic.ApplicationError {
	t.Helper()
	select {
	case <-conn.Context().Done():
	case <-time.After(testTimeout):
		t.Fatal("connection still open")
	}
	var appErr *quic.ApplicationError
	if !errors.As(context.Cause(conn.Context()), &appErr) {
		t.Fatalf("connection closed with %v, want an application error", context.Cause(conn.Context()))
	}
	return appErr
}

// spinCell is a cell that runs (practically) forever without allocating.
const spinCell = "spin = len([1 for i in range(1 << 30) for j in range(1 << 30) if False])"

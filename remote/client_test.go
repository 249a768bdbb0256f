package remote_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.starlark.net/starlark"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/remote"
	"github.com/sperse/sperse/server"
)

// The client's tests run real servers of package server on loopback QUIC.

const testToken = "client-test-token-7c41"

// wait bounds every wait of these tests: generous, for a loaded machine.
const wait = 45 * time.Second

// syncBuffer is a log safe for concurrent writes.
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

// testServer is a server serving on a loopback UDP socket.
type testServer struct {
	*server.Server
	addr   string
	pc     net.PacketConn
	served chan error
	logs   *syncBuffer
}

// startServer starts a server with cfg (Tokens defaulted) on addr
// ("127.0.0.1:0" for any port). It is closed when the test ends.
func startServer(t testing.TB, addr string, cfg server.Config) *testServer {
	t.Helper()
	if cfg.Tokens == nil {
		cfg.Tokens = []string{testToken}
	}
	logs := &syncBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	s, err := server.New(cfg)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	var pc net.PacketConn
	// A port just released may take a moment to be free again.
	for deadline := time.Now().Add(wait); ; time.Sleep(50 * time.Millisecond) {
		if pc, err = net.ListenPacket("udp", addr); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: s, addr: pc.LocalAddr().String(), pc: pc, served: make(chan error, 1), logs: logs}
	go func() { ts.served <- s.Serve(pc) }()
	for deadline := time.Now().Add(wait); s.Addr() == nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the server does not listen")
		}
	}
	t.Cleanup(func() {
		ts.stop(t)
		if t.Failed() {
			t.Logf("server %s log:\n%s", cfg.Name, logs)
		}
	})
	return ts
}

// stop closes the server and its socket, and waits for Serve to return.
func (ts *testServer) stop(t testing.TB) {
	ts.Close()
	select {
	case <-ts.served:
		ts.served <- server.ErrServerClosed // for a second stop
	case <-time.After(wait):
		t.Errorf("Serve did not return after Close")
	}
	ts.pc.Close()
}

// newCert returns a new server certificate.
func newCert(t *testing.T) tls.Certificate {
	t.Helper()
	cert, err := server.GenerateCertificate()
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// testClient is a client whose OnChange calls are counted.
type testClient struct {
	*remote.Client
	interp  *lang.Interp
	known   string
	changes chan struct{}
}

// newClient returns a client with the test token and a known servers file
// of its own (or the one given), closed when the test ends.
func newClient(t testing.TB, cfg remote.ClientConfig) *testClient {
	t.Helper()
	if cfg.Token == "" {
		cfg.Token = testToken
	}
	if cfg.KnownServers == "" {
		cfg.KnownServers = filepath.Join(t.TempDir(), "sperse", "known_servers")
	}
	if cfg.Interp == nil {
		cfg.Interp = lang.NewInterp("local")
	}
	tc := &testClient{interp: cfg.Interp, known: cfg.KnownServers, changes: make(chan struct{}, 1)}
	cfg.OnChange = func() {
		select {
		case tc.changes <- struct{}{}:
		default:
		}
	}
	tc.Client = remote.NewClient(cfg)
	t.Cleanup(func() { tc.Close() })
	return tc
}

// connect connects c to address and fails the test on an error.
func (c *testClient) connect(t testing.TB, address string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	if err := c.Connect(ctx, address); err != nil {
		t.Fatalf("Connect(%s): %v", address, err)
	}
}

// waitFor waits, bounded, until cond holds of the client's servers,
// checking at every OnChange and at least every 100ms.
func (c *testClient) waitFor(t *testing.T, what string, cond func([]remote.ServerInfo) bool) {
	t.Helper()
	deadline := time.After(wait)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !cond(c.Servers()) {
		select {
		case <-c.changes:
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting until %s; servers: %+v", what, c.Servers())
		}
	}
}

// cell parses the source of one cell, as line 1 of ws.sp.
func cell(t *testing.T, src string) *lang.Cell {
	t.Helper()
	c := lang.ParseCell("ws.sp", 1, src)
	if c == nil || c.Err != nil {
		t.Fatalf("cell %q: %v", src, c.Err)
	}
	if c.Name == "" {
		c.Name = "_1"
	}
	return c
}

// local evaluates the cell src in the client's interpreter, for values to
// put in scopes.
func (c *testClient) local(t *testing.T, src string, scope map[string]lang.Value) lang.Value {
	t.Helper()
	v, err := c.interp.Eval(t.Context(), cell(t, src), scope)
	if err != nil {
		t.Fatalf("local %q: %v", src, err)
	}
	return v
}

// eval evaluates src remotely with scope, bounded.
func (c *testClient) eval(t *testing.T, src string, scope map[string]lang.Value) lang.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	return c.Eval(ctx, lang.Request{Cell: cell(t, src), Scope: scope})
}

// mustEval evaluates src and returns the repr of its value.
func (c *testClient) mustEval(t *testing.T, src string, scope map[string]lang.Value) string {
	t.Helper()
	res := c.eval(t, src, scope)
	if res.Err != nil {
		t.Fatalf("Eval(%q): %v", src, res.Err)
	}
	return res.Value.String()
}

// spin is a function cell that runs until it is stopped.
const spin = "def spin():\n    n = 0\n    while True:\n        n += 1\n    return n"

func TestClientEval(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0", server.Config{Name: "a", Tags: []string{"cpu"}})
	c := newClient(t, remote.ClientConfig{})
	c.connect(t, srv.addr)

	y := c.local(t, "y = 21", nil)
	makeAdder := c.local(t, "def make_adder(n):\n    k = n * 2\n    return lambda x: x + k", nil)
	add10 := c.local(t, "add10 = make_adder(5)", map[string]lang.Value{"make_adder": makeAdder})
	fib := c.local(t, "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)", nil)

	for _, tc := range []struct {
		src   string
		scope map[string]lang.Value
		want  string
	}{
		{"x = remote y * 2", map[string]lang.Value{"y": y}, "42"},
		{"w = remote where()", nil, `"a"`},
		{"b = remote@cpu 1 << 100", nil, "1267650600228229401496703205376"},
		{"d = remote {\"b\": [1, 2], \"a\": (3, None)}", nil, `{"b": [1, 2], "a": (3, None)}`},
		{"r = remote range(0, 1000000000, 3)", nil, "range(0, 1000000000, 3)"},
		{"f = remote fib(20)", map[string]lang.Value{"fib": fib}, "6765"},
		{"s = remote add10(1)", map[string]lang.Value{"add10": add10}, "11"},
		{"remote sum([i * i for i in range(10)])", nil, "285"},
	} {
		t.Run(tc.src, func(t *testing.T) {
			res := c.eval(t, tc.src, tc.scope)
			if res.Err != nil {
				t.Fatalf("Eval: %v", res.Err)
			}
			if got := res.Value.String(); got != tc.want {
				t.Errorf("value = %s, want %s", got, tc.want)
			}
			if res.Where != "a" {
				t.Errorf("Where = %q, want a", res.Where)
			}
			if res.Took < 0 || res.Took > wait {
				t.Errorf("Took = %v", res.Took)
			}
		})
	}

	// A function made on the server comes back callable, with its closure.
	res := c.eval(t, "add = remote make_adder(50)", map[string]lang.Value{"make_adder": makeAdder})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if _, ok := res.Value.(*starlark.Function); !ok {
		t.Fatalf("result is %s, want a function", res.Value.Type())
	}
	got, err := c.interp.Call(t.Context(), res.Value, starlark.MakeInt(1))
	if err != nil || got.String() != "101" {
		t.Errorf("add(1) = %v, %v; want 101", got, err)
	}
	// ... and travels back to the server in a scope.
	if got := c.mustEval(t, "z = remote add(2) + len(where())", map[string]lang.Value{"add": res.Value}); got != "103" {
		t.Errorf("z = %s, want 103", got)
	}
}

func TestClientCellErrors(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0", server.Config{Name: "a"})
	c := newClient(t, remote.ClientConfig{})
	c.connect(t, srv.addr)

	// The code's own error reads as it would locally: file:line:col: message.
	res := c.eval(t, "x = remote 1 // 0", nil)
	var lerr *lang.Error
	if !errors.As(res.Err, &lerr) {
		t.Fatalf("error %v (%T) is not a *lang.Error", res.Err, res.Err)
	}
	_, localErr := c.interp.Eval(t.Context(), cell(t, "x = remote 1 // 0"), nil)
	if res.Err.Error() != localErr.Error() {
		t.Errorf("remote error %q, local error %q", res.Err, localErr)
	}
	if !strings.HasPrefix(res.Err.Error(), "ws.sp:1:") {
		t.Errorf("error %q does not start with its position", res.Err)
	}
	var classified interface{ ServerLost() bool }
	if errors.As(res.Err, &classified) {
		t.Errorf("a code error is classified as a server error: %v", res.Err)
	}
	if res.Where != "a" {
		t.Errorf("Where = %q, want a", res.Where)
	}

	// A runtime error in a shipped function has a backtrace.
	f := c.local(t, "def f(n):\n    return 10 // n", nil)
	res = c.eval(t, "y = remote f(0)", map[string]lang.Value{"f": f})
	if !errors.As(res.Err, &lerr) || lerr.Backtrace == "" || lerr.Pos.Line != 2 {
		t.Errorf("error %#v: want a *lang.Error at line 2 with a backtrace", res.Err)
	}

	// A value that cannot travel is the cell's own error, and nothing is sent.
	res = c.eval(t, "z = remote m", map[string]lang.Value{"m": starlark.NewBuiltin("m", nil)})
	if res.Err == nil || !strings.Contains(res.Err.Error(), "cell z") {
		t.Errorf("Eval with a builtin in scope: %v, want an encoding error of cell z", res.Err)
	}
}

func TestClientSelectors(t *testing.T) {
	a := startServer(t, "127.0.0.1:0", server.Config{Name: "a", Tags: []string{"cpu", "big"}})
	b := startServer(t, "127.0.0.1:0", server.Config{Name: "b", Tags: []string{"gpu"}})
	c := newClient(t, remote.ClientConfig{})
	c.connect(t, a.addr)
	c.connect(t, b.addr)

	for _, tc := range []struct{ src, want string }{
		{"x = remote@a where()", `"a"`},
		{"x = remote@b where()", `"b"`},
		{"x = remote@gpu where()", `"b"`},
		{"x = remote@cpu,big where()", `"a"`},
		{"x = remote@big,a where()", `"a"`},
	} {
		if got := c.mustEval(t, tc.src, nil); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.src, got, tc.want)
		}
	}

	unavailable := func(src, want string) {
		t.Helper()
		res := c.eval(t, src, nil)
		var u interface{ Unavailable() bool }
		if !errors.As(res.Err, &u) || !u.Unavailable() {
			t.Fatalf("%s: error %v, want one whose Unavailable is true", src, res.Err)
		}
		if res.Err.Error() != want {
			t.Errorf("%s: error\n%s\nwant\n%s", src, res.Err, want)
		}
	}
	unavailable("x = remote@tpu 1", "no connected server matches remote@tpu (servers: a [tags: cpu, big], b [tags: gpu])")
	unavailable("x = remote@gpu,cpu 1", "no connected server matches remote@gpu,cpu (servers: a [tags: cpu, big], b [tags: gpu])")

	if !c.Disconnect("b") || c.Disconnect("b") {
		t.Fatal("Disconnect(b) twice: want true, then false")
	}
	unavailable("x = remote@gpu 1", "no connected server matches remote@gpu (servers: a [tags: cpu, big])")

	// A server that is known but disconnected is listed as such.
	b.stop(t)
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	if err := c.Connect(ctx, b.addr); err == nil {
		t.Fatal("Connect to a stopped server succeeded")
	} else if !strings.Contains(err.Error(), "cannot reach server") {
		t.Errorf("Connect to a stopped server: %v", err)
	}
	unavailable("x = remote@gpu 1", fmt.Sprintf("no connected server matches remote@gpu (servers: a [tags: cpu, big], %s [disconnected])", b.addr))
	if !c.Disconnect(b.addr) {
		t.Error("Disconnect by address of a server never connected: false")
	}

	// No servers at all.
	empty := newClient(t, remote.ClientConfig{})
	res := empty.eval(t, "x = remote 1", nil)
	var u interface{ Unavailable() bool }
	if !errors.As(res.Err, &u) || !u.Unavailable() || res.Err.Error() != "no server to run remote cells: the client has no servers" {
		t.Errorf("Eval with no servers: %v", res.Err)
	}
}

func TestClientIndependentEvaluations(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0", server.Config{Name: "a", MaxConcurrency: 2, MaxSteps: 1 << 60, Timeout: 10 * time.Minute})
	c := newClient(t, remote.ClientConfig{})
	c.connect(t, srv.addr)
	fn := c.local(t, spin, nil)

	slowCtx, cancelSlow := context.WithCancel(t.Context())
	defer cancelSlow()
	slow := make(chan lang.Result, 1)
	go func() {
		slow <- c.Eval(slowCtx, lang.Request{Cell: cell(t, "s = remote spin()"), Scope: map[string]lang.Value{"spin": fn}})
	}()
	c.waitFor(t, "the slow cell runs", func(s []remote.ServerInfo) bool { return s[0].InFlight == 1 })

	for i := range 5 {
		if got := c.mustEval(t, fmt.Sprintf("f = remote %d + 1", i), nil); got != fmt.Sprint(i+1) {
			t.Errorf("fast cell %d = %s", i, got)
		}
	}
	select {
	case res := <-slow:
		t.Fatalf("the slow cell ended: %v", res.Err)
	default:
	}
	cancelSlow()
	select {
	case res := <-slow:
		if !errors.Is(res.Err, context.Canceled) {
			t.Errorf("cancelled cell: %v, want an error wrapping context.Canceled", res.Err)
		}
	case <-time.After(wait):
		t.Fatal("a cancelled evaluation did not return")
	}
}

func TestClientCancelFreesSlot(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0", server.Config{Name: "a", MaxConcurrency: 1, MaxSteps: 1 << 60, Timeout: 10 * time.Minute})
	c := newClient(t, remote.ClientConfig{})
	c.connect(t, srv.addr)
	fn := c.local(t, spin, nil)

	idle := func(s []remote.ServerInfo) bool {
		return s[0].InFlight == 0 && s[0].Queued == 0 && s[0].ClientInFlight == 0
	}
	for round := range 2 {
		c.waitFor(t, "the server is idle", idle)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan lang.Result, 1)
		go func() {
			done <- c.Eval(ctx, lang.Request{Cell: cell(t, "s = remote spin()"), Scope: map[string]lang.Value{"spin": fn}})
		}()
		c.waitFor(t, "the loop holds the only slot", func(s []remote.ServerInfo) bool { return s[0].InFlight == 1 })
		start := time.Now()
		cancel()
		select {
		case res := <-done:
			if !errors.Is(res.Err, context.Canceled) {
				t.Fatalf("round %d: cancelled cell: %v, want context.Canceled", round, res.Err)
			}
			t.Logf("round %d: cancelled in %v", round, time.Since(start))
		case <-time.After(wait):
			t.Fatalf("round %d: the cancelled evaluation did not return", round)
		}
		// With the loop stopped on the server, the next cell gets the slot.
		if got := c.mustEval(t, "x = remote 6 * 7", nil); got != "42" {
			t.Errorf("round %d: x = %s", round, got)
		}
	}
	c.waitFor(t, "the server is idle", idle)
}

func TestClientWrongToken(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0", server.Config{Name: "a"})
	c := newClient(t, remote.ClientConfig{Token: "not-the-token"})
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	err := c.Connect(ctx, srv.addr)
	var serr *remote.ServerError
	if !errors.As(err, &serr) || serr.Code != remote.CodeUnauthorized {
		t.Fatalf("Connect with a wrong token: %v, want a *ServerError with CodeUnauthorized", err)
	}
	for _, want := range []string{"server " + srv.addr + " refused the connection: bad token", "--token or SPERSE_TOKEN"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "not-the-token") {
		t.Errorf("error %q shows the token", err)
	}
	if s := c.Servers(); len(s) != 0 {
		t.Errorf("a refusing server is kept: %+v", s)
	}
	if _, err := os.Stat(c.known); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refusing server was remembered in known_servers: %v", err)
	}
	res := c.eval(t, "x = remote 1", nil)
	var u interface{ Unavailable() bool }
	if !errors.As(res.Err, &u) || !u.Unavailable() {
		t.Errorf("Eval after a refusal: %v, want unavailable", res.Err)
	}
}

func TestClientTrustOnFirstUse(t *testing.T) {
	known := filepath.Join(t.TempDir(), "cfg", "sperse", "known_servers")
	first := startServer(t, "127.0.0.1:0", server.Config{Name: "a", Certificate: newCert(t)})
	addr := first.addr

	c1 := newClient(t, remote.ClientConfig{KnownServers: known})
	c1.connect(t, addr)
	data, err := os.ReadFile(known)
	if err != nil {
		t.Fatalf("known_servers not written: %v", err)
	}
	if want := addr + " " + first.Fingerprint() + "\n"; string(data) != want {
		t.Errorf("known_servers =\n%s\nwant\n%s", data, want)
	}
	if got := c1.Servers()[0].Fingerprint; got != first.Fingerprint() {
		t.Errorf("ServerInfo.Fingerprint = %s, want %s", got, first.Fingerprint())
	}

	// A second client trusts the remembered certificate; nothing is added.
	c2 := newClient(t, remote.ClientConfig{KnownServers: known})
	c2.connect(t, addr)
	if got := c2.mustEval(t, "x = remote where()", nil); got != `"a"` {
		t.Errorf("x = %s", got)
	}
	if again, _ := os.ReadFile(known); !bytes.Equal(again, data) {
		t.Errorf("known_servers changed by a second client:\n%s", again)
	}
	c1.Close()
	c2.Close()

	// A server with a new certificate on the same address is refused.
	first.stop(t)
	second := startServer(t, addr, server.Config{Name: "a", Certificate: newCert(t)})
	c3 := newClient(t, remote.ClientConfig{KnownServers: known})
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	err = c3.Connect(ctx, addr)
	var cerr *remote.CertificateError
	if !errors.As(err, &cerr) {
		t.Fatalf("Connect to a changed certificate: %v, want a *CertificateError", err)
	}
	want := fmt.Sprintf("server %s presented certificate %s but known_servers (%s, line 1) has %s; "+
		"if the server's certificate was replaced on purpose, delete that line, or pin the new one with %s#%s",
		addr, second.Fingerprint(), known, first.Fingerprint(), addr, second.Fingerprint())
	if err.Error() != want {
		t.Errorf("error\n%s\nwant\n%s", err, want)
	}
	if s := c3.Servers(); len(s) != 0 {
		t.Errorf("a server with a changed certificate is kept: %+v", s)
	}

	// Pinning the new certificate, as the message says, works and writes nothing.
	c3.connect(t, addr+"#"+second.Fingerprint())
	if got := c3.mustEval(t, "x = remote 1 + 1", nil); got != "2" {
		t.Errorf("x = %s", got)
	}
	if again, _ := os.ReadFile(known); !bytes.Equal(again, data) {
		t.Errorf("known_servers changed by a pinned connection:\n%s", again)
	}
}

func TestClientPinned(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0", server.Config{Name: "a"})
	c := newClient(t, remote.ClientConfig{})
	c.connect(t, srv.addr+"#"+srv.Fingerprint())
	if got := c.mustEval(t, "x = remote where()", nil); got != `"a"` {
		t.Errorf("x = %s", got)
	}
	if s := c.Servers(); len(s) != 1 || !s[0].Pinned || s[0].Fingerprint != srv.Fingerprint() {
		t.Errorf("Servers() = %+v", s)
	}
	if _, err := os.Stat(c.known); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a pinned connection wrote known_servers: %v", err)
	}

	wrong := remote.Fingerprint([]byte("another certificate"))
	other := newClient(t, remote.ClientConfig{})
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	err := other.Connect(ctx, srv.addr+"#"+wrong)
	var cerr *remote.CertificateError
	if !errors.As(err, &cerr) || cerr.Got != srv.Fingerprint() || cerr.Want != wrong {
		t.Fatalf("Connect with a wrong pin: %v, want a *CertificateError", err)
	}
	if !strings.Contains(err.Error(), "but the address pins "+wrong) {
		t.Errorf("error %q", err)
	}
	if s := other.Servers(); len(s) != 0 {
		t.Errorf("a server with a wrong pin is kept: %+v", s)
	}

	if err := other.Connect(ctx, srv.addr+"#sha256:short"); err == nil {
		t.Error("Connect with a malformed pin succeeded")
	}
}

func TestClientReconnects(t *testing.T) {
	cert := newCert(t)
	first := startServer(t, "127.0.0.1:0", server.Config{Name: "a", Certificate: cert})
	addr := first.addr
	c := newClient(t, remote.ClientConfig{})
	c.connect(t, addr)
	if got := c.mustEval(t, "x = remote 1", nil); got != "1" {
		t.Fatalf("x = %s", got)
	}

	select { // drain
	case <-c.changes:
	default:
	}
	first.stop(t)
	select {
	case <-c.changes:
	case <-time.After(wait):
		t.Fatal("no OnChange when the server went away")
	}
	c.waitFor(t, "the client sees the server gone", func(s []remote.ServerInfo) bool { return !s[0].Connected })
	if s := c.Servers()[0]; s.LastError == nil {
		t.Errorf("a lost server has no LastError: %+v", s)
	}
	res := c.eval(t, "x = remote 2", nil)
	var u interface{ Unavailable() bool }
	if !errors.As(res.Err, &u) || !u.Unavailable() || !strings.Contains(res.Err.Error(), "a [disconnected]") {
		t.Errorf("Eval while the server is down: %v", res.Err)
	}

	startServer(t, addr, server.Config{Name: "a", Certificate: cert})
	c.waitFor(t, "the client reconnects by itself", func(s []remote.ServerInfo) bool { return s[0].Connected })
	if got := c.mustEval(t, "x = remote 3", nil); got != "3" {
		t.Errorf("x = %s after reconnecting", got)
	}
	if s := c.Servers(); len(s) != 1 || s[0].LastError != nil {
		t.Errorf("after reconnecting: %+v", s)
	}
}

func TestClientGivesUpOnChangedCertificate(t *testing.T) {
	first := startServer(t, "127.0.0.1:0", server.Config{Name: "a"})
	addr := first.addr
	c := newClient(t, remote.ClientConfig{})
	c.connect(t, addr) // trusted on first use

	first.stop(t)
	second := startServer(t, addr, server.Config{Name: "a"}) // a new certificate
	c.waitFor(t, "the client gives up", func(s []remote.ServerInfo) bool { return s[0].GaveUp })
	info := c.Servers()[0]
	var cerr *remote.CertificateError
	if info.Connected || !errors.As(info.LastError, &cerr) || cerr.Got != second.Fingerprint() || cerr.Want != first.Fingerprint() {
		t.Fatalf("after a certificate change: %+v", info)
	}

	// Connecting again, pinning the new certificate, replaces the server.
	c.connect(t, addr+"#"+second.Fingerprint())
	if s := c.Servers(); len(s) != 1 || !s[0].Connected || s[0].GaveUp || !s[0].Pinned {
		t.Fatalf("after pinning: %+v", s)
	}
	if got := c.mustEval(t, "x = remote 5", nil); got != "5" {
		t.Errorf("x = %s", got)
	}
}

func TestClientServerClosedDuringEvaluation(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0", server.Config{Name: "a", MaxSteps: 1 << 60, Timeout: 10 * time.Minute})
	c := newClient(t, remote.ClientConfig{})
	c.connect(t, srv.addr)
	fn := c.local(t, spin, nil)
	done := make(chan lang.Result, 1)
	go func() { done <- c.eval(t, "s = remote spin()", map[string]lang.Value{"spin": fn}) }()
	c.waitFor(t, "the loop runs", func(s []remote.ServerInfo) bool { return s[0].InFlight == 1 })

	srv.stop(t)
	select {
	case res := <-done:
		checkLost(t, res.Err, "server a was lost during the evaluation: the server shut down")
	case <-time.After(wait):
		t.Fatal("the evaluation did not end when its server closed")
	}
}

func TestClientServerKilledDuringEvaluation(t *testing.T) {
	t.Parallel() // waits for the idle timeout
	srv := startServer(t, "127.0.0.1:0", server.Config{Name: "a", MaxSteps: 1 << 60, Timeout: 10 * time.Minute})
	c := newClient(t, remote.ClientConfig{})
	c.connect(t, srv.addr)
	fn := c.local(t, spin, nil)
	done := make(chan lang.Result, 1)
	go func() { done <- c.eval(t, "s = remote spin()", map[string]lang.Value{"spin": fn}) }()
	c.waitFor(t, "the loop runs", func(s []remote.ServerInfo) bool { return s[0].InFlight == 1 })

	// The server's socket closes with no word to the client: it is as dead
	// as a killed process, and the client notices when its pings go unanswered.
	srv.pc.Close()
	select {
	case res := <-done:
		checkLost(t, res.Err, "server a was lost during the evaluation: no response from the server")
	case <-time.After(wait):
		t.Fatal("the evaluation did not end when its server died")
	}
}

// checkLost checks that err says the server was lost, and is classified so.
func checkLost(t *testing.T, err error, prefix string) {
	t.Helper()
	var lost interface{ ServerLost() bool }
	if !errors.As(err, &lost) || !lost.ServerLost() {
		t.Fatalf("error %v: want one whose ServerLost is true", err)
	}
	if !strings.HasPrefix(err.Error(), prefix) {
		t.Errorf("error %q does not start with %q", err, prefix)
	}
}

func TestClientServers(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0", server.Config{Name: "a", Tags: []string{"cpu"}, MaxConcurrency: 3, MaxMessage: 1 << 20})
	c := newClient(t, remote.ClientConfig{})
	c.connect(t, srv.addr)
	// Connecting again to the same address is a no-op.
	c.connect(t, srv.addr)
	s := c.Servers()
	if len(s) != 1 {
		t.Fatalf("Servers() = %+v, want one", s)
	}
	info := s[0]
	if info.Name != "a" || info.Addr != srv.addr || info.Fingerprint != srv.Fingerprint() || !info.Connected ||
		info.GoingAway || info.LastError != nil || strings.Join(info.Tags, ",") != "cpu" ||
		info.Limits.MaxConcurrency != 3 || info.Limits.MaxMessage != 1<<20 {
		t.Errorf("ServerInfo = %+v", info)
	}
	if info.RTT <= 0 || info.RTT > wait {
		t.Errorf("RTT = %v, want > 0", info.RTT)
	}
}

func TestClientShutdownGoAway(t *testing.T) {
	a := startServer(t, "127.0.0.1:0", server.Config{Name: "a", Tags: []string{"x"}, MaxSteps: 1 << 60, Timeout: 10 * time.Minute})
	b := startServer(t, "127.0.0.1:0", server.Config{Name: "b", Tags: []string{"x"}})
	c := newClient(t, remote.ClientConfig{})
	c.connect(t, a.addr)
	c.connect(t, b.addr)

	// An evaluation in flight on a when it shuts down still completes. It
	// must last long enough to be seen running: try longer ones until one is.
	var (
		done chan lang.Result
		n    int
	)
	for n = 1 << 18; ; n *= 4 {
		if n > 1<<28 {
			t.Fatal("no evaluation lasted long enough to be seen running")
		}
		c.waitFor(t, "a is idle", func(s []remote.ServerInfo) bool { return s[0].InFlight == 0 })
		fn := c.local(t, fmt.Sprintf("def slow():\n    n = 0\n    for i in range(%d):\n        n += i\n    return n", n), nil)
		done = make(chan lang.Result, 1)
		go func() { done <- c.eval(t, "s = remote@a slow()", map[string]lang.Value{"slow": fn}) }()
		ran := false
		c.waitFor(t, "a runs the cell, or it ends", func(s []remote.ServerInfo) bool {
			ran = s[0].InFlight == 1
			return ran || len(done) > 0
		})
		if ran && len(done) == 0 {
			break
		}
		<-done
	}
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		shut <- a.Shutdown(ctx)
	}()
	c.waitFor(t, "a is going away", func(s []remote.ServerInfo) bool { return s[0].GoingAway || !s[0].Connected })
	if got := c.mustEval(t, "w = remote@x where()", nil); got != `"b"` {
		t.Errorf("new work went to %s, want b", got)
	}
	select {
	case res := <-done:
		if want := fmt.Sprint(n * (n - 1) / 2); res.Err != nil || res.Value.String() != want {
			t.Errorf("the evaluation in flight during Shutdown: %v, %v", res.Value, res.Err)
		}
	case <-time.After(wait):
		t.Fatal("the evaluation in flight did not complete")
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

func TestClientCloseLeaksNothing(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0", server.Config{Name: "a"})
	before := runtime.NumGoroutine()

	c := remote.NewClient(remote.ClientConfig{Token: testToken, KnownServers: filepath.Join(t.TempDir(), "known")})
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	if err := c.Connect(ctx, srv.addr); err != nil {
		t.Fatal(err)
	}
	res := c.Eval(ctx, lang.Request{Cell: cell(t, "x = remote 1")})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	// A server that cannot be reached keeps a reconnecting goroutine.
	dead, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.LocalAddr().String()
	dead.Close()
	if err := c.Connect(ctx, deadAddr); err == nil {
		t.Fatal("Connect to nothing succeeded")
	}
	if s := c.Servers(); len(s) != 2 || s[1].Connected {
		t.Fatalf("an unreachable server is not kept: %+v", s)
	}

	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := c.Connect(ctx, srv.addr); !errors.Is(err, remote.ErrClientClosed) {
		t.Errorf("Connect after Close: %v", err)
	}

	// No goroutine of the client is left, and quic-go's end soon after.
	buf := make([]byte, 1<<20)
	if stacks := string(buf[:runtime.Stack(buf, true)]); strings.Contains(stacks, "sperse/remote.(*Client)") {
		t.Errorf("goroutines of the client left after Close:\n%s", stacks)
	}
	deadline := time.Now().Add(wait)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

package remote_test

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/remote"
	"github.com/sperse/sperse/server"
)

// countingConn counts the bytes a server receives.
type countingConn struct {
	net.PacketConn
	n atomic.Int64
}

// SetReadBuffer and SetWriteBuffer let quic-go size the socket's buffers.
func (c *countingConn) SetReadBuffer(n int) error {
	return c.PacketConn.(*net.UDPConn).SetReadBuffer(n)
}

func (c *countingConn) SetWriteBuffer(n int) error {
	return c.PacketConn.(*net.UDPConn).SetWriteBuffer(n)
}

func (c *countingConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, addr, err := c.PacketConn.ReadFrom(p)
	c.n.Add(int64(n))
	return n, addr, err
}

// startCountingServer starts a server with cfg on a loopback socket that
// counts the bytes it receives; it is closed when the test ends.
func startCountingServer(t testing.TB, cfg server.Config) (*server.Server, *countingConn, string) {
	t.Helper()
	cfg.Tokens = []string{testToken}
	cfg.Logger = slog.New(slog.DiscardHandler)
	s, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cc := &countingConn{PacketConn: pc}
	served := make(chan error, 1)
	go func() { served <- s.Serve(cc) }()
	for deadline := time.Now().Add(wait); s.Addr() == nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the server does not listen")
		}
	}
	t.Cleanup(func() {
		s.Close()
		<-served
		pc.Close()
	})
	return s, cc, pc.LocalAddr().String() + "#" + s.Fingerprint()
}

// bigValue evaluates src, a cell, in a fresh interpreter.
func bigValue(t testing.TB, src string) lang.Value {
	t.Helper()
	v, err := lang.NewInterp("local").Eval(context.Background(), lang.ParseCell("big.sp", 1, src), nil)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestClientValueCache runs a cell that captures a 10 MB list twice: the
// second time the server receives a small fraction of the bytes (the
// list's hash instead of the list), and the value is the same.
func TestClientValueCache(t *testing.T) {
	_, conn, addr := startCountingServer(t, server.Config{Name: "a"})
	c := newClient(t, remote.ClientConfig{})
	c.connect(t, addr)
	xs := bigValue(t, "xs = list(range(100000, 2100000))")
	enc, err := lang.Encode(xs)
	if err != nil {
		t.Fatal(err)
	}
	if len(enc) < 9<<20 {
		t.Fatalf("the list takes %d bytes", len(enc))
	}
	scope := map[string]lang.Value{"xs": xs}
	const src = "n = remote sum(xs) + len(xs)"

	before := conn.n.Load()
	first := c.mustEval(t, src, scope)
	missBytes := conn.n.Load() - before
	before = conn.n.Load()
	second := c.mustEval(t, src, scope)
	hitBytes := conn.n.Load() - before

	if second != first {
		t.Errorf("second run (cache hit): %s; first (miss): %s", second, first)
	}
	if want := c.local(t, strings.TrimPrefix(src, "n = remote "), scope).String(); first != want {
		t.Errorf("n = %s, want %s", first, want)
	}
	if missBytes < int64(len(enc)) {
		t.Errorf("the first run sent %d bytes, less than the list's %d", missBytes, len(enc))
	}
	if hitBytes > 64<<10 {
		t.Errorf("the second run sent %d bytes; want the hash, not the %d bytes of the list", hitBytes, len(enc))
	}
	t.Logf("first run: %d bytes received, second: %d", missBytes, hitBytes)

	// A change to the list sends it again, and gives the new value.
	ys := bigValue(t, "ys = list(range(100001, 2100001))")
	if got, want := c.mustEval(t, src, map[string]lang.Value{"xs": ys}), c.local(t, "sum(xs) + len(xs)", map[string]lang.Value{"xs": ys}).String(); got != want {
		t.Errorf("with another list: n = %s, want %s", got, want)
	}
}

// TestClientValueCacheServerRestarted checks that a client that refers to
// a value a restarted server no longer keeps sends it again, and gets the
// right value.
func TestClientValueCacheServerRestarted(t *testing.T) {
	cert := newCert(t)
	first := startServer(t, "127.0.0.1:0", server.Config{Name: "a", Certificate: cert})
	addr := first.addr
	c := newClient(t, remote.ClientConfig{})
	c.connect(t, addr)
	xs := c.local(t, "xs = list(range(100000, 200000))", nil)
	scope := map[string]lang.Value{"xs": xs}
	const src = "n = remote sum(xs)"
	want := c.mustEval(t, src, scope)
	if got := c.mustEval(t, src, scope); got != want {
		t.Fatalf("n = %s from the cache, %s sent", got, want)
	}
	if strings.Contains(first.logs.String(), "no such value") {
		t.Errorf("the first server lacked a value:\n%s", first.logs)
	}

	first.stop(t)
	c.waitFor(t, "the client sees the server gone", func(s []remote.ServerInfo) bool { return !s[0].Connected })
	second := startServer(t, addr, server.Config{Name: "a", Certificate: cert})
	c.waitFor(t, "the client reconnects", func(s []remote.ServerInfo) bool { return s[0].Connected })
	if got := c.mustEval(t, src, scope); got != want {
		t.Errorf("n = %s after the restart, want %s", got, want)
	}
	if !strings.Contains(second.logs.String(), `code="no such value"`) {
		t.Errorf("the restarted server was not asked for the value by reference:\n%s", second.logs)
	}
}

// TestClientValueCacheEvicted checks that a client whose value another
// client's values pushed out of a small server cache sends it again, and
// that every result is right.
func TestClientValueCacheEvicted(t *testing.T) {
	a := newClient(t, remote.ClientConfig{})
	lists := make([]lang.Value, 3)
	for i := range lists {
		lists[i] = a.local(t, "xs = list(range("+strings.Repeat("9", i+6)+", "+strings.Repeat("9", i+6)+" + 30000))", nil)
	}
	enc, _ := lang.Encode(lists[2])
	ts := startServer(t, "127.0.0.1:0", server.Config{Name: "a", ValueCache: int64(len(enc)) * 5 / 2}) // two lists
	b := newClient(t, remote.ClientConfig{})
	a.connect(t, ts.addr)
	b.connect(t, ts.addr)
	const src = "n = remote xs[0] + len(xs)"
	check := func(c *testClient, i int) {
		t.Helper()
		scope := map[string]lang.Value{"xs": lists[i]}
		if got, want := c.mustEval(t, src, scope), c.local(t, "xs[0] + len(xs)", scope).String(); got != want {
			t.Errorf("list %d: n = %s, want %s", i, got, want)
		}
	}
	check(a, 0)
	check(b, 1)
	check(b, 2) // list 0 goes
	check(a, 0) // a refers to it, the server lacks it, a sends it
	check(a, 0)
	if n := strings.Count(ts.logs.String(), `code="no such value"`); n != 1 {
		t.Errorf("%d references answered missing, want 1:\n%s", n, ts.logs)
	}
}

// BenchmarkClientCapturedList runs again and again a cell that captures a
// 10 MB list, on a server that keeps values (cache) and one that does not
// (nocache), and reports the bytes the server receives per run.
func BenchmarkClientCapturedList(b *testing.B) {
	xs := bigValue(b, "xs = list(range(100000, 2100000))")
	c := lang.ParseCell("ws.sp", 1, "n = remote len(xs)")
	for _, bc := range []struct {
		name  string
		cache int64
	}{{"cache", 0}, {"nocache", -1}} {
		b.Run(bc.name, func(b *testing.B) {
			_, conn, addr := startCountingServer(b, server.Config{Name: "a", ValueCache: bc.cache})
			cl := newClient(b, remote.ClientConfig{})
			cl.connect(b, addr)
			req := lang.Request{Cell: c, Scope: map[string]lang.Value{"xs": xs}}
			if res := cl.Eval(b.Context(), req); res.Err != nil {
				b.Fatal(res.Err)
			}
			before := conn.n.Load()
			for b.Loop() {
				if res := cl.Eval(b.Context(), req); res.Err != nil {
					b.Fatal(res.Err)
				}
			}
			b.ReportMetric(float64(conn.n.Load()-before)/float64(b.N), "recv-B/op")
		})
	}
}

// TestClientValueCachePipelined checks that a cell sent with a reference
// to a pending input (promise pipelining) also sends its big values by
// hash once the server has them.
func TestClientValueCachePipelined(t *testing.T) {
	ts := startServer(t, "127.0.0.1:0", server.Config{Name: "a"})
	c := newClient(t, remote.ClientConfig{})
	c.connect(t, ts.addr)
	xs := c.local(t, "xs = list(range(100000, 200000))", nil)
	for run := range 2 {
		first := lang.Request{Cell: cell(t, "first = remote 7"), Promise: lang.NewPromise()}
		second := lang.Request{Cell: cell(t, "second = remote first + len(xs)"), Promise: lang.NewPromise(),
			Scope: map[string]lang.Value{"xs": xs}, Pending: map[string]*lang.Promise{"first": first.Promise}}
		var wg sync.WaitGroup
		var res lang.Result
		wg.Go(func() { res = c.Eval(t.Context(), second); second.Promise.Resolve(res) })
		first.Promise.Resolve(c.Eval(t.Context(), first))
		wg.Wait()
		if res.Err != nil || res.Value.String() != "100007" {
			t.Fatalf("run %d: second = %v, %v; want 100007", run, res.Value, res.Err)
		}
	}
	logs := ts.logs.String()
	if !strings.Contains(logs, "pipelined=1 cached=1") {
		t.Errorf("the second run was not pipelined with the list by hash:\n%s", logs)
	}
}

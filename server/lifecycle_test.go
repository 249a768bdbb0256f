package server

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/sperse/sperse/remote"
)

// gate holds evaluations of cells whose name starts with "slow" until it is
// opened, and tells which ones started and, if stopped is not nil, which of
// them were stopped (their context ended) before it opened.
type gate struct {
	started chan string
	open    chan struct{}
	stopped chan string
}

func newGate() *gate {
	return &gate{started: make(chan string, 16), open: make(chan struct{})}
}

// hook is a Server.testHookRun.
func (g *gate) hook(ctx context.Context, name string) {
	if !strings.HasPrefix(name, "slow") {
		return
	}
	g.started <- name
	select {
	case <-g.open:
	case <-ctx.Done():
		if g.stopped != nil {
			g.stopped <- name
		}
	}
}

// wait waits for an evaluation held by g to start, and returns its name.
func (g *gate) wait(t *testing.T) string {
	t.Helper()
	select {
	case name := <-g.started:
		return name
	case <-time.After(testTimeout):
		t.Fatal("no evaluation started")
		return ""
	}
}

func TestQueueAndCancel(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cancel func(str *quic.Stream)
	}{
		{"cancel both ways", func(str *quic.Stream) {
			str.CancelRead(remote.StreamCancelled)
			str.CancelWrite(remote.StreamCancelled)
		}},
		{"stop sending", func(str *quic.Stream) { str.CancelRead(remote.StreamCancelled) }},
		{"reset", func(str *quic.Stream) { str.CancelWrite(remote.StreamCancelled) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, Config{MaxConcurrency: 1, MaxSteps: 1 << 62, Timeout: time.Hour}, nil)
			c := connect(t, ts)

			// A cell that runs forever takes the only slot...
			spin := c.open()
			if err := remote.WriteFrame(spin, remote.MsgEval, remote.Eval{Kind: remote.EvalCell, Job: cellJob(t, spinCell, nil)}); err != nil {
				t.Fatal(err)
			}
			if tc.name != "reset" { // a reset stream must not have been closed first
				spin.Close()
			}
			c.waitStatus(remote.Status{InFlight: 1})
			// ... so the next one waits its turn.
			next := c.start(remote.EvalCell, cellJob(t, "next = where()", nil))
			c.waitStatus(remote.Status{InFlight: 1, Queued: 1})

			// Cancelling the first stops it and frees the slot.
			tc.cancel(spin)
			if got := value(t, c.result(next)); got != `"testsrv"` {
				t.Errorf("next = %s", got)
			}
			c.waitStatus(remote.Status{})
			waitLog(t, ts, "outcome=cancelled") // logged after the slot is freed
			if logs := ts.logs.String(); !strings.Contains(logs, "cell=spin kind=cell") {
				t.Errorf("log shows no cancelled evaluation of spin")
			}
		})
	}
}

func TestOverloaded(t *testing.T) {
	ts := startServer(t, Config{MaxConcurrency: 1, MaxQueue: 1, MaxSteps: 1 << 62, Timeout: time.Hour}, nil)
	c := connect(t, ts)
	spin := c.start(remote.EvalCell, cellJob(t, spinCell, nil))
	c.waitStatus(remote.Status{InFlight: 1})
	queued := c.start(remote.EvalCell, cellJob(t, "q = 1", nil))
	c.waitStatus(remote.Status{InFlight: 1, Queued: 1})

	wantError(t, c.eval(remote.EvalCell, cellJob(t, "x = 1", nil)), remote.CodeOverloaded,
		"server testsrv is busy: 1 evaluations running and 1 waiting; retry later")

	spin.CancelRead(remote.StreamCancelled)
	spin.CancelWrite(remote.StreamCancelled)
	if got := value(t, c.result(queued)); got != "1" {
		t.Errorf("queued = %s, want 1", got)
	}
}

func TestConcurrencyLimit(t *testing.T) {
	g := newGate()
	ts := startServer(t, Config{MaxConcurrency: 1}, func(s *Server) { s.testHookRun = g.hook })
	c := connect(t, ts)
	first := c.start(remote.EvalCell, cellJob(t, "slow1 = 1", nil))
	second := c.start(remote.EvalCell, cellJob(t, "slow2 = 2", nil))
	g.wait(t)
	c.waitStatus(remote.Status{InFlight: 1, Queued: 1})
	close(g.open)
	if a, b := value(t, c.result(first)), value(t, c.result(second)); a != "1" || b != "2" {
		t.Errorf("slow1, slow2 = %s, %s; want 1, 2", a, b)
	}
	ts.limiter.mu.Lock()
	peak := ts.limiter.peak
	ts.limiter.mu.Unlock()
	if peak != 1 {
		t.Errorf("%d evaluations ran at once, want 1", peak)
	}
}

func TestShutdown(t *testing.T) {
	g := newGate()
	ts := startServer(t, Config{}, func(s *Server) { s.testHookRun = g.hook })
	c := connect(t, ts)
	slow := c.start(remote.EvalCell, cellJob(t, "slow = where()", nil))
	g.wait(t)

	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		shut <- ts.Shutdown(ctx)
	}()
	var goAway remote.GoAway
	if err := remote.DecodeBody(remote.MsgGoAway, c.waitControl(remote.MsgGoAway, nil), &goAway); err != nil || !strings.Contains(goAway.Reason, "shutting down") {
		t.Errorf("goaway %+v, %v", goAway, err)
	}
	// No new evaluation is accepted ...
	wantError(t, c.eval(remote.EvalCell, cellJob(t, "x = 1", nil)), remote.CodeShutdown, "server testsrv is shutting down: retry on another server")
	// ... and no new connection.
	dialCtx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	if conn, err := dialContext(dialCtx, ts.addr, ts.Fingerprint()); err == nil {
		conn.CloseWithError(0, "")
		t.Errorf("a new connection was accepted during shutdown")
	}

	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with an evaluation in flight", err)
	default:
	}
	close(g.open) // the evaluation in flight completes
	if got := value(t, c.result(slow)); got != `"testsrv"` {
		t.Errorf("slow = %s", got)
	}
	c.conn.CloseWithError(remote.ConnClosed, "") // has its results: leaves
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-ts.served; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve returned %v, want ErrServerClosed", err)
	}
	ts.served <- ErrServerClosed // for the cleanup

	// Both are idempotent, and a closed server serves no more.
	if err := ts.Shutdown(context.Background()); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	if err := ts.Close(); err != nil {
		t.Errorf("Close after Shutdown: %v", err)
	}
	if err := ts.ListenAndServe("127.0.0.1:0"); !errors.Is(err, ErrServerClosed) {
		t.Errorf("ListenAndServe after Shutdown: %v, want ErrServerClosed", err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if err := ts.Serve(pc); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Shutdown: %v, want ErrServerClosed", err)
	}
}

func TestShutdownClosesClientsThatStay(t *testing.T) {
	g := newGate()
	ts := startServer(t, Config{}, func(s *Server) { s.testHookRun = g.hook })
	c := connect(t, ts)
	slow := c.start(remote.EvalCell, cellJob(t, "slow = 1", nil))
	g.wait(t)
	shut := make(chan error, 1)
	go func() { shut <- ts.Shutdown(context.Background()) }()
	c.waitControl(remote.MsgGoAway, nil)
	close(g.open)
	// The client reads its result but keeps the connection open: the server
	// closes it once the client has had time to read.
	if got := value(t, c.result(slow)); got != "1" {
		t.Errorf("slow = %s", got)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if e := closeCause(t, c.conn); e.ErrorCode != remote.ConnShutdown || !e.Remote {
		t.Errorf("closed with %v, want code %#x", e, remote.ConnShutdown)
	}
}

func TestShutdownDeadline(t *testing.T) {
	g := newGate()
	ts := startServer(t, Config{}, func(s *Server) { s.testHookRun = g.hook })
	c := connect(t, ts)
	slow := c.start(remote.EvalCell, cellJob(t, "slow = 1", nil))
	g.wait(t)

	// The evaluation never completes: Shutdown gives up when ctx ends,
	// stops it and closes the connection.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := ts.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown: %v, want DeadlineExceeded", err)
	}
	if err := <-ts.served; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve returned %v, want ErrServerClosed", err)
	}
	ts.served <- ErrServerClosed
	if _, err := readResult(slow); err == nil {
		t.Errorf("an evaluation stopped by Close sent a result")
	}
	if e := closeCause(t, c.conn); e.ErrorCode != remote.ConnShutdown {
		t.Errorf("closed with %v, want code %#x", e, remote.ConnShutdown)
	}
}

func TestClose(t *testing.T) {
	ts := startServer(t, Config{MaxSteps: 1 << 62, Timeout: time.Hour}, nil)
	c := connect(t, ts)
	spin := c.start(remote.EvalCell, cellJob(t, spinCell, nil))
	c.waitStatus(remote.Status{InFlight: 1})
	// Close stops a running evaluation and returns at once.
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := readResult(spin); err == nil {
		t.Errorf("evaluation stopped by Close sent a result")
	}
	if e := closeCause(t, c.conn); e.ErrorCode != remote.ConnShutdown {
		t.Errorf("closed with %v, want code %#x", e, remote.ConnShutdown)
	}
	if err := <-ts.served; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve returned %v, want ErrServerClosed", err)
	}
	ts.served <- ErrServerClosed
}

func TestNewErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no name", Config{Tokens: []string{testToken}}, "server name"},
		{"bad name", Config{Name: "a b", Tokens: []string{testToken}}, `server name "a b"`},
		{"bad tag", Config{Name: "a", Tags: []string{"x,y"}, Tokens: []string{testToken}}, `server tag "x,y"`},
		{"no token", Config{Name: "a"}, "requires at least one client token"},
		{"empty token", Config{Name: "a", Tokens: []string{""}}, "token 1: empty token"},
		{"token with a space", Config{Name: "a", Tokens: []string{"secret token"}}, "token 1: token has a space"},
		{"tiny MaxMessage", Config{Name: "a", Tokens: []string{testToken}, MaxMessage: 100}, "MaxMessage 100 is below"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want an error containing %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q shows the token", err)
			}
		})
	}
}

func TestCancelBeforeEval(t *testing.T) {
	ts := startServer(t, Config{}, nil)
	c := connect(t, ts)
	str := c.open()
	frame := evalFrame(t, remote.EvalCell, cellJob(t, "x = 1", nil))
	if _, err := str.Write(frame[:len(frame)/2]); err != nil {
		t.Fatal(err)
	}
	str.CancelWrite(remote.StreamCancelled)
	str.CancelRead(remote.StreamCancelled)
	waitLog(t, ts, "msg=evaluation")
	if logs := ts.logs.String(); !strings.Contains(logs, "outcome=cancelled") || strings.Contains(logs, "bad evaluation request") {
		t.Errorf("a stream cancelled before its eval is not logged as cancelled")
	}
	if got := value(t, c.eval(remote.EvalCell, cellJob(t, "x = 1", nil))); got != "1" {
		t.Errorf("x = %s", got)
	}
}

// waitLog waits for the server's log to contain s.
func waitLog(t *testing.T, ts *testServer, s string) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !strings.Contains(ts.logs.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("the log has no %q", s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

package remote_test

import (
	"context"
	"errors"
	"fmt"
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

// TestCalls checks evaluations made while another is in flight, which go as
// Calls on the call stream: their values, errors, big values both ways,
// cancellation, and that closing the client leaves none of its goroutines.
func TestCalls(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0", server.Config{Name: "a", MaxConcurrency: 2, MaxSteps: 1 << 60, Timeout: 10 * time.Minute})
	c := newClient(t, remote.ClientConfig{})
	c.connect(t, srv.addr)
	fn := c.local(t, spin, nil)
	spinScope := map[string]lang.Value{"spin": fn}

	// A loop holds one slot; while it runs, the others are Calls.
	slowCtx, cancelSlow := context.WithCancel(t.Context())
	defer cancelSlow()
	slow := make(chan lang.Result, 1)
	go func() { slow <- c.Eval(slowCtx, lang.Request{Cell: cell(t, "s = remote spin()"), Scope: spinScope}) }()
	c.waitFor(t, "the loop runs", func(s []remote.ServerInfo) bool { return s[0].InFlight == 1 })

	// Many at once, each with its own value.
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Go(func() {
			res := c.eval(t, "y = remote x * 2", map[string]lang.Value{"x": starlark.MakeInt(i)})
			if res.Err != nil || res.Value.String() != fmt.Sprint(2*i) || res.Where != "a" {
				errs <- fmt.Errorf("y with x = %d: %v, %v on %q", i, res.Value, res.Err, res.Where)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := c.CallsSent("a"); n < 50 {
		t.Fatalf("%d Calls sent, want the 50 evaluations made while the loop ran", n)
	}

	// The code's own error, at its position.
	res := c.eval(t, "e = remote 1 // 0", nil)
	var lerr *lang.Error
	if !errors.As(res.Err, &lerr) || !strings.Contains(lerr.Msg, "division by zero") || lerr.Pos.Line != 1 {
		t.Errorf("e: %v, want the division by zero at line 1", res.Err)
	}

	// A value bigger than a call stream's frames comes back whole (on a
	// stream of its own), and so does one sent.
	if got := c.mustEval(t, `b = remote len("ab" * 40000)`, nil); got != "80000" {
		t.Errorf("b = %s", got)
	}
	res = c.eval(t, `big = remote "ab" * 40000`, nil)
	if s, ok := res.Value.(starlark.String); res.Err != nil || !ok || len(s) != 80000 || !strings.HasPrefix(string(s), "abab") {
		t.Errorf("big: %d bytes, %v", len(res.Value.String()), res.Err)
	}
	sent := starlark.String(strings.Repeat("xyz", 30000))
	if got := c.mustEval(t, "n = remote len(s)", map[string]lang.Value{"s": sent}); got != "90000" {
		t.Errorf("n = %s", got)
	}

	// Cancelling a Call returns at once and stops it on the server: the slot
	// it held runs the next.
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan lang.Result, 1)
	callsBefore := c.CallsSent("a")
	go func() { done <- c.Eval(ctx, lang.Request{Cell: cell(t, "s2 = remote spin()"), Scope: spinScope}) }()
	c.waitFor(t, "both loops run", func(s []remote.ServerInfo) bool { return s[0].InFlight == 2 })
	if c.CallsSent("a") != callsBefore+1 {
		t.Fatalf("the second loop did not go as a Call")
	}
	cancel()
	select {
	case res := <-done:
		if !errors.Is(res.Err, context.Canceled) {
			t.Errorf("cancelled Call: %v, want context.Canceled", res.Err)
		}
	case <-time.After(wait):
		t.Fatal("a cancelled Call did not return")
	}
	c.waitFor(t, "the cancelled loop stops on the server", func(s []remote.ServerInfo) bool { return s[0].InFlight == 1 })
	if got := c.mustEval(t, "z = remote 6 * 7", nil); got != "42" {
		t.Errorf("z = %s", got)
	}

	cancelSlow()
	if res := <-slow; !errors.Is(res.Err, context.Canceled) {
		t.Errorf("the loop: %v, want context.Canceled", res.Err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	waitNoClientGoroutines(t)
}

// waitNoClientGoroutines waits, bounded, until no goroutine runs the code
// of package remote: what a closed client leaves.
func waitNoClientGoroutines(t *testing.T) {
	t.Helper()
	buf := make([]byte, 1<<20)
	deadline := time.Now().Add(wait)
	for {
		stacks := string(buf[:runtime.Stack(buf, true)])
		if !strings.Contains(stacks, "sperse/remote.") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines of the client left after Close:\n%s", stacks)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCallsServerLost checks that Calls in flight when their server is lost
// fail with an error that says so (and that the client then retries on
// another server: here there is none).
func TestCallsServerLost(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0", server.Config{Name: "a", MaxConcurrency: 4, MaxSteps: 1 << 60, Timeout: 10 * time.Minute})
	c := newClient(t, remote.ClientConfig{})
	c.connect(t, srv.addr)
	fn := c.local(t, spin, nil)
	results := make(chan lang.Result, 3)
	for i := range 3 {
		go func() {
			results <- c.Eval(t.Context(), lang.Request{Cell: cell(t, fmt.Sprintf("s%d = remote spin()", i)), Scope: map[string]lang.Value{"spin": fn}})
		}()
	}
	c.waitFor(t, "the loops run", func(s []remote.ServerInfo) bool { return s[0].InFlight == 3 })
	if c.CallsSent("a") == 0 {
		t.Fatal("no loop went as a Call")
	}
	srv.stop(t)
	for range 3 {
		select {
		case res := <-results:
			checkLost(t, res.Err, "server a was lost during the evaluation")
		case <-time.After(wait):
			t.Fatal("an evaluation did not return after its server was lost")
		}
	}
}

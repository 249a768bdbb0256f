package remote_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.starlark.net/starlark"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/reactive"
	"github.com/sperse/sperse/remote"
	"github.com/sperse/sperse/server"
)

// splitClient returns a client connected to servers whose interpreter
// splits pmap and mapreduce across them, as a workspace's does.
func splitClient(t testing.TB, cfg remote.ClientConfig, servers ...*testServer) *testClient {
	t.Helper()
	c := newClient(t, cfg)
	c.interp.Splitter = c.Client
	for _, s := range servers {
		c.connect(t, s.addr)
	}
	return c
}

// run evaluates the local cell src in in, bounded.
func run(t *testing.T, ctx context.Context, in *lang.Interp, src string, scope map[string]lang.Value) (lang.Value, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	return in.Eval(ctx, cell(t, src), scope)
}

// mustRun evaluates the local cell src in in and fails the test on an error.
func mustRun(t *testing.T, in *lang.Interp, src string, scope map[string]lang.Value) lang.Value {
	t.Helper()
	v, err := run(t, t.Context(), in, src, scope)
	if err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	return v
}

// wheres returns the distinct strings of a list, sorted.
func wheres(t *testing.T, v lang.Value) []string {
	t.Helper()
	l, ok := v.(*starlark.List)
	if !ok {
		t.Fatalf("%s is not a list", v.Type())
	}
	var names []string
	for i := range l.Len() {
		s, _ := starlark.AsString(l.Index(i))
		names = append(names, s)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

func TestSplitAcrossServers(t *testing.T) {
	a := startServer(t, "127.0.0.1:0", server.Config{Name: "a", MaxConcurrency: 2})
	b := startServer(t, "127.0.0.1:0", server.Config{Name: "b", MaxConcurrency: 2})
	c := splitClient(t, remote.ClientConfig{}, a, b)
	local := lang.NewInterp("local") // splits in-process

	for _, src := range []string{
		"x = pmap(lambda v: v * v + 1, [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4, 6, 2, 6, 4, 3])",
		"x = pmap(lambda v: (v, str(v)), ['a', 'b', 'c'])",
		"x = pmap(lambda v: v % 13, range(0, 1000000))",
		"x = pmap(lambda v: v, range(10, -10, -3))",
		"x = pmap(lambda v: v, [])",
		"x = mapreduce(lambda x: x * x, sum, range(1000000))",
		"x = mapreduce(lambda x: [x], lambda xs: [y for l in xs for y in l], range(100))",
		"x = mapreduce(lambda x: x, sum, [])",
	} {
		t.Run(src, func(t *testing.T) {
			got := mustRun(t, c.interp, src, nil)
			want := mustRun(t, local, src, nil)
			if eq, err := starlark.Equal(got, want); err != nil || !eq {
				g, w := got.String(), want.String()
				t.Errorf("split across servers: %.200s\nlocal: %.200s", g, w)
			}
		})
	}

	// Both servers evaluate chunks, and a closure travels with its scope.
	if got := wheres(t, mustRun(t, c.interp, "x = pmap(lambda x: where(), range(8))", nil)); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("pmap ran on %v, want a and b", got)
	}
	k := c.local(t, "k = 10", nil)
	if got := mustRun(t, c.interp, "x = pmap(lambda x: x + k, range(4))", map[string]lang.Value{"k": k}); got.String() != "[10, 11, 12, 13]" {
		t.Errorf("pmap with a captured cell: %s", got)
	}
	c.waitFor(t, "the chunks' load is counted off", func(s []remote.ServerInfo) bool {
		return s[0].ClientInFlight == 0 && s[1].ClientInFlight == 0
	})
}

// TestSplitVec checks that a vec is split into vecs, which travel as typed
// arrays, and that the chunks of a large one each fit in a message.
func TestSplitVec(t *testing.T) {
	a := startServer(t, "127.0.0.1:0", server.Config{Name: "a", MaxConcurrency: 1})
	b := startServer(t, "127.0.0.1:0", server.Config{Name: "b", MaxConcurrency: 1, MaxMessage: 64 << 10})
	c := splitClient(t, remote.ClientConfig{}, a, b)
	local := lang.NewInterp("local") // splits in-process

	// 100,000 ints are 800 kB: with 8 chunks (4 a slot), each would be
	// over b's 64 kB, so the split makes 25 or more, each of 32 kB at most.
	for _, src := range []string{
		"x = pmap(lambda v: v * 3 % 7, vec.arange(100))",
		"x = pmap(lambda c: c * 3 % 7, vec.arange(100000), chunks=True)",
		"x = mapreduce(vec.sum, sum, vec.arange(100000) * 0.5, chunks=True)", // exact in any order
		"x = mapreduce(lambda c: c.dot(c), sum, vec.arange(100000), chunks=True)",
		"x = mapreduce(lambda r: vec.array(r).sum(), sum, range(1000000), chunks=True)",
		"x = pmap(lambda c: c.gt(2), vec.arange(5), chunks=True)",
	} {
		t.Run(src, func(t *testing.T) {
			var total int
			ctx := lang.WithProgress(t.Context(), func(_, n int) { total = n })
			got, err := run(t, ctx, c.interp, src, nil)
			if err != nil {
				t.Fatal(err)
			}
			want := mustRun(t, local, src, nil)
			if eq, err := starlark.Equal(got, want); err != nil || !eq || got.Type() != want.Type() {
				t.Errorf("split across servers: %.200s\nlocal: %.200s", got, want)
			}
			if strings.Contains(src, "100000)") && total < 25 {
				t.Errorf("split into %d chunks, want 25 or more to fit in b's messages", total)
			}
		})
	}
}

func TestSplitOn(t *testing.T) {
	a := startServer(t, "127.0.0.1:0", server.Config{Name: "a", Tags: []string{"cpu"}, MaxConcurrency: 1})
	b := startServer(t, "127.0.0.1:0", server.Config{Name: "b", Tags: []string{"gpu"}, MaxConcurrency: 1})
	d := startServer(t, "127.0.0.1:0", server.Config{Name: "d", Tags: []string{"gpu", "eu"}, MaxConcurrency: 1})
	c := splitClient(t, remote.ClientConfig{}, a, b, d)

	for _, tc := range []struct {
		src  string
		want []string
	}{
		{`x = pmap(lambda x: where(), range(12))`, []string{"a", "b", "d"}},
		{`x = pmap(lambda x: where(), range(12), on="gpu")`, []string{"b", "d"}},
		{`x = pmap(lambda x: where(), range(12), on="gpu,eu")`, []string{"d"}},
		{`x = pmap(lambda x: where(), range(12), on="a")`, []string{"a"}},
		{`x = mapreduce(lambda x: [where()], lambda l: [w for ws in l for w in ws], range(12), on="cpu")`, []string{"a"}},
		{`x = pmap(f=lambda x: where(), xs=range(12), on=None)`, []string{"a", "b", "d"}},
	} {
		if got := wheres(t, mustRun(t, c.interp, tc.src, nil)); !slices.Equal(got, tc.want) {
			t.Errorf("%s ran on %v, want %v", tc.src, got, tc.want)
		}
	}

	// No server matches: unavailable, naming the selector.
	for _, src := range []string{
		`x = pmap(lambda x: x, range(4), on="tpu")`,
		`x = mapreduce(lambda x: x, sum, range(4), on="cpu,eu")`,
	} {
		_, err := run(t, t.Context(), c.interp, src, nil)
		var u interface{ Unavailable() bool }
		if !errors.As(err, &u) || !u.Unavailable() {
			t.Fatalf("%s: error %v, want one whose Unavailable is true", src, err)
		}
		sel := src[strings.Index(src, "on="):strings.LastIndex(src, ")")]
		if want := "no connected server matches " + sel + " (servers: a [tags: cpu], b [tags: gpu], d [tags: gpu, eu])"; !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error\n%s\ndoes not say\n%s", src, err, want)
		}
	}

	// A bad selector is the cell's own error.
	for _, tc := range []struct{ src, want string }{
		{`x = pmap(lambda x: x, range(4), on="a b")`, `pmap: bad selector on="a b"`},
		{`x = pmap(lambda x: x, range(4), on="")`, `pmap: bad selector on=""`},
		{`x = mapreduce(lambda x: x, sum, range(4), on=3)`, `mapreduce: on= is int, want a string`},
	} {
		_, err := run(t, t.Context(), c.interp, tc.src, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.src, err, tc.want)
		}
	}
}

func TestSplitWithoutServers(t *testing.T) {
	c := splitClient(t, remote.ClientConfig{})
	// With no server connected, the work runs in-process.
	if got := mustRun(t, c.interp, "x = pmap(lambda x: (x, where()), [1, 2])", nil); got.String() != `[(1, "local"), (2, "local")]` {
		t.Errorf("pmap without servers: %s", got)
	}
	if got := mustRun(t, c.interp, "x = mapreduce(lambda x: x * x, sum, range(1000))", nil); got.String() != "332833500" {
		t.Errorf("mapreduce without servers: %s", got)
	}
	// ... but not if it asks for servers.
	_, err := run(t, t.Context(), c.interp, `x = pmap(lambda x: x, [1], on="gpu")`, nil)
	var u interface{ Unavailable() bool }
	if !errors.As(err, &u) || !u.Unavailable() || !strings.Contains(err.Error(), `no server to run on="gpu": the client has no servers`) {
		t.Errorf("pmap on=gpu without servers: %v", err)
	}
}

// slowSquare is a function cell that takes some steps, then returns n * n.
const slowSquare = "def slow_square(n):\n    s = 0\n    for i in range(200000):\n        s += 1\n    return n * n"

func TestSplitServerLost(t *testing.T) {
	a := startServer(t, "127.0.0.1:0", server.Config{Name: "a", MaxConcurrency: 1})
	b := startServer(t, "127.0.0.1:0", server.Config{Name: "b", MaxConcurrency: 1})
	logs := &syncBuffer{}
	c := splitClient(t, remote.ClientConfig{Logger: slog.New(slog.NewTextHandler(logs, nil))}, a, b)
	f := c.local(t, slowSquare, nil)

	// Close a once the first chunk is done: the others are in flight, or
	// queued, on both servers.
	var (
		once     sync.Once
		started  = make(chan struct{})
		mu       sync.Mutex
		progress []string
	)
	ctx := lang.WithProgress(t.Context(), func(done, total int) {
		mu.Lock()
		progress = append(progress, fmt.Sprintf("%d/%d", done, total))
		mu.Unlock()
		if done >= 1 {
			once.Do(func() { close(started) })
		}
	})
	type result struct {
		v   lang.Value
		err error
	}
	res := make(chan result, 1)
	go func() {
		v, err := run(t, ctx, c.interp, "x = pmap(slow_square, range(16))", map[string]lang.Value{"slow_square": f})
		res <- result{v, err}
	}()
	select {
	case <-started:
	case r := <-res:
		t.Fatalf("pmap ended before any progress: %v, %v", r.v, r.err)
	case <-time.After(wait):
		t.Fatal("no chunk completed")
	}
	a.stop(t)
	r := <-res
	if r.err != nil {
		t.Fatalf("pmap with a server closed: %v\nclient log:\n%s", r.err, logs)
	}
	want := make([]string, 16)
	for i := range want {
		want[i] = fmt.Sprint(i * i)
	}
	if got, want := r.v.String(), "["+strings.Join(want, ", ")+"]"; got != want {
		t.Errorf("pmap with a server closed = %s, want %s", got, want)
	}
	mu.Lock()
	t.Logf("progress: %v", progress)
	if last := progress[len(progress)-1]; last != "8/8" {
		t.Errorf("last progress %s, want 8/8", last)
	}
	mu.Unlock()
	if !strings.Contains(logs.String(), "server lost during split work") {
		t.Logf("no chunk was in flight on a when it closed; client log:\n%s", logs)
	}
}

func TestSplitChunkFails(t *testing.T) {
	cfg := server.Config{MaxConcurrency: 2, MaxSteps: 1 << 60, Timeout: 10 * time.Minute}
	cfg.Name = "a"
	a := startServer(t, "127.0.0.1:0", cfg)
	cfg.Name = "b"
	b := startServer(t, "127.0.0.1:0", cfg)
	c := splitClient(t, remote.ClientConfig{}, a, b)
	local := lang.NewInterp("local")

	// A reducer that fails on one chunk fails the cell with its error, as
	// it would locally.
	red := c.local(t, "def red(xs):\n    if 50 in xs:\n        fail(\"bad chunk\")\n    return sum(xs)", nil)
	scope := map[string]lang.Value{"red": red}
	src := "x = mapreduce(lambda x: x, red, range(100))"
	_, err := run(t, t.Context(), c.interp, src, scope)
	_, localErr := run(t, t.Context(), local, src, scope)
	var lerr *lang.Error
	if !errors.As(err, &lerr) || localErr == nil || err.Error() != localErr.Error() {
		t.Fatalf("failing reducer: error %v (%T), want %v", err, err, localErr)
	}
	if !strings.Contains(err.Error(), "ws.sp:3:") || !strings.Contains(err.Error(), "fail: bad chunk") {
		t.Errorf("failing reducer: error %q does not say where and what", err)
	}
	var lost interface{ ServerLost() bool }
	if errors.As(err, &lost) {
		t.Errorf("a code error is classified as a server error: %v", err)
	}

	// The failing chunk cancels the others at once: they would never end.
	f := c.local(t, "def f(x):\n    if x == 0:\n        return 1 // x\n    n = 0\n    while True:\n        n += 1", nil)
	start := time.Now()
	_, err = run(t, t.Context(), c.interp, "x = pmap(f, range(64))", map[string]lang.Value{"f": f})
	if err == nil || !strings.Contains(err.Error(), "division by zero") {
		t.Fatalf("pmap with a failing chunk: %v", err)
	}
	t.Logf("failed after %v", time.Since(start))
	c.waitFor(t, "the servers stop the other chunks", func(s []remote.ServerInfo) bool {
		return s[0].InFlight == 0 && s[1].InFlight == 0 && s[0].Queued == 0 && s[1].Queued == 0
	})

	// Cancelling the evaluation cancels every chunk in flight.
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := run(t, ctx, c.interp, "x = pmap(f, range(1, 64))", map[string]lang.Value{"f": f})
		done <- err
	}()
	c.waitFor(t, "the chunks run", func(s []remote.ServerInfo) bool { return s[0].InFlight == 2 && s[1].InFlight == 2 })
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled pmap: %v, want context.Canceled", err)
		}
	case <-time.After(wait):
		t.Fatal("a cancelled pmap did not return")
	}
	c.waitFor(t, "the servers stop the cancelled chunks", func(s []remote.ServerInfo) bool {
		return s[0].InFlight == 0 && s[1].InFlight == 0 && s[0].ClientInFlight == 0 && s[1].ClientInFlight == 0
	})
}

func TestSplitProgress(t *testing.T) {
	a := startServer(t, "127.0.0.1:0", server.Config{Name: "a", MaxConcurrency: 1})
	b := startServer(t, "127.0.0.1:0", server.Config{Name: "b", MaxConcurrency: 1})
	c := splitClient(t, remote.ClientConfig{}, a, b)
	e := reactive.New(reactive.Config{Local: reactive.Local{Interp: c.interp}, Remote: c.Client})
	defer e.Close()
	sub := e.Subscribe()
	defer sub.Close()

	e.Load([]*lang.Cell{
		lang.ParseCell("ws.sp", 1, slowSquare),
		lang.ParseCell("ws.sp", 6, "x = pmap(slow_square, range(16))"),
	})
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	if err := e.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	x, _ := e.Cell("x")
	if x.State != reactive.Ready {
		t.Fatalf("x is %s: %v", x.State, x.Err)
	}
	if x.Progress != (reactive.Progress{Done: 8, Total: 8}) || x.Progress.String() != "8/8" {
		t.Errorf("x.Progress = %+v, want 8/8", x.Progress)
	}
	var seen []string
	last := reactive.Progress{}
	for _, ev := range sub.Next() {
		if ev.Cell.Name != "x" || ev.Cell.Progress == last {
			continue
		}
		p := ev.Cell.Progress
		if p.Done < last.Done || p.Total != 8 && p != (reactive.Progress{}) {
			t.Errorf("progress went from %v to %v", last, p)
		}
		seen = append(seen, p.String())
		last = p
	}
	t.Logf("progress events: %v", seen)
	if len(seen) < 2 || seen[len(seen)-1] != "8/8" {
		t.Errorf("progress events %v: want some, ending with 8/8", seen)
	}
}

func TestClientFailover(t *testing.T) {
	cfg := server.Config{Tags: []string{"x"}, MaxSteps: 1 << 60, Timeout: 10 * time.Minute}
	cfg.Name = "a"
	a := startServer(t, "127.0.0.1:0", cfg)
	cfg.Name = "b"
	b := startServer(t, "127.0.0.1:0", cfg)
	servers := map[string]*testServer{"a": a, "b": b}
	c := newClient(t, remote.ClientConfig{})
	c.connect(t, a.addr)
	c.connect(t, b.addr)

	// A normal evaluation takes one attempt.
	if res := c.eval(t, "w = remote where()", nil); res.Err != nil || res.Attempts != 1 {
		t.Fatalf("Eval: %v, Attempts = %d, want 1", res.Err, res.Attempts)
	}

	// Start a cell that lasts long enough to be seen running (try longer
	// ones until one is), then close the server that runs it.
	var (
		done    chan lang.Result
		n       int
		running string
	)
	for n = 1 << 18; ; n *= 4 {
		if n > 1<<28 {
			t.Fatal("no evaluation lasted long enough to be seen running")
		}
		c.waitFor(t, "the servers are idle", func(s []remote.ServerInfo) bool { return s[0].InFlight == 0 && s[1].InFlight == 0 })
		fn := c.local(t, fmt.Sprintf("def slow():\n    n = 0\n    for i in range(%d):\n        n += i\n    return (n, where())", n), nil)
		done = make(chan lang.Result, 1)
		go func() { done <- c.eval(t, "s = remote@x slow()", map[string]lang.Value{"slow": fn}) }()
		c.waitFor(t, "a server runs the cell, or it ends", func(s []remote.ServerInfo) bool {
			// The server's own count may be one it reported during the
			// first cell, which ended since: the cell runs where the
			// client sent it too.
			for _, info := range s {
				if info.InFlight == 1 && info.ClientInFlight == 1 {
					running = info.Name
				}
			}
			return running != "" || len(done) > 0
		})
		if running != "" && len(done) == 0 {
			break
		}
		<-done
		running = ""
	}
	servers[running].stop(t)
	other := "a"
	if running == "a" {
		other = "b"
	}
	select {
	case res := <-done:
		if res.Err != nil {
			t.Fatalf("failover: %v", res.Err)
		}
		if want := fmt.Sprintf("(%d, %q)", n*(n-1)/2, other); res.Value.String() != want {
			t.Errorf("failover: %s, want %s", res.Value, want)
		}
		if res.Attempts != 2 || res.Where != other {
			t.Errorf("failover: Attempts = %d, Where = %s; want 2 and %s", res.Attempts, res.Where, other)
		}
	case <-time.After(wait):
		t.Fatal("the evaluation did not complete after its server closed")
	}

	// With no other server left, the loss is the error (the cell is stale).
	fn := c.local(t, "def spin():\n    n = 0\n    while True:\n        n += 1", nil)
	done = make(chan lang.Result, 1)
	go func() { done <- c.eval(t, "s = remote spin()", map[string]lang.Value{"spin": fn}) }()
	c.waitFor(t, "the last server runs the cell", func(s []remote.ServerInfo) bool {
		return slices.ContainsFunc(s, func(info remote.ServerInfo) bool { return info.Name == other && info.InFlight == 1 })
	})
	servers[other].stop(t)
	select {
	case res := <-done:
		checkLost(t, res.Err, "server "+other+" ") // lost, or shutting down: either way stale
		if res.Attempts != 1 {
			t.Errorf("Attempts = %d, want 1", res.Attempts)
		}
	case <-time.After(wait):
		t.Fatal("the evaluation did not end when its server closed")
	}
}

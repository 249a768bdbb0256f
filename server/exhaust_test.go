package server

import (
	"cmp"
	"context"
	"fmt"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/remote"
)

// TestExhaustion sends cells that try to exhaust a server (by looping, by
// recursing without end, by building huge or deep values: each of the
// recursions would otherwise reach Go's stack limit, which ends the
// process, and the repetitions and the list of a range would take 15 GiB
// at once) while another client evaluates small cells on the same server,
// and checks that each is stopped with a clear error, that the other
// client's evaluations all succeed meanwhile, and that the server
// evaluates normally after.
func TestExhaustion(t *testing.T) {
	recurse := localValue(t, "def recurse(n):\n    return recurse(n + 1)", nil)
	rep := localValue(t, "def rep(l, n):\n    return l * n", nil)
	list, count := localValue(t, "l = [0, 1]", nil), localValue(t, "n = 500000000", nil)
	for _, tc := range []struct {
		name   string
		cfg    Config
		memory uint64 // the interpreter's MaxMemory above the live heap now; 0 for a safe default
		src    string
		scope  map[string]lang.Value
		code   remote.ErrorCode
		want   string // the start of the message
	}{
		{name: "loop, step limit", cfg: Config{MaxSteps: 2_000_000, Timeout: time.Minute},
			src: spinCell, code: remote.CodeFailed, want: "stopped after 2000000 steps: the evaluation's step limit"},
		{name: "loop, time limit", cfg: Config{MaxSteps: 1 << 62, Timeout: 300 * time.Millisecond},
			src: spinCell, code: remote.CodeFailed, want: "stopped after 300ms: the server's time limit per evaluation"},
		{name: "recursion without end", cfg: Config{MaxSteps: 1 << 62, Timeout: time.Minute},
			src: "x = recurse(0)", scope: map[string]lang.Value{"recurse": recurse},
			code: remote.CodeFailed, want: "stopped at 10"},
		{name: "huge repetition", cfg: Config{MaxSteps: 1 << 62, Timeout: time.Minute}, memory: 64 << 20,
			src: "x = [0] * 1000000000", code: remote.CodeFailed, want: "a list of 1000000000 elements would take 14.9 GiB: the memory limit is"},
		{name: "repetition Starlark refuses", cfg: Config{MaxSteps: 1 << 62, Timeout: time.Minute},
			src: "x = 'a' * (1 << 40)", code: remote.CodeFailed, want: "repeat count 1099511627776 too large"},
		{name: "list of a huge range", cfg: Config{MaxSteps: 1 << 62, Timeout: time.Minute}, memory: 64 << 20,
			src: "x = len(list(range(1000000000)))", code: remote.CodeFailed, want: "list: 1000000000 elements would take 14.9 GiB: the memory limit is"},
		{name: "sorted huge range", cfg: Config{MaxSteps: 1 << 62, Timeout: time.Minute}, memory: 64 << 20,
			src: "x = sorted(range(1000000000))", code: remote.CodeFailed, want: "sorted: 1000000000 elements would take 14.9 GiB: the memory limit is"},
		{name: "repetition of a variable", cfg: Config{MaxSteps: 1 << 62, Timeout: time.Minute}, memory: 64 << 20,
			src: "x = rep([0, 1], 500000000)", scope: map[string]lang.Value{"rep": rep},
			code: remote.CodeFailed, want: "a list of 1000000000 elements would take 14.9 GiB: the memory limit is"},
		{name: "repetition in a formula", cfg: Config{MaxSteps: 1 << 62, Timeout: time.Minute}, memory: 64 << 20,
			src: "x = n * l", scope: map[string]lang.Value{"l": list, "n": count},
			code: remote.CodeFailed, want: "a list of 1000000000 elements would take 14.9 GiB: the memory limit is"},
		{name: "list built step by step", cfg: Config{MaxSteps: 1 << 62, Timeout: time.Minute}, memory: 64 << 20,
			src: "x = [i for i in range(1000000000)]", code: remote.CodeFailed, want: "stopped with "},
		{name: "JSON nested without end", cfg: Config{MaxSteps: 1 << 62, Timeout: time.Minute},
			src: `x = json.decode("[" * 20000000 + "]" * 20000000)`, code: remote.CodeFailed, want: "json.decode: nested deeper than 10000 levels"},
		{name: "result too large", cfg: Config{MaxMessage: 1 << 20},
			src: "x = 'a' * 2000000", code: remote.CodeTooLarge, want: "result is 2000005 bytes; the server's limit is 1048576"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.MaxConcurrency = 4
			ts := startServer(t, tc.cfg, func(s *Server) {
				// A limit of the test's own: the default is a share of
				// the machine's memory, which the machine's other work
				// needs too.
				s.interp.MaxMemory = liveHeap() + cmp.Or(tc.memory, 1<<30)
			})
			hostile, other := connect(t, ts), connect(t, ts)

			str := hostile.start(remote.EvalCell, cellJob(t, tc.src, tc.scope))
			small := cellJob(t, "y = sum(range(1000)) + len(where())", nil)
			done := make(chan struct{})
			var (
				ok, total int
				failure   string
				wg        sync.WaitGroup
			)
			wg.Go(func() {
				// The other client's cells, one after another, until the
				// hostile one is answered.
				for i := 0; ; i++ {
					select {
					case <-done:
						if i > 0 {
							return
						}
					default:
					}
					total++
					if msg := evalSmall(other, small); msg != "" {
						if failure == "" {
							failure = msg
						}
						continue
					}
					ok++
				}
			})
			res := hostile.result(str)
			close(done)
			wg.Wait()
			wantError(t, res, tc.code, tc.want)
			if tc.code == remote.CodeFailed && (res.Error.File != "test.sp" && res.Error.File != "local.sp" || res.Error.Line == 0) {
				t.Errorf("error at %s:%d, want a position in the cell", res.Error.File, res.Error.Line)
			}
			if ok != total || total == 0 {
				t.Errorf("the other client's evaluations: %d of %d succeeded; first failure: %s", ok, total, failure)
			}
			t.Logf("%s: %s %q in %v; the other client evaluated %d cells meanwhile", tc.name, res.Error.Code, res.Error.Message, res.Took, total)
			// The hostile client's connection still evaluates.
			if got := value(t, hostile.eval(remote.EvalCell, cellJob(t, "z = 6 * 7", nil))); got != "42" {
				t.Errorf("after: z = %s, want 42", got)
			}
		})
	}
}

// TestExhaustionStopsTheHolder checks that when the heap is over the
// server's memory limit, the evaluation stopped is the one that holds the
// memory, not an older one of another client that holds none: the older
// one runs on until its own time limit. (Each list the hog builds is too
// small to be refused: only the memory watch stops it.)
func TestExhaustionStopsTheHolder(t *testing.T) {
	// No time limit that the hog could reach first (under -race on a busy
	// machine it builds its lists slowly).
	ts := startServer(t, Config{MaxConcurrency: 4, MaxSteps: 1 << 62, Timeout: time.Hour}, func(s *Server) {
		s.interp.MaxMemory = liveHeap() + 64<<20
	})
	innocent, hog := connect(t, ts), connect(t, ts)
	spin := innocent.start(remote.EvalCell, cellJob(t, spinCell, nil))
	waitUntil(t, "the innocent loop runs", func() bool { return ts.limiter.status() == remote.Status{InFlight: 1} })
	res := hog.eval(remote.EvalCell, cellJob(t, "x = len([list(range(50000)) for i in range(1000000)])", nil))
	wantError(t, res, remote.CodeFailed, "stopped with ")
	t.Logf("the hog: %q in %v", res.Error.Message, res.Took)
	// The innocent loop runs on, until its client cancels it.
	if st := ts.limiter.status(); st != (remote.Status{InFlight: 1}) {
		t.Fatalf("after the hog was stopped: %+v, want the innocent loop still running", st)
	}
	spin.CancelRead(remote.StreamCancelled)
	spin.CancelWrite(remote.StreamCancelled)
	waitUntil(t, "the innocent loop stops", func() bool { return ts.limiter.status() == remote.Status{} })
	// Both connections still evaluate.
	for _, c := range []*testClient{innocent, hog} {
		if got := value(t, c.eval(remote.EvalCell, cellJob(t, "z = 6 * 7", nil))); got != "42" {
			t.Errorf("after: z = %s, want 42", got)
		}
	}
}

// liveHeap returns the bytes of the heap that are live, after a collection.
func liveHeap() uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// evalSmall evaluates job on c, from any goroutine, and returns what went
// wrong, "" if it returned 300.
func evalSmall(c *testClient, job []byte) string {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	str, err := c.conn.OpenStreamSync(ctx)
	if err != nil {
		return err.Error()
	}
	if err := remote.WriteFrame(str, remote.MsgEval, remote.Eval{Kind: remote.EvalCell, Job: job}); err != nil {
		return err.Error()
	}
	str.Close()
	res, err := readResult(str)
	switch {
	case err != nil:
		return err.Error()
	case res.Error != nil:
		return res.Error.Code.String() + ": " + res.Error.Message
	}
	v, err := lang.NewInterp("local").Decode(res.Value)
	if err != nil || v.String() != "499507" {
		return fmt.Sprintf("y = %v, %v; want 499507", v, err)
	}
	return ""
}

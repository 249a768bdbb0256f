package remote_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.starlark.net/starlark"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/remote"
	"github.com/sperse/sperse/server"
)

// The load test: many clients, each a remote.Client with a connection of its
// own, evaluate cells on one server in this process over loopback QUIC, and
// every result is checked. TestLoadSmall runs with the other tests; the full
// load (50 clients × 2,000 evaluations) is TestLoad, behind the build tag
// "load" (see load_full_test.go and the README's benchmarks).

func TestLoadSmall(t *testing.T) {
	runLoad(t, 8, 200)
}

// loadCell is what each evaluation computes: a value unique to its client c
// and index i, so that a result that is lost, duplicated, or given to the
// wrong evaluation shows.
const loadCell = "r = remote (c, i, c * 1000003 + i * i, where())"

// loadWant is the repr of loadCell's value for client c and index i on the
// server called load.
func loadWant(c, i int) string {
	return fmt.Sprintf(`(%d, %d, %d, "load")`, c, i, c*1000003+i*i)
}

// loadLog counts the server's log records: evaluations by outcome, and
// warnings and errors (a load that goes well has none).
type loadLog struct {
	mu       sync.Mutex
	outcomes map[string]int
	warnings []string
}

func (h *loadLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *loadLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *loadLog) WithGroup(string) slog.Handler            { return h }

func (h *loadLog) Handle(_ context.Context, r slog.Record) error {
	var outcome string
	if r.Message == "evaluation" {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "outcome" {
				outcome = a.Value.String()
				return false
			}
			return true
		})
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if r.Message == "evaluation" {
		h.outcomes[outcome]++
	}
	if r.Level >= slog.LevelWarn {
		var b strings.Builder
		b.WriteString(r.Message)
		r.Attrs(func(a slog.Attr) bool {
			fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
			return true
		})
		h.warnings = append(h.warnings, b.String())
	}
	return nil
}

// memPeak samples the process's memory while a load runs.
type memPeak struct {
	heapInuse, sys uint64
	goroutines     int
}

// sampleMemory samples memory every interval until stop is closed, and then
// sends the peaks.
func sampleMemory(interval time.Duration, stop <-chan struct{}, out chan<- memPeak) {
	var p memPeak
	var ms runtime.MemStats
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		runtime.ReadMemStats(&ms)
		p.heapInuse = max(p.heapInuse, ms.HeapInuse)
		p.sys = max(p.sys, ms.Sys)
		p.goroutines = max(p.goroutines, runtime.NumGoroutine())
		select {
		case <-tick.C:
		case <-stop:
			out <- p
			return
		}
	}
}

// heapAfterGC returns the live heap, after collecting garbage twice (the
// second clears what sync.Pools kept through the first).
func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

const mib = 1 << 20

// runLoad starts one server and runs clients concurrent clients that each
// evaluate evals cells, one after another, checking every result: each must
// arrive once, right, from the server, at the first attempt. The server
// must log exactly clients×evals evaluations, all ok, and no warning. It
// reports the latency of an evaluation as the client sees it (p50, p99,
// max), the throughput, and the process's memory during the run (the server
// and the clients share it); once every client is closed, the goroutines
// and the live heap must be back near what they were before the clients.
func runLoad(t *testing.T, clients, evals int) {
	logs := &loadLog{outcomes: map[string]int{}}
	srv, err := server.New(server.Config{
		Name:   "load",
		Tokens: []string{testToken},
		Logger: slog.New(logs),
	})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(pc) }()
	defer func() {
		srv.Close()
		<-served
		pc.Close()
	}()
	for deadline := time.Now().Add(wait); srv.Addr() == nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the server does not listen")
		}
	}
	address := pc.LocalAddr().String() + "#" + srv.Fingerprint()
	known := filepath.Join(t.TempDir(), "known_servers") // never written: the address pins the certificate

	baseGoroutines := runtime.NumGoroutine()
	baseHeap := heapAfterGC()

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	cls := make([]*remote.Client, clients)
	for i := range cls {
		cls[i] = remote.NewClient(remote.ClientConfig{Token: testToken, KnownServers: known, Name: fmt.Sprintf("load client %d", i)})
		if err := cls[i].Connect(ctx, address); err != nil {
			for _, c := range cls[:i+1] {
				c.Close()
			}
			t.Fatalf("client %d: Connect: %v", i, err)
		}
	}

	stopSampling := make(chan struct{})
	peaks := make(chan memPeak, 1)
	go sampleMemory(100*time.Millisecond, stopSampling, peaks)

	type failure struct {
		client, index int
		what          string
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		failures []failure
	)
	latencies := make([][]time.Duration, clients)
	got := make([][]int, clients) // results received for each evaluation
	start := time.Now()
	for ci, cl := range cls {
		latencies[ci] = make([]time.Duration, 0, evals)
		got[ci] = make([]int, evals)
		wg.Go(func() {
			fail := func(i int, format string, args ...any) {
				mu.Lock()
				failures = append(failures, failure{ci, i, fmt.Sprintf(format, args...)})
				mu.Unlock()
			}
			cell := lang.ParseCell("load.sp", 1, loadCell)
			for i := range evals {
				scope := map[string]lang.Value{"c": starlark.MakeInt(ci), "i": starlark.MakeInt(i)}
				t0 := time.Now()
				res := cl.Eval(ctx, lang.Request{Cell: cell, Scope: scope})
				latencies[ci] = append(latencies[ci], time.Since(t0))
				switch {
				case res.Err != nil:
					fail(i, "error: %v", res.Err)
					continue
				case res.Value.String() != loadWant(ci, i):
					fail(i, "got %s, want %s", res.Value, loadWant(ci, i))
					continue
				case res.Where != "load" || res.Attempts != 1:
					fail(i, "ran on %q in %d attempts, want on load in 1", res.Where, res.Attempts)
				}
				got[ci][i]++
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stopSampling)
	peak := <-peaks

	// Every evaluation has its result once; the server ran each once.
	for _, f := range failures[:min(len(failures), 20)] {
		t.Errorf("client %d, evaluation %d: %s", f.client, f.index, f.what)
	}
	lost, dup := 0, 0
	for ci := range got {
		for _, n := range got[ci] {
			switch {
			case n == 0:
				lost++
			case n > 1:
				dup++
			}
		}
	}
	total := clients * evals
	logs.mu.Lock()
	outcomes, warnings := fmt.Sprint(logs.outcomes), slices.Clone(logs.warnings)
	ok := logs.outcomes["ok"]
	logs.mu.Unlock()
	if lost > 0 || dup > 0 || len(failures) > 0 || ok != total || outcomes != fmt.Sprintf("map[ok:%d]", total) {
		t.Errorf("%d evaluations: %d failed, %d without a right result, %d with more than one; the server's evaluations by outcome: %s",
			total, len(failures), lost, dup, outcomes)
	}
	for _, w := range warnings[:min(len(warnings), 20)] {
		t.Errorf("server warning: %s", w)
	}

	all := slices.Concat(latencies...)
	slices.Sort(all)
	q := func(p float64) time.Duration { return all[min(len(all)-1, int(p*float64(len(all))))] }
	t.Logf("load: %d clients × %d evaluations = %d in %v (%.0f/s), %d errors, %d lost, %d duplicated",
		clients, evals, total, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds(), len(failures), lost, dup)
	t.Logf("latency: p50 %v, p99 %v, max %v", q(0.50), q(0.99), all[len(all)-1])
	t.Logf("memory during the run (server and clients, one process): peak heap in use %.1f MiB, peak from the OS %.1f MiB, peak goroutines %d",
		float64(peak.heapInuse)/mib, float64(peak.sys)/mib, peak.goroutines)

	// Once the clients are closed, the server's goroutines for them end
	// and what they held is freed.
	for _, c := range cls {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	deadline := time.Now().Add(wait)
	for runtime.NumGoroutine() > baseGoroutines && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	const slack = 2 // for goroutines that earlier tests left, coming and going
	after := runtime.NumGoroutine()
	heap := heapAfterGC()
	t.Logf("before the clients: %d goroutines, live heap %.1f MiB; after they closed: %d goroutines, live heap %.1f MiB",
		baseGoroutines, float64(baseHeap)/mib, after, float64(heap)/mib)
	if after > baseGoroutines+slack {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines after the clients closed, %d before:\n%s", after, baseGoroutines, buf[:runtime.Stack(buf, true)])
	}
	// Near the baseline: a few MiB the runtime and quic-go keep for reuse.
	if heap > baseHeap+8*mib {
		t.Errorf("live heap %.1f MiB after the clients closed, %.1f MiB before", float64(heap)/mib, float64(baseHeap)/mib)
	}
}

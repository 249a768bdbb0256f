//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sperse/sperse/cmd/internal/workspace"
	"github.com/sperse/sperse/lang"
)

// BenchmarkMapreduceProcesses runs mapreduce with a small per-element
// function over range(10_000_000) on 1 and on 2 sperse-server processes,
// each with one core (GOMAXPROCS=1, --max-concurrency 1), through the
// workspace sperse run uses: what a user who runs a server on each core
// gets. The evaluations on 1 and on 2 servers alternate, after one of each
// that is not measured (the servers' heaps grow, the streams open). It
// reports the same figures as remote's BenchmarkMapreduceSplit (mean and
// best wall times, speedup and best-speedup, the tail of the split on 2
// servers), with the CPU time of the server processes (server-cpu-s/op-N).
//
// remote's BenchmarkMapreduceSplit runs the same work on servers in one
// process, which share one garbage collector: there, one server gets the
// idle core for its collector, so the speedup of two is lower than here.
//
//	go test -run '^$' -bench MapreduceProcesses -benchtime 5x ./cmd/sperse/
func BenchmarkMapreduceProcesses(b *testing.B) {
	const (
		src   = "x = mapreduce(lambda x: x % 7, sum, range(10000000))"
		token = "bench-token-61f0"
	)
	want := 0
	for x := range 10_000_000 {
		want += x % 7
	}
	cell := lang.ParseCell("bench.sp", 1, src)
	b.Setenv("GOMAXPROCS", "1") // read by the servers as they start
	var (
		m   splitMeasure
		all []*process
	)
	for n := 1; n <= 2; n++ {
		var addrs []string
		for i := range n {
			p := startServer(b, "--listen", "127.0.0.1:0", "--name", fmt.Sprintf("s%d-of-%d", i+1, n),
				"--token", token, "--state-dir", b.TempDir(),
				"--max-concurrency", "1", "--max-steps", strconv.Itoa(1<<40), "--timeout", "1h")
			all = append(all, p)
			addrs = append(addrs, p.pinned)
		}
		ws, err := workspace.Start(context.Background(), workspace.Options{
			Servers:      addrs,
			Token:        token,
			KnownServers: filepath.Join(b.TempDir(), "known_servers"),
		})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { ws.Close() })
		eval := func(ctx context.Context) error {
			v, err := ws.Interp.Eval(ctx, cell, nil)
			if err == nil && v.String() != strconv.Itoa(want) {
				err = fmt.Errorf("%d servers: %s, want %d", n, v, want)
			}
			return err
		}
		if err := eval(context.Background()); err != nil { // the warm-up
			b.Fatal(err)
		}
		m.evals = append(m.evals, eval)
	}
	m.cpu = func() time.Duration { return processCPU(b, all) }
	m.run(b, "server-cpu-s/op-")
}

// processCPU returns the user and system CPU time the processes have used
// so far, from /proc/PID/stat, in clock ticks of 10ms (Linux's USER_HZ).
func processCPU(tb testing.TB, procs []*process) time.Duration {
	tb.Helper()
	var total time.Duration
	for _, p := range procs {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
		if err != nil {
			tb.Fatal(err)
		}
		// The fields after the command, which is in parentheses and may
		// hold spaces: the state is the first, utime the 12th, stime the
		// 13th.
		_, rest, ok := strings.Cut(string(stat), ") ")
		fields := strings.Fields(rest)
		if !ok || len(fields) < 13 {
			tb.Fatalf("cannot read %q", stat)
		}
		for _, f := range fields[11:13] {
			ticks, err := strconv.ParseInt(f, 10, 64)
			if err != nil {
				tb.Fatalf("cannot read %q: %v", stat, err)
			}
			total += time.Duration(ticks) * 10 * time.Millisecond
		}
	}
	return total
}

// splitMeasure runs the evaluations of a split benchmark, one after the
// other in each iteration, and reports their times. It and chunkEnds are
// copies of remote/split_bench_test.go's, so that the two benchmarks report
// the same figures (test files of two packages share no code).
type splitMeasure struct {
	evals []func(context.Context) error // on 1 server, on 2, ...
	cpu   func() time.Duration          // the CPU time the servers have used so far
}

// run runs the iterations of b, and reports the mean wall time of each
// evaluation (s/op-N), the fastest (best-s/op-N), the mean CPU time
// (cpuUnit+N), the speedup of the second over the first (mean and best),
// and the mean tail of the second evaluation's split: the time between its
// last two chunks' completions.
func (m *splitMeasure) run(b *testing.B, cpuUnit string) {
	took := make([]time.Duration, len(m.evals))
	best := make([]time.Duration, len(m.evals))
	cpu := make([]time.Duration, len(m.evals))
	var tail time.Duration
	for b.Loop() {
		for i, eval := range m.evals {
			var ends chunkEnds
			start, startCPU := time.Now(), m.cpu()
			err := eval(lang.WithProgress(context.Background(), ends.add))
			d := time.Since(start)
			cpu[i] += m.cpu() - startCPU
			if err != nil {
				b.Fatal(err)
			}
			took[i] += d
			if best[i] == 0 || d < best[i] {
				best[i] = d
			}
			if i == 1 {
				tail += ends.tail()
			}
		}
	}
	b.ReportMetric(0, "ns/op")
	for i := range m.evals {
		n := strconv.Itoa(i + 1)
		b.ReportMetric(took[i].Seconds()/float64(b.N), "s/op-"+n)
		b.ReportMetric(best[i].Seconds(), "best-s/op-"+n)
		b.ReportMetric(cpu[i].Seconds()/float64(b.N), cpuUnit+n)
	}
	if len(m.evals) > 1 {
		b.ReportMetric(took[0].Seconds()/took[1].Seconds(), "speedup")
		b.ReportMetric(best[0].Seconds()/best[1].Seconds(), "best-speedup")
		b.ReportMetric(tail.Seconds()/float64(b.N), "tail-s/op-2")
	}
}

// chunkEnds records when the chunks of a split complete.
type chunkEnds struct {
	mu   sync.Mutex
	ends []time.Time
}

// add is a progress reporter (lang.WithProgress).
func (c *chunkEnds) add(done, total int) {
	if done == 0 {
		return
	}
	c.mu.Lock()
	c.ends = append(c.ends, time.Now())
	c.mu.Unlock()
}

// tail returns the time between the last two chunks' completions: with two
// servers of one slot, how long one of them had nothing left to do at the
// end.
func (c *chunkEnds) tail() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.ends) < 2 {
		return 0
	}
	return c.ends[len(c.ends)-1].Sub(c.ends[len(c.ends)-2])
}

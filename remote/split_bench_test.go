//go:build unix

package remote_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/remote"
	"github.com/sperse/sperse/server"
)

// BenchmarkMapreduceSplit runs mapreduce with a small per-element function
// over range(10_000_000) on 1 and on 2 in-process servers over loopback
// QUIC, each server with MaxConcurrency 1 (one core per server), one after
// the other in each iteration so that both see the same machine, after one
// evaluation of each that is not measured (the heaps grow, the streams
// open). It reports:
//
//   - s/op-1, s/op-2: the mean wall time on 1 and on 2 servers;
//   - speedup: the ratio of the means (the target: at least 1.7 on
//     a 2-core machine), and best-speedup, the ratio of the fastest of
//     each, less sensitive to other work on a shared machine;
//   - cpu-s/op-1, cpu-s/op-2: the CPU time the process spent on each, which
//     shows what splitting costs when the wall times say little;
//   - tail-s/op-2: the time between the last two chunks' completions on 2
//     servers, when one core had nothing left to do.
//
// The servers share this process's Go runtime, so its one garbage
// collector, which takes about a quarter of the CPU time: with one server
// busy, the collector runs on the idle second core, and with two it takes
// time from the servers. If it takes a share g of the CPU time, the
// speedup is at most about 2(1-g): here about 1.4 to 1.5, where
// cmd/sperse's BenchmarkMapreduceProcesses, the same work on sperse-server
// processes of one core each (what users get), measures about 1.8.
//
//	go test -run '^$' -bench MapreduceSplit -benchtime 5x ./remote/
func BenchmarkMapreduceSplit(b *testing.B) {
	const src = "x = mapreduce(lambda x: x % 7, sum, range(10000000))"
	want := 0
	for x := range 10_000_000 {
		want += x % 7
	}
	cell := lang.ParseCell("bench.sp", 1, src)
	cfg := server.Config{MaxConcurrency: 1, MaxSteps: 1 << 40, Timeout: time.Hour}
	var clients []*lang.Interp
	for n := 1; n <= 2; n++ {
		var servers []*testServer
		for i := range n {
			cfg.Name = fmt.Sprintf("s%d-of-%d", i+1, n)
			servers = append(servers, startServer(b, "127.0.0.1:0", cfg))
		}
		clients = append(clients, splitClient(b, remote.ClientConfig{}, servers...).interp)
	}
	var m splitMeasure
	for i, in := range clients {
		eval := func(ctx context.Context) error {
			v, err := in.Eval(ctx, cell, nil)
			if err == nil && v.String() != strconv.Itoa(want) {
				err = fmt.Errorf("%d servers: %s, want %d", i+1, v, want)
			}
			return err
		}
		if err := eval(context.Background()); err != nil { // the warm-up
			b.Fatal(err)
		}
		m.evals = append(m.evals, eval)
	}
	m.cpu = func() time.Duration { return cpuTime(b) }
	m.run(b, "cpu-s/op-")
}

// cpuTime returns the user and system CPU time of the process so far.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// splitMeasure runs the evaluations of a split benchmark, one after the
// other in each iteration, and reports their times.
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

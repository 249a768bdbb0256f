//go:build linux

package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sperse/sperse/cmd/internal/workspace"
	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/server"
)

// mapreduceSrc is the work of the split benchmarks: a small function of
// each element of a large range.
const mapreduceSrc = "x = mapreduce(lambda x: x % 7, sum, range(10000000))"

// BenchmarkMapreduceProcesses runs mapreduceSrc on 1 and on 2
// sperse-server processes, each with one core (GOMAXPROCS=1,
// --max-concurrency 1), through the workspace sperse run uses: what a user
// who runs a server on each core gets. The evaluations on 1 and on 2
// servers alternate, after one of each that is not measured (the servers'
// heaps grow, the streams open). It reports:
//
//   - s/op-1, s/op-2: the mean wall time on 1 and on 2 servers;
//   - speedup: the ratio of the means (the target: at least 1.7 on
//     a 2-core machine), and best-speedup, the ratio of the fastest of
//     each, less sensitive to other work on a shared machine;
//   - server-cpu-s/op-1, -2: the CPU time of the server processes, which
//     shows what splitting costs when the wall times say little;
//   - tail-s/op-2: the time between the last two chunks' completions on 2
//     servers, when one core had nothing left to do.
//
// Run it with
//
//	go test -run '^$' -bench MapreduceProcesses -benchtime 5x ./cmd/sperse/
func BenchmarkMapreduceProcesses(b *testing.B) {
	const token = "bench-token-61f0"
	b.Setenv("GOMAXPROCS", "1") // read by the servers as they start
	var all []*process
	m := splitMeasure{cpu: func() time.Duration { return processCPU(b, all) }}
	for n := 1; n <= 2; n++ {
		var addrs []string
		for i := range n {
			p := startServer(b, "--listen", "127.0.0.1:0", "--name", fmt.Sprintf("s%d-of-%d", i+1, n),
				"--token", token, "--state-dir", b.TempDir(),
				"--max-concurrency", "1", "--max-steps", strconv.Itoa(1<<40), "--timeout", "1h")
			all = append(all, p)
			addrs = append(addrs, p.pinned)
		}
		m.add(b, addrs, token)
	}
	m.run(b, "server-cpu-s/op-")
}

// BenchmarkMapreduceInProcess is BenchmarkMapreduceProcesses with the
// servers in this process (as embedded servers are), each of one slot
// (MaxConcurrency 1), and the CPU time of the whole process
// (cpu-s/op-N). The servers share this process's one garbage collector,
// which takes about a quarter of the CPU time: with one server busy, the
// collector runs on the idle second core, and with two it takes time from
// the servers. If it takes a share g of the CPU time, the speedup is at
// most about 2(1-g): about 1.4 to 1.5 here, where separate processes show
// about 1.8.
//
//	go test -run '^$' -bench MapreduceInProcess -benchtime 5x ./cmd/sperse/
func BenchmarkMapreduceInProcess(b *testing.B) {
	token, err := server.NewToken()
	if err != nil {
		b.Fatal(err)
	}
	m := splitMeasure{cpu: func() time.Duration { return cpuTime(b) }}
	for n := 1; n <= 2; n++ {
		var addrs []string
		for i := range n {
			srv, err := server.New(server.Config{Name: fmt.Sprintf("s%d-of-%d", i+1, n), Tokens: []string{token},
				MaxConcurrency: 1, MaxSteps: 1 << 40, Timeout: time.Hour})
			if err != nil {
				b.Fatal(err)
			}
			pc, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			go srv.Serve(pc)
			b.Cleanup(func() { srv.Close(); pc.Close() })
			addrs = append(addrs, pc.LocalAddr().String()+"#"+srv.Fingerprint())
		}
		m.add(b, addrs, token)
	}
	m.run(b, "cpu-s/op-")
}

// add adds to m the evaluation of mapreduceSrc on the servers at addrs,
// after one that is not measured.
func (m *splitMeasure) add(b *testing.B, addrs []string, token string) {
	ws, err := workspace.Start(context.Background(), workspace.Options{
		Servers:      addrs,
		Token:        token,
		KnownServers: filepath.Join(b.TempDir(), "known_servers"),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ws.Close() })
	want := 0
	for x := range 10_000_000 {
		want += x % 7
	}
	cell := lang.ParseCell("bench.sp", 1, mapreduceSrc)
	eval := func(ctx context.Context) error {
		v, err := ws.Interp.Eval(ctx, cell, nil)
		if err == nil && v.String() != strconv.Itoa(want) {
			err = fmt.Errorf("%d servers: %s, want %d", len(addrs), v, want)
		}
		return err
	}
	if err := eval(context.Background()); err != nil { // the warm-up
		b.Fatal(err)
	}
	m.evals = append(m.evals, eval)
}

// cpuTime returns the user and system CPU time of this process so far.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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

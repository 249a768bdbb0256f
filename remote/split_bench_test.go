//go:build unix

package remote_test

import (
	"context"
	"fmt"
	"strconv"
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
// the other in each iteration so that both see the same machine. It reports
// the wall time of each (s/op-1, s/op-2), the speedup of 2 servers over 1
// (the target: at least 1.7 on a 2-core machine), and the CPU time
// the process spent on each (cpu-s/op-1, cpu-s/op-2): on a machine shared
// with other work the wall times say little, while the CPU times show what
// splitting costs.
//
//	go test -run '^$' -bench MapreduceSplit -benchtime 3x ./remote/
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
	took := make([]time.Duration, len(clients))
	cpu := make([]time.Duration, len(clients))
	for b.Loop() {
		for i, in := range clients {
			start, startCPU := time.Now(), cpuTime(b)
			v, err := in.Eval(context.Background(), cell, nil)
			took[i] += time.Since(start)
			cpu[i] += cpuTime(b) - startCPU
			if err != nil {
				b.Fatal(err)
			}
			if v.String() != strconv.Itoa(want) {
				b.Fatalf("%d servers: %s, want %d", i+1, v, want)
			}
		}
	}
	b.ReportMetric(0, "ns/op")
	for i := range clients {
		b.ReportMetric(took[i].Seconds()/float64(b.N), "s/op-"+strconv.Itoa(i+1))
		b.ReportMetric(cpu[i].Seconds()/float64(b.N), "cpu-s/op-"+strconv.Itoa(i+1))
	}
	b.ReportMetric(took[0].Seconds()/took[1].Seconds(), "speedup")
}

// cpuTime returns the user and system CPU time of the process so far.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

//go:build unix

package remote_test

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.starlark.net/starlark"

	"github.com/sperse/sperse/internal/benchpeers"
)

// The transport benchmarks of issue 3, each contender side by side in one
// run on loopback (see benchharness_test.go for the contenders):
//
//	go test -run XXX -bench 'RoundTrip|Throughput64' -benchtime 3s -count 3 ./remote/
//
// BenchmarkRoundTrip/{quic,quicstream,grpc,sperse} make one call at a time
// and report the p50 and p99 round trip; BenchmarkThroughput64/... keep 64
// calls in flight and report evaluations per second. Both also report the
// process's CPU time per call (cpu-µs/op: client and server together, as
// both run in this process), which a busy machine disturbs less than it
// disturbs elapsed time; one call at a time, it also counts the scheduler
// spinning while it waits, so compare it between contenders only. On a
// shared machine the figures of sub-benchmarks that run seconds apart
// drift, so each benchmark also has an "interleaved" sub-benchmark that
// alternates the contenders within one measurement (in blocks of
// benchpeers.Block calls for the round trips, of benchBatch for the
// throughput) and reports their figures and the ratios of sperse's to the
// others'. The targets of issue 3: sperse/quic-p50 at most 1.3,
// sperse/grpc-p50 below 1, sperse/grpc-evals at least 1.2.

// benchInFlight is how many calls BenchmarkThroughput64 keeps in flight.
const benchInFlight = 64

// benchBatch is how many calls of one contender the interleaved throughput
// benchmark makes before it turns to the next.
const benchBatch = 2048

func BenchmarkRoundTrip(b *testing.B) {
	contenders := newBenchContenders(b, newBenchPayload(b))
	for _, c := range contenders {
		b.Run(c.name, func(b *testing.B) {
			ctx := b.Context()
			lat := make([]time.Duration, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			cpu := processCPU()
			for i := range b.N {
				start := time.Now()
				if err := c.call(ctx); err != nil {
					b.Fatal(err)
				}
				lat[i] = time.Since(start)
			}
			cpu = processCPU() - cpu
			b.StopTimer()
			b.ReportMetric(percentileMicros(lat, 50), "p50-µs")
			b.ReportMetric(percentileMicros(lat, 99), "p99-µs")
			b.ReportMetric(perOpMicros(cpu, b.N), "cpu-µs/op")
		})
	}
	b.Run("interleaved", func(b *testing.B) {
		calls := make([]func(context.Context) error, len(contenders))
		for i, c := range contenders {
			calls[i] = c.call
		}
		b.ResetTimer()
		lat, err := benchpeers.Alternate(b.Context(), calls, b.N)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		p50 := make(map[string]float64)
		for k, c := range contenders {
			p50[c.name] = percentileMicros(lat[k], 50)
			b.ReportMetric(p50[c.name], c.name+"-p50-µs")
			b.ReportMetric(percentileMicros(lat[k], 99), c.name+"-p99-µs")
		}
		b.ReportMetric(p50["sperse"]/p50["quic"], "sperse/quic-p50")
		b.ReportMetric(p50["sperse"]/p50["quicstream"], "sperse/quicstream-p50")
		b.ReportMetric(p50["sperse"]/p50["grpc"], "sperse/grpc-p50")
	})
}

func BenchmarkThroughput64(b *testing.B) {
	contenders := newBenchContenders(b, newBenchPayload(b))
	for _, c := range contenders {
		b.Run(c.name, func(b *testing.B) {
			ctx := b.Context()
			b.ReportAllocs()
			b.ResetTimer()
			cpu := processCPU()
			err := runInFlight(ctx, c, b.N)
			cpu = processCPU() - cpu
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "evals/s")
			b.ReportMetric(perOpMicros(cpu, b.N), "cpu-µs/op")
		})
	}
	b.Run("interleaved", func(b *testing.B) {
		// b.N is the number of calls of each contender, made in batches
		// of benchBatch, the contenders taking turns.
		ctx := b.Context()
		took := make([]time.Duration, len(contenders))
		cpu := make([]time.Duration, len(contenders))
		b.ResetTimer()
		for round, done := 0, 0; done < b.N; round++ {
			n := min(benchBatch, b.N-done)
			for j := range contenders {
				k := (round + j) % len(contenders)
				start, startCPU := time.Now(), processCPU()
				if err := runInFlight(ctx, contenders[k], n); err != nil {
					b.Fatal(err)
				}
				took[k] += time.Since(start)
				cpu[k] += processCPU() - startCPU
			}
			done += n
		}
		b.StopTimer()
		rate := make(map[string]float64)
		for k, c := range contenders {
			rate[c.name] = float64(b.N) / took[k].Seconds()
			b.ReportMetric(rate[c.name], c.name+"-evals/s")
			b.ReportMetric(perOpMicros(cpu[k], b.N), c.name+"-cpu-µs/op")
		}
		b.ReportMetric(rate["sperse"]/rate["quic"], "sperse/quic-evals")
		b.ReportMetric(rate["sperse"]/rate["quicstream"], "sperse/quicstream-evals")
		b.ReportMetric(rate["sperse"]/rate["grpc"], "sperse/grpc-evals")
	})
}

// runInFlight makes n calls of c, benchInFlight at a time, and returns the
// first error.
func runInFlight(ctx context.Context, c *benchContender, n int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for range min(benchInFlight, n) {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				if err := c.call(ctx); err != nil {
					once.Do(func() {
						first = err
						cancel()
					})
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// processCPU returns the CPU time the process has used, user and system:
// both ends of every contender run in this process, so its growth over a
// measurement is their cost, which other processes on a shared machine
// disturb much less than they disturb elapsed time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// perOpMicros returns d/n in microseconds.
func perOpMicros(d time.Duration, n int) float64 {
	return float64(d) / float64(time.Microsecond) / float64(max(n, 1))
}

// percentileMicros returns the p-th percentile of lat in microseconds
// (nearest rank). It sorts lat.
func percentileMicros(lat []time.Duration, p int) float64 {
	if len(lat) == 0 {
		return 0
	}
	slices.Sort(lat)
	i := (len(lat)*p + 99) / 100 // the rank, from 1
	return float64(lat[max(i, 1)-1]) / float64(time.Microsecond)
}

// TestBenchHarness runs each contender of the transport benchmarks once,
// then with benchInFlight calls at once, so that the harness stays correct;
// and checks that a wrong answer fails a call.
func TestBenchHarness(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for _, c := range newBenchContenders(t, newBenchPayload(t)) {
		t.Run(c.name, func(t *testing.T) {
			if err := c.call(ctx); err != nil {
				t.Fatalf("one call: %v", err)
			}
			if err := runInFlight(ctx, c, benchInFlight); err != nil {
				t.Fatalf("%d calls at once: %v", benchInFlight, err)
			}
		})
	}

	wrong := newBenchPayload(t)
	wrong.WantItem = append([]byte(nil), wrong.RespItem...)
	wrong.WantItem[len(wrong.WantItem)-1]++
	wrong.WantValue = starlark.MakeInt(benchpeers.Want + 1)
	for _, c := range newBenchContenders(t, wrong) {
		if err := c.call(ctx); err == nil {
			t.Errorf("%s: a call expecting a wrong answer succeeded", c.name)
		} else {
			t.Logf("%s: a wrong answer: %v", c.name, err)
		}
	}
}

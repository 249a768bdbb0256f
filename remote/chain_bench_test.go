package remote_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/reactive"
	"github.com/sperse/sperse/remote"
	"github.com/sperse/sperse/server"
)

// chainDelay is the one-way delay the chain benchmark adds between client
// and server: a round trip costs at least 2*chainDelay.
const chainDelay = 5 * time.Millisecond

// BenchmarkChain100 evaluates a chain of 100 dependent remote cells
// (c0 = remote 0, c1 = remote c0 + 1, ...) on one server behind a network
// with a round trip of 2*chainDelay, through the reactive engine, with
// and without promise pipelining. Each iteration redefines c0 and waits for
// the whole chain. round-trips/op is the time of the chain over the round
// trip of one tiny cell measured before.
//
//	go test -run XXX -bench Chain100 -benchtime 10x ./remote/
func BenchmarkChain100(b *testing.B) {
	srv := startServer(b, "127.0.0.1:0", server.Config{Name: "far"})
	proxy := startDelayProxy(b, srv.addr, chainDelay)
	c := newClient(b, remote.ClientConfig{})
	c.connect(b, proxy.addr)
	rtt := tinyRoundTrip(b, c)
	for _, mode := range []struct {
		name string
		exec reactive.Executor
	}{
		{"pipelined", c.Client},
		{"sequential", struct{ reactive.Executor }{c.Client}}, // hides Pipelines
	} {
		b.Run(mode.name, func(b *testing.B) {
			e := reactive.New(reactive.Config{Local: reactive.Local{Interp: lang.NewInterp("local")}, Remote: mode.exec})
			defer e.Close()
			cells := make([]*lang.Cell, 100)
			cells[0] = lang.ParseCell("chain.sp", 1, "c0 = remote 0")
			for i := 1; i < len(cells); i++ {
				cells[i] = lang.ParseCell("chain.sp", i+1, fmt.Sprintf("c%d = remote c%d + 1", i, i-1))
			}
			e.Load(cells)
			waitChain(b, e, 99)
			b.ResetTimer()
			for i := range b.N {
				e.Define(lang.ParseCell("chain.sp", 1, fmt.Sprintf("c0 = remote %d", i+1)))
				waitChain(b, e, i+1+99)
			}
			b.ReportMetric(float64(b.Elapsed())/float64(b.N)/float64(rtt), "round-trips/op")
		})
	}
}

// tinyRoundTrip returns the best time of a few evaluations of a tiny cell.
func tinyRoundTrip(b *testing.B, c *testClient) time.Duration {
	best := time.Duration(1 << 62)
	for range 20 {
		start := time.Now()
		if res := c.Eval(b.Context(), lang.Request{Cell: lang.ParseCell("t.sp", 1, "x = remote 1")}); res.Err != nil {
			b.Fatal(res.Err)
		}
		best = min(best, time.Since(start))
	}
	return best
}

// waitChain waits for e to be quiet and checks the last cell of the chain.
func waitChain(b *testing.B, e *reactive.Engine, want int) {
	ctx, cancel := context.WithTimeout(b.Context(), time.Minute)
	defer cancel()
	if err := e.Wait(ctx); err != nil {
		b.Fatal(err)
	}
	v, _ := e.Cell("c99")
	if v.State != reactive.Ready || v.Value.String() != fmt.Sprint(want) {
		b.Fatalf("c99 is %s %v (%v), want %d", v.State, v.Value, v.Err, want)
	}
}

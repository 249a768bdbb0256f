package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/sperse/sperse/internal/benchpeers"
	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/reactive"
)

// Workload sizes.
const (
	manyCount = 20_000      // workload 2
	chainLen  = 100         // workload 3
	chainRuns = 5           // chains per repetition of workload 3, whose mean is its value
	sumN      = 100_000_000 // workload 5
	mapN      = 100_000     // workload 6
	mapRuns   = 3           // evaluations per repetition of workload 6, whose mean is its value
)

// Workloads 5 and 6 on sperse, as local cells whose pmap and mapreduce
// split the work across the servers.
var (
	sumSrc     = fmt.Sprintf("s = mapreduce(lambda r: vec.array(r).sum(), sum, range(%d), chunks=True)", sumN)
	pmapSrc    = fmt.Sprintf("ys = pmap(lambda x: x * 2 + 1, range(%d))", mapN)
	pmapVecSrc = fmt.Sprintf("ys = pmap(lambda r: vec.array(r) * 2 + 1, range(%d), chunks=True)", mapN)
)

// measureSperse runs the sperse side of the workloads in only (and the Go
// peers of workloads 1 and 2: the raw QUIC floor and gRPC), reps times
// each, adding to out.
func measureSperse(ctx context.Context, only []int, reps, calls int, out map[string]results, log io.Writer) error {
	has := func(w int) bool { return slices.Contains(only, w) }
	if has(4) {
		for _, g := range graphs(graphCells) {
			for i := range reps + 1 { // the first warms up
				initial, change, err := propagate(ctx, g, i)
				if err != nil {
					return fmt.Errorf("workload 4: %w", err)
				}
				if i > 0 {
					out["sperse"].add("4.initial."+g.Name, initial)
					out["sperse"].add("4.propagate."+g.Name, change)
				}
			}
			fmt.Fprintf(log, "sperse: workload 4, %s done\n", g.Name)
		}
	}
	if !slices.ContainsFunc(only, func(w int) bool { return w != 4 }) {
		return nil
	}
	r, err := startSperse(ctx)
	if err != nil {
		return fmt.Errorf("starting the servers: %w", err)
	}
	defer r.Close()
	p, err := benchpeers.NewPayload()
	if err != nil {
		return err
	}
	var grpcs []*benchpeers.GRPCUnary
	if has(2) {
		for range servers {
			g, err := benchpeers.StartGRPCUnary(p)
			if err != nil {
				return fmt.Errorf("grpc: %w", err)
			}
			defer g.Close()
			grpcs = append(grpcs, g)
		}
		// Warm up both sides.
		if _, err := manyCells(ctx, r, 1000, -1); err != nil {
			return fmt.Errorf("workload 2: %w", err)
		}
		if _, err := grpcMany(ctx, grpcs, 1000); err != nil {
			return fmt.Errorf("workload 2: %w", err)
		}
	}
	var chain chainBench
	if has(3) {
		if chain, err = startChain(ctx, r); err != nil {
			return fmt.Errorf("workload 3: %w", err)
		}
		defer chain.Close()
	}
	// Each workload's repetitions run back to back, as the peers' do, so
	// that what one workload leaves (a heap returned to the system, say)
	// weighs on the first repetition of the next only, as on the peers.
	if has(1) {
		for range reps {
			if err := roundTrips(ctx, r, p, calls, out); err != nil {
				return fmt.Errorf("workload 1: %w", err)
			}
		}
		fmt.Fprintln(log, "sperse: workload 1 done")
	}
	if has(2) {
		for rep := range reps {
			// The three take turns going first.
			sides := []string{"sperse", "client", "grpc"}
			for j := range sides {
				side := sides[(rep+j)%len(sides)]
				var rate float64
				var err error
				switch side {
				case "sperse":
					rate, err = manyCells(ctx, r, manyCount, rep)
				case "client":
					rate, err = clientMany(ctx, r, p, manyCount)
				default:
					rate, err = grpcMany(ctx, grpcs, manyCount)
				}
				if err != nil {
					return fmt.Errorf("workload 2: %w", err)
				}
				if side == "client" {
					out["sperse"].add("2.client", rate)
				} else {
					out[side].add("2.rate", rate)
				}
			}
		}
		fmt.Fprintln(log, "sperse: workload 2 done")
	}
	if has(3) {
		for rep := range reps {
			d, err := chain.run(ctx, rep)
			if err != nil {
				return fmt.Errorf("workload 3: %w", err)
			}
			out["sperse"].add("3.chain", d)
		}
		fmt.Fprintln(log, "sperse: workload 3 done")
	}
	if has(5) || has(6) { // warm up: the servers' heaps grow, the streams open
		for _, src := range []string{sumSrc, pmapSrc, pmapVecSrc} {
			if _, err := evalLocal(ctx, r, src, func(lang.Value) error { return nil }); err != nil {
				return err
			}
		}
	}
	if has(5) {
		for range reps {
			d, err := evalLocal(ctx, r, sumSrc, wantRepr(strconv.Itoa(sumN*(sumN-1)/2)))
			if err != nil {
				return fmt.Errorf("workload 5: %w", err)
			}
			out["sperse"].add("5.sum", d)
		}
		fmt.Fprintln(log, "sperse: workload 5 done")
	}
	if has(6) {
		for _, w := range []struct{ key, src string }{{"6.pmap", pmapSrc}, {"6.vec", pmapVecSrc}} {
			for range reps {
				var total float64
				for range mapRuns {
					d, err := evalLocal(ctx, r, w.src, wantSeq(mapN, strconv.Itoa(2*mapN-1)))
					if err != nil {
						return fmt.Errorf("workload 6: %w", err)
					}
					total += d
				}
				out["sperse"].add(w.key, total/mapRuns)
			}
		}
		fmt.Fprintln(log, "sperse: workload 6 done")
	}
	return nil
}

// chainBench is workload 3 on sperse: an engine holding a chain of
// chainLen dependent remote cells, evaluated on the servers (pipelined:
// the client sends the whole chain at once).
type chainBench struct {
	e   *reactive.Engine
	run func(ctx context.Context, rep int) (float64, error)
}

// Close closes the chain's engine.
func (c chainBench) Close() { c.e.Close() }

// startChain loads the chain and waits for it once.
func startChain(ctx context.Context, r *sperseRig) (chainBench, error) {
	e := r.engine()
	e.Load(chainCells(chainLen))
	last := fmt.Sprintf("c%d", chainLen-1)
	if err := e.Wait(ctx); err != nil {
		e.Close()
		return chainBench{}, err
	}
	if err := wantCell(e, last, strconv.Itoa(chainLen-1)); err != nil {
		e.Close()
		return chainBench{}, err
	}
	root := 0
	// run redefines the root chainRuns times, each time until the whole
	// chain is ready, and returns the mean time.
	run := func(ctx context.Context, rep int) (float64, error) {
		var total time.Duration
		for range chainRuns {
			root++
			c := lang.ParseCell("chain.sp", 1, fmt.Sprintf("c0 = remote %d", root))
			start := time.Now()
			e.Define(c)
			if err := e.Wait(ctx); err != nil {
				return 0, err
			}
			total += time.Since(start)
			if err := wantCell(e, last, strconv.Itoa(root+chainLen-1)); err != nil {
				return 0, err
			}
		}
		return total.Seconds() / chainRuns, nil
	}
	return chainBench{e: e, run: run}, nil
}

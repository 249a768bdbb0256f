package reactive

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"go.starlark.net/starlark"

	"github.com/sperse/sperse/lang"
)

// sumExecutor is a trivial executor: a cell's value is the sum of the ints in
// its scope, plus 1, modulo a prime so that it stays small.
type sumExecutor struct{}

func (sumExecutor) Eval(ctx context.Context, req Request) Result {
	s := int64(1)
	for _, v := range req.Scope {
		n, _ := v.(starlark.Int).Int64()
		s += n
	}
	return Result{Value: starlark.MakeInt64(s % 1_000_003), Where: "local"}
}

const benchCells = 10_000

func benchCell(i int, deps ...int) *lang.Cell {
	c := &lang.Cell{Name: fmt.Sprintf("c%d", i), Source: "sum", Kind: lang.ValueCell}
	for _, d := range deps {
		c.Free = append(c.Free, fmt.Sprintf("c%d", d))
	}
	return c
}

// benchGraphs are the graphs of the benchmarks. In each, every cell is
// downstream of c0.
var benchGraphs = []struct {
	name  string
	cells func() []*lang.Cell
}{
	{"chain", func() []*lang.Cell {
		cells := []*lang.Cell{benchCell(0)}
		for i := 1; i < benchCells; i++ {
			cells = append(cells, benchCell(i, i-1))
		}
		return cells
	}},
	{"fanout", func() []*lang.Cell {
		cells := []*lang.Cell{benchCell(0)}
		for i := 1; i < benchCells; i++ {
			cells = append(cells, benchCell(i, 0))
		}
		return cells
	}},
	{"diamond", func() []*lang.Cell {
		rng := rand.New(rand.NewPCG(1, 2))
		cells := []*lang.Cell{benchCell(0)}
		for i := 1; i < benchCells; i++ {
			deps := map[int]bool{}
			for range 1 + rng.IntN(3) {
				deps[rng.IntN(i)] = true
			}
			ds := slices.Sorted(maps.Keys(deps))
			cells = append(cells, benchCell(i, ds...))
		}
		// Free names are sorted by name, as lang sorts them.
		for _, c := range cells {
			slices.Sort(c.Free)
		}
		return cells
	}},
}

// BenchmarkPropagate measures a change of c0, which every other cell
// depends on: every cell runs again.
func BenchmarkPropagate(b *testing.B) {
	for _, g := range benchGraphs {
		for _, subscribed := range []bool{false, true} {
			name := g.name
			if subscribed {
				name += "-subscribed"
			}
			b.Run(name, func(b *testing.B) {
				e := New(Config{Local: sumExecutor{}})
				defer e.Close()
				// A subscriber takes the events as the recorder does
				// (Take, in place), and a change ends when it has taken
				// them all.
				caughtUp := func() {}
				if subscribed {
					sub := e.Subscribe()
					defer sub.Close()
					took := make(chan int, 1024)
					go func() {
						for range sub.C() {
							n := 0
							sub.Take(func(evs []Event) { n += len(evs) })
							took <- n
						}
					}()
					var taken uint64
					caughtUp = func() {
						e.mu.Lock()
						published := e.seq
						e.mu.Unlock()
						for taken < published {
							taken += uint64(<-took)
						}
					}
				}
				e.Load(g.cells())
				ctx := context.Background()
				if err := e.Wait(ctx); err != nil {
					b.Fatal(err)
				}
				caughtUp()
				b.ReportAllocs()
				for b.Loop() {
					e.Define(benchCell(0))
					if err := e.Wait(ctx); err != nil {
						b.Fatal(err)
					}
					caughtUp()
				}
				if v, _ := e.Cell("c1"); v.State != Ready || v.Runs < 2 {
					b.Fatalf("c1 is %v after %d runs", v.State, v.Runs)
				}
			})
		}
	}
}

// BenchmarkLoad measures a cold evaluation: Load and Wait.
func BenchmarkLoad(b *testing.B) {
	for _, g := range benchGraphs {
		b.Run(g.name, func(b *testing.B) {
			cells := g.cells()
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				e := New(Config{Local: sumExecutor{}})
				e.Load(cells)
				if err := e.Wait(ctx); err != nil {
					b.Fatal(err)
				}
				e.Close()
			}
		})
	}
}

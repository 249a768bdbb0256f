package reactive

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/sperse/sperse/lang"
)

// workspace writes the graph g as a workspace of real cells: each cell is the
// sum of its inputs plus one, modulo a prime, evaluated by the interpreter.
func workspace(b *testing.B, cells []*lang.Cell) []*lang.Cell {
	var src strings.Builder
	for _, c := range cells {
		expr := "1"
		if len(c.Free) > 0 {
			expr = "(" + strings.Join(c.Free, " + ") + " + 1) % 1000003"
		}
		fmt.Fprintf(&src, "%s = %s\n", c.Name, expr)
	}
	parsed, err := lang.ParseFile("bench.sp", []byte(src.String()))
	if err != nil {
		b.Fatal(err)
	}
	return parsed
}

// BenchmarkPropagateInterp is BenchmarkPropagate with the real interpreter
// evaluating every cell: what a user's change of a root cell costs.
func BenchmarkPropagateInterp(b *testing.B) {
	for _, g := range benchGraphs {
		b.Run(g.name, func(b *testing.B) {
			cells := workspace(b, g.cells())
			e := New(Config{Local: Local{Interp: lang.NewInterp("local")}})
			defer e.Close()
			e.Load(cells)
			ctx := context.Background()
			if err := e.Wait(ctx); err != nil {
				b.Fatal(err)
			}
			root := lang.ParseCell("bench.sp", 1, "c0 = 2")
			b.ReportAllocs()
			for b.Loop() {
				e.Define(root)
				if err := e.Wait(ctx); err != nil {
					b.Fatal(err)
				}
			}
			if v, _ := e.Cell(fmt.Sprintf("c%d", benchCells-1)); v.State != Ready {
				b.Fatalf("last cell is %v: %v", v.State, v.Err)
			}
		})
	}
}

// BenchmarkLoadInterp is a cold evaluation of the same workspaces: parse
// nothing, compile and evaluate every cell.
func BenchmarkLoadInterp(b *testing.B) {
	for _, g := range benchGraphs {
		b.Run(g.name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				cells := workspace(b, g.cells()) // fresh cells: nothing compiled yet
				b.StartTimer()
				e := New(Config{Local: Local{Interp: lang.NewInterp("local")}})
				e.Load(cells)
				if err := e.Wait(ctx); err != nil {
					b.Fatal(err)
				}
				e.Close()
			}
		})
	}
}

package reactive

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"go.starlark.net/starlark"

	"github.com/sperse/sperse/lang"
)

// diamond is a → b, c → d, then e, and an unrelated u.
func diamond() []*lang.Cell {
	return []*lang.Cell{
		cell("a", "1"),
		cell("b", "a + 1"),
		cell("c", "a * 10"),
		cell("d", "b + c"),
		cell("e", "d + 1"),
		cell("u", "5"),
	}
}

func TestChangeRunsDownstreamOnce(t *testing.T) {
	tests := []struct {
		change     *lang.Cell
		wantCalls  map[string]int
		wantValues map[string]string
	}{
		{
			change:    cell("a", "2"),
			wantCalls: map[string]int{"a": 1, "b": 1, "c": 1, "d": 1, "e": 1},
			wantValues: map[string]string{
				"a": "ready 2", "b": "ready 3", "c": "ready 20", "d": "ready 23", "e": "ready 24", "u": "ready 5",
			},
		},
		{
			change:    cell("b", "a + 100"),
			wantCalls: map[string]int{"b": 1, "d": 1, "e": 1},
			wantValues: map[string]string{
				"a": "ready 1", "b": "ready 101", "c": "ready 10", "d": "ready 111", "e": "ready 112", "u": "ready 5",
			},
		},
		{
			change:    cell("e", "d - u"),
			wantCalls: map[string]int{"e": 1},
			wantValues: map[string]string{
				"a": "ready 1", "b": "ready 2", "c": "ready 10", "d": "ready 12", "e": "ready 7", "u": "ready 5",
			},
		},
		{
			change:    cell("u", "6"),
			wantCalls: map[string]int{"u": 1},
			wantValues: map[string]string{
				"a": "ready 1", "b": "ready 2", "c": "ready 10", "d": "ready 12", "e": "ready 13", "u": "ready 6",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.change.Name, func(t *testing.T) {
			e, local, _ := newEngine(t, 0)
			e.Load(diamond())
			wait(t, e)
			local.reset()
			sub := e.Subscribe()
			e.Define(tt.change)
			wait(t, e)
			if diff := diffMaps(local.counts(), tt.wantCalls); diff != "" {
				t.Errorf("evaluations after changing %s:\n%s", tt.change.Name, diff)
			}
			if diff := diffMaps(summaries(e), tt.wantValues); diff != "" {
				t.Errorf("cells:\n%s", diff)
			}
			// Every downstream cell goes queued, running, ready; nothing else
			// has an event.
			gotEvents := map[string]string{}
			for _, ev := range sub.Next() {
				gotEvents[ev.Cell.Name] += ev.Kind.String() + ":" + ev.Cell.State.String() + " "
			}
			wantEvents := map[string]string{}
			for name := range tt.wantCalls {
				wantEvents[name] = "state:queued state:running value:ready "
			}
			wantEvents[tt.change.Name] = "defined:queued state:running value:ready "
			if diff := diffMaps(gotEvents, wantEvents); diff != "" {
				t.Errorf("events:\n%s", diff)
			}
			if v := state(t, e, tt.change.Name); v.Version != 2 || v.Runs != 1 {
				t.Errorf("%s: version %d, runs %d; want 2, 1", v.Name, v.Version, v.Runs)
			}
		})
	}
}

func TestViewGraph(t *testing.T) {
	e, _, _ := newEngine(t, 0)
	e.Load(diamond())
	wait(t, e)
	got := map[string]string{}
	for _, v := range e.Cells() {
		got[v.Name] = fmt.Sprint(v.Deps, v.Dependents)
	}
	want := map[string]string{
		"a": "[] [b c]", "b": "[a] [d]", "c": "[a] [d]", "d": "[b c] [e]", "e": "[d] []", "u": "[] []",
	}
	if diff := diffMaps(got, want); diff != "" {
		t.Errorf("deps and dependents:\n%s", diff)
	}
	var names []string
	for _, v := range e.Cells() {
		names = append(names, v.Name)
	}
	if got, want := strings.Join(names, " "), "a b c d e u"; got != want {
		t.Errorf("Cells() order: got %s, want %s", got, want)
	}
}

func TestLateResultDropped(t *testing.T) {
	for _, oldFirst := range []bool{true, false} {
		t.Run(fmt.Sprintf("old result first=%v", oldFirst), func(t *testing.T) {
			e, local, _ := newEngine(t, 2)
			h := local.hold("a", true) // results arrive even after cancellation
			sub := e.Subscribe()
			e.Load([]*lang.Cell{cell("a", "1"), cell("b", "a + 1")})
			old := next(t, h)
			e.Define(cell("a", "2"))
			cancelled(t, old)
			cur := next(t, h)
			if oldFirst {
				old.release()
				cur.release()
			} else {
				cur.release()
				old.release()
			}
			wait(t, e)
			if diff := diffMaps(summaries(e), map[string]string{"a": "ready 2", "b": "ready 3"}); diff != "" {
				t.Errorf("cells:\n%s", diff)
			}
			for _, ev := range sub.Next() {
				if ev.Cell.Value != nil && (ev.Cell.Value.String() == "1" || ev.Cell.Value.String() == "2" && ev.Cell.Name == "b") {
					t.Errorf("event %d shows the old result: %s %s", ev.Seq, ev.Cell.Name, summary(ev.Cell))
				}
			}
			if got := local.counts()["b"]; got != 1 {
				t.Errorf("b ran %d times, want 1", got)
			}
		})
	}
}

func TestChangeCancels(t *testing.T) {
	tests := []struct {
		name   string
		change func(e *Engine, mk func(name, src string) *lang.Cell)
		want   map[string]string
	}{
		{
			name:   "redefine",
			change: func(e *Engine, mk func(string, string) *lang.Cell) { e.Define(mk("b", "a + 2")) },
			want:   map[string]string{"a": "ready 1", "b": "running", "c": "queued"},
		},
		{
			name:   "redefine upstream",
			change: func(e *Engine, _ func(string, string) *lang.Cell) { e.Define(cell("a", "5")) },
			want:   map[string]string{"a": "ready 5", "b": "running", "c": "queued"},
		},
		{
			name:   "delete",
			change: func(e *Engine, _ func(string, string) *lang.Cell) { e.Delete("b") },
			want:   map[string]string{"a": "ready 1", "c": "error: t.sp:1:1: undefined: b"},
		},
		{
			name:   "delete upstream",
			change: func(e *Engine, _ func(string, string) *lang.Cell) { e.Delete("a") },
			want:   map[string]string{"b": "running", "c": "queued"},
		},
	}
	for _, tt := range tests {
		for _, remote := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/remote=%v", tt.name, remote), func(t *testing.T) {
				e, local, rem := newEngine(t, 0)
				mk, ex := cell, local
				if remote {
					mk, ex = remoteCell, rem
				}
				h := ex.hold("b", false)
				e.Load([]*lang.Cell{cell("a", "1"), mk("b", "a + 1"), cell("c", "b + 1")})
				first := next(t, h)
				tt.change(e, mk)
				cancelled(t, first)
				if <-first.returned; !errors.Is(first.err, context.Canceled) {
					t.Errorf("ctx.Err() = %v, want context.Canceled", first.err)
				}
				// b runs again, unless deleted; it is held.
				if _, ok := e.Cell("b"); ok {
					next(t, h)
				}
				// Wait for the cancelled evaluation to return.
				deadline := time.Now().Add(10 * time.Second)
				for {
					e.mu.Lock()
					n := e.inflight
					e.mu.Unlock()
					if n <= 1 || time.Now().After(deadline) {
						break
					}
					time.Sleep(time.Millisecond)
				}
				if _, ok := e.Cell("b"); !ok {
					wait(t, e)
				}
				if diff := diffMaps(summaries(e), tt.want); diff != "" {
					t.Errorf("cells:\n%s", diff)
				}
			})
		}
	}
}

func TestUpstreamError(t *testing.T) {
	e, local, _ := newEngine(t, 0)
	e.Load([]*lang.Cell{
		cell("a", "!boom"),
		cell("b", "a + 1"),
		cell("c", "b + 1"),
		cell("d", "c + b"),
		cell("ok", "1"),
		cell("x", "ok + d"),
	})
	wait(t, e)
	want := map[string]string{
		"a":  "error: boom",
		"b":  "upstream-error: depends on failed a",
		"c":  "upstream-error: depends on failed a (via b)",
		"d":  "upstream-error: depends on failed a (via b)",
		"ok": "ready 1",
		"x":  "upstream-error: depends on failed a (via d)",
	}
	if diff := diffMaps(summaries(e), want); diff != "" {
		t.Errorf("cells:\n%s", diff)
	}
	if diff := diffMaps(local.counts(), map[string]int{"a": 1, "ok": 1}); diff != "" {
		t.Errorf("evaluations:\n%s", diff)
	}
	var ie *InputError
	if err := state(t, e, "c").Err; !errors.As(err, &ie) || ie.Input != "b" || ie.Root != "a" {
		t.Errorf("c: got %#v, want *InputError{Input: b, Root: a}", err)
	}
	// Fixing a runs everything.
	e.Define(cell("a", "1"))
	wait(t, e)
	want = map[string]string{"a": "ready 1", "b": "ready 2", "c": "ready 3", "d": "ready 5", "ok": "ready 1", "x": "ready 6"}
	if diff := diffMaps(summaries(e), want); diff != "" {
		t.Errorf("after fixing a:\n%s", diff)
	}
}

func TestSyntaxError(t *testing.T) {
	e, local, _ := newEngine(t, 0)
	bad := cell("a", "1 +")
	bad.Err = &lang.Error{Pos: lang.Pos{File: "t.sp", Line: 1, Col: 4}, Msg: "got newline, want primary expression"}
	e.Load([]*lang.Cell{bad, cell("b", "a + 1")})
	wait(t, e)
	want := map[string]string{
		"a": "error: t.sp:1:4: got newline, want primary expression",
		"b": "upstream-error: depends on failed a",
	}
	if diff := diffMaps(summaries(e), want); diff != "" {
		t.Errorf("cells:\n%s", diff)
	}
	if n := len(local.counts()); n != 0 {
		t.Errorf("%d cells evaluated, want none", n)
	}
}

func TestCycles(t *testing.T) {
	tests := []struct {
		name  string
		cells []*lang.Cell
		want  map[string]string
		fix   *lang.Cell
	}{
		{
			name:  "self-reference is no cycle",
			cells: []*lang.Cell{cell("x", "x + 1")},
			want:  map[string]string{"x": "error: t.sp:1:1: undefined: x"},
			fix:   cell("x", "1"),
		},
		{
			name:  "two",
			cells: []*lang.Cell{cell("a", "b + 1"), cell("b", "a + 1"), cell("d", "a + 1")},
			want: map[string]string{
				"a": "error: cycle: a -> b -> a",
				"b": "error: cycle: b -> a -> b",
				"d": "upstream-error: depends on failed a",
			},
			fix: cell("b", "1"),
		},
		{
			name:  "three",
			cells: []*lang.Cell{cell("a", "b + 1"), cell("b", "c + 1"), cell("c", "a + 1"), cell("d", "c + 1"), cell("e", "d")},
			want: map[string]string{
				"a": "error: cycle: a -> b -> c -> a",
				"b": "error: cycle: b -> c -> a -> b",
				"c": "error: cycle: c -> a -> b -> c",
				"d": "upstream-error: depends on failed c",
				"e": "upstream-error: depends on failed c (via d)",
			},
			fix: cell("a", "1"),
		},
		{
			name:  "two cycles through one cell",
			cells: []*lang.Cell{cell("a", "b"), cell("b", "a + c"), cell("c", "b")},
			want: map[string]string{
				"a": "error: cycle: a -> b -> a",
				"b": "error: cycle: b -> a -> b",
				"c": "error: cycle: c -> b -> c",
			},
			fix: cell("b", "1"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, _, _ := newEngine(t, 0)
			e.Load(tt.cells)
			wait(t, e)
			if diff := diffMaps(summaries(e), tt.want); diff != "" {
				t.Errorf("cells:\n%s", diff)
			}
			e.Define(tt.fix)
			wait(t, e)
			for _, v := range e.Cells() {
				if v.State != Ready {
					t.Errorf("after redefining %s: %s is %s", tt.fix.Name, v.Name, summary(v))
				}
			}
			// Making the cycle again brings the errors back.
			e.Define(tt.cells[slices.IndexFunc(tt.cells, func(c *lang.Cell) bool { return c.Name == tt.fix.Name })])
			wait(t, e)
			if diff := diffMaps(summaries(e), tt.want); diff != "" {
				t.Errorf("cells after making the cycle again:\n%s", diff)
			}
		})
	}
}

func TestCycleError(t *testing.T) {
	e, _, _ := newEngine(t, 0)
	e.Load([]*lang.Cell{cell("a", "b"), cell("b", "c"), cell("c", "a")})
	wait(t, e)
	var ce *CycleError
	if err := state(t, e, "b").Err; !errors.As(err, &ce) {
		t.Fatalf("b: got %v, want a *CycleError", err)
	}
	if got, want := ce.Cycle(), []string{"b", "c", "a"}; !slices.Equal(got, want) {
		t.Errorf("Cycle() = %v, want %v", got, want)
	}
}

func TestDuplicates(t *testing.T) {
	e, local, _ := newEngine(t, 0)
	e.Load([]*lang.Cell{at(cell("x", "1"), 1), at(cell("y", "x + 1"), 2), at(cell("z", "7"), 3), at(cell("x", "2"), 4)})
	wait(t, e)
	want := map[string]string{
		"x": "error: x is defined twice: at t.sp:1:1 and t.sp:4:1",
		"y": "upstream-error: depends on failed x",
		"z": "ready 7",
	}
	if diff := diffMaps(summaries(e), want); diff != "" {
		t.Errorf("cells:\n%s", diff)
	}
	x := state(t, e, "x")
	if x.Cell.Pos.Line != 1 || len(x.Dups) != 1 || x.Dups[0].Pos.Line != 4 {
		t.Errorf("x: Cell at %v, Dups %v; want the cell at line 1 and the one at line 4", x.Cell.Pos, x.Dups)
	}
	var de *DuplicateError
	if !errors.As(x.Err, &de) || len(de.Pos) != 2 {
		t.Errorf("x: got %#v, want a *DuplicateError with two positions", x.Err)
	}
	if n := local.counts()["x"]; n != 0 {
		t.Errorf("x ran %d times, want 0", n)
	}
	// Three times.
	e.Load([]*lang.Cell{at(cell("w", "1"), 1), at(cell("w", "1"), 2), at(cell("w", "1"), 3)})
	if got, want := state(t, e, "w").Err.Error(), "w is defined 3 times: at t.sp:1:1, t.sp:2:1 and t.sp:3:1"; got != want {
		t.Errorf("w: got %q, want %q", got, want)
	}
	// At the REPL, a definition replaces both.
	e.Define(cell("x", "3"))
	wait(t, e)
	if got := state(t, e, "x"); got.Dups != nil || summary(got) != "ready 3" || summary(state(t, e, "y")) != "ready 4" {
		t.Errorf("after redefining x: x is %s with dups %v, y is %s", summary(got), got.Dups, summary(state(t, e, "y")))
	}
}

func TestUndefinedClears(t *testing.T) {
	e, _, _ := newEngine(t, 0)
	e.Load([]*lang.Cell{cell("b", "x + 1"), cell("c", "seven + 1"), cell("d", "b + c")})
	wait(t, e)
	want := map[string]string{
		"b": "error: t.sp:1:1: undefined: x",
		"c": "ready 8",
		"d": "upstream-error: depends on failed b",
	}
	if diff := diffMaps(summaries(e), want); diff != "" {
		t.Errorf("cells:\n%s", diff)
	}
	if got := state(t, e, "b").Deps; len(got) != 0 {
		t.Errorf("b.Deps = %v, want none", got)
	}
	e.Define(cell("x", "10"))
	e.Define(cell("seven", "1")) // shadows the builtin
	wait(t, e)
	want = map[string]string{"b": "ready 11", "c": "ready 2", "d": "ready 13", "x": "ready 10", "seven": "ready 1"}
	if diff := diffMaps(summaries(e), want); diff != "" {
		t.Errorf("after defining x and seven:\n%s", diff)
	}
	if got := state(t, e, "b").Deps; !slices.Equal(got, []string{"x"}) {
		t.Errorf("b.Deps = %v, want [x]", got)
	}
	// Deleting x brings the error back.
	if !e.Delete("x") {
		t.Fatal("Delete(x) = false")
	}
	wait(t, e)
	if got, want := summary(state(t, e, "b")), "error: t.sp:1:1: undefined: x"; got != want {
		t.Errorf("after deleting x: b is %s, want %s", got, want)
	}
	if e.Delete("x") {
		t.Error("Delete(x) twice = true")
	}
}

func TestRetryStale(t *testing.T) {
	tests := []struct {
		name  string
		err   error
		state State
	}{
		{"server lost", fmt.Errorf("eval r: %w", lostError{}), Stale},
		{"unavailable", fmt.Errorf("eval r: %w", unavailableError{}), Unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, local, rem := newEngine(t, 0)
			fail := true
			rem.hook("r", func(ctx context.Context, req Request) Result {
				if fail {
					return Result{Err: tt.err}
				}
				return Result{Value: starlark.MakeInt(42), Where: "srv2"}
			})
			e.Load([]*lang.Cell{cell("a", "1"), remoteCell("r", "a + 1"), cell("b", "r + 1")})
			wait(t, e)
			want := map[string]string{"a": "ready 1", "r": tt.state.String() + ": " + tt.err.Error(), "b": "queued"}
			if diff := diffMaps(summaries(e), want); diff != "" {
				t.Errorf("cells:\n%s", diff)
			}
			fail = false // no race: the engine is quiet
			e.RetryStale()
			wait(t, e)
			want = map[string]string{"a": "ready 1", "r": "ready 42", "b": "ready 43"}
			if diff := diffMaps(summaries(e), want); diff != "" {
				t.Errorf("after RetryStale:\n%s", diff)
			}
			if diff := diffMaps(rem.counts(), map[string]int{"r": 2}); diff != "" {
				t.Errorf("remote evaluations:\n%s", diff)
			}
			if diff := diffMaps(local.counts(), map[string]int{"a": 1, "b": 1}); diff != "" {
				t.Errorf("local evaluations:\n%s", diff)
			}
			if r := state(t, e, "r"); r.Where != "srv2" || r.Runs != 2 {
				t.Errorf("r: where %q, runs %d; want srv2, 2", r.Where, r.Runs)
			}
		})
	}
}

func TestNoRemoteExecutor(t *testing.T) {
	e := New(Config{Local: newFake("local")})
	defer e.Close()
	e.Load([]*lang.Cell{remoteCell("r", "1")})
	wait(t, e)
	if got := state(t, e, "r").State; got != Unavailable {
		t.Errorf("r is %v, want unavailable", got)
	}
}

func TestCancel(t *testing.T) {
	for _, remote := range []bool{false, true} {
		t.Run(fmt.Sprintf("remote=%v", remote), func(t *testing.T) {
			e, local, rem := newEngine(t, 0)
			mk, ex := cell, local
			if remote {
				mk, ex = remoteCell, rem
			}
			h := ex.hold("b", false)
			e.Load([]*lang.Cell{cell("a", "1"), mk("b", "a + 1"), cell("c", "b + 1"), cell("d", "c + a")})
			c := next(t, h)
			if !e.Cancel("b") {
				t.Fatal("Cancel(b) = false")
			}
			cancelled(t, c)
			wait(t, e)
			want := map[string]string{"a": "ready 1", "b": "cancelled", "c": "cancelled", "d": "cancelled"}
			if diff := diffMaps(summaries(e), want); diff != "" {
				t.Errorf("cells:\n%s", diff)
			}
			if n := local.counts()["c"] + local.counts()["d"]; n != 0 {
				t.Errorf("dependents ran %d times, want 0", n)
			}
			if e.Cancel("b") || e.Cancel("a") || e.Cancel("nope") {
				t.Error("Cancel of a settled or unknown cell = true")
			}
			e.Rerun("b")
			next(t, h).release()
			wait(t, e)
			want = map[string]string{"a": "ready 1", "b": "ready 2", "c": "ready 3", "d": "ready 4"}
			if diff := diffMaps(summaries(e), want); diff != "" {
				t.Errorf("after Rerun(b):\n%s", diff)
			}
		})
	}
}

func TestCancelQueued(t *testing.T) {
	e, local, _ := newEngine(t, 0)
	h := local.hold("a", false)
	e.Load([]*lang.Cell{cell("a", "1"), cell("b", "a + 1"), cell("c", "b + 1")})
	c := next(t, h)
	if !e.Cancel("b") {
		t.Fatal("Cancel(b) = false")
	}
	c.release()
	wait(t, e)
	want := map[string]string{"a": "ready 1", "b": "cancelled", "c": "cancelled"}
	if diff := diffMaps(summaries(e), want); diff != "" {
		t.Errorf("cells:\n%s", diff)
	}
}

func TestExecutorCancelled(t *testing.T) {
	e, local, _ := newEngine(t, 0)
	local.hook("a", func(ctx context.Context, req Request) Result {
		return Result{Err: fmt.Errorf("a: %w", context.Canceled)}
	})
	e.Load([]*lang.Cell{cell("a", "1"), cell("b", "a")})
	wait(t, e)
	want := map[string]string{"a": "cancelled: a: context canceled", "b": "cancelled"}
	if diff := diffMaps(summaries(e), want); diff != "" {
		t.Errorf("cells:\n%s", diff)
	}
}

func TestExecutorPanics(t *testing.T) {
	e, local, _ := newEngine(t, 0)
	local.hook("a", func(ctx context.Context, req Request) Result { panic("oops") })
	e.Load([]*lang.Cell{cell("a", "1")})
	wait(t, e)
	if got, want := summary(state(t, e, "a")), "error: evaluating a: the executor panicked: oops"; got != want {
		t.Errorf("a is %s, want %s", got, want)
	}
}

func TestWait(t *testing.T) {
	e, local, _ := newEngine(t, 0)
	if err := e.Wait(context.Background()); err != nil {
		t.Fatalf("Wait on an empty engine: %v", err)
	}
	h := local.hold("b", false)
	e.Load([]*lang.Cell{cell("a", "1"), cell("b", "a + 1"), cell("c", "b + 1")})
	c := next(t, h)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := e.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait while b runs: %v, want DeadlineExceeded", err)
	}
	done := make(chan error)
	go func() { done <- e.Wait(context.Background()) }()
	c.release()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return")
	}
	if got := summary(state(t, e, "c")); got != "ready 3" {
		t.Errorf("c is %s after Wait, want ready 3", got)
	}
}

func TestMaxLocal(t *testing.T) {
	e, local, _ := newEngine(t, 2)
	var cells []*lang.Cell
	var holds []*hold
	for i := range 6 {
		name := fmt.Sprintf("c%d", i)
		holds = append(holds, local.hold(name, false))
		cells = append(cells, cell(name, "1"))
	}
	e.Load(cells)
	for range 6 {
		// Take whichever started, check the limit, let it go.
		var c *heldCall
		for c == nil {
			for _, h := range holds {
				select {
				case c = <-h.calls:
				default:
				}
				if c != nil {
					break
				}
			}
			time.Sleep(time.Millisecond)
		}
		local.mu.Lock()
		active := local.active
		local.mu.Unlock()
		if active > 2 {
			t.Fatalf("%d evaluations at once, want at most 2", active)
		}
		c.release()
	}
	wait(t, e)
	local.mu.Lock()
	maxActive := local.maxActive
	local.mu.Unlock()
	if maxActive != 2 {
		t.Errorf("at most %d evaluations at once, want 2", maxActive)
	}
	e.mu.Lock()
	workers := e.workers
	e.mu.Unlock()
	if workers != 0 {
		t.Errorf("%d workers left when quiet, want 0", workers)
	}
}

func TestDeleteAndRedefine(t *testing.T) {
	e, _, _ := newEngine(t, 0)
	sub := e.Subscribe()
	e.Load(diamond())
	wait(t, e)
	e.Define(cell("b", "a + 2"))
	wait(t, e)
	e.Delete("b")
	wait(t, e)
	want := map[string]string{
		"a": "ready 1", "c": "ready 10", "d": "error: t.sp:1:1: undefined: b", "e": "upstream-error: depends on failed d", "u": "ready 5",
	}
	if diff := diffMaps(summaries(e), want); diff != "" {
		t.Errorf("after deleting b:\n%s", diff)
	}
	if got := state(t, e, "a").Dependents; !slices.Equal(got, []string{"c"}) {
		t.Errorf("a.Dependents = %v, want [c]", got)
	}
	var deleted []Event
	for _, ev := range sub.Next() {
		if ev.Kind == Deleted {
			deleted = append(deleted, ev)
		}
	}
	if len(deleted) != 1 || deleted[0].Cell.Name != "b" || deleted[0].Cell.Version != 2 {
		t.Errorf("deleted events: %v, want one for b version 2", deleted)
	}
	e.Define(cell("b", "a + 3"))
	wait(t, e)
	b := state(t, e, "b")
	if b.Version != 3 || summary(b) != "ready 4" || summary(state(t, e, "e")) != "ready 15" {
		t.Errorf("b defined again: version %d, %s; e %s", b.Version, summary(b), summary(state(t, e, "e")))
	}
	var names []string
	for _, v := range e.Cells() {
		names = append(names, v.Name)
	}
	if got, want := strings.Join(names, " "), "a c d e u b"; got != want {
		t.Errorf("Cells() order: got %s, want %s", got, want)
	}
}

// TestRandomGraph changes cells of a random graph and checks that exactly the
// cells downstream run, once each, and that every value is right.
func TestRandomGraph(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	const n = 300
	srcs := make([]string, n)
	deps := make([][]int, n)
	var cells []*lang.Cell
	for i := range n {
		srcs[i] = "1"
		if i > 0 {
			var terms []string
			for range 1 + rng.IntN(3) {
				j := rng.IntN(i)
				deps[i] = append(deps[i], j)
				terms = append(terms, fmt.Sprintf("c%d", j))
			}
			srcs[i] = strings.Join(terms, " + ") + " + 1"
		}
		cells = append(cells, cell(fmt.Sprintf("c%d", i), srcs[i]))
	}
	rng.Shuffle(len(cells), func(i, j int) { cells[i], cells[j] = cells[j], cells[i] })
	e, local, _ := newEngine(t, 0)
	e.Load(cells)
	check := func() {
		t.Helper()
		wait(t, e)
		want := make([]int, n)
		for i := range n {
			want[i] = 1
			for _, j := range deps[i] {
				want[i] += want[j]
			}
		}
		for i := range n {
			v := state(t, e, fmt.Sprintf("c%d", i))
			if got := summary(v); got != fmt.Sprint("ready ", want[i]) {
				t.Fatalf("c%d is %s, want %d", i, got, want[i])
			}
		}
	}
	check()
	for range 20 {
		local.reset()
		k := rng.IntN(n)
		name := fmt.Sprintf("c%d", k)
		if rng.IntN(2) == 0 {
			e.Rerun(name)
		} else {
			e.Define(cell(name, srcs[k]))
		}
		check()
		down := map[int]bool{k: true}
		for i := k + 1; i < n; i++ {
			for _, j := range deps[i] {
				if down[j] {
					down[i] = true
				}
			}
		}
		want := map[string]int{}
		for i := range down {
			want[fmt.Sprintf("c%d", i)] = 1
		}
		if diff := diffMaps(local.counts(), want); diff != "" {
			t.Fatalf("after Rerun(c%d):\n%s", k, diff)
		}
	}
}

// TestConcurrentChanges changes cells while others run, from several
// goroutines, and checks that the engine ends right.
func TestConcurrentChanges(t *testing.T) {
	e, _, _ := newEngine(t, 0)
	e.Load(diamond())
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 50 {
				switch (g + i) % 4 {
				case 0:
					e.Define(cell("a", fmt.Sprint(i)))
				case 1:
					e.Rerun("d")
				case 2:
					e.Define(cell("u", fmt.Sprint(i)))
				case 3:
					e.Cancel("c")
					e.Rerun("c")
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
	e.Define(cell("a", "2"))
	wait(t, e)
	want := map[string]string{"a": "ready 2", "b": "ready 3", "c": "ready 20", "d": "ready 23", "e": "ready 24"}
	got := summaries(e)
	delete(got, "u")
	if diff := diffMaps(got, want); diff != "" {
		t.Errorf("cells:\n%s", diff)
	}
}

func TestLoadReplaces(t *testing.T) {
	e, local, _ := newEngine(t, 0)
	e.Load(diamond())
	wait(t, e)
	local.reset()
	e.Load([]*lang.Cell{cell("a", "3"), cell("f", "u + 1")})
	wait(t, e)
	want := map[string]string{
		"a": "ready 3", "b": "ready 4", "c": "ready 30", "d": "ready 34", "e": "ready 35", "u": "ready 5", "f": "ready 6",
	}
	if diff := diffMaps(summaries(e), want); diff != "" {
		t.Errorf("cells:\n%s", diff)
	}
	if diff := diffMaps(local.counts(), map[string]int{"a": 1, "b": 1, "c": 1, "d": 1, "e": 1, "f": 1}); diff != "" {
		t.Errorf("evaluations:\n%s", diff)
	}
}

func TestRunningView(t *testing.T) {
	e, local, rem := newEngine(t, 0)
	hl, hr := local.hold("a", false), rem.hold("r", false)
	e.Load([]*lang.Cell{cell("a", "1"), remoteCell("r", "2"), cell("b", "a + r")})
	cl, cr := next(t, hl), next(t, hr)
	for _, tt := range []struct{ name, where string }{{"a", "local"}, {"r", "remote"}} {
		v := state(t, e, tt.name)
		if v.State != Running || v.Where != tt.where || v.Runs != 1 || v.Started.IsZero() || !v.Finished.IsZero() {
			t.Errorf("%s: %s where %q, runs %d, started %v, finished %v; want running at %s",
				tt.name, v.State, v.Where, v.Runs, v.Started, v.Finished, tt.where)
		}
	}
	if got := summary(state(t, e, "b")); got != "queued" {
		t.Errorf("b is %s, want queued", got)
	}
	if got := cr.req.Scope; len(got) != 0 {
		t.Errorf("r's scope: %v, want empty", got)
	}
	cl.release()
	cr.release()
	wait(t, e)
	if v := state(t, e, "r"); v.Where != "srv" || v.Finished.Before(v.Started) {
		t.Errorf("r: where %q, started %v, finished %v", v.Where, v.Started, v.Finished)
	}
	if got := summary(state(t, e, "b")); got != "ready 3" {
		t.Errorf("b is %s, want ready 3", got)
	}
}

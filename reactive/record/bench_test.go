package record

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.starlark.net/starlark"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/reactive"
)

// sumExecutor is a trivial executor: a cell's value is the sum of the ints in
// its scope, plus 1.
type sumExecutor struct{}

func (sumExecutor) Eval(ctx context.Context, req reactive.Request) reactive.Result {
	s := int64(1)
	for _, v := range req.Scope {
		n, _ := v.(starlark.Int).Int64()
		s += n
	}
	return reactive.Result{Value: starlark.MakeInt64(s % 1_000_003), Where: "local"}
}

// fanout returns n cells: c0, and c1 ... c(n-1) that each use c0.
func fanout(n int) []*lang.Cell {
	cells := make([]*lang.Cell, n)
	for i := range cells {
		c := &lang.Cell{Name: fmt.Sprintf("c%d", i), Source: fmt.Sprintf("c%d = c0 + 1", i), Kind: lang.ValueCell,
			Pos: lang.Pos{File: "fanout.sp", Line: i + 1, Col: 1}}
		if i > 0 {
			c.Free = []string{"c0"}
		}
		cells[i] = c
	}
	return cells
}

// fanoutWorkspace is the fan-out of fanout as a workspace for the
// interpreter: c0 = 1, and c1 ... c(n-1) that each add 1 to c0.
func fanoutWorkspace(tb testing.TB, n int) []*lang.Cell {
	var src strings.Builder
	src.WriteString("c0 = 1\n")
	for i := 1; i < n; i++ {
		fmt.Fprintf(&src, "c%d = (c0 + 1) %% 1000003\n", i)
	}
	cells, err := lang.ParseFile("fanout.sp", []byte(src.String()))
	if err != nil {
		tb.Fatal(err)
	}
	return cells
}

// burstSetup is a workspace of 10,000 cells, c0 and 9,999 cells that use it,
// with the executor that evaluates them and the change of c0 that runs them
// all again: a burst of 30,000 events (defined or changed, dispatched,
// resolved).
type burstSetup struct {
	name   string
	local  func() reactive.Executor
	cells  func(testing.TB) []*lang.Cell
	change func() *lang.Cell
}

var burstSetups = []burstSetup{
	// The engine alone, with a trivial executor: the cheapest cells, so the
	// worst case for the recorder.
	{"sum", func() reactive.Executor { return sumExecutor{} },
		func(testing.TB) []*lang.Cell { return fanout(10_000) },
		func() *lang.Cell { return fanout(1)[0] }},
	// The interpreter evaluating every cell, as in sperse.
	{"interp", func() reactive.Executor { return reactive.Local{Interp: lang.NewInterp("local")} },
		func(tb testing.TB) []*lang.Cell { return fanoutWorkspace(tb, 10_000) },
		func() *lang.Cell { return lang.ParseCell("fanout.sp", 1, "c0 = 2") }},
}

// How a burst is run: with nothing following the engine, with a subscriber
// that drops the events (the engine's cost of publishing them, which any
// follower pays, the TUI's too; it is woken at the subscription's default
// pace, as the TUI is), or with a Recorder following the engine into a
// file, as Follow does (woken every WakeDelay).
const (
	plain = iota
	subscribed
	recorded
	modes
)

var modeNames = [modes]string{"plain", "subscribed", "recorded"}

// follower follows an engine as its mode says.
type follower struct {
	e       *reactive.Engine
	r       *Recorder
	sub     *reactive.Subscription
	events  chan int // how many events each batch took
	stopped chan struct{}
	behind  int // events published and not yet taken
}

func newFollower(tb testing.TB, setup burstSetup, mode int, path string) *follower {
	f := &follower{e: reactive.New(reactive.Config{Local: setup.local()}), events: make(chan int, 1024), stopped: make(chan struct{})}
	if mode == plain {
		close(f.stopped)
	} else {
		if mode == recorded {
			var err error
			if f.r, err = Create(path, Header{Title: "benchmark"}); err != nil {
				tb.Fatal(err)
			}
		}
		f.sub = f.e.Subscribe()
		took := func(n int) { f.events <- n }
		go func() {
			defer close(f.stopped)
			if f.r != nil {
				if err := f.r.follow(context.Background(), f.sub, took); err != nil {
					panic(err)
				}
				return
			}
			for range f.sub.C() {
				n := 0
				f.sub.Take(func(evs []reactive.Event) { n += len(evs) })
				took(n)
			}
		}()
	}
	cells := setup.cells(tb)
	f.burst(tb, func() { f.e.Load(cells) }, 3*len(cells))
	return f
}

// burst changes the engine and waits until it is quiet and the follower has
// taken (and written) the n events it publishes.
func (f *follower) burst(tb testing.TB, change func(), n int) {
	change()
	if err := f.e.Wait(context.Background()); err != nil {
		tb.Fatal(err)
	}
	if f.sub == nil {
		return
	}
	for f.behind += n; f.behind > 0; {
		f.behind -= <-f.events
	}
}

func (f *follower) close(tb testing.TB) {
	f.e.Close()
	<-f.stopped
	if f.r != nil {
		if err := f.r.Close(); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkRecord measures the overhead of recording a burst of 10,000 cell
// results (see burstSetup), with the engine alone and with the interpreter.
// A burst ends when the engine is quiet and its follower has taken every
// event: for the recorder, written to the file (handed to it in a write per
// 64 KiB or per batch, as a Recorder always does; not synced). Three engines
// do it side by side, in a random order each round, so that they share the
// machine's load alike: one with nothing following it, one with a subscriber
// that drops the events, one with a Recorder. It reports the median burst of
// each in ms, and the recorded and subscribed ones as a ratio to the plain
// one: the recording's overhead is recorded/plain - 1.
func BenchmarkRecord(b *testing.B) {
	for _, setup := range burstSetups {
		b.Run(setup.name, func(b *testing.B) {
			dir := b.TempDir()
			var fs [modes]*follower
			for m := range modes {
				fs[m] = newFollower(b, setup, m, filepath.Join(dir, "burst.jsonl"))
				defer fs[m].close(b)
			}
			var took [modes][]time.Duration
			rng := rand.New(rand.NewPCG(1, 2))
			for b.Loop() {
				for _, m := range rng.Perm(modes) {
					start := time.Now()
					fs[m].burst(b, func() { fs[m].e.Define(setup.change()) }, 30_000)
					took[m] = append(took[m], time.Since(start))
				}
			}
			var med [modes]float64
			for m := range modes {
				med[m] = float64(median(took[m])) / 1e6
				b.ReportMetric(med[m], modeNames[m]+"-ms")
			}
			b.ReportMetric(med[recorded]/med[plain], "recorded/plain")
			b.ReportMetric(med[subscribed]/med[plain], "subscribed/plain")
			b.ReportMetric(0, "ns/op")
		})
	}
}

func median(ds []time.Duration) time.Duration {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// BenchmarkRecordEngine measures the recorder alone: formatting and writing
// a batch of the events of a 10,000-cell burst.
func BenchmarkRecordEngine(b *testing.B) {
	e := reactive.New(reactive.Config{Local: sumExecutor{}})
	sub := e.Subscribe()
	e.Load(fanout(10_000))
	if err := e.Wait(context.Background()); err != nil {
		b.Fatal(err)
	}
	e.Close()
	evs := sub.Next()
	f, err := os.Create(filepath.Join(b.TempDir(), "rec.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	r, err := New(f, Header{})
	if err != nil {
		b.Fatal(err)
	}
	for _, batch := range []int{1, batchBytes} {
		b.Run(fmt.Sprintf("write-every-%dB", batch), func(b *testing.B) {
			r.batch = batch
			b.ReportAllocs()
			for b.Loop() {
				if err := r.RecordEngine(evs...); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed())/float64(b.N*len(evs)), "ns/event")
		})
	}
}

// BenchmarkOpen measures loading a recording of 100,000 events (a third
// each defined, dispatched and resolved with an int value).
func BenchmarkOpen(b *testing.B) {
	path := filepath.Join(b.TempDir(), "big.jsonl")
	r, err := Create(path, Header{})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	for i := range 100_000 {
		v := reactive.CellView{Name: fmt.Sprintf("c%d", i/3), Version: 1, Where: "local"}
		kind := reactive.StateChanged
		switch i % 3 {
		case 0:
			kind = reactive.Defined
			v.Cell = &lang.Cell{Source: v.Name + " = c0 + 1", Pos: lang.Pos{File: "w.sp", Line: i/3 + 1, Col: 1}}
			v.Where = ""
		case 1:
			v.State = reactive.Running
		case 2:
			kind = reactive.ValueChanged
			v.State, v.Value, v.Took = reactive.Ready, starlark.MakeInt(i), 15*time.Microsecond
		}
		ev := reactive.Event{Time: start.Add(time.Duration(i) * time.Microsecond), Kind: kind, Cell: v}
		if err := r.RecordEngine(ev); err != nil {
			b.Fatal(err)
		}
	}
	if err := r.Close(); err != nil {
		b.Fatal(err)
	}
	info, _ := os.Stat(path)
	b.SetBytes(info.Size())
	b.ReportAllocs()
	for b.Loop() {
		rec, err := Open(path)
		if err != nil || len(rec.Events) != 100_000 {
			b.Fatalf("%v", err)
		}
	}
}

package record

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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

// How a burst is run: with nothing following the engine, with a
// subscription that drops the events (the cost of the engine's publishing,
// which any follower pays, the TUI's too), or with a Recorder following it
// into a file.
const (
	plain = iota
	subscribed
	recorded
	modes
)

var modeNames = [modes]string{"plain", "subscribed", "recorded"}

// follower follows a 10,000-cell fan-out in an engine, as its mode says.
type follower struct {
	e       *reactive.Engine
	r       *Recorder
	sub     *reactive.Subscription
	events  chan int // the events taken by each Next
	stopped chan struct{}
	behind  int // events published and not yet taken
}

func newFollower(tb testing.TB, mode int, path string) *follower {
	f := &follower{e: reactive.New(reactive.Config{Local: sumExecutor{}}), events: make(chan int, 1024), stopped: make(chan struct{})}
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
		go func() {
			// What Follow does, telling how many events each step took.
			defer close(f.stopped)
			for range f.sub.C() {
				evs := f.sub.Next()
				if f.r != nil {
					if err := f.r.RecordEngine(evs...); err != nil {
						panic(err)
					}
				}
				f.events <- len(evs)
			}
		}()
	}
	f.burst(tb, func() { f.e.Load(fanout(10_000)) }, 30_000)
	return f
}

// burst changes the engine and waits until it is quiet and the follower has
// taken the n events it publishes.
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

// BenchmarkRecord measures the overhead of recording bursts of 10,000 cell
// results: in a workspace of 10,000 cells, c0 and 9,999 cells that use it,
// evaluated by a trivial executor, c0 is defined again, so every cell runs
// again (30,000 events: defined or changed, dispatched, resolved). A burst
// ends when the engine is quiet and its follower has taken every event. Three
// engines do it side by side, in turn, so that they share the machine's
// load alike: one with nothing following it, one with a subscriber that drops
// the events, one with a Recorder following it into a file. The benchmark
// reports the mean burst of each in ms, and the recorder's overhead in
// percent against the plain engine and against the subscribed one (which
// leaves out the engine's own cost of publishing events, paid by any
// follower).
func BenchmarkRecord(b *testing.B) {
	dir := b.TempDir()
	var fs [modes]*follower
	for m := range modes {
		fs[m] = newFollower(b, m, filepath.Join(dir, "burst.jsonl"))
		defer fs[m].close(b)
	}
	var total [modes]time.Duration
	n := 0
	for b.Loop() {
		for i := range modes {
			m := (n + i) % modes
			start := time.Now()
			fs[m].burst(b, func() { fs[m].e.Define(fanout(1)[0]) }, 30_000)
			total[m] += time.Since(start)
		}
		n++
	}
	for m := range modes {
		b.ReportMetric(float64(total[m])/float64(n)/1e6, modeNames[m]+"-ms")
	}
	b.ReportMetric(100*(float64(total[recorded])/float64(total[plain])-1), "overhead-vs-plain-%")
	b.ReportMetric(100*(float64(total[recorded])/float64(total[subscribed])-1), "overhead-vs-subscribed-%")
	b.ReportMetric(0, "ns/op")
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

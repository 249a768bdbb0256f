package reactive

import (
	"context"
	"testing"
	"time"

	"go.starlark.net/starlark"

	"github.com/sperse/sperse/lang"
)

// stepSplitter is a lang.Splitter that runs no chunk: it reports progress
// steps times, pausing between reports, after waiting for gate (if not nil,
// and even if its evaluation is cancelled), and returns one empty chunk.
type stepSplitter struct {
	steps int
	pause time.Duration
	gate  chan struct{}
}

func (s stepSplitter) Split(ctx context.Context, job lang.SplitJob) ([]lang.Value, error) {
	if s.gate != nil {
		<-s.gate // even if ctx is cancelled
	}
	job.Progress(0, s.steps)
	for i := 1; i <= s.steps; i++ {
		time.Sleep(s.pause)
		job.Progress(i, s.steps)
	}
	return []lang.Value{starlark.NewList(nil)}, nil
}

// progressEvents returns the progress of each event of cell name that
// changed it.
func progressEvents(evs []Event, name string) []Progress {
	var ps []Progress
	last := Progress{}
	for _, ev := range evs {
		if ev.Cell.Name == name && ev.Cell.Progress != last {
			last = ev.Cell.Progress
			ps = append(ps, last)
		}
	}
	return ps
}

func TestProgressThrottled(t *testing.T) {
	in := &lang.Interp{Where: "local", Splitter: stepSplitter{steps: 200, pause: time.Millisecond}}
	e := New(Config{Local: Local{Interp: in}})
	defer e.Close()
	sub := e.Subscribe()
	defer sub.Close()

	start := time.Now()
	e.Define(lang.ParseCell("t.sp", 1, "x = pmap(lambda v: v, [1]) + pmap(lambda v: v, [2])"))
	wait(t, e)
	took := time.Since(start)
	x := state(t, e, "x")
	if x.State != Ready || x.Value.String() != "[]" {
		t.Fatalf("x: %s %v %v", x.State, x.Value, x.Err)
	}
	// Two splits of 200 chunks each count as 400.
	if want := (Progress{Done: 400, Total: 400}); x.Progress != want || x.Progress.String() != "400/400" {
		t.Errorf("x.Progress = %v, want %v", x.Progress, want)
	}
	if x.Attempts != 1 {
		t.Errorf("x.Attempts = %d, want 1", x.Attempts)
	}
	ps := progressEvents(sub.Next(), "x")
	t.Logf("%d progress events in %v: %v", len(ps), took, ps)
	if limit := int(took/progressInterval) + 2; len(ps) > limit {
		t.Errorf("%d progress events in %v: want at most %d", len(ps), took, limit)
	}
	if len(ps) < 2 || ps[len(ps)-1] != x.Progress {
		t.Errorf("progress events %v: want several, the last %v", ps, x.Progress)
	}
	for i := 1; i < len(ps); i++ {
		if ps[i].Done < ps[i-1].Done || ps[i].Total < ps[i-1].Total {
			t.Errorf("progress went back from %v to %v", ps[i-1], ps[i])
		}
	}
}

func TestProgressOfOldRunDropped(t *testing.T) {
	gate := make(chan struct{})
	in := &lang.Interp{Where: "local", Splitter: stepSplitter{steps: 10, gate: gate}}
	e := New(Config{Local: Local{Interp: in}, MaxLocal: 2})
	defer e.Close()

	// The first version of x waits for the gate even when cancelled; the
	// second, which splits nothing, runs meanwhile.
	e.Define(lang.ParseCell("t.sp", 1, "x = pmap(lambda v: v, [1])"))
	for state(t, e, "x").State != Running {
		time.Sleep(time.Millisecond)
	}
	e.Define(lang.ParseCell("t.sp", 1, "x = 2"))
	for state(t, e, "x").State != Ready {
		time.Sleep(time.Millisecond)
	}
	close(gate) // the old run reports its progress now, too late
	wait(t, e)
	x := state(t, e, "x")
	if x.Value.String() != "2" || x.Progress != (Progress{}) || x.Attempts != 1 {
		t.Errorf("x = %v, progress %v, attempts %d; want 2, none, 1", x.Value, x.Progress, x.Attempts)
	}
}

func TestAttempts(t *testing.T) {
	e, _, rem := newEngine(t, 0)
	rem.hook("r", func(ctx context.Context, req Request) Result {
		return Result{Value: starlark.MakeInt(1), Where: "srv2", Attempts: 2}
	})
	e.Load([]*lang.Cell{remoteCell("r", "1")})
	wait(t, e)
	if r := state(t, e, "r"); r.Attempts != 2 || r.Where != "srv2" {
		t.Errorf("r: attempts %d, where %s; want 2, srv2", r.Attempts, r.Where)
	}
}

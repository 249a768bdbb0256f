package reactive

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sperse/sperse/lang"
)

// pipeFake is a remote executor that pipelines: it is called with the
// promises of inputs still running, records which, and waits for their
// values (as the remote client does when it cannot send references).
type pipeFake struct {
	*fake

	mu      sync.Mutex
	pending map[string][]string // by cell: the names pending when it was called
	started []string            // cells in the order they were called
	inside  int                 // evaluations in Eval now
	most    int                 // the most there were at once
}

func (p *pipeFake) Pipelines() bool { return true }

func (p *pipeFake) Eval(ctx context.Context, req Request) Result {
	p.mu.Lock()
	var names []string
	for name := range req.Pending {
		names = append(names, name)
	}
	slices.Sort(names)
	p.pending[req.Cell.Name] = names
	p.started = append(p.started, req.Cell.Name)
	p.inside++
	p.most = max(p.most, p.inside)
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.inside--
		p.mu.Unlock()
	}()
	req, err := req.Await(ctx)
	if err != nil {
		return Result{Err: err}
	}
	return p.fake.Eval(ctx, req)
}

func newPipeEngine(t *testing.T) (*Engine, *pipeFake) {
	t.Helper()
	p := &pipeFake{fake: newFake("srv"), pending: map[string][]string{}}
	e := New(Config{Local: newFake("local"), Remote: p})
	t.Cleanup(e.Close)
	return e, p
}

// waitStarted waits until the cells of names have been called.
func (p *pipeFake) waitStarted(t *testing.T, names ...string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		p.mu.Lock()
		all := true
		for _, n := range names {
			all = all && slices.Contains(p.started, n)
		}
		p.mu.Unlock()
		if all {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not all of %v started", names)
		}
	}
}

func TestPipelinedChain(t *testing.T) {
	e, p := newPipeEngine(t)
	h := p.hold("a", false)
	e.Load([]*lang.Cell{remoteCell("a", "1"), remoteCell("b", "a + 1"), remoteCell("c", "a + b"), cell("l", "c + 1")})
	first := next(t, h)
	// While a runs, the remote cells that use it are started with its
	// promise; the local one waits.
	p.waitStarted(t, "b", "c")
	if got := state(t, e, "c"); got.State != Running {
		t.Errorf("c is %s while a runs, want running", got.State)
	}
	if got := state(t, e, "l"); got.State != Queued {
		t.Errorf("l is %s while a runs, want queued", got.State)
	}
	p.mu.Lock()
	if !slices.Equal(p.pending["b"], []string{"a"}) || !slices.Equal(p.pending["c"], []string{"a", "b"}) {
		t.Errorf("pending inputs: %v", p.pending)
	}
	p.mu.Unlock()
	first.release()
	wait(t, e)
	if diff := diffMaps(summaries(e), map[string]string{"a": "ready 1", "b": "ready 2", "c": "ready 3", "l": "ready 4"}); diff != "" {
		t.Error(diff)
	}
	if got := p.counts(); got["b"] != 1 || got["c"] != 1 {
		t.Errorf("evaluations: %v, want one each", got)
	}
}

// TestPipelinedInputFails checks that cells started with the promise of an
// input that fails end as upstream errors, not with the error their own
// evaluation gave.
func TestPipelinedInputFails(t *testing.T) {
	e, p := newPipeEngine(t)
	h := p.hold("a", false)
	e.Load([]*lang.Cell{remoteCell("a", "1"), remoteCell("b", "a + 1"), remoteCell("c", "b + 1")})
	first := next(t, h)
	p.waitStarted(t, "b", "c")
	first.releaseWith(&Result{Err: errors.New("boom")})
	wait(t, e)
	if diff := diffMaps(summaries(e), map[string]string{"a": "error: boom", "b": "upstream-error: depends on failed a", "c": "upstream-error: depends on failed a (via b)"}); diff != "" {
		t.Error(diff)
	}
}

// TestPipelinedInputLost checks that when an input's server is lost, the
// cells pipelined on it wait for it again, and run with it once it runs
// again.
func TestPipelinedInputLost(t *testing.T) {
	e, p := newPipeEngine(t)
	h := p.hold("a", false)
	e.Load([]*lang.Cell{remoteCell("a", "1"), remoteCell("b", "a + 1"), remoteCell("c", "b + 1")})
	first := next(t, h)
	p.waitStarted(t, "b", "c")
	first.releaseWith(&Result{Err: lostError{}})
	wait(t, e)
	if diff := diffMaps(summaries(e), map[string]string{"a": "stale: server lost", "b": "queued", "c": "queued"}); diff != "" {
		t.Error(diff)
	}
	e.RetryStale()
	next(t, h).release()
	wait(t, e)
	if diff := diffMaps(summaries(e), map[string]string{"a": "ready 1", "b": "ready 2", "c": "ready 3"}); diff != "" {
		t.Error(diff)
	}
}

// TestPipelinedRedefine checks that redefining the input of a pipelined
// cell cancels it and runs it again with the new input.
func TestPipelinedRedefine(t *testing.T) {
	e, p := newPipeEngine(t)
	h := p.hold("a", false)
	e.Load([]*lang.Cell{remoteCell("a", "1"), remoteCell("b", "a + 1")})
	first := next(t, h)
	p.waitStarted(t, "b")
	e.Define(remoteCell("a", "10"))
	cancelled(t, first)
	next(t, h).release()
	wait(t, e)
	if diff := diffMaps(summaries(e), map[string]string{"a": "ready 10", "b": "ready 11"}); diff != "" {
		t.Error(diff)
	}
}

// TestNoPipeliningWithoutPipeliner checks that a remote executor that does
// not pipeline gets a cell only once its inputs are ready.
func TestNoPipeliningWithoutPipeliner(t *testing.T) {
	e, _, remote := newEngine(t, 2)
	h := remote.hold("a", false)
	e.Load([]*lang.Cell{remoteCell("a", "1"), remoteCell("b", "a + 1")})
	first := next(t, h)
	time.Sleep(20 * time.Millisecond)
	if got := remote.counts()["b"]; got != 0 {
		t.Errorf("b started %d times while a ran", got)
	}
	first.release()
	wait(t, e)
	if got := summaries(e)["b"]; got != "ready 2" {
		t.Errorf("b = %s", got)
	}
}

// A pipelined chain longer than the remote evaluations the engine runs at
// once: the links past the bound wait in the engine's queue, in order, and
// the chain completes; never more than maxRemote are in the executor.
func TestPipelinedChainPastTheBound(t *testing.T) {
	e, p := newPipeEngine(t)
	n := maxRemote + 50
	cells := []*lang.Cell{remoteCell("r0", "1")}
	for i := 1; i < n; i++ {
		cells = append(cells, remoteCell(fmt.Sprintf("r%d", i), fmt.Sprintf("r%d + 1", i-1)))
	}
	e.Load(cells)
	wait(t, e)
	last := state(t, e, fmt.Sprintf("r%d", n-1))
	if last.State != Ready || last.Value.String() != fmt.Sprint(n) {
		t.Fatalf("the last link is %v %v (%v), want %d", last.State, last.Value, last.Err, n)
	}
	if p.most > maxRemote || p.most < 2 {
		t.Fatalf("%d remote evaluations at once, want 2 to %d", p.most, maxRemote)
	}
}

package reactive

import (
	"context"
	"runtime"
	"sync"
	"time"

	"github.com/sperse/sperse/lang"
)

// Config configures an Engine.
type Config struct {
	Local    Executor // evaluates cells with !Cell.Remote; nil makes them fail
	Remote   Executor // evaluates cells with Cell.Remote; nil makes them Unavailable
	MaxLocal int      // local evaluations at once; 0 means runtime.GOMAXPROCS(0)
}

// Engine is a workspace's graph of cells: it keeps each cell's state and
// value, and evaluates cells through the executors of its Config, in
// dependency order, again whenever an input changes. With a remote executor
// that pipelines (Pipeliner), a remote cell starts as soon as each of its
// inputs has a value or is a remote cell running: a chain of remote cells
// is sent at once, and its server resolves the links. An Engine is safe for
// concurrent use; it calls executors from goroutines of its own, never while
// holding its lock. Close stops it.
type Engine struct {
	local     Executor
	remote    Executor
	maxLocal  int
	pipelines bool // remote is a Pipeliner that pipelines

	wg sync.WaitGroup // every goroutine the engine starts

	mu      sync.Mutex
	closed  bool
	names   map[string]*entry
	order   []*node        // the defined cells, in order of first definition
	deleted map[string]int // the last version of each deleted name
	epoch   uint64         // propagations so far
	runs    uint64         // evaluation ids given so far
	tok     uint64         // cycle searches so far

	queue    []job // local evaluations waiting for a worker, from queue[head]
	head     int
	workers  int // local workers
	busy     int // local workers inside Executor.Eval
	inflight int // jobs queued or evaluating

	remoteQueue   []remoteJob // remote evaluations waiting for a remote worker, from remoteQueue[remoteHead]
	remoteHead    int
	remoteWorkers int // remote workers
	remoteBusy    int // remote workers inside Executor.Eval

	scopes  []map[string]lang.Value // empty scopes of ended evaluations, for reuse
	ctxs    []*evalCtx              // contexts of ended evaluations, for reuse
	quiet   chan struct{}           // closed when inflight drops to 0; nil if nobody waits
	decide  []*node                 // Queued cells whose inputs have settled
	resolve []*node                 // cells whose deps must be resolved again
	aff     []*node                 // scratch for propagate
	stack   []*node
	order2  []*node
	subs    []*Subscription
	seq     uint64 // events published so far

	uncommitted bool // events were published since e.mu was taken (see commitLocked)

	// clock is the time of the changes made under the lock, read once per
	// hold of the lock (see nowLocked); zero when not read yet.
	clock time.Time
}

// CellView is a snapshot of a cell: a copy, safe to keep and to read from any
// goroutine. Its slices are shared with the engine and must not be modified.
type CellView struct {
	Cell *lang.Cell // the cell's code; for a name defined more than once by one Load, the first definition
	// Dups are the other definitions of the name in the Load that defined
	// it, in order; each is an error too. To list every definition (as
	// "sperse run" does), take Cell and each of Dups, all with the same state
	// and error.
	Dups     []*lang.Cell
	Name     string
	Version  int // 1 at the first definition of the name, plus 1 each time it is defined again (Delete does not reset it)
	State    State
	Value    lang.Value    // set only when Ready
	Err      error         // set in Error, UpstreamError (*InputError), Stale and Unavailable; maybe in Cancelled
	Where    string        // where it runs or ran: "local", "remote" (while running remotely), or the executor's Result.Where
	Took     time.Duration // how long the last evaluation took, as the executor measured it
	Started  time.Time     // when the last evaluation started; zero while Queued
	Finished time.Time     // when it ended; zero until then
	Runs     int           // evaluations started for this version
	// Attempts is how many times the executor started the last
	// evaluation: 1, or more when a remote cell's server was lost and it
	// ran again on another (lang.Result.Attempts); 0 until it ends, or if
	// it never started (no server could run it).
	Attempts int
	// Progress is how far the split work (pmap, mapreduce) of the last
	// evaluation is: chunks done of total. While the cell runs it is
	// published with StateChanged events, at most about 20 a second; it is
	// kept when the evaluation ends, and is zero if the evaluation split
	// nothing.
	Progress Progress
	Deps     []string // the cells it uses, sorted
	// Dependents are the cells that use it, sorted. A cell that starts or
	// stops using it makes no event for it (it is not downstream), so in a
	// view from an event they may be out of date; Cell has them current.
	Dependents []string
}

// New returns an engine that evaluates cells with cfg's executors.
func New(cfg Config) *Engine {
	e := &Engine{
		local:    cfg.Local,
		remote:   cfg.Remote,
		maxLocal: cfg.MaxLocal,
		names:    make(map[string]*entry),
		deleted:  make(map[string]int),
	}
	if e.maxLocal <= 0 {
		e.maxLocal = runtime.GOMAXPROCS(0)
	}
	if p, ok := cfg.Remote.(Pipeliner); ok {
		e.pipelines = p.Pipelines()
	}
	return e
}

// Define defines the cell c.Name, or replaces its definition (REPL
// semantics): the cell and everything downstream of it run again. A cell
// with c.Err set is in state Error and never runs. The engine keeps c, which
// must not be modified. Define does nothing after Close.
func (e *Engine) Define(c *lang.Cell) {
	if c == nil {
		return
	}
	e.mu.Lock()
	defer e.unlock()
	if e.closed {
		return
	}
	e.propagateLocked([]*node{e.defineLocked([]*lang.Cell{c})})
}

// Load defines a file's cells at once, as one change: what they affect runs
// once, after all are defined. A name defined more than once among cells is
// an error on each of its definitions (*DuplicateError, see CellView.Dups).
// Cells already defined under other names stay. Load does nothing after
// Close.
func (e *Engine) Load(cells []*lang.Cell) {
	// Group the definitions by name; a group of one is a slice of cells.
	groups := make([][]*lang.Cell, 0, len(cells))
	at := make(map[string]int, len(cells))
	for i, c := range cells {
		if c == nil {
			continue
		}
		j, ok := at[c.Name]
		if !ok {
			at[c.Name] = len(groups)
			groups = append(groups, cells[i:i+1:i+1])
			continue
		}
		groups[j] = append(groups[j], c) // copies: cells is not modified
	}
	e.mu.Lock()
	defer e.unlock()
	if e.closed {
		return
	}
	roots := make([]*node, len(groups))
	for i, g := range groups {
		roots[i] = e.defineLocked(g)
	}
	e.propagateLocked(roots)
}

// Delete removes the cell name, cancelling its evaluation, and runs its
// dependents again (which then fail with the executor's "undefined" error).
// It reports whether the cell existed.
func (e *Engine) Delete(name string) bool {
	e.mu.Lock()
	defer e.unlock()
	ent := e.names[name]
	if e.closed || ent == nil || ent.node == nil {
		return false
	}
	users := ent.users
	e.deleteLocked(ent.node)
	e.propagateLocked(users)
	return true
}

// Rerun evaluates the cell name again, and everything downstream of it. It
// reports whether the cell exists.
func (e *Engine) Rerun(name string) bool {
	e.mu.Lock()
	defer e.unlock()
	n := e.nodeLocked(name)
	if n == nil {
		return false
	}
	n.flags |= flagForce
	e.propagateLocked([]*node{n})
	return true
}

// Cancel cancels the evaluation of the cell name, in flight or still to come:
// it becomes Cancelled, and its dependents are Cancelled without running.
// Rerun runs it again. Cancel reports whether the cell was queued, running,
// stale or unavailable.
func (e *Engine) Cancel(name string) bool {
	e.mu.Lock()
	defer e.unlock()
	n := e.nodeLocked(name)
	if n == nil {
		return false
	}
	switch n.state {
	case Queued, Running, Stale, Unavailable:
	default:
		return false
	}
	e.stopLocked(n)
	if n.state == Running {
		n.finished = e.nowLocked()
	}
	e.settleLocked(n, Cancelled, nil, nil)
	e.drainLocked()
	return true
}

// RetryStale runs again every cell that is Stale or Unavailable, and then
// what waits for them. Call it when a server connects.
func (e *Engine) RetryStale() {
	e.mu.Lock()
	defer e.unlock()
	if e.closed {
		return
	}
	for _, n := range e.order {
		if n.state != Stale && n.state != Unavailable {
			continue
		}
		n.state, n.err = Queued, nil
		e.publishLocked(StateChanged, n)
		e.awaitInputsLocked(n)
	}
	e.drainLocked()
}

// Cell returns a snapshot of the cell name.
func (e *Engine) Cell(name string) (CellView, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if ent := e.names[name]; ent != nil && ent.node != nil {
		return ent.node.view(), true
	}
	return CellView{}, false
}

// Cells returns a snapshot of every cell, in order of first definition (a
// cell deleted and defined again counts as new).
func (e *Engine) Cells() []CellView {
	e.mu.Lock()
	defer e.mu.Unlock()
	views := make([]CellView, len(e.order))
	for i, n := range e.order {
		views[i] = n.view()
	}
	return views
}

// Wait waits until the engine is quiet: no evaluation queued or running.
// Cells left Queued then wait for a Stale or Unavailable input. Wait returns
// ctx's error if ctx is done first.
func (e *Engine) Wait(ctx context.Context) error {
	e.mu.Lock()
	if e.inflight == 0 {
		e.mu.Unlock()
		return nil
	}
	if e.quiet == nil {
		e.quiet = make(chan struct{})
	}
	quiet := e.quiet
	e.mu.Unlock()
	select {
	case <-quiet:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close cancels every evaluation, marks every Queued or Running cell
// Cancelled, waits for every goroutine of the engine to end, and closes the
// channels of all subscriptions. After Close the engine's cells can still be
// read, and the methods that change them do nothing. Close is idempotent.
func (e *Engine) Close() {
	e.mu.Lock()
	if !e.closed {
		e.closed = true
		e.inflight -= len(e.queue) - e.head
		clear(e.queue)
		e.queue, e.head = e.queue[:0], 0
		now := e.nowLocked()
		for _, n := range e.order {
			if n.state == Queued || n.state == Running {
				e.stopLocked(n)
				if n.state == Running {
					n.finished = now
				}
				n.state = Cancelled
				e.publishLocked(StateChanged, n)
			}
		}
	}
	e.commitLocked()
	subs := e.subs
	e.subs = nil
	for _, s := range subs {
		s.stopTimerLocked()
	}
	e.unlock()
	e.wg.Wait()
	for _, s := range subs {
		s.closeChan()
	}
}

func (e *Engine) nodeLocked(name string) *node {
	if e.closed {
		return nil
	}
	if ent := e.names[name]; ent != nil {
		return ent.node
	}
	return nil
}

// unlock starts the local workers that queued work needs, wakes the
// subscribers and Wait if the engine is quiet, and unlocks e.mu.
func (e *Engine) unlock() {
	e.kickLocked()
	e.commitLocked()
	if e.inflight == 0 {
		e.wakeQuietLocked()
	}
	if e.inflight == 0 && e.quiet != nil {
		close(e.quiet)
		e.quiet = nil
	}
	e.clock = time.Time{}
	e.mu.Unlock()
}

// nowLocked returns the time of the changes being made. The clock is read
// once per hold of the lock: changes made together get one time, and a worker
// that finishes a cell and starts the next reads it once.
func (e *Engine) nowLocked() time.Time {
	if e.clock.IsZero() {
		e.clock = time.Now()
	}
	return e.clock
}

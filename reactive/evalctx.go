package reactive

import (
	"context"
	"sync"
	"time"

	"github.com/sperse/sperse/lang"
)

// evalCtx is the context of one evaluation of a cell: cancelled when the
// cell no longer waits for it, and carrying its progress reporter
// (lang.ProgressKey). It does what context.WithCancel and lang.WithProgress
// would, in one allocation instead of five, which matters when the engine
// runs ten thousand tiny cells: its AfterFunc method is what
// context.AfterFunc, context.WithCancel and the interpreter use to learn
// of the cancellation, with no goroutine and no children map. The engine
// reuses it once its evaluation has ended (see freeEvalCtxLocked).
type evalCtx struct {
	e   *Engine
	n   *node
	run uint64

	mu       sync.Mutex
	err      error         // context.Canceled once cancelled
	done     chan struct{} // made by the first Done
	after    []afterFunc   // registered by AfterFunc, not yet stopped
	nextID   int
	running  int // functions of after started by cancel and not yet returned
	reporter any // made by the first Value(lang.ProgressKey{})
}

// afterFunc is a function registered with evalCtx.AfterFunc.
type afterFunc struct {
	id int
	f  func()
}

var _ context.Context = (*evalCtx)(nil)

func (c *evalCtx) Deadline() (time.Time, bool) { return time.Time{}, false }

func (c *evalCtx) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		c.done = make(chan struct{})
		if c.err != nil {
			close(c.done)
		}
	}
	return c.done
}

func (c *evalCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *evalCtx) Value(key any) any {
	if _, ok := key.(lang.ProgressKey); !ok {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reporter == nil {
		c.reporter = lang.NewReporter(func(done, total int) { c.e.progressed(c.n, c.run, done, total) })
	}
	return c.reporter
}

// AfterFunc arranges to call f in its own goroutine once c is cancelled, as
// context.AfterFunc does; stop undoes it, and reports whether it did.
func (c *evalCtx) AfterFunc(f func()) (stop func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		c.goLocked(f)
		return func() bool { return false }
	}
	c.nextID++
	id := c.nextID
	c.after = append(c.after, afterFunc{id, f})
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, a := range c.after {
			if a.id == id {
				c.after = append(c.after[:i], c.after[i+1:]...)
				return true
			}
		}
		return false
	}
}

// cancel cancels c: Done is closed and the registered functions run.
func (c *evalCtx) cancel() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	c.err = context.Canceled
	if c.done != nil {
		close(c.done)
	}
	for _, a := range c.after {
		c.goLocked(a.f)
	}
	c.after = nil
}

// goLocked runs f in a goroutine of its own, counted in running: f may
// read c (context.AfterFunc's does), which is not reused until it returns.
func (c *evalCtx) goLocked(f func()) {
	c.running++
	go func() {
		f()
		c.mu.Lock()
		c.running--
		c.mu.Unlock()
	}()
}

// newEvalCtxLocked returns the context of an evaluation of n starting now,
// one that an ended evaluation used if there is one.
func (e *Engine) newEvalCtxLocked(n *node) *evalCtx {
	k := len(e.ctxs)
	if k == 0 {
		return &evalCtx{e: e, n: n, run: n.run}
	}
	c := e.ctxs[k-1]
	e.ctxs[k-1] = nil
	e.ctxs = e.ctxs[:k-1]
	c.n, c.run = n, n.run
	return c
}

// freeEvalCtxLocked takes back ctx, the context of an evaluation whose
// executor has returned: an executor uses nothing of its evaluation once
// Eval returns (see Executor). By then the context is cancelled (the
// result settled the cell, or it was stopped), and what waits on its Done
// has been told; the next evaluation gets a fresh Done channel. A context
// whose AfterFunc functions still run is left to the garbage collector.
func (e *Engine) freeEvalCtxLocked(ctx context.Context) {
	c, ok := ctx.(*evalCtx)
	if !ok || len(e.ctxs) >= maxKept {
		return
	}
	c.mu.Lock()
	done := c.err != nil && c.running == 0
	if done {
		c.err, c.done, c.after, c.reporter = nil, nil, nil, nil
	}
	c.mu.Unlock()
	if done {
		e.ctxs = append(e.ctxs, c)
	}
}

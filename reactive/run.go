package reactive

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sperse/sperse/lang"
)

// job is one evaluation of a cell: run identifies it, so that the result of
// an evaluation the cell no longer waits for is dropped.
type job struct {
	n   *node
	run uint64
}

// drainLocked decides the fate of every Queued cell whose inputs settled.
func (e *Engine) drainLocked() {
	for i := 0; i < len(e.decide); i++ { // decideLocked may append
		n := e.decide[i]
		if n.state == Queued && n.waiting == 0 && n.run == 0 {
			e.decideLocked(n)
		}
	}
	clear(e.decide)
	e.decide = e.decide[:0]
}

// decideLocked settles n, whose inputs have all settled: UpstreamError if an
// input failed, Cancelled if one was cancelled, else it dispatches n.
func (e *Engine) decideLocked(n *node) {
	var failed, cancelled *node
	for _, d := range n.deps {
		switch {
		case d.state.failed():
			if failed == nil {
				failed = d
			}
		case d.state == Cancelled:
			if cancelled == nil {
				cancelled = d
			}
		}
	}
	switch {
	case failed != nil:
		root := failed.name
		if ie, ok := failed.err.(*InputError); ok {
			root = ie.Root
		}
		e.settleLocked(n, UpstreamError, nil, &InputError{Input: failed.name, Root: root})
	case cancelled != nil:
		e.settleLocked(n, Cancelled, nil, nil)
	default:
		e.dispatchLocked(n)
	}
}

// settleLocked puts n in state s and publishes it. If s is settled, the
// dependents of n that now have all their inputs go to e.decide. If s is
// not Ready, the cells pipelined on n wait for it again.
func (e *Engine) settleLocked(n *node, s State, v lang.Value, err error) {
	n.state, n.value, n.err = s, v, err
	kind := StateChanged
	if s == Ready {
		kind = ValueChanged
	}
	e.publishLocked(kind, n)
	if s.settled() {
		for _, u := range n.ent.users {
			if u.state == Queued && u.waiting > 0 {
				if u.waiting--; u.waiting == 0 {
					e.decide = append(e.decide, u)
				}
			}
		}
	}
	if s != Ready {
		for _, u := range n.ent.users {
			if u.pipelined && u.run != 0 {
				e.requeueLocked(u) // n has no value for it
			}
		}
	}
}

// dispatchLocked starts an evaluation of n: a local one when a worker
// takes it from the queue; a remote one at once (it is Running, with its
// promise), handed to the remote executor when a remote worker takes it.
func (e *Engine) dispatchLocked(n *node) {
	if e.closed {
		return
	}
	e.runs++
	n.run = e.runs
	e.inflight++
	j := job{n, n.run}
	if !n.cell.Remote {
		e.queue = append(e.queue, j)
		return
	}
	ctx, req := e.startLocked(n, "remote")
	if e.pipelines && e.usedRemotelyLocked(n) {
		n.promise = lang.NewPromise()
		req.Promise = n.promise
	}
	e.remoteQueue = append(e.remoteQueue, remoteJob{j, ctx, req})
	if e.remoteWorkers < maxRemote && len(e.remoteQueue)-e.remoteHead > e.remoteWorkers-e.remoteBusy {
		e.remoteWorkers++
		e.wg.Add(1)
		go e.remoteWorker()
	}
	if e.pipelines {
		e.pipelineUsersLocked(n)
	}
}

// maxRemote bounds the remote evaluations the engine hands to its remote
// executor at once. Past it, a remote cell is Running but waits in the
// engine's queue, in the order the cells started: a cell pipelined on
// another started after it, so the evaluations in flight never all wait
// for one still queued. With a goroutine for each, 20,000 remote cells
// spent an eighth of their time growing new goroutines' stacks; the
// workers are reused. The bound is well above what servers run at once,
// so that long evaluations in flight rarely hold up short ones.
const maxRemote = 1024

// remoteJob is a remote evaluation waiting for a remote worker.
type remoteJob struct {
	job
	ctx context.Context
	req Request
}

// remoteWorker hands remote evaluations to the remote executor, one after
// another, until there is none left.
func (e *Engine) remoteWorker() {
	defer e.wg.Done()
	e.mu.Lock()
	for e.remoteHead < len(e.remoteQueue) {
		rj := pop(&e.remoteQueue, &e.remoteHead)
		// A job stopped while it waited has its context cancelled: the
		// executor returns at once, and finishLocked drops the result.
		e.evalLocked(rj.ctx, rj.job, e.remote, rj.req, &e.remoteBusy)
	}
	e.remoteWorkers--
	e.unlock()
}

// usedRemotelyLocked reports whether a remote cell uses n.
func (e *Engine) usedRemotelyLocked(n *node) bool {
	for _, u := range n.ent.users {
		if u.static == nil && u.cell.Remote {
			return true
		}
	}
	return false
}

// pipelineUsersLocked starts the remote cells that use n, a remote cell
// just started, and that can start now: each of their inputs has a value
// or is a remote cell running with a promise (promise pipelining).
func (e *Engine) pipelineUsersLocked(n *node) {
	for _, u := range n.ent.users {
		if u.state != Queued || u.run != 0 || u.static != nil || !u.cell.Remote {
			continue
		}
		can := true
		for _, d := range u.deps {
			if d.state != Ready && (d.state != Running || d.promise == nil) {
				can = false
				break
			}
		}
		if can {
			u.pipelined = true
			e.dispatchLocked(u)
		}
	}
}

// requeueLocked puts n, pipelined, back to wait for its inputs, and so the
// remote cells pipelined on it: an input it was started with has no value
// to give it, or its evaluation failed while an input was still running
// (the failure may be the input's, which the input's own result tells).
func (e *Engine) requeueLocked(n *node) {
	e.stopLocked(n)
	n.state = Queued
	e.publishLocked(StateChanged, n)
	for _, u := range n.ent.users {
		if u.pipelined && u.run != 0 {
			e.requeueLocked(u)
		}
	}
	e.awaitInputsLocked(n)
}

// kickLocked starts local workers for the queued jobs that the idle workers
// will not take, up to the limit.
func (e *Engine) kickLocked() {
	for e.workers < e.maxLocal && len(e.queue)-e.head > e.workers-e.busy {
		e.workers++
		e.wg.Add(1)
		go e.worker()
	}
}

// pop takes the first element of the queue (*q)[*head:], which must not be
// empty, and empties or compacts the slice as the queue is taken.
func pop[T any](q *[]T, head *int) T {
	var zero T
	v := (*q)[*head]
	(*q)[*head] = zero
	*head++
	switch {
	case *head == len(*q):
		*q, *head = (*q)[:0], 0
	case *head >= 256 && 2**head >= len(*q):
		*q = (*q)[:copy(*q, (*q)[*head:])]
		*head = 0
	}
	return v
}

// worker evaluates local jobs until there is none left. After each
// evaluation it takes the next job itself, so a chain runs on one goroutine.
func (e *Engine) worker() {
	defer e.wg.Done()
	e.mu.Lock()
	for e.head < len(e.queue) {
		j := pop(&e.queue, &e.head)
		if j.n.run != j.run {
			e.inflight-- // stopped before it started
			continue
		}
		ctx, req := e.startLocked(j.n, "local")
		e.evalLocked(ctx, j, e.local, req, &e.busy)
		e.kickLocked()
	}
	e.workers--
	e.unlock()
}

// evalLocked evaluates job j with ex, without e.mu (the events published
// so far are committed first), resolves its promise if it has one, and
// records its result. busy counts the workers inside ex.
func (e *Engine) evalLocked(ctx context.Context, j job, ex Executor, req Request, busy *int) {
	*busy++
	e.commitLocked()
	e.clock = time.Time{}
	e.mu.Unlock()
	res := call(ctx, ex, req)
	if req.Promise != nil {
		req.Promise.Resolve(res)
	}
	e.mu.Lock()
	*busy--
	e.finishLocked(j, res)
	e.freeScopeLocked(req.Scope)
	e.freeEvalCtxLocked(ctx)
}

// startLocked makes n Running and returns the context and request of its
// evaluation. The context carries the evaluation's progress reporter (see
// lang.ProgressKey).
func (e *Engine) startLocked(n *node, where string) (context.Context, Request) {
	n.runs++
	n.state, n.where = Running, where
	n.started, n.finished = e.nowLocked(), time.Time{}
	n.attempts, n.progress, n.progSent = 0, Progress{}, time.Time{}
	ctx := e.newEvalCtxLocked(n)
	n.eval = ctx
	req := Request{Cell: n.cell, Scope: e.newScopeLocked(len(n.deps))}
	for _, d := range n.deps {
		if d.state == Running {
			if req.Pending == nil {
				req.Pending = make(map[string]*lang.Promise)
			}
			req.Pending[d.name] = d.promise // n is pipelined
			continue
		}
		req.Scope[d.name] = d.value
	}
	e.publishLocked(StateChanged, n)
	return ctx, req
}

// newScopeLocked returns an empty map for the scope of an evaluation with
// deps inputs, one that an earlier evaluation used if there is one.
func (e *Engine) newScopeLocked(deps int) map[string]lang.Value {
	if n := len(e.scopes); n > 0 && deps <= maxFreeScope {
		m := e.scopes[n-1]
		e.scopes[n-1] = nil
		e.scopes = e.scopes[:n-1]
		return m
	}
	return make(map[string]lang.Value, deps)
}

// freeScopeLocked takes back the scope of an evaluation that has ended:
// an executor keeps nothing of its request once Eval returns. Making a
// map for each evaluation was a sixth of the time of a burst of tiny
// cells.
func (e *Engine) freeScopeLocked(m map[string]lang.Value) {
	if len(m) <= maxFreeScope && len(e.scopes) < maxKept {
		clear(m)
		e.scopes = append(e.scopes, m)
	}
}

const (
	maxFreeScope = 8  // the most names of a scope that is reused
	maxKept      = 64 // the most scopes, and the most contexts, kept for reuse
)

// finishLocked records the result of job j, unless n no longer waits for it.
func (e *Engine) finishLocked(j job, res Result) {
	e.inflight--
	n := j.n
	if n.run != j.run || e.closed {
		return // the cell changed, was cancelled or deleted: drop the result
	}
	if n.pipelined && res.Err != nil && e.inputRunningLocked(n) {
		e.requeueLocked(n)
		e.drainLocked()
		return
	}
	n.run = 0
	n.eval.cancel()
	n.eval = nil
	n.promise, n.pipelined = nil, false
	e.stopProgressLocked(n)
	n.finished = e.nowLocked()
	n.took = res.Took
	n.attempts = res.Attempts
	if n.took == 0 {
		n.took = n.finished.Sub(n.started)
	}
	if res.Where != "" {
		n.where = res.Where
	}
	switch {
	case res.Err != nil:
		e.settleLocked(n, classify(res.Err), nil, res.Err)
	case res.Value == nil:
		e.settleLocked(n, Error, nil, fmt.Errorf("evaluating %s: the executor returned no value", n.name))
	default:
		e.settleLocked(n, Ready, res.Value, nil)
	}
	e.drainLocked()
}

// inputRunningLocked reports whether an input of n is running.
func (e *Engine) inputRunningLocked(n *node) bool {
	for _, d := range n.deps {
		if d.state == Running {
			return true
		}
	}
	return false
}

// classify returns the state of a cell whose evaluation failed with err (see
// Executor).
func classify(err error) State {
	var unavailable interface{ Unavailable() bool }
	if errors.As(err, &unavailable) && unavailable.Unavailable() {
		return Unavailable
	}
	var lost interface{ ServerLost() bool }
	if errors.As(err, &lost) && lost.ServerLost() {
		return Stale
	}
	if errors.Is(err, context.Canceled) {
		return Cancelled
	}
	return Error
}

// call evaluates req with ex, turning a panic into an error.
func call(ctx context.Context, ex Executor, req Request) (res Result) {
	if ex == nil {
		return Result{Err: noExecutor{remote: req.Cell.Remote}}
	}
	defer func() {
		if r := recover(); r != nil {
			res = Result{Err: fmt.Errorf("evaluating %s: the executor panicked: %v", req.Cell.Name, r)}
		}
	}()
	return ex.Eval(ctx, req)
}

// noExecutor is the error of a cell that no executor is configured to run.
type noExecutor struct{ remote bool }

func (e noExecutor) Error() string {
	if e.remote {
		return "no server to run remote cells"
	}
	return "no local executor"
}

func (e noExecutor) Unavailable() bool { return e.remote }

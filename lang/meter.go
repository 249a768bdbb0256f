package lang

import (
	"errors"
	"fmt"
	"math"
	"sync/atomic"

	"go.starlark.net/starlark"
)

// Native work against an evaluation's limits.
//
// The interpreter counts a step for each instruction it runs, and a call
// of a builtin is one step however much the builtin does. The vec module
// does work in proportion to the elements it goes through, so it adds a
// step for every elemsPerStep elements to the evaluation's count: a loop
// of vec operations is stopped by the step limit as a loop over the
// elements would be (a step of the interpreter takes 10 to 30 ns; an
// element of a vec operation about 1 ns). A builtin adds its steps at
// once (charge). An operator (v + w, -v) is called by Starlark without
// the thread, so it adds them to the meter of the evaluation its operands
// belong to (Vec.meter: the evaluation that made the vec, or in whose
// scope it came), and the thread adds what its meter holds to its count at
// its next check (pooledThread.check): every checkSoon steps in an
// evaluation that has a meter, rather than every checkEvery.
//
// Before a vec is allocated, its size is checked against the memory limit
// as a repetition's is (see repeatGuard): vec.arange(1000000000000) is an
// error, not a process out of memory. An operator checks against the
// limit of its meter's evaluation (or the default limit, without one).
//
// A vec inside another value (a list, a function's captured scope) that
// came from another evaluation keeps that evaluation's meter: operators
// on it are not counted against this one's step limit (cancellation and
// the time limit still stop the evaluation between two operations).

// elemsPerStep is how many elements of a vec operation cost one step.
const elemsPerStep = 16

// checkSoon is how many steps a thread with a meter runs between two
// checks: a loop of vec operators takes few steps but much time, so the
// steps of its operators are counted after a few iterations. (A check
// takes about 10 ns, a step 10 to 30.)
const checkSoon = 256

// meter holds the steps of vec operators done for one evaluation, until
// its thread adds them to its count. It is safe for concurrent use: a vec
// may outlive its evaluation and be used by others, which then add to a
// meter no one reads.
type meter struct {
	steps     atomic.Uint64 // not yet counted by the thread
	maxMemory uint64        // the evaluation's memory limit
}

// add charges the work of an operation over n elements to m, if any.
func (m *meter) add(n int) {
	if m != nil && n >= elemsPerStep {
		m.steps.Add(uint64(n / elemsPerStep))
	}
}

// memoryLimit returns the memory limit of m's evaluation, or the default
// limit if m is nil.
func (m *meter) memoryLimit() uint64 {
	if m == nil {
		return DefaultMaxMemory()
	}
	return m.maxMemory
}

// meterOf returns the meter of the evaluation running in thread, making
// it on first use, and from then on checks the thread every checkSoon
// steps. It is called in the thread's goroutine.
func meterOf(thread *starlark.Thread) *meter {
	s := state(thread)
	if s.work == nil {
		s.work = &meter{maxMemory: s.in.maxMemory()}
		if thread.Local(threadKey) != nil { // a thread of run, which check looks after
			thread.SetMaxExecutionSteps(min(s.in.maxSteps(), thread.Steps+checkSoon))
		}
	}
	return s.work
}

// errStepLimit is returned by a builtin whose work takes the evaluation to
// its step limit; run reports it as the step limit.
var errStepLimit = errors.New("too many steps")

// charge adds the steps of work over n elements to the evaluation running
// in thread. It fails when they take the evaluation to its step limit or
// when the evaluation is cancelled, so that a builtin checks before
// long work.
func charge(thread *starlark.Thread, n int) error {
	s := state(thread)
	thread.Steps += uint64(n / elemsPerStep)
	if thread.Steps >= s.in.maxSteps() {
		return errStepLimit
	}
	return s.ctx.Err()
}

// takeMetered adds the steps held by the meter of the evaluation running
// in pt to its thread's count, and reports whether it has a meter.
func (pt *pooledThread) takeMetered() bool {
	if pt.state.work == nil {
		return false
	}
	pt.thread.Steps += pt.state.work.steps.Swap(0)
	return true
}

// checkAlloc returns an error if n elements of size bytes each would take
// the process over limit. what names the operation.
func checkAlloc(what string, n uint64, size int, limit uint64) error {
	need := n * uint64(size)
	if n > math.MaxUint64/uint64(size) {
		need = math.MaxUint64
	}
	if need < repeatCheck {
		return nil
	}
	if over, inUse := overMemory(need, limit); over {
		return fmt.Errorf("%s: %d elements would take %s%s: the memory limit is %s for all evaluations in this process",
			what, n, sizeString(need), inUse, sizeString(limit))
	}
	return nil
}

// meterScope gives the vecs among env's values to the evaluation running in
// thread, so that operators on them charge it (see Vec.meter), and returns
// env.
func meterScope(thread *starlark.Thread, env starlark.StringDict) starlark.StringDict {
	var m *meter
	for name, v := range env {
		if x, ok := v.(*Vec); ok {
			if m == nil {
				m = meterOf(thread)
			}
			env[name] = x.metered(m)
		}
	}
	return env
}

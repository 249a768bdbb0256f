package reactive

import (
	"context"
	"time"

	"github.com/sperse/sperse/lang"
)

// Executor evaluates one cell somewhere: in the local interpreter, or on a
// server. Eval blocks until the evaluation ends or ctx is done; when ctx is
// cancelled it must return promptly (with an error wrapping context.Canceled),
// stopping the evaluation wherever it runs. ctx carries the evaluation's
// progress reporter (lang.WithProgress): an executor that evaluates in this
// process passes ctx to the interpreter, whose pmap and mapreduce report to
// it (CellView.Progress). Eval must not keep req.Scope or ctx once it
// returns: the engine reuses them. Implementations are safe for concurrent
// use.
//
// Request and Result are lang's types, so that an executor (such as the
// remote client) satisfies Executor without importing this package.
type Executor interface {
	Eval(ctx context.Context, req Request) Result
}

// Request is one evaluation of a cell.
type Request = lang.Request

// Result is the outcome of an evaluation.
type Result = lang.Result

// Local is the Executor that evaluates cells in an interpreter in this process.
type Local struct {
	Interp *lang.Interp
}

// Eval implements Executor.
func (l Local) Eval(ctx context.Context, req Request) Result {
	start := time.Now()
	v, err := l.Interp.Eval(ctx, req.Cell, req.Scope)
	return Result{Value: v, Err: err, Where: l.Interp.Where, Took: time.Since(start), Attempts: 1}
}

// A Pipeliner is an Executor that takes a remote cell while its inputs are
// still being evaluated by it (promise pipelining): the engine then starts
// a remote cell as soon as each of its inputs has a value or is a remote
// cell running, giving it their promises (Request.Pending), and the
// promise of its own evaluation (Request.Promise) if a remote cell uses
// it. The executor sends references to where the inputs run, or waits for
// their values (Request.Await).
type Pipeliner interface {
	Executor
	Pipelines() bool
}

// Errors returned by an Executor are classified by the methods they have,
// so that executors need not import this package:
//
//	Unavailable() bool  // no server can run the cell: state Unavailable
//	ServerLost() bool   // the server was lost: state Stale, run again on RetryStale
//
// Any other error is the cell's own error (state Error), except one that wraps
// context.Canceled, which is state Cancelled.

package reactive

import (
	"context"
	"time"

	"github.com/sperse/sperse/lang"
)

// Executor evaluates one cell somewhere: in the local interpreter, or on a
// server. Eval blocks until the evaluation ends or ctx is done; when ctx is
// cancelled it must return promptly (with an error wrapping context.Canceled),
// stopping the evaluation wherever it runs. Implementations are safe for
// concurrent use.
type Executor interface {
	Eval(ctx context.Context, req Request) Result
}

// Request is one evaluation of a cell.
type Request struct {
	Cell  *lang.Cell
	Scope map[string]lang.Value // the values of the cells it depends on, by name
}

// Result is the outcome of an evaluation. Exactly one of Value and Err is set.
type Result struct {
	Value lang.Value
	Err   error
	Where string        // where it ran: "local" or a server's name
	Took  time.Duration // how long the evaluation took where it ran
}

// Errors returned by an Executor are classified by the methods they have,
// so that executors need not import this package:
//
//	Unavailable() bool  // no server can run the cell: state Unavailable
//	ServerLost() bool   // the server was lost: state Stale, run again on RetryStale
//
// Any other error is the cell's own error (state Error), except one that wraps
// context.Canceled, which is state Cancelled.

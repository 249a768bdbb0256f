package lang

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.starlark.net/starlark"
)

// Request is one evaluation of a cell: its code and the values of the cells
// it uses, by name. It is what an executor (the local interpreter, or a
// server through the remote client) is given. (An evaluation's progress
// reporter, if any, travels in its context: see WithProgress.)
type Request struct {
	Cell  *Cell
	Scope map[string]Value

	// Pending are the inputs still being computed, by name (they are not in
	// Scope): the evaluation needs their values, which their promises will
	// hold. An executor that runs them where the evaluation can run may
	// send references instead, and the place resolves them itself (promise
	// pipelining), or wait for them (see Await). The reactive engine gives
	// Pending only to an executor that says it pipelines
	// (reactive.Pipeliner).
	Pending map[string]*Promise

	// Promise, if not nil, is the promise of this evaluation, which other
	// requests may have among their Pending. The executor records in it
	// where the evaluation runs (SetPlace); whoever gets the Result resolves
	// it.
	Promise *Promise
}

// Await waits until the promises of r's Pending are resolved, and returns
// r with their values in its Scope and no Pending. It fails if ctx ends
// first, or with an *InputFailedError if one of them failed.
func (r Request) Await(ctx context.Context) (Request, error) {
	if len(r.Pending) == 0 {
		return r, nil
	}
	scope := make(map[string]Value, len(r.Scope)+len(r.Pending))
	for name, v := range r.Scope {
		scope[name] = v
	}
	for name, p := range r.Pending {
		select {
		case <-p.Done():
		case <-ctx.Done():
			return r, fmt.Errorf("cell %s: waiting for %s: %w", r.Cell.Name, name, context.Cause(ctx))
		}
		res := p.Result()
		if res.Err != nil {
			return r, &InputFailedError{Input: name, Err: res.Err}
		}
		scope[name] = res.Value
	}
	r.Scope, r.Pending = scope, nil
	return r, nil
}

// InputFailedError is the error of an evaluation whose pending input failed.
type InputFailedError struct {
	Input string
	Err   error
}

func (e *InputFailedError) Error() string { return "depends on failed " + e.Input }
func (e *InputFailedError) Unwrap() error { return e.Err }

// Result is the outcome of an evaluation. Exactly one of Value and Err is set.
type Result struct {
	Value Value
	Err   error
	Where string        // where it ran: "local" or a server's name
	Took  time.Duration // how long the evaluation took where it ran

	// Attempts is how many times the executor started the evaluation: 1,
	// or more when it ran it again on another server after losing one
	// (remote cells are hermetic, so that is safe). 0 means it never
	// started (no server could run it, or its code could not be sent), or
	// that the executor does not count.
	Attempts int
}

// A Promise is the Result of an evaluation that has not ended yet.
type Promise struct {
	done chan struct{}
	once sync.Once
	res  Result

	mu     sync.Mutex
	place  any
	placed chan struct{} // closed by the first SetPlace
}

// NewPromise returns an unresolved promise.
func NewPromise() *Promise {
	return &Promise{done: make(chan struct{}), placed: make(chan struct{})}
}

// Resolve sets the promise's Result. Only the first call has an effect.
func (p *Promise) Resolve(res Result) {
	p.once.Do(func() {
		p.res = res
		close(p.done)
	})
}

// Done is closed once the promise is resolved.
func (p *Promise) Done() <-chan struct{} { return p.done }

// Result returns the Result, once Done is closed.
func (p *Promise) Result() Result {
	<-p.done
	return p.res
}

// Resolved reports whether the promise is resolved.
func (p *Promise) Resolved() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// SetPlace records where the evaluation runs now, in the terms of the
// executor running it (for the remote client: a server, and the
// evaluation's id there); a new attempt elsewhere replaces it.
func (p *Promise) SetPlace(place any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.place == nil {
		close(p.placed)
	}
	p.place = place
}

// Placed is closed once SetPlace is called.
func (p *Promise) Placed() <-chan struct{} { return p.placed }

// Place returns what SetPlace recorded last, or nil.
func (p *Promise) Place() any {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.place
}

// Ref stands, in the scope of a job (see EncodeJob), for the value of an
// evaluation still running where the job is sent, by that evaluation's id
// there: the place resolves it before it runs the job. It is no value code
// can use.
type Ref uint64

var _ starlark.Value = Ref(0)

func (r Ref) String() string        { return fmt.Sprintf("<ref %d>", uint64(r)) }
func (r Ref) Type() string          { return "ref" }
func (r Ref) Freeze()               {}
func (r Ref) Truth() starlark.Bool  { return starlark.True }
func (r Ref) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable: ref") }

package lang

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"go.starlark.net/lib/math"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// Interp evaluates cells. Where is what where() returns in the code it runs:
// "local" on the client, the server's name on a server. Set the fields before
// the first use; an Interp is then safe for concurrent use.
type Interp struct {
	Where    string
	MaxSteps uint64 // Starlark steps one evaluation may take; 0 means DefaultMaxSteps

	// MaxMemory is the most heap the process may hold while code runs
	// here: an evaluation that finds the Go heap over it (after a garbage
	// collection) is stopped with an error. The heap is the process's, not
	// the evaluation's (see limits.go). 0 means DefaultMaxMemory();
	// math.MaxUint64 means no limit.
	MaxMemory uint64

	// Splitter runs the chunks of pmap and mapreduce. Nil means in-process
	// (see InProcess): each chunk goes through the codec into a fresh
	// interpreter, exactly as it would to a server.
	Splitter Splitter

	// Provided are names beyond the builtins that code run here may use: a
	// server's plugins, datasets, databases. A value cell's code may use
	// them like builtins; functions shipped elsewhere do not carry them.
	Provided starlark.StringDict

	// Remote runs the calls of pinned functions ("remote def") and of
	// on(sel, f): on a client, the client; on a server in a cluster, the
	// server (see Placer). Nil means they run in place.
	Remote RemoteCaller

	// Publisher keeps the functions publish() stores, and answers
	// versions(), rollback() and unpublish(): on a client, the client; on
	// a server, the server's store. Nil means code here cannot publish.
	Publisher Publisher

	once sync.Once
	env  starlark.StringDict // the builtins and Provided

	cells cellCache // parsed cells of DecodeJob (see jobCell)
}

// With returns a new interpreter with in's settings but for the names it
// provides and its step limit: what a server needs to run a client's code
// with fewer names, or to decode with a smaller limit.
func (in *Interp) With(provided starlark.StringDict, maxSteps uint64) *Interp {
	return &Interp{Where: in.Where, MaxSteps: maxSteps, MaxMemory: in.MaxMemory,
		Splitter: in.Splitter, Provided: provided, Remote: in.Remote, Publisher: in.Publisher}
}

// DefaultMaxSteps bounds an evaluation when Interp.MaxSteps is 0.
const DefaultMaxSteps = 1 << 32

// maxSteps returns the step limit of in's evaluations.
func (in *Interp) maxSteps() uint64 {
	if in.MaxSteps == 0 {
		return DefaultMaxSteps
	}
	return in.MaxSteps
}

// NewInterp returns an interpreter whose where() is where.
func NewInterp(where string) *Interp {
	return &Interp{Where: where}
}

// threadKey is the thread-local key under which an evaluation keeps its state.
const threadKey = "sperse"

// evalState is what builtins need to know about the evaluation they run in.
type evalState struct {
	in   *Interp
	ctx  context.Context
	work *meter // the steps of vec operators, made on first use (see meter.go)
}

// Eval evaluates cell c with the values of the cells it uses in scope and
// returns its value, frozen. An error in the code is an *Error with the
// position in c's file. If ctx is cancelled the interpreter stops at once and
// the error wraps ctx's error.
func (in *Interp) Eval(ctx context.Context, c *Cell, scope map[string]Value) (Value, error) {
	if c.Err != nil {
		return nil, c.Err
	}
	co, err := in.compile(c, scope)
	if err != nil {
		return nil, err
	}
	if co.formula != nil && co.formula.applies(scope) {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("%s: %w", c.Name, err)
		}
		v, err := co.formula.x.eval(fenv{scope: scope})
		if err != nil {
			return nil, err
		}
		v.Freeze()
		return v, nil
	}
	if err := co.general(); err != nil {
		return nil, err
	}
	var v Value
	_, err = in.run(ctx, c.Name, func(thread *starlark.Thread) (starlark.StringDict, error) {
		if co.expr != nil {
			v, err = co.call(thread, c, scope)
			return nil, err
		}
		globals, err := co.prog.Init(thread, meterScope(thread, co.predeclared(c, scope)))
		v = globals[c.Name]
		return nil, err
	})
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, &Error{Pos: c.Pos, Msg: fmt.Sprintf("cell %s defined no value", c.Name)}
	}
	if fn, ok := v.(*starlark.Function); ok && c.Pinned {
		v = &Pinned{Fn: fn, Selector: c.Selector}
	}
	v.Freeze()
	return v, nil
}

// Call calls fn(args...) in in, with the same limits and cancellation as Eval.
func (in *Interp) Call(ctx context.Context, fn Value, args ...Value) (Value, error) {
	var result Value
	_, err := in.run(ctx, "call", func(thread *starlark.Thread) (starlark.StringDict, error) {
		v, err := starlark.Call(thread, fn, starlark.Tuple(args), nil)
		result = v
		return nil, err
	})
	if err != nil {
		return nil, err
	}
	result.Freeze()
	return result, nil
}

// run runs body in a thread that stops when ctx is done or the step limit
// is reached, and converts its error.
func (in *Interp) run(ctx context.Context, name string, body func(*starlark.Thread) (starlark.StringDict, error)) (starlark.StringDict, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	maxSteps := in.maxSteps()
	pt := threadPool.Get().(*pooledThread)
	thread := &pt.thread
	thread.Name, thread.Steps = name, 0
	pt.limits = limits{maxSteps: maxSteps, maxMemory: in.maxMemory()}
	thread.SetMaxExecutionSteps(min(maxSteps, checkEvery)) // pt.check raises it
	pt.state = evalState{in: in, ctx: ctx}
	stop := afterFunc(ctx, pt.cancel)
	watched := pt.limits.watched()
	if watched {
		watchMemory(pt)
	}
	globals, err := body(thread)
	var tooMuch string
	if watched {
		tooMuch = unwatchMemory(pt)
	}
	if stop() && err == nil && thread.Steps < maxSteps && pt.limits.deep == "" && tooMuch == "" {
		// Never cancelled (the step limit cancels too): the thread can
		// run the next evaluation.
		pt.state = evalState{}
		threadPool.Put(pt)
		return globals, nil
	}
	if err == nil {
		return globals, nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		e := asError(convertError(err))
		e.Msg, e.cause = "cancelled", ctxErr
		return nil, e
	}
	if thread.Steps >= maxSteps {
		e := asError(convertError(err))
		e.Msg = fmt.Sprintf("stopped after %d steps: the evaluation's step limit", maxSteps)
		return nil, e
	}
	if why := cmp.Or(pt.limits.deep, tooMuch); why != "" {
		e := asError(convertError(err))
		e.Msg, e.Backtrace = why, trimBacktrace(e.Backtrace)
		return nil, e
	}
	return nil, convertError(err)
}

func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Msg: err.Error(), cause: err}
}

// builtins are the names sperse adds to Starlark's universe. They hold no
// state (where() asks the running thread), so every Interp shares them, and a
// builtin value can travel by name: the receiver finds the same one.
var builtins = starlark.StringDict{
	"sum":       starlark.NewBuiltin("sum", builtinSum),
	"math":      math.Module,
	"json":      jsonModule, // Starlark's, with a limit on nesting (limits.go)
	"where":     starlark.NewBuiltin("where", builtinWhere),
	"pmap":      starlark.NewBuiltin("pmap", builtinPmap),
	"mapreduce": starlark.NewBuiltin("mapreduce", builtinMapreduce),
	"on":        starlark.NewBuiltin("on", builtinOn),
	// publish, versions, rollback and unpublish: see publish.go's init.
}

// builtinDict returns the names in adds to Starlark's universe: sperse's
// builtins and the names it provides.
func (in *Interp) builtinDict() starlark.StringDict {
	in.once.Do(func() {
		if len(in.Provided) == 0 {
			in.env = builtins
			return
		}
		in.env = make(starlark.StringDict, len(builtins)+len(in.Provided))
		for name, v := range in.Provided {
			in.env[name] = v
		}
		for name, v := range builtins {
			in.env[name] = v // builtins are never shadowed by a provided name
		}
	})
	return in.env
}

// builtinNamed returns the builtin function or module called name, of sperse
// or of Starlark's universe; "mod.f" names the function f of the builtin
// module mod (vec.sum, math.sqrt).
func builtinNamed(name string) (Value, bool) {
	if v, ok := builtins[name]; ok {
		return v, true
	}
	if mod, member, ok := strings.Cut(name, "."); ok {
		if m, ok := builtins[mod].(*starlarkstruct.Module); ok {
			v, ok := m.Members[member].(*starlark.Builtin)
			return v, ok
		}
		return nil, false
	}
	v, ok := starlark.Universe[name]
	return v, ok
}

// moduleMemberName returns "mod.f" if b is the function f of the builtin
// module mod.
func moduleMemberName(b *starlark.Builtin) (string, bool) {
	for mod, m := range builtins {
		if m, ok := m.(*starlarkstruct.Module); ok {
			for member, v := range m.Members {
				if v == starlark.Value(b) {
					return mod + "." + member, true
				}
			}
		}
	}
	return "", false
}

// builtinName returns the name under which v is a builtin, if it is one.
func builtinName(v Value) (string, bool) {
	var name string
	switch v := v.(type) {
	case *starlark.Builtin:
		if v.Receiver() != nil {
			return "", false
		}
		name = v.Name()
		if b, ok := builtinNamed(name); !ok || b != v {
			name, _ = moduleMemberName(v)
		}
	case interface{ Type() string }:
		if m, ok := v.(interface{ String() string }); ok && v.Type() == "module" {
			name = strings.TrimSuffix(strings.TrimPrefix(m.String(), "<module \""), "\">")
		}
	}
	if b, ok := builtinNamed(name); ok && b == v {
		return name, true
	}
	return "", false
}

// IsBuiltin reports whether name is a builtin of sperse or of Starlark.
func IsBuiltin(name string) bool {
	_, ok := builtinNamed(name)
	return ok
}

// IsBuiltin reports whether name is a builtin of sperse or of Starlark, or a
// name in provides.
func (in *Interp) IsBuiltin(name string) bool {
	return in.builtinDict().Has(name) || starlark.Universe.Has(name)
}

// threadPool keeps the threads of evaluations that ended well, for the
// next: a thread's locals and stack are allocated once, as when Starlark's
// REPL runs one statement after another in one thread.
var threadPool = sync.Pool{New: func() any {
	pt := new(pooledThread)
	pt.thread.Print = func(*starlark.Thread, string) {}
	pt.thread.SetLocal(threadKey, &pt.state)
	pt.thread.OnMaxSteps = pt.check
	pt.cancel = func() { pt.thread.Cancel(context.Cause(pt.state.ctx).Error()) }
	return pt
}}

// afterFunc is context.AfterFunc(ctx, f), without its allocations when ctx
// has an AfterFunc method of its own (as the reactive engine's contexts do).
func afterFunc(ctx context.Context, f func()) (stop func() bool) {
	if a, ok := ctx.(interface{ AfterFunc(func()) func() bool }); ok {
		return a.AfterFunc(f)
	}
	return context.AfterFunc(ctx, f)
}

// pooledThread is a thread, the state its builtins find in it, and the
// limits it checks.
type pooledThread struct {
	thread starlark.Thread
	state  evalState
	limits limits
	cancel func() // cancels thread, giving the cause of state.ctx
}

func state(thread *starlark.Thread) *evalState {
	s, _ := thread.Local(threadKey).(*evalState)
	if s == nil {
		return &evalState{in: NewInterp("local"), ctx: context.Background()}
	}
	return s
}

package lang

import (
	"context"
	"fmt"
	"strings"

	"go.starlark.net/starlark"
)

// Pinned is the value of a function cell written "remote def f(...)" or
// "remote@sel def f(...)": a function every call of which runs on a server
// matching Selector, through the calling interpreter's RemoteCaller. Where
// there is none (a server in no cluster, or no client), or where the caller
// runs already matches Selector (see Placer), a call runs in place.
type Pinned struct {
	Fn       *starlark.Function
	Selector []string
}

// RemoteCaller runs a call of a pinned function, fn(*args, **kwargs), on a
// server that matches sel and can run fn. Args is a tuple and kwargs a dict
// with string keys. Implementations are safe for concurrent use.
type RemoteCaller interface {
	CallRemote(ctx context.Context, sel []string, fn, args, kwargs Value) (Value, error)
}

// CallCell returns the cell that calls a pinned function on a server: the
// caller evaluates it remotely with CallScope's values. Its selector is sel.
func CallCell(sel []string) *Cell {
	src := "call = remote __fn(*__args, **__kwargs)"
	if len(sel) > 0 {
		src = "call = remote@" + strings.Join(sel, ",") + " __fn(*__args, **__kwargs)"
	}
	return ParseCell("<remote call>", 1, src)
}

// CallScope returns the scope of CallCell for fn(*args, **kwargs).
func CallScope(fn, args, kwargs Value) map[string]Value {
	return map[string]Value{"__fn": fn, "__args": args, "__kwargs": kwargs}
}

var _ starlark.Callable = (*Pinned)(nil)

func (p *Pinned) Name() string { return p.Fn.Name() }
func (p *Pinned) String() string {
	if len(p.Selector) == 0 {
		return fmt.Sprintf("<remote function %s>", p.Fn.Name())
	}
	return fmt.Sprintf("<remote@%s function %s>", strings.Join(p.Selector, ","), p.Fn.Name())
}
func (p *Pinned) Type() string          { return "function" }
func (p *Pinned) Freeze()               { p.Fn.Freeze() }
func (p *Pinned) Truth() starlark.Bool  { return true }
func (p *Pinned) Hash() (uint32, error) { return p.Fn.Hash() }

// CallInternal ships the call to a server when the interpreter running the
// caller has a RemoteCaller, and calls the function in place otherwise.
func (p *Pinned) CallInternal(thread *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	s := state(thread)
	if s.runsHere(p.Selector) {
		return starlark.Call(thread, p.Fn, args, kwargs)
	}
	kw := starlark.NewDict(len(kwargs))
	for _, pair := range kwargs {
		if err := kw.SetKey(pair[0], pair[1]); err != nil {
			return nil, err
		}
	}
	v, err := s.in.Remote.CallRemote(s.ctx, p.Selector, p.Fn, args, kw)
	if err != nil {
		return nil, fmt.Errorf("remote call of %s: %w", p.Fn.Name(), err)
	}
	return v, nil
}

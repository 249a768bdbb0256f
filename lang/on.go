package lang

import (
	"fmt"
	"slices"
	"strings"

	"go.starlark.net/starlark"
)

// Placer is implemented by a RemoteCaller that can tell when code running
// here already runs where a selector points: a server that matches it. A
// call for such a place runs in place, in the calling evaluation (its
// interpreter, its limits), instead of travelling.
type Placer interface {
	RunsHere(sel []string) bool
}

// runsHere reports whether a call for sel runs in place in s: there is no
// RemoteCaller (the code runs on a server with no others to send it to, or
// with no servers at all), or the caller says this is such a place.
func (s *evalState) runsHere(sel []string) bool {
	if s.in.Remote == nil {
		return true
	}
	p, ok := s.in.Remote.(Placer)
	return ok && p.RunsHere(sel)
}

// builtinOn is on(sel, f, *args, **kwargs): f(*args, **kwargs) run on a
// server matching sel (a string of names or tags joined by commas, as in
// remote@sel), from wherever the calling code runs: a client sends it to
// such a server; a server in a cluster runs it in place if it matches, and
// otherwise sends it to a member that does, with what f captures. So one
// computation can move from server to server and back.
func builtinOn(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if len(args) < 2 {
		return nil, fmt.Errorf("on: want on(sel, f, *args, **kwargs), got %d positional arguments", len(args))
	}
	text, ok := starlark.AsString(args[0])
	if !ok {
		return nil, fmt.Errorf("on: the selector is %s, want a string such as \"gpu\" or \"eu,db\"", args[0].Type())
	}
	sel, err := selectorArg("on", args[0])
	if err != nil {
		return nil, err
	}
	f := args[1]
	if err := checkCallable("on", f); err != nil {
		return nil, err
	}
	if p, ok := f.(*Pinned); ok {
		f = p.Fn // on's selector decides where it runs
	}
	s := state(thread)
	if s.in.Remote == nil && !slices.Equal(sel, []string{s.in.Where}) {
		return nil, fmt.Errorf("on(%q, ...): code running on %s has no servers to send it to", text, s.in.Where)
	}
	if s.runsHere(sel) {
		return starlark.Call(thread, f, args[2:], kwargs)
	}
	kw := starlark.NewDict(len(kwargs))
	for _, pair := range kwargs {
		if err := kw.SetKey(pair[0], pair[1]); err != nil {
			return nil, err
		}
	}
	v, err := s.in.Remote.CallRemote(s.ctx, sel, f, slices.Clone(args[2:]), kw)
	if err != nil {
		return nil, fmt.Errorf("on(%q, %s): %w", strings.Join(sel, ","), callableName(f), err)
	}
	return v, nil
}

// callableName is the name of a function for messages.
func callableName(f starlark.Value) string {
	if c, ok := f.(starlark.Callable); ok {
		return c.Name()
	}
	return f.Type()
}

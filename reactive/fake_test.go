package reactive

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"go.starlark.net/starlark"

	"github.com/sperse/sperse/lang"
)

// fake is an Executor for tests. It evaluates a cell's Source as integer
// arithmetic over names and literals separated by spaces ("a + 2 * b", from
// left to right). A name must be in the Scope or be a builtin (seven is 7),
// else the evaluation fails with "undefined: x". A Source "!msg" fails with
// msg. Hooks replace the evaluation of a cell, and holds stop it until the
// test releases it.
type fake struct {
	where string

	mu        sync.Mutex
	calls     map[string]int
	hooks     map[string]func(ctx context.Context, req Request) Result
	holds     map[string]*hold
	active    int
	maxActive int
}

// hold stops the evaluations of a cell: each sends a *heldCall to calls and
// waits for the test to release it.
type hold struct {
	calls    chan *heldCall
	ignoreCx bool // the evaluation does not stop when its context is cancelled
}

// heldCall is an evaluation held by a hold. The engine reuses a context
// once Eval has returned, so the test looks at done, the context's Done
// when the call began, and at err, the context's error when Eval returned
// (once returned is closed).
type heldCall struct {
	ctx      context.Context
	done     <-chan struct{}
	req      Request
	result   chan *Result // nil evaluates as usual
	returned chan struct{}
	err      error
}

func (c *heldCall) release()              { c.result <- nil }
func (c *heldCall) releaseWith(r *Result) { c.result <- r }

var builtins = map[string]int{"seven": 7}

func newFake(where string) *fake {
	return &fake{
		where: where,
		calls: map[string]int{},
		hooks: map[string]func(context.Context, Request) Result{},
		holds: map[string]*hold{},
	}
}

// hold holds the evaluations of name from now on.
func (f *fake) hold(name string, ignoreCancel bool) *hold {
	f.mu.Lock()
	defer f.mu.Unlock()
	h := &hold{calls: make(chan *heldCall, 16), ignoreCx: ignoreCancel}
	f.holds[name] = h
	return h
}

func (f *fake) hook(name string, fn func(ctx context.Context, req Request) Result) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hooks[name] = fn
}

func (f *fake) counts() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.calls)
}

func (f *fake) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.calls)
}

func (f *fake) Eval(ctx context.Context, req Request) Result {
	name := req.Cell.Name
	f.mu.Lock()
	f.calls[name]++
	f.active++
	f.maxActive = max(f.maxActive, f.active)
	h, hook := f.holds[name], f.hooks[name]
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.active--
		f.mu.Unlock()
	}()
	if h != nil {
		c := &heldCall{ctx: ctx, done: ctx.Done(), req: req, result: make(chan *Result, 1), returned: make(chan struct{})}
		defer func() {
			c.err = ctx.Err()
			close(c.returned)
		}()
		h.calls <- c
		var r *Result
		if h.ignoreCx {
			r = <-c.result
		} else {
			select {
			case r = <-c.result:
			case <-c.done:
				return Result{Err: fmt.Errorf("eval %s: %w", name, ctx.Err())}
			}
		}
		if r != nil {
			return *r
		}
	}
	if hook != nil {
		return hook(ctx, req)
	}
	v, err := evalArith(req)
	if err != nil {
		return Result{Err: err, Where: f.where}
	}
	return Result{Value: starlark.MakeInt(v), Where: f.where}
}

func evalArith(req Request) (int, error) {
	src := req.Cell.Source
	if msg, ok := strings.CutPrefix(src, "!"); ok {
		return 0, errors.New(msg)
	}
	term := func(s string) (int, error) {
		if n, err := strconv.Atoi(s); err == nil {
			return n, nil
		}
		if v, ok := req.Scope[s]; ok {
			n, ok := v.(starlark.Int).Int64()
			if !ok {
				return 0, fmt.Errorf("%s is too big", s)
			}
			return int(n), nil
		}
		if n, ok := builtins[s]; ok {
			return n, nil
		}
		return 0, &lang.Error{Pos: req.Cell.Pos, Msg: "undefined: " + s}
	}
	fields := strings.Fields(src)
	acc, err := term(fields[0])
	if err != nil {
		return 0, err
	}
	for i := 1; i+1 < len(fields); i += 2 {
		v, err := term(fields[i+1])
		if err != nil {
			return 0, err
		}
		switch fields[i] {
		case "+":
			acc += v
		case "-":
			acc -= v
		case "*":
			acc *= v
		default:
			return 0, fmt.Errorf("bad operator %q", fields[i])
		}
	}
	return acc, nil
}

// cell returns a local cell name = src, with the free names of src.
func cell(name, src string) *lang.Cell {
	var free []string
	if !strings.HasPrefix(src, "!") {
		for _, f := range strings.Fields(src) {
			if r := []rune(f)[0]; unicode.IsLetter(r) || r == '_' {
				free = append(free, f)
			}
		}
	}
	sort.Strings(free)
	return &lang.Cell{Name: name, Source: src, Free: slices.Compact(free), Pos: lang.Pos{File: "t.sp", Line: 1, Col: 1}}
}

// remoteCell returns a remote cell name = src.
func remoteCell(name, src string) *lang.Cell {
	c := cell(name, src)
	c.Remote = true
	return c
}

// at returns c at line line of t.sp.
func at(c *lang.Cell, line int) *lang.Cell {
	c.Pos = lang.Pos{File: "t.sp", Line: line, Col: 1}
	return c
}

// summary describes a cell's state and outcome: "ready 3",
// "error: undefined: x".
func summary(v CellView) string {
	switch {
	case v.State == Ready:
		return "ready " + v.Value.String()
	case v.Err != nil:
		return v.State.String() + ": " + v.Err.Error()
	}
	return v.State.String()
}

// summaries returns the summary of every cell.
func summaries(e *Engine) map[string]string {
	m := map[string]string{}
	for _, v := range e.Cells() {
		m[v.Name] = summary(v)
	}
	return m
}

// diffMaps returns the differences between got and want, one a line.
func diffMaps[V comparable](got, want map[string]V) string {
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	for k := range want {
		if _, ok := got[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		g, gok := got[k]
		w, wok := want[k]
		switch {
		case !gok:
			fmt.Fprintf(&b, "%s: missing, want %v\n", k, w)
		case !wok:
			fmt.Fprintf(&b, "%s: got %v, want nothing\n", k, g)
		case g != w:
			fmt.Fprintf(&b, "%s: got %v, want %v\n", k, g, w)
		}
	}
	return b.String()
}

// newEngine returns an engine with local and remote fakes, closed at the end
// of the test.
func newEngine(t testing.TB, maxLocal int) (*Engine, *fake, *fake) {
	t.Helper()
	local, remote := newFake("local"), newFake("srv")
	e := New(Config{Local: local, Remote: remote, MaxLocal: maxLocal})
	t.Cleanup(e.Close)
	return e, local, remote
}

// wait waits until e is quiet.
func wait(t testing.TB, e *Engine) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.Wait(ctx); err != nil {
		t.Fatalf("Wait: %v", err)
	}
}

// next returns the next call of h.
func next(t testing.TB, h *hold) *heldCall {
	t.Helper()
	select {
	case c := <-h.calls:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no evaluation started")
		return nil
	}
}

// cancelled waits for c's context to be cancelled.
func cancelled(t testing.TB, c *heldCall) {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("evaluation of %s not cancelled", c.req.Cell.Name)
	}
}

func state(t testing.TB, e *Engine, name string) CellView {
	t.Helper()
	v, ok := e.Cell(name)
	if !ok {
		t.Fatalf("no cell %s", name)
	}
	return v
}

// lostError is an error of an executor that lost its server.
type lostError struct{}

func (lostError) Error() string    { return "server lost" }
func (lostError) ServerLost() bool { return true }

// unavailableError is an error of an executor with no server for a cell.
type unavailableError struct{}

func (unavailableError) Error() string     { return "no server provides it" }
func (unavailableError) Unavailable() bool { return true }

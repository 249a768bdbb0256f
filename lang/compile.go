package lang

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"go.starlark.net/resolve"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// unitKey is the predeclared name under which a module's unit is kept. It is
// not an identifier users can write a reference to: it is never in the
// resolver's set of predeclared names, so code that names it fails to compile.
const unitKey = "__sperse_unit__"

// compiled is the compiled code of a cell for one interpreter and one set of
// scope names (which free names are cells rather than builtins): a program
// run by Init, or, for a plain expression (see plainExpr), a function.
type compiled struct {
	in      *Interp
	inScope []bool // for each of the cell's Free names: whether it came from the scope
	prog    *starlark.Program
	unit    *unit

	// expr is the function of a plain expression: its parameters are the
	// cell's free names from the scope, in order.
	expr *starlark.Function

	// formula is the plain expression as a formula, if it is one. Then
	// expr is compiled by the first evaluation that needs it (once):
	// lazy is the expression until then.
	formula *formula
	once    sync.Once
	lazy    func() (*starlark.Function, error)
	lazyErr error
}

// general compiles co's expr, if co is a formula that has not compiled it
// yet, for a scope in which the formula does not apply.
func (co *compiled) general() error {
	co.once.Do(func() {
		if co.lazy != nil {
			co.expr, co.lazyErr = co.lazy()
			co.lazy = nil
		}
	})
	return co.lazyErr
}

// matches reports whether co was compiled by in for a scope with the same names.
func (co *compiled) matches(in *Interp, free []string, scope map[string]Value) bool {
	if co == nil || co.in != in {
		return false
	}
	for i, name := range free {
		if _, ok := scope[name]; ok != co.inScope[i] {
			return false
		}
	}
	return true
}

// compile returns c's compiled code for a scope with the names of scope,
// compiling it if the cached code does not fit.
func (in *Interp) compile(c *Cell, scope map[string]Value) (*compiled, error) {
	if co := c.prog.Load(); co.matches(in, c.Free, scope) {
		return co, nil
	}
	// The tree ParseCell made, resolved only to find the free names, is
	// compiled as it is by the first compile to take it; compiling
	// changes it, so the next compile parses the code again.
	f := c.parsed.Swap(nil)
	var err error
	if f == nil {
		if f, err = parseCode(c.Pos.File, c.Pos.Line, c.codeCol, c.code); err != nil {
			return nil, err
		}
	}
	if c.Kind == AnonCell {
		// Make "expr" into "_N = expr" so the value is the module's global _N.
		stmt := f.Stmts[0].(*syntax.ExprStmt)
		start, _ := stmt.X.Span()
		f.Stmts[0] = &syntax.AssignStmt{OpPos: start, Op: syntax.EQ, LHS: &syntax.Ident{NamePos: start, Name: c.Name}, RHS: stmt.X}
	}
	co := &compiled{in: in, inScope: make([]bool, len(c.Free))}
	for i, name := range c.Free {
		_, co.inScope[i] = scope[name]
	}
	if x := plainExpr(c, f); x != nil {
		if co.formula = makeFormula(x, co.resolver(c.Free, in.builtinDict())); co.formula != nil {
			co.lazy = func() (*starlark.Function, error) { return in.compileExpr(f, x, c.Free, co.inScope) }
		} else {
			co.expr, err = in.compileExpr(f, x, c.Free, co.inScope)
		}
	} else {
		fromScope := map[string]bool{}
		for i, name := range c.Free {
			fromScope[name] = co.inScope[i]
		}
		co.prog, co.unit, err = in.compileFile(f, c.code, Pos{c.Pos.File, c.Pos.Line, c.codeCol}, fromScope)
	}
	if err != nil {
		return nil, err
	}
	c.prog.Store(co)
	return co, nil
}

// resolver says what the names of a formula of co are: its free names
// from the scope, or the builtins that the others are.
func (co *compiled) resolver(free []string, builtins starlark.StringDict) func(string) (bool, Value, bool) {
	return func(name string) (bool, Value, bool) {
		i, ok := slices.BinarySearch(free, name)
		switch {
		case !ok:
			return false, nil, false
		case co.inScope[i]:
			return false, nil, true
		}
		if v, ok := builtins[name]; ok {
			return false, v, true
		}
		v, ok := starlark.Universe[name]
		return false, v, ok
	}
}

// plainExpr returns the expression of value cell c, parsed as f, if it is a
// plain expression: one that defines no function (no lambda) and does not
// use the cell's own name. Such a cell runs as a call of a function of its
// scope (compileExpr), which costs a fraction of running a module: no
// globals, no environment to build per evaluation. A function made by the
// code must find its source through its module's unit, hence the lambdas
// are left to the module path; so is a self-reference, whose error
// ("referenced before assignment") only a module gives.
func plainExpr(c *Cell, f *syntax.File) syntax.Expr {
	if c.Kind == FuncCell || len(f.Stmts) != 1 || slices.Contains(c.Free, c.Name) {
		return nil
	}
	a, ok := f.Stmts[0].(*syntax.AssignStmt)
	if !ok || a.Op != syntax.EQ {
		return nil
	}
	if id, ok := a.LHS.(*syntax.Ident); !ok || id.Name != c.Name {
		return nil
	}
	plain := true
	syntax.Walk(a.RHS, func(n syntax.Node) bool {
		if _, ok := n.(*syntax.LambdaExpr); ok {
			plain = false
		}
		return plain
	})
	if !plain {
		return nil
	}
	return a.RHS
}

// toplevel is the name of the function of a plain expression: what a
// backtrace shows for a module's code, so that an error reads the same
// whichever way the cell runs.
const toplevel = "<toplevel>"

// compileExpr compiles x, the expression of file f, as the function
//
//	def <toplevel>(p1, p2, ...): return x
//
// whose parameters are the names of free that are in the scope (inScope).
// The function is made once, with the builtins it uses bound, and is safe
// to call from any number of threads at once.
func (in *Interp) compileExpr(f *syntax.File, x syntax.Expr, free []string, inScope []bool) (*starlark.Function, error) {
	builtins := in.builtinDict()
	guardRepeats(f)
	pos, _ := x.Span()
	def := &syntax.DefStmt{Def: pos, Name: &syntax.Ident{NamePos: pos, Name: toplevel}, Lparen: pos, Rparen: pos,
		Body: []syntax.Stmt{&syntax.ReturnStmt{Return: pos, Result: x}}}
	env := starlark.StringDict{repeatKey: repeatGuard}
	for i, name := range free {
		if inScope[i] {
			def.Params = append(def.Params, &syntax.Ident{NamePos: pos, Name: name})
		} else if v, ok := builtins[name]; ok {
			env[name] = v
		}
	}
	prog, err := starlark.FileProgram(&syntax.File{Path: f.Path, Stmts: []syntax.Stmt{def}, Options: f.Options}, env.Has)
	if err != nil {
		return nil, convertError(err)
	}
	globals, err := prog.Init(new(starlark.Thread), env)
	if err != nil {
		return nil, convertError(err)
	}
	return globals[toplevel].(*starlark.Function), nil
}

// call evaluates co's plain expression with the values of scope.
func (co *compiled) call(thread *starlark.Thread, c *Cell, scope map[string]Value) (Value, error) {
	args := make(starlark.Tuple, 0, co.expr.NumParams())
	var m *meter
	for i, name := range c.Free {
		if !co.inScope[i] {
			continue
		}
		v := scope[name]
		if x, ok := v.(*Vec); ok {
			if m == nil {
				m = meterOf(thread)
			}
			v = x.metered(m)
		}
		args = append(args, v)
	}
	return starlark.Call(thread, co.expr, args, nil)
}

// compileFile compiles f, whose source text is src, in an environment where the
// names in scope and the interpreter's builtins are predeclared, and returns
// the program and the table of the functions its source defines.
func (in *Interp) compileFile(f *syntax.File, src string, start Pos, scope map[string]bool) (*starlark.Program, *unit, error) {
	builtins := in.builtinDict()
	guardRepeats(f)
	prog, err := starlark.FileProgram(f, func(name string) bool {
		return scope[name] || builtins.Has(name) || name == repeatKey
	})
	if err != nil {
		return nil, nil, convertError(err)
	}
	return prog, newUnit(f, src, start, scope), nil
}

// predeclared returns the environment in which co runs: its unit, and for each
// free name of c its value from scope or the builtins.
func (co *compiled) predeclared(c *Cell, scope map[string]Value) starlark.StringDict {
	env := make(starlark.StringDict, len(c.Free)+2)
	env[unitKey], env[repeatKey] = co.unit, repeatGuard
	builtins := co.in.builtinDict()
	for i, name := range c.Free {
		if co.inScope[i] {
			env[name] = scope[name]
		} else if v, ok := builtins[name]; ok {
			env[name] = v
		}
	}
	return env
}

// unit is the table of the functions defined in the source of one compiled
// module, by the position of their def or lambda keyword. It sits in the
// module's predeclared environment under unitKey, so that a function value
// leads to its own source text through fn.Module().Predeclared(). Nothing
// else refers to it, so it lives exactly as long as the module's functions.
type unit struct {
	funcs map[[2]int32]*funcSource
	scope map[string]bool // predeclared names that came from the scope, not the builtins
}

// funcSource is the source of one function in a unit.
type funcSource struct {
	text    string   // the def statement or lambda expression
	pos     Pos      // where text starts
	refs    []string // the global and scope names it uses, nested functions included
	globals []string // those of refs that are the module's globals
}

var _ starlark.Value = (*unit)(nil)

func (u *unit) String() string        { return "<unit>" }
func (u *unit) Type() string          { return "unit" }
func (u *unit) Freeze()               {}
func (u *unit) Truth() starlark.Bool  { return true }
func (u *unit) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable: unit") }

// newUnit builds the function table of f, a resolved file whose source text
// src starts at the given file position.
func newUnit(f *syntax.File, src string, start Pos, scope map[string]bool) *unit {
	u := &unit{funcs: map[[2]int32]*funcSource{}, scope: scope}
	lines := lineOffsets(src)
	// offset returns the byte offset in src of a file position, or -1.
	offset := func(p syntax.Position) int {
		i := int(p.Line) - start.Line
		if i < 0 || i >= len(lines) {
			return -1
		}
		line := src[lines[i]:]
		col := int(p.Col) - 1
		if i == 0 {
			col -= start.Col - 1
		}
		off := 0
		for ; col > 0 && off < len(line); col-- {
			_, n := utf8.DecodeRuneInString(line[off:])
			off += n
		}
		return lines[i] + off
	}
	syntax.Walk(f, func(n syntax.Node) bool {
		var fn *resolve.Function
		switch n := n.(type) {
		case *syntax.DefStmt:
			fn = n.Function.(*resolve.Function)
		case *syntax.LambdaExpr:
			fn = n.Function.(*resolve.Function)
		default:
			return true
		}
		start, end := n.Span()
		from, to := offset(start), offset(end)
		if from < 0 || to < from || to > len(src) {
			return true
		}
		to = closeBrackets(src, from, to)
		src := &funcSource{text: src[from:to], pos: toPos(start)}
		src.refs, src.globals = refs(fn)
		u.funcs[[2]int32{fn.Pos.Line, fn.Pos.Col}] = src
		return true
	})
	return u
}

// lineOffsets returns the byte offset of the start of each line of s.
func lineOffsets(s string) []int {
	offs := []int{0}
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			offs = append(offs, i+1)
		}
	}
	return offs
}

// refs returns the names that fn uses from its module: globals and
// predeclared names (cells and builtins), those of nested functions
// included; and which of them are globals.
func refs(fn *resolve.Function) (names, globals []string) {
	seen := map[string]bool{}
	visit := func(n syntax.Node) bool {
		if id, ok := n.(*syntax.Ident); ok {
			if b, ok := id.Binding.(*resolve.Binding); ok && (b.Scope == resolve.Global || b.Scope == resolve.Predeclared) && !seen[id.Name] && id.Name != repeatKey {
				seen[id.Name] = true
				names = append(names, id.Name)
				if b.Scope == resolve.Global {
					globals = append(globals, id.Name)
				}
			}
		}
		return true
	}
	for _, p := range fn.Params {
		syntax.Walk(p, visit)
	}
	for _, s := range fn.Body {
		syntax.Walk(s, visit)
	}
	return names, globals
}

// closeBrackets returns the end of the text src[from:to] extended by the
// closing brackets it lacks. Some Starlark spans (index, slice, parenthesized
// tuple) end at their closing bracket rather than after it.
func closeBrackets(src string, from, to int) int {
	depth, quote := 0, ""
	for _, line := range strings.Split(src[from:to], "\n") {
		depth, quote, _ = scanLine(line, depth, quote)
	}
	for depth > 0 && quote == "" && to < len(src) && strings.IndexByte(")]}", src[to]) >= 0 {
		to++
		depth--
	}
	return to
}

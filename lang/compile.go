package lang

import (
	"fmt"
	"strings"
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
// scope names (which free names are cells rather than builtins).
type compiled struct {
	in      *Interp
	inScope []bool // for each of the cell's Free names: whether it came from the scope
	prog    *starlark.Program
	unit    *unit
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
	f, err := parseCode(c.Pos.File, c.Pos.Line, c.codeCol, c.code)
	if err != nil {
		return nil, err
	}
	if c.Kind == AnonCell {
		// Make "expr" into "_N = expr" so the value is the module's global _N.
		stmt := f.Stmts[0].(*syntax.ExprStmt)
		start, _ := stmt.X.Span()
		f.Stmts[0] = &syntax.AssignStmt{OpPos: start, Op: syntax.EQ, LHS: &syntax.Ident{NamePos: start, Name: c.Name}, RHS: stmt.X}
	}
	co := &compiled{in: in, inScope: make([]bool, len(c.Free))}
	fromScope := map[string]bool{}
	for i, name := range c.Free {
		if _, ok := scope[name]; ok {
			co.inScope[i] = true
			fromScope[name] = true
		}
	}
	co.prog, co.unit, err = in.compileFile(f, c.code, Pos{c.Pos.File, c.Pos.Line, c.codeCol}, fromScope)
	if err != nil {
		return nil, err
	}
	c.prog.Store(co)
	return co, nil
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
	text string   // the def statement or lambda expression
	pos  Pos      // where text starts
	refs []string // the global and scope names it uses, nested functions included
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
		u.funcs[[2]int32{fn.Pos.Line, fn.Pos.Col}] = &funcSource{
			text: src[from:to],
			pos:  toPos(start),
			refs: refs(fn),
		}
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
// predeclared names (cells and builtins), those of nested functions included.
func refs(fn *resolve.Function) []string {
	seen := map[string]bool{}
	var names []string
	visit := func(n syntax.Node) bool {
		if id, ok := n.(*syntax.Ident); ok {
			if b, ok := id.Binding.(*resolve.Binding); ok && (b.Scope == resolve.Global || b.Scope == resolve.Predeclared) && !seen[id.Name] && id.Name != repeatKey {
				seen[id.Name] = true
				names = append(names, id.Name)
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
	return names
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

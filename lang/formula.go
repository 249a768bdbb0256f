package lang

import (
	"math/big"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// A formula is a value cell whose expression is made only of names,
// literals, operators (arithmetic, bitwise, comparisons, in, not, and, or)
// and conditional expressions: what most cells of a spreadsheet are, such
// as "total = (a + b) * rate". It is evaluated by walking its syntax tree
// with Starlark's own operators (starlark.Binary, Unary and Compare, which
// the interpreter calls for the same opcodes), so it gives exactly the
// values and errors, positions included, that running the cell as Starlark
// gives, without compiling it and without a thread, a module or a frame per
// evaluation. A formula cannot loop or call, so it needs no step limit.
//
// The operators of a vec count their work against the evaluation's step
// limit (see meter.go), which a formula has not: a cell whose scope holds a
// vec runs as Starlark.
type formula struct {
	x fexpr
}

// fexpr is a node of a formula.
type fexpr interface {
	eval(scope map[string]Value) (Value, error)
}

type (
	fconst  struct{ v Value }  // a literal, or a builtin
	fname   struct{ n string } // a name from the scope
	fbinary struct {
		op   syntax.Token
		x, y fexpr
		pos  syntax.Position
	}
	funary struct {
		op  syntax.Token
		x   fexpr
		pos syntax.Position
	}
	fcond  struct{ cond, t, f fexpr } // t if cond else f
	fandor struct {
		or   bool // x or y; else x and y
		x, y fexpr
	}
)

// makeFormula returns x as a formula, or nil if it is not one. inScope
// tells which of the cell's free names come from the scope; the others are
// builtins, found in builtins or in Starlark's universe.
func makeFormula(x syntax.Expr, free []string, inScope []bool, builtins starlark.StringDict) *formula {
	fromScope := func(name string) (bool, bool) {
		for i, n := range free {
			if n == name {
				return inScope[i], true
			}
		}
		return false, false
	}
	var conv func(x syntax.Expr) fexpr
	conv = func(x syntax.Expr) fexpr {
		switch x := x.(type) {
		case *syntax.ParenExpr:
			return conv(x.X)
		case *syntax.Ident:
			scoped, free := fromScope(x.Name)
			switch {
			case !free:
				return nil
			case scoped:
				return fname{x.Name}
			}
			if v, ok := builtins[x.Name]; ok {
				return fconst{v}
			}
			if v, ok := starlark.Universe[x.Name]; ok {
				return fconst{v}
			}
			return nil // undefined: the compiler says so, with its position
		case *syntax.Literal:
			switch v := x.Value.(type) {
			case int64:
				return fconst{starlark.MakeInt64(v)}
			case *big.Int:
				return fconst{starlark.MakeBigInt(v)}
			case float64:
				return fconst{starlark.Float(v)}
			case string:
				if x.Token == syntax.BYTES {
					return fconst{starlark.Bytes(v)}
				}
				return fconst{starlark.String(v)}
			}
			return nil
		case *syntax.UnaryExpr:
			switch x.Op {
			case syntax.MINUS, syntax.PLUS, syntax.TILDE, syntax.NOT:
				if a := conv(x.X); a != nil {
					return funary{x.Op, a, x.OpPos}
				}
			}
			return nil
		case *syntax.BinaryExpr:
			if x.Op == syntax.STAR {
				if n, _ := literalSeq(x.X); n > 0 {
					return nil // guarded repetition (see guardRepeats)
				}
				if n, _ := literalSeq(x.Y); n > 0 {
					return nil
				}
			}
			a, b := conv(x.X), conv(x.Y)
			if a == nil || b == nil {
				return nil
			}
			switch x.Op {
			case syntax.AND, syntax.OR:
				return fandor{x.Op == syntax.OR, a, b}
			case syntax.PLUS, syntax.MINUS, syntax.STAR, syntax.SLASH, syntax.SLASHSLASH, syntax.PERCENT,
				syntax.AMP, syntax.PIPE, syntax.CIRCUMFLEX, syntax.LTLT, syntax.GTGT, syntax.IN, syntax.NOT_IN,
				syntax.EQL, syntax.NEQ, syntax.LT, syntax.GT, syntax.LE, syntax.GE:
				return fbinary{x.Op, a, b, x.OpPos}
			}
			return nil
		case *syntax.CondExpr:
			c, t, f := conv(x.Cond), conv(x.True), conv(x.False)
			if c == nil || t == nil || f == nil {
				return nil
			}
			return fcond{c, t, f}
		}
		return nil
	}
	if e := conv(x); e != nil {
		return &formula{e}
	}
	return nil
}

// applies reports whether f can evaluate with scope: whether no value in
// it is a vec.
func (f *formula) applies(scope map[string]Value) bool {
	for _, v := range scope {
		if _, ok := v.(*Vec); ok {
			return false
		}
	}
	return true
}

func (e fconst) eval(map[string]Value) (Value, error) { return e.v, nil }

func (e fname) eval(scope map[string]Value) (Value, error) { return scope[e.n], nil }

func (e fbinary) eval(scope map[string]Value) (Value, error) {
	x, err := e.x.eval(scope)
	if err != nil {
		return nil, err
	}
	y, err := e.y.eval(scope)
	if err != nil {
		return nil, err
	}
	var z Value
	switch e.op {
	case syntax.EQL, syntax.NEQ, syntax.LT, syntax.GT, syntax.LE, syntax.GE:
		var ok bool
		ok, err = starlark.Compare(e.op, x, y)
		z = starlark.Bool(ok)
	case syntax.NOT_IN:
		z, err = starlark.Binary(syntax.IN, x, y)
		if err == nil {
			z = !z.Truth()
		}
	default:
		z, err = starlark.Binary(e.op, x, y)
	}
	if err != nil {
		return nil, formulaError(e.pos, err)
	}
	return z, nil
}

func (e funary) eval(scope map[string]Value) (Value, error) {
	x, err := e.x.eval(scope)
	if err != nil {
		return nil, err
	}
	if e.op == syntax.NOT {
		return !x.Truth(), nil
	}
	y, err := starlark.Unary(e.op, x)
	if err != nil {
		return nil, formulaError(e.pos, err)
	}
	return y, nil
}

func (e fcond) eval(scope map[string]Value) (Value, error) {
	c, err := e.cond.eval(scope)
	if err != nil {
		return nil, err
	}
	if c.Truth() {
		return e.t.eval(scope)
	}
	return e.f.eval(scope)
}

func (e fandor) eval(scope map[string]Value) (Value, error) {
	x, err := e.x.eval(scope)
	if err != nil {
		return nil, err
	}
	if bool(x.Truth()) == e.or {
		return x, nil
	}
	return e.y.eval(scope)
}

// formulaError is the error of an operator at pos: the error the
// interpreter gives for it in a cell's code, whose one frame is the
// module's.
func formulaError(pos syntax.Position, err error) error {
	ee := &starlark.EvalError{Msg: err.Error(), CallStack: starlark.CallStack{{Name: toplevel, Pos: pos}}}
	return &Error{Pos: toPos(pos), Msg: ee.Msg, Backtrace: ee.Backtrace(), cause: err}
}

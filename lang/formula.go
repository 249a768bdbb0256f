package lang

import (
	"math/big"
	"slices"

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
	x     fexpr
	steps int // the interpreter's steps for it, about: one per node
}

// fexpr is a node of a formula.
type fexpr interface {
	eval(env fenv) (Value, error)
}

// fenv is what the names of a formula stand for: the scope of a cell, or
// the argument of a lambda.
type fenv struct {
	scope map[string]Value
	arg   Value
}

type (
	fconst struct{ v Value } // a literal, or a builtin
	fname  struct {          // a name from the scope, or the lambda's parameter
		n   string
		arg bool
	}
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

// makeFormula returns x as a formula, or nil if it is not one. resolve
// says what each name of x is: the cell's scope or the lambda's argument
// (arg), a constant (v: a builtin), or neither (ok false: x is no formula).
func makeFormula(x syntax.Expr, resolve func(name string) (arg bool, v Value, ok bool)) *formula {
	var conv func(x syntax.Expr) fexpr
	conv = func(x syntax.Expr) fexpr {
		switch x := x.(type) {
		case *syntax.ParenExpr:
			return conv(x.X)
		case *syntax.Ident:
			arg, v, ok := resolve(x.Name)
			switch {
			case !ok:
				return nil // undefined, or not a constant: the interpreter's case
			case v == nil:
				return fname{x.Name, arg}
			}
			return fconst{v}
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
	steps := 0
	syntax.Walk(x, func(syntax.Node) bool { steps++; return true })
	if e := conv(x); e != nil {
		return &formula{e, steps}
	}
	return nil
}

// lambdaFormula returns the body of fn as a formula of its argument, if fn
// is a lambda of one parameter whose body is a formula: pmap and mapreduce
// then apply it to each element without a call, a frame or an allocation
// (see RunChunk). The other names of the body must be builtins or values
// the lambda's module was given (constants while it runs, and no vecs,
// whose operators count steps); a global of the module, a variable it
// closes over or a default value make it a call as usual.
func lambdaFormula(fn Value) *formula {
	f, ok := fn.(*starlark.Function)
	if !ok || f.Name() != "lambda" || f.NumParams() != 1 || f.NumKwonlyParams() != 0 || f.HasVarargs() ||
		f.HasKwargs() || f.NumFreeVars() != 0 || f.ParamDefault(0) != nil {
		return nil
	}
	pre := f.Module().Predeclared()
	u, _ := pre[unitKey].(*unit)
	if u == nil {
		return nil
	}
	pos := f.Position()
	src := u.funcs[[2]int32{pos.Line, pos.Col}]
	if src == nil {
		return nil
	}
	x, err := fileOptions.ParseExpr(src.pos.File, syntax.FilePortion{Content: []byte(src.text),
		FirstLine: int32(src.pos.Line), FirstCol: int32(src.pos.Col)}, 0)
	lambda, ok := x.(*syntax.LambdaExpr)
	if err != nil || !ok || len(lambda.Params) != 1 {
		return nil
	}
	param, ok := lambda.Params[0].(*syntax.Ident)
	if !ok {
		return nil
	}
	return makeFormula(lambda.Body, func(name string) (bool, Value, bool) {
		if name == param.Name {
			return true, nil, true
		}
		if slices.Contains(src.globals, name) {
			return false, nil, false
		}
		v, ok := pre[name]
		if !ok {
			v, ok = starlark.Universe[name]
		}
		if _, vec := v.(*Vec); vec {
			return false, nil, false
		}
		return false, v, ok
	})
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

func (e fconst) eval(fenv) (Value, error) { return e.v, nil }

func (e fname) eval(env fenv) (Value, error) {
	if e.arg {
		return env.arg, nil
	}
	return env.scope[e.n], nil
}

func (e fbinary) eval(env fenv) (Value, error) {
	x, err := e.x.eval(env)
	if err != nil {
		return nil, err
	}
	y, err := e.y.eval(env)
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
	case syntax.STAR:
		// A repetition is checked first, as the interpreter checks it
		// (see guardOperands).
		if err = checkRepeat(x, y); err == nil {
			z, err = starlark.Binary(e.op, x, y)
		}
	default:
		z, err = starlark.Binary(e.op, x, y)
	}
	if err != nil {
		return nil, formulaError(e.pos, err)
	}
	return z, nil
}

func (e funary) eval(env fenv) (Value, error) {
	x, err := e.x.eval(env)
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

func (e fcond) eval(env fenv) (Value, error) {
	c, err := e.cond.eval(env)
	if err != nil {
		return nil, err
	}
	if c.Truth() {
		return e.t.eval(env)
	}
	return e.f.eval(env)
}

func (e fandor) eval(env fenv) (Value, error) {
	x, err := e.x.eval(env)
	if err != nil {
		return nil, err
	}
	if bool(x.Truth()) == e.or {
		return x, nil
	}
	return e.y.eval(env)
}

// formulaError is the error of an operator at pos: the error the
// interpreter gives for it in a cell's code, whose one frame is the
// module's.
func formulaError(pos syntax.Position, err error) error {
	ee := &starlark.EvalError{Msg: err.Error(), CallStack: starlark.CallStack{{Name: toplevel, Pos: pos}}}
	return &Error{Pos: toPos(pos), Msg: ee.Msg, Backtrace: ee.Backtrace(), cause: err}
}

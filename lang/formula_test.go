package lang

import (
	"context"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.starlark.net/starlark"
)

// A value cell runs one of three ways (compile.go, formula.go): as a
// formula, as a function of its scope (a plain expression), or as a module
// (any other cell). The three must agree exactly: the same value, or the
// same error with the same message, position and backtrace. These tests
// run random expressions over random values all three ways.

// modulePath and exprPath evaluate c as a module and as a function, as
// compile does for cells that are not formulas.
func modulePath(t *testing.T, in *Interp, c *Cell, scope map[string]Value) (Value, error) {
	t.Helper()
	f, err := parseCode(c.Pos.File, c.Pos.Line, c.codeCol, c.code)
	if err != nil {
		t.Fatal(err)
	}
	co, fromScope := newCompiled(in, c, scope)
	co.prog, co.unit, err = in.compileFile(f, c.code, Pos{c.Pos.File, c.Pos.Line, c.codeCol}, fromScope)
	if err != nil {
		return nil, err
	}
	var v Value
	_, err = in.run(context.Background(), c.Name, func(thread *starlark.Thread) (starlark.StringDict, error) {
		globals, err := co.prog.Init(thread, meterScope(thread, co.predeclared(c, scope)))
		v = globals[c.Name]
		return nil, err
	})
	return v, err
}

func exprPath(t *testing.T, in *Interp, c *Cell, scope map[string]Value) (Value, error) {
	t.Helper()
	f, err := parseCode(c.Pos.File, c.Pos.Line, c.codeCol, c.code)
	if err != nil {
		t.Fatal(err)
	}
	x := plainExpr(c, f)
	if x == nil {
		t.Fatalf("%s is not a plain expression", c.Source)
	}
	co, _ := newCompiled(in, c, scope)
	if co.expr, err = in.compileExpr(f, x, c.Free, co.inScope); err != nil {
		return nil, err
	}
	var v Value
	_, err = in.run(context.Background(), c.Name, func(thread *starlark.Thread) (starlark.StringDict, error) {
		v, err = co.call(thread, c, scope)
		return nil, err
	})
	return v, err
}

func newCompiled(in *Interp, c *Cell, scope map[string]Value) (*compiled, map[string]bool) {
	co := &compiled{in: in, inScope: make([]bool, len(c.Free))}
	fromScope := map[string]bool{}
	for i, name := range c.Free {
		if _, ok := scope[name]; ok {
			co.inScope[i], fromScope[name] = true, true
		}
	}
	return co, fromScope
}

// outcome is what a user sees of an evaluation.
func outcome(v Value, err error) string {
	if err != nil {
		e, ok := err.(*Error)
		if !ok {
			return fmt.Sprintf("error %T: %v", err, err)
		}
		return fmt.Sprintf("error at %s: %s\n%s", e.Pos, e.Msg, e.Backtrace)
	}
	return v.Type() + " " + v.String()
}

// randomFormula writes a random formula over a, b and c.
func randomFormula(rng *rand.Rand, depth int) string {
	if depth == 0 || rng.IntN(4) == 0 {
		leaves := []string{"a", "b", "c", "0", "1", "-3", "7", "2.5", "0.0", "1e308", "True", "False", "None",
			`"x"`, `""`, `b"y"`, "12345678901234567890123", "(1 << 63)", "len"}
		return leaves[rng.IntN(len(leaves))]
	}
	switch rng.IntN(10) {
	case 0:
		ops := []string{"-", "+", "~", "not "}
		return "(" + ops[rng.IntN(len(ops))] + randomFormula(rng, depth-1) + ")"
	case 1:
		return fmt.Sprintf("(%s if %s else %s)", randomFormula(rng, depth-1), randomFormula(rng, depth-1), randomFormula(rng, depth-1))
	}
	ops := []string{"+", "-", "*", "/", "//", "%", "&", "|", "^", "<<", ">>", "==", "!=", "<", ">", "<=", ">=",
		"in", "not in", "and", "or"}
	return fmt.Sprintf("(%s %s %s)", randomFormula(rng, depth-1), ops[rng.IntN(len(ops))], randomFormula(rng, depth-1))
}

// randomValue returns a random value of a scope.
func randomValue(rng *rand.Rand) Value {
	big70 := new(big.Int).Lsh(big.NewInt(1), 70)
	values := []Value{
		starlark.MakeInt(0), starlark.MakeInt(1), starlark.MakeInt(-2), starlark.MakeInt(1 << 40),
		starlark.MakeBigInt(big70), starlark.MakeBigInt(new(big.Int).Neg(big70)),
		starlark.Float(0.5), starlark.Float(-0.0), starlark.Float(math.Inf(1)), starlark.Float(math.NaN()),
		starlark.String("ab"), starlark.String(""), starlark.Bytes("b"), starlark.True, starlark.False, starlark.None,
		starlark.Tuple{starlark.MakeInt(1), starlark.String("x")},
		starlark.NewList([]Value{starlark.MakeInt(1), starlark.MakeInt(2)}),
		starlark.NewDict(1),
	}
	v := values[rng.IntN(len(values))]
	v.Freeze()
	return v
}

func TestFormulasAgreeWithTheInterpreter(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	in := NewInterp("local")
	formulas, errors := 0, 0
	for i := range 4000 {
		src := fmt.Sprintf("x = %s", randomFormula(rng, 4))
		c := ParseCell("f.sp", 3, src)
		if c.Err != nil {
			t.Fatalf("%s: %v", src, c.Err)
		}
		scope := map[string]Value{}
		for _, name := range []string{"a", "b", "c"} {
			if rng.IntN(8) > 0 { // now and then a name is undefined
				scope[name] = randomValue(rng)
			}
		}
		got := outcome(in.Eval(context.Background(), c, scope))
		if co := c.prog.Load(); co != nil && co.formula != nil {
			formulas++
		}
		module := outcome(modulePath(t, in, c, scope))
		expr := outcome(exprPath(t, in, c, scope))
		if got != module || expr != module {
			t.Fatalf("case %d: %s with %v:\nEval:     %s\nfunction: %s\nmodule:   %s", i, src, scope, got, expr, module)
		}
		if strings.HasPrefix(got, "error") {
			errors++
		}
	}
	// The random cases must mostly be formulas, and both succeed and fail.
	if formulas < 3000 || errors < 400 || errors > 3600 {
		t.Fatalf("%d formulas and %d errors in 4000 cases", formulas, errors)
	}
}

// Cells that are not formulas take the other paths: a call, an index, a
// lambda, a guarded repetition, a vec in the scope, an undefined name.
func TestNotFormulas(t *testing.T) {
	in := NewInterp("local")
	v := NewIntVec([]int64{1, 2, 3})
	for _, tc := range []struct {
		src     string
		scope   map[string]Value
		formula bool
		want    string
	}{
		{"x = a + 1", map[string]Value{"a": starlark.MakeInt(1)}, true, "int 2"},
		{"x = a * 2", map[string]Value{"a": v}, true, "vec vec([2, 4, 6])"},
		{"x = len(a)", map[string]Value{"a": starlark.String("abc")}, false, "int 3"},
		{"x = a[0]", map[string]Value{"a": starlark.Tuple{starlark.MakeInt(5)}}, false, "int 5"},
		{"x = (lambda: 1)()", nil, false, "int 1"},
		{`x = "ab" * 2`, nil, false, `string "abab"`},
		{"x = y + 1", nil, false, "error at f.sp:1:5: undefined: y\n"},
	} {
		c := ParseCell("f.sp", 1, tc.src)
		got := outcome(in.Eval(context.Background(), c, tc.scope))
		if got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.src, got, tc.want)
		}
		if co := c.prog.Load(); co != nil && (co.formula != nil) != tc.formula {
			t.Errorf("%s: formula is %v, want %v", tc.src, co.formula != nil, tc.formula)
		}
	}
}

// pmap applies a lambda whose body is a formula without calling it
// (lambdaFormula, RunChunk): the values must be those of calling it, and
// an element that fails must fail as the call does.
func TestLambdaFormulasAgreeWithCalls(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	in := NewInterp("local")
	ctx := context.Background()
	formulas := 0
	for i := range 300 {
		// The names a and c become the argument, b a value from the scope.
		body := lambdaNames.ReplaceAllStringFunc(randomFormula(rng, 3), func(s string) string {
			return map[byte]string{'a': "x", 'b': "k", 'c': "x"}[s[0]] + s[1:]
		})
		xs := make([]Value, 1+rng.IntN(6))
		for j := range xs {
			xs[j] = randomValue(rng)
		}
		list := starlark.NewList(xs)
		list.Freeze()
		scope := map[string]Value{"xs": list, "k": randomValue(rng)}
		fn, err := in.Eval(ctx, ParseCell("f.sp", 1, "f = lambda x: "+body), map[string]Value{"k": scope["k"]})
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if lambdaFormula(fn) != nil {
			formulas++
		}
		mapped, merr := in.Eval(ctx, ParseCell("f.sp", 2, "y = pmap(lambda x: "+body+", xs)"), scope)
		// Each element called alone: its value, or its error.
		var called []string
		var failed []string
		for _, v := range xs {
			y, err := in.Call(ctx, fn, v)
			if err != nil {
				failed = append(failed, err.(*Error).Msg)
				continue
			}
			called = append(called, y.String())
		}
		switch {
		case merr == nil && len(failed) > 0:
			t.Fatalf("case %d: lambda x: %s over %v: pmap gives %v; calls fail: %q", i, body, list, mapped, failed)
		case merr != nil:
			// Chunks run at once, and pmap reports a failing one's error,
			// after where the chunk was.
			m := merr.(*Error).Msg
			if !slices.ContainsFunc(failed, func(c string) bool { return strings.HasSuffix(m, c) }) {
				t.Fatalf("case %d: lambda x: %s over %v: pmap fails with %q, calls with %q", i, body, list, m, failed)
			}
		case mapped.String() != "["+strings.Join(called, ", ")+"]":
			t.Fatalf("case %d: lambda x: %s over %v: pmap gives %v, calls give %v", i, body, list, mapped, called)
		}
	}
	if formulas < 200 {
		t.Fatalf("only %d of 300 lambdas were formulas", formulas)
	}
}

// lambdaNames matches the names a, b and c in a formula (not b"...").
var lambdaNames = regexp.MustCompile(`\b[abc]([^\w"]|$)`)

// A lambda that uses a global of its module, closes over a variable, has
// a default or takes a vec is called as usual.
func TestLambdaFormulaLimits(t *testing.T) {
	in := NewInterp("local")
	for _, tc := range []struct {
		src     string
		formula bool
	}{
		{"f = lambda x: x * 2 + 1", true},
		{"f = lambda x: x if x > 0 else -x", true},
		{"f = lambda x: len(x)", false},
		{"f = lambda x, y=1: x + y", false},
		{"f = (lambda n: lambda x: x + n)(3)", false},
		{"f = lambda x: f", false},
		{"f = lambda x: x + v", false},
	} {
		scope := map[string]Value{"v": NewIntVec([]int64{1, 2})}
		fn, err := in.Eval(context.Background(), ParseCell("f.sp", 1, tc.src), scope)
		if err != nil {
			t.Fatalf("%s: %v", tc.src, err)
		}
		if got := lambdaFormula(fn) != nil; got != tc.formula {
			t.Errorf("%s: formula %v, want %v", tc.src, got, tc.formula)
		}
	}
}

package lang

import (
	"context"
	"fmt"
	"sort"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// FuncCode is a function as code: the form in which a Starlark function value
// travels. It is enough to make an equivalent function in a fresh interpreter
// that shares nothing with the one the function came from.
type FuncCode struct {
	Name   string    // the function's name; "lambda" for a lambda
	Source string    // the text of its def statement or lambda expression
	Pos    Pos       // where Source starts, so errors point at the original text
	Self   string    // the name under which the function refers to itself; "" if it does not
	Scope  []Binding // the values it captures, sorted by name
}

// Binding is a name and its value.
type Binding struct {
	Name  string
	Value Value
}

// captureFunc returns fn as code: its source, found through the unit of the
// module it was compiled in, and its captured scope: the cells it uses (which
// its module got from the scope), the variables it closes over, and the
// module globals it uses other than itself. Builtins are not captured; the
// place that runs the function provides its own.
func captureFunc(fn *starlark.Function) (*FuncCode, error) {
	u, _ := fn.Module().Predeclared()[unitKey].(*unit)
	pos := fn.Position()
	var src *funcSource
	if u != nil {
		src = u.funcs[[2]int32{pos.Line, pos.Col}]
	}
	if src == nil {
		return nil, fmt.Errorf("cannot encode function %s (%s): its source is unknown", fn.Name(), pos)
	}
	fc := &FuncCode{Name: fn.Name(), Source: src.text, Pos: src.pos}
	captured := map[string]Value{}
	capture := func(name string, v Value) {
		if v == nil {
			return
		}
		if v == starlark.Value(fn) {
			fc.Self = name
			return
		}
		captured[name] = v
	}
	var globals starlark.StringDict
	for _, name := range src.refs {
		if u.scope[name] {
			capture(name, fn.Module().Predeclared()[name])
			continue
		}
		if globals == nil {
			globals = fn.Globals()
		}
		if v, ok := globals[name]; ok {
			capture(name, v)
		}
	}
	for i := 0; i < fn.NumFreeVars(); i++ {
		b, v := fn.FreeVar(i)
		capture(b.Name, v)
	}
	for name, v := range captured {
		fc.Scope = append(fc.Scope, Binding{Name: name, Value: v})
	}
	sort.Slice(fc.Scope, func(i, j int) bool { return fc.Scope[i].Name < fc.Scope[j].Name })
	return fc, nil
}

// makeFunc makes the function that fc describes in interpreter in: it
// compiles fc.Source as a module whose predeclared names are fc's scope and
// in's builtins, so the function's positions are those of its original text.
func (in *Interp) makeFunc(fc *FuncCode) (Value, error) {
	fail := func(err error) (Value, error) {
		return nil, fmt.Errorf("decode function %s: %w", fc.Name, err)
	}
	f, err := fileOptions.Parse(fc.Pos.File, syntax.FilePortion{Content: []byte(fc.Source), FirstLine: int32(fc.Pos.Line), FirstCol: int32(fc.Pos.Col)}, 0)
	if err != nil {
		return fail(convertError(err))
	}
	if len(f.Stmts) != 1 {
		return fail(fmt.Errorf("source is %d statements, want one def or lambda", len(f.Stmts)))
	}
	name := fc.Self
	switch s := f.Stmts[0].(type) {
	case *syntax.DefStmt:
		if s.Name.Name != fc.Name {
			return fail(fmt.Errorf("source defines %s", s.Name.Name))
		}
		if fc.Self != "" && fc.Self != fc.Name {
			// The function refers to itself by another name: bind it too.
			f.Stmts = append(f.Stmts, &syntax.AssignStmt{Op: syntax.EQ, LHS: &syntax.Ident{Name: fc.Self}, RHS: &syntax.Ident{Name: fc.Name}})
		}
		name = fc.Name
	case *syntax.ExprStmt:
		lambda, ok := s.X.(*syntax.LambdaExpr)
		if !ok {
			return fail(fmt.Errorf("source is not a def or a lambda"))
		}
		if name == "" {
			name = "_lambda"
		}
		f.Stmts[0] = &syntax.AssignStmt{OpPos: lambda.Lambda, Op: syntax.EQ, LHS: &syntax.Ident{NamePos: lambda.Lambda, Name: name}, RHS: lambda}
	default:
		return fail(fmt.Errorf("source is not a def or a lambda"))
	}
	scope := make(map[string]bool, len(fc.Scope))
	env := make(starlark.StringDict, len(fc.Scope)+8)
	for _, b := range fc.Scope {
		scope[b.Name] = true
		env[b.Name] = b.Value
	}
	prog, u, err := in.compileFile(f, fc.Source, fc.Pos, scope)
	if err != nil {
		return fail(err)
	}
	env[unitKey], env[repeatKey] = u, repeatGuard
	for name, v := range in.builtinDict() {
		if !scope[name] {
			env[name] = v
		}
	}
	globals, err := in.run(context.Background(), fc.Name, func(thread *starlark.Thread) (starlark.StringDict, error) {
		return prog.Init(thread, env)
	})
	if err != nil {
		return fail(err)
	}
	v := globals[name]
	v.Freeze()
	return v, nil
}

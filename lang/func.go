package lang

import (
	"errors"

	"go.starlark.net/starlark"
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

// captureFunc returns fn as code. TODO: implemented in the next step.
func captureFunc(fn *starlark.Function) (*FuncCode, error) {
	return nil, errors.New("cannot encode function " + fn.Name() + ": not implemented")
}

// makeFunc makes a function from its code in interpreter in.
func (in *Interp) makeFunc(fc *FuncCode) (Value, error) {
	return nil, errors.New("cannot decode function " + fc.Name + ": not implemented")
}

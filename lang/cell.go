package lang

import (
	"fmt"
	"sync/atomic"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// Value is a Starlark value: the value of a cell.
type Value = starlark.Value

// Kind says what a cell defines.
type Kind int

const (
	ValueCell Kind = iota // name = expr
	FuncCell              // def name(params): ...
	AnonCell              // a bare expression, named _1, _2, ...
)

func (k Kind) String() string {
	switch k {
	case ValueCell:
		return "value"
	case FuncCell:
		return "def"
	case AnonCell:
		return "anonymous"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Pos is a position in a source file. Line and Col are 1-based; Col counts runes.
type Pos struct {
	File string
	Line int
	Col  int
}

func (p Pos) String() string {
	if p.Col == 0 {
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Error is an error in a cell's code: a syntax error, an undefined name, or an
// error raised while evaluating. It prints as "file:line:col: message".
type Error struct {
	Pos       Pos
	Msg       string
	Backtrace string // the Starlark call stack of a runtime error, "" otherwise

	cause error // what Unwrap returns: context.Canceled for a cancelled evaluation
}

func (e *Error) Error() string {
	if e.Pos.File == "" {
		return e.Msg
	}
	return e.Pos.String() + ": " + e.Msg
}

// Unwrap returns the error that caused e, if any.
func (e *Error) Unwrap() error { return e.cause }

// Cell is one parsed cell of a workspace. A Cell is immutable once parsed and
// safe to share between goroutines.
type Cell struct {
	Name     string   // the name the cell defines; "_1", "_2", ... for anonymous cells
	Kind     Kind     // value, function or anonymous
	Remote   bool     // written "name = remote ..." or "name = remote@sel ...": evaluated on a server
	Pinned   bool     // written "remote def f(...)": defined here, every call of f runs on a server
	Selector []string // the names or tags after "remote@", all of which a server must match
	Source   string   // the cell's text exactly as written
	Pos      Pos      // where the cell starts
	Free     []string // free names the cell's code uses (other cells and builtins), sorted
	Err      error    // non-nil if the cell cannot run: a syntax error (*Error)

	code    string                      // the Starlark code: Source with "remote@sel" blanked or removed
	codeCol int                         // the column at which code starts
	prog    atomic.Pointer[compiled]    // compiled code, cached for the last scope seen (see compile)
	parsed  atomic.Pointer[syntax.File] // code as ParseCell parsed it, for the first compile to take
}

// Deps returns the free names of c that are names in isCell: the cells it depends on.
func (c *Cell) Deps(isCell func(string) bool) []string {
	var deps []string
	for _, name := range c.Free {
		if name != c.Name && isCell(name) {
			deps = append(deps, name)
		}
	}
	return deps
}

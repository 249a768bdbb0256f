package lang

import (
	"fmt"
	"math"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// Values built in one step.
//
// The interpreter notices that it is stopped only between two steps, and
// one step can build a value of gigabytes: list(range(n)) is one call, and
// l * n one operator. So the steps that build a value whose size is known
// beforehand check it first, against the memory limit (overMemory): the
// builtins that make a sequence of an iterable of known length (list,
// tuple, reversed, enumerate, zip, set, dict, bytes; sorted in native.go),
// and the repetitions seq * n and n * seq (repetitions of a literal:
// repeatGuard; of anything else: repeatOperand). A refused step is an
// error that says
// what it would have taken; an allowed one of some size is counted
// against its evaluation (countAlloc), so that the memory watch stops the
// evaluation that built the most rather than the oldest.
//
// A repetition is one operator, which Starlark runs without the thread:
// to see its operands before it runs, the compiler rewrites the right
// operand y of a * y (and of a *= y) to repeat*[y], an index of the guard
// (see guardValue.Get): an int or a sequence comes back wrapped, for
// which the operator calls the wrapper's Binary, which checks the size
// and repeats; anything else comes back as it is. A * whose operands
// cannot be a sequence and an int (numbers by their syntax: 2 * x + 1 is
// not rewritten, nor x * 2, x * 0.5, (a - b) * (c + 1.0)) stays as it is.
// Where it is, the wrapper costs about 20 ns a multiplication (two more
// steps, and Starlark's slower path for an int): see BenchmarkMulLoop.
// The formula path (formula.go) checks its repetitions as the wrapper
// does, with the same message, at the cost of a type switch.
//
// An operator has no thread, hence no Interp: a repetition of a variable
// is checked against the lowest limit of the evaluations running now
// (processLimit). Other steps whose result can be much larger than their
// operands are not checked: s + s (twice its operands), l.extend(range(n))
// and l += range(n), sep.join(l), s.replace(a, b), json.indent; nor
// comprehensions, which take a step per element and are stopped by the
// watch.

// countFrom is the size from which an allocation checked here is counted
// against its evaluation (countAlloc): below it, counting would cost more
// than it tells.
const countFrom = 64 << 10

// sized describes a builtin that makes a sequence of an iterable of known
// length: each is how many bytes an element of its result takes, about.
type sized struct {
	name string
	each func(args starlark.Tuple) (n uint64, each uint64, ok bool)
}

// elemSize is the bytes of one element of a list or tuple: a Starlark
// value (an interface).
const elemSize = 16

// sizedBuiltins are the builtins whose result is checked before they run,
// by the element count of their first argument.
var sizedBuiltins = []sized{
	{"list", firstArg(elemSize)},
	{"tuple", firstArg(elemSize)},
	{"reversed", firstArg(elemSize)},
	{"enumerate", firstArg(elemSize + 24 + 2*elemSize)}, // a pair: its slot, header and elements
	{"set", firstArg(64)},                               // a hash table entry
	{"dict", firstArg(64)},
	{"bytes", func(args starlark.Tuple) (uint64, uint64, bool) {
		if len(args) == 1 {
			switch args[0].(type) {
			case starlark.String, starlark.Bytes:
				return 0, 0, false
			}
		}
		return firstArg(1)(args)
	}},
	{"zip", func(args starlark.Tuple) (uint64, uint64, bool) {
		if len(args) == 0 {
			return 0, 0, false
		}
		rows := uint64(math.MaxUint64)
		for _, a := range args {
			n, _, ok := firstArg(0)(starlark.Tuple{a})
			if !ok {
				return 0, 0, false
			}
			rows = min(rows, n)
		}
		return rows, elemSize + 24 + elemSize*uint64(len(args)), true
	}},
}

// firstArg returns the element count of the first argument, if it is an
// iterable of known length, and each.
func firstArg(each uint64) func(args starlark.Tuple) (uint64, uint64, bool) {
	return func(args starlark.Tuple) (uint64, uint64, bool) {
		if len(args) == 0 {
			return 0, 0, false
		}
		if _, ok := args[0].(starlark.Iterable); !ok {
			return 0, 0, false
		}
		n := starlark.Len(args[0])
		if n < 0 {
			return 0, 0, false
		}
		e := each
		switch args[0].Type() {
		case "string.elems", "string.codepoints", "bytes.elems":
			e += 16 // each element is a new string or int
		}
		return uint64(n), e, true
	}
}

// guardedBuiltins are sized builtins of the same names, which check the
// size of their result before they call the builtin of that name they
// guard (Starlark's, or sperse's: see native.go).
var guardedBuiltins = map[string]*starlark.Builtin{}

func init() {
	for _, s := range sizedBuiltins {
		guardedBuiltins[s.name] = starlark.NewBuiltin(s.name, func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			if n, each, ok := s.each(args); ok {
				if err := checkSized(thread, s.name, n, each); err != nil {
					return nil, err
				}
			}
			return starlark.Universe[s.name].(*starlark.Builtin).CallInternal(thread, args, kwargs)
		})
	}
	for name, b := range guardedBuiltins {
		builtins[name] = b
	}
}

// checkSized returns an error if the result of the builtin fname, of n
// elements of each bytes, would take the process over the limit of the
// evaluation running in thread, and counts it against the evaluation
// otherwise.
func checkSized(thread *starlark.Thread, fname string, n, each uint64) error {
	need := n * each
	if each != 0 && n > math.MaxUint64/each {
		need = math.MaxUint64
	}
	if need < countFrom {
		return nil
	}
	limit := state(thread).in.maxMemory()
	if limit == math.MaxUint64 {
		return nil
	}
	if need >= repeatCheck {
		if over, inUse := overMemory(need, limit); over {
			return fmt.Errorf("%s: %d elements would take %s%s: the memory limit is %s for all evaluations in this process",
				fname, n, sizeString(need), inUse, sizeString(limit))
		}
	}
	countAlloc(thread, need)
	return nil
}

// guardValue is the guard of repetitions, under the name repeatKey: a
// call checks the count of a repetition of a literal (repeatGuard's
// function), an index wraps an operand of * (Get).
type guardValue struct{ *starlark.Builtin }

// Get returns an int or a sequence operand of * wrapped, so that the
// operator calls the wrapper's Binary, and anything else as it is.
func (g guardValue) Get(k starlark.Value) (starlark.Value, bool, error) {
	switch k := k.(type) {
	case starlark.Int:
		return intOperand{k}, true, nil
	case starlark.String, starlark.Bytes, *starlark.List, starlark.Tuple:
		return &seqOperand{k}, true, nil
	}
	return k, true, nil
}

// intOperand and seqOperand are an operand of * wrapped by the guard.
// They take part in that one operation and are never seen by code.
type (
	intOperand struct{ v starlark.Int }
	seqOperand struct{ v starlark.Value }
)

func (o intOperand) String() string        { return o.v.String() }
func (o intOperand) Type() string          { return o.v.Type() }
func (o intOperand) Freeze()               {}
func (o intOperand) Truth() starlark.Bool  { return o.v.Truth() }
func (o intOperand) Hash() (uint32, error) { return o.v.Hash() }

func (o *seqOperand) String() string        { return o.v.String() }
func (o *seqOperand) Type() string          { return o.v.Type() }
func (o *seqOperand) Freeze()               {}
func (o *seqOperand) Truth() starlark.Bool  { return o.v.Truth() }
func (o *seqOperand) Hash() (uint32, error) { return o.v.Hash() }

// Binary is x * y with y the int: the product of two ints at once, a
// repetition after its check.
func (o intOperand) Binary(op syntax.Token, x starlark.Value, side starlark.Side) (starlark.Value, error) {
	if side == starlark.Left {
		return repeatOrBinary(op, o.v, x)
	}
	if i, ok := x.(starlark.Int); ok && op == syntax.STAR {
		return i.Mul(o.v), nil
	}
	return repeatOrBinary(op, x, o.v)
}

func (o *seqOperand) Binary(op syntax.Token, x starlark.Value, side starlark.Side) (starlark.Value, error) {
	if side == starlark.Left {
		return repeatOrBinary(op, o.v, x)
	}
	return repeatOrBinary(op, x, o.v)
}

// repeatOrBinary is x op y, checked first if it is a repetition.
func repeatOrBinary(op syntax.Token, x, y starlark.Value) (starlark.Value, error) {
	if op == syntax.STAR {
		if err := checkRepeat(x, y); err != nil {
			return nil, err
		}
	}
	return starlark.Binary(op, x, y)
}

// checkRepeat returns an error if x * y is a repetition that would take
// the process over its memory limit (processLimit). It is cheap if it is
// not a repetition.
func checkRepeat(x, y starlark.Value) error {
	var seq starlark.Value
	var count starlark.Int
	switch a := x.(type) {
	case starlark.Int:
		count, seq = a, y
	case starlark.String, starlark.Bytes, *starlark.List, starlark.Tuple:
		c, ok := y.(starlark.Int)
		if !ok {
			return nil
		}
		count, seq = c, a
	default:
		return nil
	}
	var length int
	kind, each := "", uint64(1)
	switch s := seq.(type) {
	case starlark.String:
		length, kind = len(s), "string"
	case starlark.Bytes:
		length, kind = len(s), "bytes value"
	case *starlark.List:
		length, kind, each = s.Len(), "list", elemSize
	case starlark.Tuple:
		length, kind, each = len(s), "tuple", elemSize
	default:
		return nil
	}
	times, ok := count.Uint64()
	if !ok || times > 1<<31 || length == 0 {
		return nil // none, or more than Starlark allows: it says so
	}
	elems := times * uint64(length)
	need := elems * each
	if need < repeatCheck {
		return nil
	}
	limit := processLimit()
	if limit == math.MaxUint64 {
		return nil
	}
	what := "bytes"
	if each != 1 {
		what = "elements"
	}
	if over, inUse := overMemory(need, limit); over {
		return fmt.Errorf("a %s of %d %s would take %s%s: the memory limit is %s for all evaluations in this process",
			kind, elems, what, sizeString(need), inUse, sizeString(limit))
	}
	return nil
}

// guardOperands rewrites a * y to a * repeat*[y] and a *= y to
// a *= repeat*[y] where the operands may be a sequence and an int.
// Repetitions of literals are left to guardCount.
func guardOperands(n syntax.Node) {
	switch n := n.(type) {
	case *syntax.BinaryExpr:
		if n.Op == syntax.STAR && mayRepeat(n.X, n.Y) {
			n.Y = guardOperand(n.Y)
		}
	case *syntax.AssignStmt:
		if n.Op == syntax.STAR_EQ && !numberLiteral(n.RHS) {
			n.RHS = guardOperand(n.RHS)
		}
	}
}

// guardOperand returns repeat*[e], with e's span.
func guardOperand(e syntax.Expr) syntax.Expr {
	start, end := e.Span() // an index ends at its Rbrack
	return &syntax.IndexExpr{X: &syntax.Ident{NamePos: start, Name: repeatKey}, Lbrack: start, Y: e, Rbrack: end}
}

// mayRepeat reports whether x * y may be a repetition that takes more
// than twice the memory of its operands: whether one operand may be a
// sequence and the other an int that is not a literal of at most 2,
// judging by their syntax only (names may be anything).
func mayRepeat(x, y syntax.Expr) bool {
	if n, _ := literalSeq(x); n > 0 {
		return false // guardCount's
	}
	if n, _ := literalSeq(y); n > 0 {
		return false
	}
	if numberLiteral(x) || numberLiteral(y) {
		return false
	}
	return !numeric(x) || !numeric(y)
}

// numberLiteral reports whether e is a float literal (never a count), or
// an int literal of at most 2 (a repetition no larger than s + s), or
// minus a number literal.
func numberLiteral(e syntax.Expr) bool {
	switch e := e.(type) {
	case *syntax.ParenExpr:
		return numberLiteral(e.X)
	case *syntax.UnaryExpr:
		if e.Op == syntax.MINUS {
			if l, ok := e.X.(*syntax.Literal); ok && (l.Token == syntax.INT || l.Token == syntax.FLOAT) {
				return true
			}
		}
	case *syntax.Literal:
		switch v := e.Value.(type) {
		case float64:
			return true
		case int64:
			return v <= 2
		}
	}
	return false
}

// numeric reports whether e is never a sequence, by its syntax: a number
// literal, an operator whose result is a number, a bool, a set or a dict
// (-x, a / b, a < b, ...), a sum with such an operand (x + 1), or an
// operator that is numeric if its operands are.
func numeric(e syntax.Expr) bool {
	switch e := e.(type) {
	case *syntax.ParenExpr:
		return numeric(e.X)
	case *syntax.Literal:
		return e.Token == syntax.INT || e.Token == syntax.FLOAT
	case *syntax.UnaryExpr:
		return e.Op == syntax.MINUS || e.Op == syntax.PLUS || e.Op == syntax.TILDE || e.Op == syntax.NOT
	case *syntax.BinaryExpr:
		switch e.Op {
		case syntax.MINUS, syntax.SLASH, syntax.SLASHSLASH, syntax.AMP, syntax.PIPE, syntax.CIRCUMFLEX,
			syntax.LTLT, syntax.GTGT, syntax.EQL, syntax.NEQ, syntax.LT, syntax.GT, syntax.LE, syntax.GE,
			syntax.IN, syntax.NOT_IN:
			return true
		case syntax.PERCENT:
			return numeric(e.X)
		case syntax.PLUS:
			// Sequences add only to sequences of their type.
			return numeric(e.X) || numeric(e.Y)
		case syntax.STAR, syntax.AND, syntax.OR:
			return numeric(e.X) && numeric(e.Y)
		}
	case *syntax.CondExpr:
		return numeric(e.True) && numeric(e.False)
	}
	return false
}

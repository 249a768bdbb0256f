package lang

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.starlark.net/starlark"
)

// encoder appends the encoding of values to buf (see Encode).
type encoder struct {
	buf     []byte
	nesting int                                         // containers entered
	capture func(*starlark.Function) (*FuncCode, error) // captureFunc, or a stand-in in tests
	active  []*starlark.Function                        // functions being encoded, outermost first
}

// value appends the encoding of v.
func (e *encoder) value(v Value) *EncodeError {
	switch x := v.(type) {
	case starlark.Int:
		e.int(x)
	case starlark.String:
		e.string(string(x))
	case starlark.Float:
		e.float(float64(x))
	case starlark.NoneType:
		e.buf = append(e.buf, itemNull)
	case starlark.Bool:
		e.bool(bool(x))
	case starlark.Bytes:
		e.head(majorBytes, uint64(len(x)))
		e.buf = append(e.buf, x...)
	case *starlark.List:
		return e.list(x)
	case starlark.Tuple:
		return e.tuple(x)
	case *starlark.Dict:
		return e.dict(x)
	case *starlark.Set:
		return e.set(x)
	case *starlark.Function:
		return e.function(x)
	case *Vec:
		e.vec(x)
	case *Pinned:
		e.head(majorTag, tagPinned)
		e.head(majorArray, uint64(1+len(x.Selector)))
		if err := e.function(x.Fn); err != nil {
			return err
		}
		for _, s := range x.Selector {
			e.string(s)
		}
	case nil:
		return &EncodeError{Type: "nil", Repr: "nil", Err: errors.New("not a Starlark value")}
	default:
		if name, ok := builtinName(v); ok {
			e.head(majorTag, tagBuiltin)
			e.string(name)
			return nil
		}
		if r, ok := asRange(v); ok {
			return e.rangeValue(v, int64(r.start), int64(r.stop), int64(r.step))
		}
		return &EncodeError{Type: v.Type(), Repr: reprForError(v)}
	}
	return nil
}

// head appends the head of an item of type major with argument n.
func (e *encoder) head(major byte, n uint64) { e.buf = appendHead(e.buf, major, n) }

// appendHead appends the head of an item of type major with argument n, in
// its shortest form.
func appendHead(buf []byte, major byte, n uint64) []byte {
	switch {
	case n < 24:
		return append(buf, major|byte(n))
	case n <= math.MaxUint8:
		return append(buf, major|24, byte(n))
	case n <= math.MaxUint16:
		return append(buf, major|25, byte(n>>8), byte(n))
	case n <= math.MaxUint32:
		return append(buf, major|26, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return binary.BigEndian.AppendUint64(append(buf, major|27), n)
}

// appendInt64 appends n as major type 0 or 1.
func appendInt64(buf []byte, n int64) []byte {
	if n >= 0 {
		return appendHead(buf, majorUint, uint64(n))
	}
	return appendHead(buf, majorNegInt, uint64(-1-n))
}

func (e *encoder) bool(b bool) {
	if b {
		e.buf = append(e.buf, itemTrue)
	} else {
		e.buf = append(e.buf, itemFalse)
	}
}

// int64 appends n as major type 0 or 1.
func (e *encoder) int64(n int64) { e.buf = appendInt64(e.buf, n) }

// int appends x as major type 0 or 1 if it fits, else as a bignum.
func (e *encoder) int(x starlark.Int) {
	if n, ok := x.Int64(); ok {
		e.int64(n)
		return
	}
	if n, ok := x.Uint64(); ok {
		e.head(majorUint, n)
		return
	}
	b := x.BigInt()
	major, tag := majorUint, uint64(tagPosBignum)
	if b.Sign() < 0 {
		b.Not(b) // -1-b, the argument of a negative integer
		major, tag = majorNegInt, tagNegBignum
	}
	if b.IsUint64() { // a negative int down to -(1<<64)
		e.head(major, b.Uint64())
		return
	}
	e.head(majorTag, tag)
	e.bigMagnitude(b)
}

// bigMagnitude appends the magnitude of b as a byte string, big-endian, with no leading zeros.
func (e *encoder) bigMagnitude(b *big.Int) {
	n := (b.BitLen() + 7) / 8
	e.head(majorBytes, uint64(n))
	start := len(e.buf)
	e.buf = slices.Grow(e.buf, n)[:start+n]
	b.FillBytes(e.buf[start:])
}

// float appends f in the 8-byte form.
func (e *encoder) float(f float64) {
	bits := math.Float64bits(f)
	if f != f {
		bits = canonicalNaN
	}
	e.buf = binary.BigEndian.AppendUint64(append(e.buf, itemFloat64), bits)
}

// string appends s as a text string, or as a tagged byte string if it is not valid UTF-8.
func (e *encoder) string(s string) {
	if utf8.ValidString(s) {
		e.head(majorText, uint64(len(s)))
	} else {
		e.head(majorTag, tagRawString)
		e.head(majorBytes, uint64(len(s)))
	}
	e.buf = append(e.buf, s...)
}

// enter notes that a container is being encoded, failing if that is too deep.
func (e *encoder) enter(v Value) *EncodeError {
	e.nesting++
	if e.nesting > DefaultMaxNesting {
		return &EncodeError{Type: v.Type(), Repr: reprForError(v),
			Err: fmt.Errorf("nested deeper than %d levels (does it contain itself?)", DefaultMaxNesting)}
	}
	return nil
}

func (e *encoder) leave() { e.nesting-- }

func (e *encoder) list(l *starlark.List) *EncodeError {
	if err := e.enter(l); err != nil {
		return err
	}
	defer e.leave()
	n := l.Len()
	e.head(majorArray, uint64(n))
	start := len(e.buf)
	// buf is e.buf, kept in a local while ints are appended on a short path.
	buf := slices.Grow(e.buf, n) // at least a byte each
	for i := range n {
		if cap(buf)-len(buf) < maxReservePerElem {
			buf = reserveElems(buf, start, i, n)
		}
		x := l.Index(i)
		if k, ok := x.(starlark.Int); ok { // the commonest element
			if small, ok := k.Int64(); ok {
				buf = appendInt64(buf, small)
				continue
			}
		}
		e.buf = buf
		if err := e.value(x); err != nil {
			return err.in("[" + strconv.Itoa(i) + "]")
		}
		buf = e.buf
	}
	e.buf = buf
	return nil
}

// reserveElems grows buf for the elements i..n-1 of a container whose first
// elements, from start on, are encoded: it guesses that the rest are as long
// as those, so that a large list of small items grows buf once or twice, not
// tens of times. The guess is capped at maxReservePerElem bytes an element
// (larger elements grow buf by themselves), so that one large element first
// does not reserve room for many.
func reserveElems(buf []byte, start, i, n int) []byte {
	perElem := maxReservePerElem
	if i > 0 {
		perElem = min((len(buf)-start)/i+1, maxReservePerElem)
	}
	return slices.Grow(buf, (n-i)*perElem)
}

// maxReservePerElem bounds the guess of reserveElems: 9 bytes is the longest int head.
const maxReservePerElem = 9

func (e *encoder) tuple(t starlark.Tuple) *EncodeError {
	if err := e.enter(t); err != nil {
		return err
	}
	defer e.leave()
	e.head(majorTag, tagTuple)
	e.head(majorArray, uint64(len(t)))
	for i, x := range t {
		if err := e.value(x); err != nil {
			return err.in("[" + strconv.Itoa(i) + "]")
		}
	}
	return nil
}

// dict appends d in insertion order. It uses Items, which, unlike
// Entries, does not mark an unfrozen dict as being iterated.
func (e *encoder) dict(d *starlark.Dict) *EncodeError {
	if err := e.enter(d); err != nil {
		return err
	}
	defer e.leave()
	items := d.Items()
	e.head(majorTag, tagDict)
	e.head(majorArray, 2*uint64(len(items)))
	for i, kv := range items {
		if err := e.value(kv[0]); err != nil {
			return err.in(".keys()[" + strconv.Itoa(i) + "]")
		}
		if err := e.value(kv[1]); err != nil {
			return err.in("[" + cutRepr(kv[0].String()) + "]")
		}
	}
	return nil
}

func (e *encoder) set(s *starlark.Set) *EncodeError {
	if err := e.enter(s); err != nil {
		return err
	}
	defer e.leave()
	e.head(majorTag, tagSet)
	e.head(majorArray, uint64(s.Len()))
	i := 0
	for x := range s.Elements() {
		if err := e.value(x); err != nil {
			return err.in(".elems()[" + strconv.Itoa(i) + "]")
		}
		i++
	}
	return nil
}

func (e *encoder) rangeValue(v Value, start, stop, step int64) *EncodeError {
	if err := e.enter(v); err != nil {
		return err
	}
	defer e.leave()
	e.head(majorTag, tagRange)
	e.head(majorArray, 3)
	e.int64(start)
	e.int64(stop)
	e.int64(step)
	return nil
}

// function appends fn as code: see FuncCode.
func (e *encoder) function(fn *starlark.Function) *EncodeError {
	if i := slices.Index(e.active, fn); i >= 0 {
		var through []string
		for _, g := range e.active[i+1:] {
			through = append(through, g.Name())
		}
		reason := "it refers to itself through " + strings.Join(through, ", ")
		if len(through) == 0 {
			reason = "it refers to itself" // under a name other than its own
		}
		return &EncodeError{Type: fn.Type(), Repr: reprForError(fn), Err: errors.New(reason)}
	}
	if err := e.enter(fn); err != nil {
		return err
	}
	defer e.leave()
	fc, err := e.capture(fn)
	if err != nil {
		return &EncodeError{Type: fn.Type(), Repr: reprForError(fn), Err: err}
	}
	e.active = append(e.active, fn)
	defer func() { e.active = e.active[:len(e.active)-1] }()
	return e.funcCode(fc)
}

// funcCode appends fc as [name, source, file, line, col, self, scope].
func (e *encoder) funcCode(fc *FuncCode) *EncodeError {
	scope := fc.Scope
	if !slices.IsSortedFunc(scope, compareBindings) {
		scope = slices.SortedFunc(slices.Values(scope), compareBindings)
	}
	e.head(majorTag, tagFunc)
	e.head(majorArray, 7)
	e.string(fc.Name)
	e.string(fc.Source)
	e.string(fc.Pos.File)
	e.int64(int64(fc.Pos.Line))
	e.int64(int64(fc.Pos.Col))
	e.string(fc.Self)
	e.head(majorArray, 2*uint64(len(scope)))
	for i, b := range scope {
		if i > 0 && scope[i-1].Name == b.Name {
			return &EncodeError{Type: "function", Repr: "<function " + fc.Name + ">",
				Err: fmt.Errorf("it captures %s twice", b.Name)}
		}
		e.string(b.Name)
		if err := e.value(b.Value); err != nil {
			return err.in("." + b.Name)
		}
	}
	return nil
}

// compareBindings orders bindings by name.
func compareBindings(a, b Binding) int { return strings.Compare(a.Name, b.Name) }

package lang

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// Vec is a value of type "vec": an immutable array of 64-bit ints, floats
// (float64) or bools, made by the vec module (vec.arange, vec.array, ...)
// and worked on element by element in Go rather than by the interpreter.
//
// A vec is a sequence like a tuple: len, iteration, v[i], v[i:j:k], x in v,
// == (element by element, as for lists: vec([1]) == vec([1.0])), truth (not
// empty); it is not hashable. Unlike a list, its arithmetic operators work
// element by element, with a vec of the same length or a number: v + w,
// v * 2, 1 / v, v // 3, v % 3, -v; & | ^ ~ on bools (and, or, xor, not) and
// on ints (bitwise). Each element's result is exactly what the operator
// gives on the two elements as Starlark values (int / int is a float, x / 0
// an error), except that an int result must fit in 64 bits: one that does
// not is an error naming the element, never a wrong number. Ordered
// comparisons (<, <=, ...) of vecs are errors: vec.lt(v, w) and its kin
// give a bool vec, which selects elements as an index: v[vec.gt(v, 0)].
// An int vec indexes too: v[vec.array([2, 0])] is vec([v[2], v[0]]).
//
// A Vec is safe for concurrent use. Slicing with step 1 shares the
// elements; so do the chunks SplitItems makes.
type Vec struct {
	kind   vecKind
	ints   []int64   // if kind is intVec
	floats []float64 // if kind is floatVec
	bools  []bool    // if kind is boolVec
	meter  *meter    // what operators on it charge; nil for none (see meter.go)
}

// vecKind is the type of a vec's elements.
type vecKind uint8

const (
	intVec vecKind = iota
	floatVec
	boolVec
)

// String returns the kind's name, its dtype: "int", "float" or "bool".
func (k vecKind) String() string {
	return [...]string{"int", "float", "bool"}[k]
}

// article returns the kind's name after "a" or "an".
func (k vecKind) article() string {
	return [...]string{"an int", "a float", "a bool"}[k]
}

var (
	_ starlark.Sliceable  = (*Vec)(nil)
	_ starlark.Sequence   = (*Vec)(nil)
	_ starlark.Container  = (*Vec)(nil)
	_ starlark.Mapping    = (*Vec)(nil)
	_ starlark.Comparable = (*Vec)(nil)
	_ starlark.HasAttrs   = (*Vec)(nil)
	_ starlark.HasBinary  = (*Vec)(nil)
	_ starlark.HasUnary   = (*Vec)(nil)
	_ starlark.Iterable   = (*Vec)(nil)
	_ starlark.Value      = (*Vec)(nil)
)

// NewIntVec returns a vec of the ints xs. The vec owns xs: the caller must
// not change it afterwards.
func NewIntVec(xs []int64) *Vec { return &Vec{kind: intVec, ints: xs} }

// NewFloatVec returns a vec of the floats xs, which it owns.
func NewFloatVec(xs []float64) *Vec { return &Vec{kind: floatVec, floats: xs} }

// NewBoolVec returns a vec of the bools xs, which it owns.
func NewBoolVec(xs []bool) *Vec { return &Vec{kind: boolVec, bools: xs} }

// Len returns the number of elements.
func (v *Vec) Len() int {
	switch v.kind {
	case intVec:
		return len(v.ints)
	case floatVec:
		return len(v.floats)
	}
	return len(v.bools)
}

// Index returns element i as a Starlark value: an int, float or bool.
func (v *Vec) Index(i int) starlark.Value {
	switch v.kind {
	case intVec:
		return starlark.MakeInt64(v.ints[i])
	case floatVec:
		return starlark.Float(v.floats[i])
	}
	return starlark.Bool(v.bools[i])
}

// Type returns "vec".
func (v *Vec) Type() string { return "vec" }

// Freeze does nothing: a vec is immutable.
func (v *Vec) Freeze() {}

// Truth reports whether v has elements, as for a list.
func (v *Vec) Truth() starlark.Bool { return v.Len() > 0 }

// Hash fails: a vec is not hashable, like a list.
func (v *Vec) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable type: vec") }

// maxVecRepr is the most elements String shows; a longer vec shows its
// first and last three, and its length.
const maxVecRepr = 8

// String returns the vec's repr: vec([1, 2, 3]), vec([0.5, -1.0]),
// vec([], dtype="float"), or for a long one vec([0, 1, 2, ..., 97, 98, 99], len=100).
func (v *Vec) String() string {
	var b strings.Builder
	b.WriteString("vec([")
	n := v.Len()
	for i := 0; i < n; i++ {
		if n > maxVecRepr && i == 3 {
			b.WriteString(", ...")
			i = n - 3
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(v.Index(i).String())
	}
	b.WriteString("]")
	if n == 0 && v.kind != intVec {
		b.WriteString(`, dtype="` + v.kind.String() + `"`)
	}
	if n > maxVecRepr {
		b.WriteString(", len=" + strconv.Itoa(n))
	}
	b.WriteString(")")
	return b.String()
}

// Iterate returns an iterator over the elements.
func (v *Vec) Iterate() starlark.Iterator { return &vecIterator{v: v} }

type vecIterator struct {
	v *Vec
	i int
}

func (it *vecIterator) Next(p *starlark.Value) bool {
	if it.i >= it.v.Len() {
		return false
	}
	*p = it.v.Index(it.i)
	it.i++
	return true
}

func (it *vecIterator) Done() {}

// sub returns the elements i to j, sharing them.
func (v *Vec) sub(i, j int) *Vec {
	w := &Vec{kind: v.kind, meter: v.meter}
	switch v.kind {
	case intVec:
		w.ints = v.ints[i:j:j]
	case floatVec:
		w.floats = v.floats[i:j:j]
	default:
		w.bools = v.bools[i:j:j]
	}
	return w
}

// metered returns v charging m (see meter.go), sharing its elements.
func (v *Vec) metered(m *meter) *Vec {
	if v.meter == m {
		return v
	}
	w := *v
	w.meter = m
	return &w
}

// Slice implements v[start:end:step].
func (v *Vec) Slice(start, end, step int) starlark.Value {
	if step == 1 {
		return v.sub(start, end)
	}
	w := &Vec{kind: v.kind, meter: v.meter}
	switch v.kind {
	case intVec:
		w.ints = sliceStep(v.ints, start, end, step)
	case floatVec:
		w.floats = sliceStep(v.floats, start, end, step)
	default:
		w.bools = sliceStep(v.bools, start, end, step)
	}
	return w
}

// sliceStep returns the elements of xs from start towards end by step, as
// Sliceable.Slice gets them.
func sliceStep[T any](xs []T, start, end, step int) []T {
	var n int
	if step > 0 && end > start {
		n = (end - start + step - 1) / step
	} else if step < 0 && start > end {
		n = (start - end - step - 1) / -step
	}
	out := make([]T, n)
	for k, i := 0, start; k < n; k, i = k+1, i+step {
		out[k] = xs[i]
	}
	return out
}

// Has reports whether x equals an element (x in v).
func (v *Vec) Has(x starlark.Value) (bool, error) {
	for i := range v.Len() {
		if eq, err := starlark.Equal(v.Index(i), x); err != nil || eq {
			return eq, err
		}
	}
	return false, nil
}

// Get implements v[k]: k an int (negative counts from the end), a bool vec
// of v's length (the elements where it is True), or an int vec (the
// elements at those indices, in that order).
func (v *Vec) Get(k starlark.Value) (starlark.Value, bool, error) {
	n := v.Len()
	if k, ok := k.(*Vec); ok {
		v.meter.add(k.Len())
	}
	switch k := k.(type) {
	case starlark.Int:
		i, err := starlark.AsInt32(k)
		if err != nil {
			return nil, false, fmt.Errorf("vec index: %s", err)
		}
		j := i
		if j < 0 {
			j += n
		}
		if j < 0 || j >= n {
			if n == 0 {
				return nil, false, fmt.Errorf("index %d out of range: empty vec", i)
			}
			return nil, false, fmt.Errorf("vec index %d out of range [%d:%d]", i, -n, n-1)
		}
		return v.Index(j), true, nil
	case *Vec:
		switch k.kind {
		case boolVec:
			if len(k.bools) != n {
				return nil, false, fmt.Errorf("vec index: a mask of %d bools for a vec of %d elements", len(k.bools), n)
			}
			return v.gather(func(yield func(int) bool) {
				for i, b := range k.bools {
					if b && !yield(i) {
						return
					}
				}
			}), true, nil
		case intVec:
			for _, i := range k.ints {
				if i < int64(-n) || i >= int64(n) {
					return nil, false, fmt.Errorf("vec index %d out of range [%d:%d]", i, -n, n-1)
				}
			}
			return v.gather(func(yield func(int) bool) {
				for _, i := range k.ints {
					if i < 0 {
						i += int64(n)
					}
					if !yield(int(i)) {
						return
					}
				}
			}), true, nil
		}
	}
	return nil, false, fmt.Errorf("vec index: got %s, want int, or a vec of bools or ints", k.Type())
}

// gather returns the vec of v's elements at the indices given, which are
// in range.
func (v *Vec) gather(indices func(yield func(int) bool)) *Vec {
	w := &Vec{kind: v.kind, meter: v.meter}
	switch v.kind {
	case intVec:
		for i := range indices {
			w.ints = append(w.ints, v.ints[i])
		}
	case floatVec:
		for i := range indices {
			w.floats = append(w.floats, v.floats[i])
		}
	default:
		for i := range indices {
			w.bools = append(w.bools, v.bools[i])
		}
	}
	return w
}

// CompareSameType implements == and != (element by element, as for
// lists); ordered comparisons are errors that point to vec.lt and its kin.
func (v *Vec) CompareSameType(op syntax.Token, y starlark.Value, depth int) (bool, error) {
	w := y.(*Vec)
	switch op {
	case syntax.EQL:
		return v.equal(w), nil
	case syntax.NEQ:
		return !v.equal(w), nil
	}
	name := map[syntax.Token]string{syntax.LT: "lt", syntax.LE: "le", syntax.GT: "gt", syntax.GE: "ge"}[op]
	return false, fmt.Errorf("vec %s vec is not defined: vec.%s(v, w) compares element by element", op, name)
}

// equal reports whether v and w have equal elements, as == says of each pair.
func (v *Vec) equal(w *Vec) bool {
	n := v.Len()
	if w.Len() != n {
		return false
	}
	if v.kind == w.kind && v.kind != floatVec {
		if v.kind == intVec {
			return slices.Equal(v.ints, w.ints)
		}
		return slices.Equal(v.bools, w.bools)
	}
	if v.kind == boolVec || w.kind == boolVec {
		return n == 0 // a bool is never equal to a number
	}
	for i := range n {
		if compareNumbers(v, i, w, i) != 0 {
			return false
		}
	}
	return true
}

// compareNumbers compares element i of v with element j of w, numbers
// both, as Starlark does: exactly, with NaN above +inf and equal to itself.
func compareNumbers(v *Vec, i int, w *Vec, j int) int {
	switch {
	case v.kind == intVec && w.kind == intVec:
		return cmpInt(v.ints[i], w.ints[j])
	case v.kind == floatVec && w.kind == floatVec:
		return floatCmp(v.floats[i], w.floats[j])
	case v.kind == intVec:
		return cmpIntFloat(v.ints[i], w.floats[j])
	}
	return -cmpIntFloat(w.ints[j], v.floats[i])
}

func cmpInt(x, y int64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return +1
	}
	return 0
}

// floatCmp compares floats as Starlark does: totally ordered, with NaN
// above +inf and equal to itself, and -0.0 equal to 0.0.
func floatCmp(x, y float64) int {
	switch {
	case x > y:
		return +1
	case x < y:
		return -1
	case x == y:
		return 0
	case x == x: // y is NaN
		return -1
	case y == y: // x is NaN
		return +1
	}
	return 0
}

// cmpIntFloat compares the int i with the float f exactly, as Starlark
// does (not by converting i to a float, which rounds beyond 2**53).
func cmpIntFloat(i int64, f float64) int {
	switch {
	case f != f: // NaN is above every number
		return -1
	case f >= 0x1p63: // +inf included
		return -1
	case f < -0x1p63: // -inf included
		return +1
	}
	// -2**63 <= f < 2**63: its integer part is an int64.
	t := math.Trunc(f)
	if c := cmpInt(i, int64(t)); c != 0 {
		return c
	}
	return -floatCmp(f-t, 0) // i is t: compare with f's fraction
}

// vecAttrs are the names of a vec's fields and methods, sorted.
var vecAttrs = func() []string {
	names := []string{"dtype"}
	for name := range vecMethods {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}()

// Attr returns v.dtype ("int", "float" or "bool") or a method.
func (v *Vec) Attr(name string) (starlark.Value, error) {
	if name == "dtype" {
		return starlark.String(v.kind.String()), nil
	}
	if m, ok := vecMethods[name]; ok {
		return m.BindReceiver(v), nil
	}
	return nil, nil
}

// AttrNames returns the names of v's field and methods.
func (v *Vec) AttrNames() []string { return vecAttrs }

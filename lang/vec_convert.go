package lang

import (
	"fmt"
	"math"

	"go.starlark.net/starlark"
)

// Making vecs of Starlark values (vec.array), and converting a vec to
// another dtype: each element as int(), float() or bool() would convert
// it, an int that does not fit in 64 bits being an error.

// toVec returns the elements of xs as a vec, of kind if given, else of
// the kind they have (see the vec module).
func toVec(thread *starlark.Thread, fname string, xs starlark.Value, kind vecKind, given bool) (*Vec, error) {
	if v, ok := xs.(*Vec); ok {
		if !given || v.kind == kind {
			return v, nil
		}
		if err := begin(thread, fname, v.Len(), 8); err != nil {
			return nil, err
		}
		return v.convert(fname, kind)
	}
	if r, ok := asRange(xs); ok {
		n := rangeLen(r)
		if err := begin(thread, fname, n, 8); err != nil {
			return nil, err
		}
		ints := make([]int64, n)
		x := int64(r.start)
		for i := range ints {
			ints[i] = x
			x += int64(r.step) // past the last, it may wrap: it is not used
		}
		v := NewIntVec(ints)
		if given && kind != intVec {
			return v.convert(fname, kind)
		}
		return v, nil
	}
	var elems []starlark.Value
	switch x := xs.(type) {
	case *starlark.List:
		elems = make([]starlark.Value, x.Len())
		for i := range elems {
			elems[i] = x.Index(i)
		}
	case starlark.Tuple:
		elems = x
	case starlark.Iterable:
		it := x.Iterate()
		var e starlark.Value
		for it.Next(&e) {
			elems = append(elems, e)
		}
		it.Done()
	default:
		return nil, fmt.Errorf("%s: got %s, want a list, tuple, range, vec or other iterable", fname, xs.Type())
	}
	if err := begin(thread, fname, len(elems), 8); err != nil {
		return nil, err
	}
	if !given {
		var err error
		if kind, err = elemKind(fname, elems); err != nil {
			return nil, err
		}
	}
	return valuesVec(fname, elems, kind)
}

// elemKind returns the kind of a vec of elems, without conversion: bools
// make bools, ints ints, ints and floats floats.
func elemKind(fname string, elems []starlark.Value) (vecKind, error) {
	kind, seen := intVec, false
	for i, x := range elems {
		var k vecKind
		switch x.(type) {
		case starlark.Int:
			k = intVec
		case starlark.Float:
			k = floatVec
		case starlark.Bool:
			k = boolVec
		default:
			return 0, fmt.Errorf("%s: element %d is a %s: a vec holds ints, floats or bools", fname, i, x.Type())
		}
		switch {
		case !seen:
			kind, seen = k, true
		case k == kind:
		case k != boolVec && kind != boolVec:
			kind = floatVec
		default:
			return 0, fmt.Errorf(`%s: element %d is %s after %ss: give dtype="int", "float" or "bool" to convert`, fname, i, k.article(), kind)
		}
	}
	return kind, nil
}

// valuesVec returns the vec of elems converted to kind (see the vec module).
func valuesVec(fname string, elems []starlark.Value, kind vecKind) (*Vec, error) {
	v := &Vec{kind: kind}
	switch kind {
	case intVec:
		v.ints = make([]int64, len(elems))
	case floatVec:
		v.floats = make([]float64, len(elems))
	default:
		v.bools = make([]bool, len(elems))
	}
	for i, x := range elems {
		if err := v.setValue(i, x); err != nil {
			return nil, fmt.Errorf("%s: element %d: %v", fname, i, err)
		}
	}
	return v, nil
}

// setValue sets element i of v, which is being made, to x converted to v's
// kind as int(), float() or bool() convert it.
func (v *Vec) setValue(i int, x starlark.Value) error {
	switch v.kind {
	case intVec:
		switch x := x.(type) {
		case starlark.Int:
			n, ok := x.Int64()
			if !ok {
				return fmt.Errorf("%s does not fit in 64 bits: a vec holds 64-bit ints (a list holds any)", x)
			}
			v.ints[i] = n
			return nil
		case starlark.Float:
			n, err := floatToInt(float64(x))
			v.ints[i] = n
			return err
		case starlark.Bool:
			v.ints[i] = boolInt(bool(x))
			return nil
		}
	case floatVec:
		switch x := x.(type) {
		case starlark.Int:
			f := x.Float()
			if math.IsInf(float64(f), 0) {
				return fmt.Errorf("int too large to convert to float")
			}
			v.floats[i] = float64(f)
			return nil
		case starlark.Float:
			v.floats[i] = float64(x)
			return nil
		case starlark.Bool:
			v.floats[i] = float64(boolInt(bool(x)))
			return nil
		}
	default:
		switch x.(type) {
		case starlark.Int, starlark.Float, starlark.Bool:
			v.bools[i] = bool(x.Truth())
			return nil
		}
	}
	return fmt.Errorf("got %s, want int, float or bool", x.Type())
}

// floatToInt converts f as int(f) does (towards zero), to 64 bits.
func floatToInt(f float64) (int64, error) {
	if f != f || math.IsInf(f, 0) {
		return 0, fmt.Errorf("cannot convert float %s to integer", starlark.Float(f))
	}
	t := math.Trunc(f)
	if t < -0x1p63 || t >= 0x1p63 {
		return 0, fmt.Errorf("%s does not fit in 64 bits: a vec holds 64-bit ints (a list holds any)", starlark.Float(t))
	}
	return int64(t), nil
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// convert returns v's elements converted to kind (see setValue).
func (v *Vec) convert(fname string, kind vecKind) (*Vec, error) {
	w := &Vec{kind: kind, meter: v.meter}
	n := v.Len()
	switch kind {
	case intVec:
		w.ints = make([]int64, n)
	case floatVec:
		w.floats = make([]float64, n)
	default:
		w.bools = make([]bool, n)
	}
	for i := range n {
		var err error
		switch {
		case v.kind == intVec && kind == floatVec:
			w.floats[i] = float64(v.ints[i])
		case v.kind == intVec && kind == boolVec:
			w.bools[i] = v.ints[i] != 0
		case v.kind == floatVec && kind == intVec:
			w.ints[i], err = floatToInt(v.floats[i])
		case v.kind == floatVec && kind == boolVec:
			w.bools[i] = v.floats[i] != 0
		case v.kind == boolVec && kind == intVec:
			w.ints[i] = boolInt(v.bools[i])
		default: // bool to float
			w.floats[i] = float64(boolInt(v.bools[i]))
		}
		if err != nil {
			return nil, fmt.Errorf("%s: element %d: %v", fname, i, err)
		}
	}
	return w, nil
}

package lang

import (
	"slices"

	"go.starlark.net/starlark"
)

// Native paths of the builtins sum, min, max and sorted.
//
// Over a range, a vec, or a list or tuple of ints (of 64 bits) or floats,
// these builtins loop in Go over plain numbers instead of going through
// Starlark's generic operations value by value; a sum of a range is a
// formula. Their results are exactly those of the generic paths: the same
// type (int or float), exact ints however large (a sum of ints that passes
// 64 bits goes on in 128 bits, then in big ints), floats added from left
// to right as the interpreter adds them, so bit for bit the same, the same
// element returned by min and max (the first of equal ones), the same
// order of equal elements after sorted (-0.0 and 0.0). Anything else (a
// key=, mixed types, big ints in a list) goes the generic way: Starlark's
// own min, max and sorted, and + for sum.

// init makes sperse's min, max and sorted the builtins of those names.
func init() {
	for _, b := range []*starlark.Builtin{
		starlark.NewBuiltin("min", builtinMinMax),
		starlark.NewBuiltin("max", builtinMinMax),
		starlark.NewBuiltin("sorted", builtinSorted),
	} {
		builtins[b.Name()] = b
	}
}

// universe returns Starlark's builtin called name, which a sperse builtin
// of that name falls back on.
func universe(name string) *starlark.Builtin {
	return starlark.Universe[name].(*starlark.Builtin)
}

// builtinMinMax is min and max: Starlark's, with native paths for one
// argument that is a range, vec, or list or tuple of numbers of one kind.
func builtinMinMax(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if len(args) == 1 && len(kwargs) == 0 {
		isMax := b.Name() == "max"
		switch x := args[0].(type) {
		case *Vec:
			if x.Len() > 0 {
				if err := charge(thread, x.Len()); err != nil {
					return nil, err
				}
				return x.extremum(isMax), nil
			}
		case *starlark.List, starlark.Tuple:
			if v, ok := seqExtremum(x.(starlark.Indexable), isMax); ok {
				return v, nil
			}
		default:
			if r, ok := asRange(x); ok && rangeLen(r) > 0 {
				first, last := r.start, r.start+(rangeLen(r)-1)*r.step
				if (r.step > 0) == isMax {
					return starlark.MakeInt(last), nil
				}
				return starlark.MakeInt(first), nil
			}
		}
	}
	return universe(b.Name()).CallInternal(thread, args, kwargs)
}

// seqExtremum returns the first least (or greatest, if isMax) element of
// xs, if xs is not empty and holds only ints of 64 bits or only floats.
func seqExtremum(xs starlark.Indexable, isMax bool) (starlark.Value, bool) {
	n := xs.Len()
	if n == 0 {
		return nil, false
	}
	switch first := xs.Index(0).(type) {
	case starlark.Int:
		best, ok := first.Int64()
		if !ok {
			return nil, false
		}
		at := first
		for i := 1; i < n; i++ {
			x, ok := xs.Index(i).(starlark.Int)
			if !ok {
				return nil, false
			}
			k, ok := x.Int64()
			if !ok {
				return nil, false
			}
			if isMax && k > best || !isMax && k < best {
				best, at = k, x
			}
		}
		return at, true
	case starlark.Float:
		best := first
		for i := 1; i < n; i++ {
			x, ok := xs.Index(i).(starlark.Float)
			if !ok {
				return nil, false
			}
			c := floatCmp(float64(x), float64(best))
			if isMax && c > 0 || !isMax && c < 0 {
				best = x
			}
		}
		return best, true
	}
	return nil, false
}

// extremum returns the first least (or greatest, if isMax) element of v,
// which is not empty.
func (v *Vec) extremum(isMax bool) starlark.Value {
	switch v.kind {
	case intVec:
		best := v.ints[0]
		for _, x := range v.ints[1:] {
			if isMax && x > best || !isMax && x < best {
				best = x
			}
		}
		return starlark.MakeInt64(best)
	case floatVec:
		best := v.floats[0]
		for _, x := range v.floats[1:] {
			c := floatCmp(x, best)
			if isMax && c > 0 || !isMax && c < 0 {
				best = x
			}
		}
		return starlark.Float(best)
	}
	// False < True: the greatest is True if there is one, the least False.
	if isMax {
		return starlark.Bool(slices.Contains(v.bools, true))
	}
	return starlark.Bool(!slices.Contains(v.bools, false))
}

// builtinSorted is sorted: Starlark's, with native paths for a range, vec,
// or list or tuple of numbers of one kind, with no key.
func builtinSorted(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if n, each, ok := firstArg(elemSize)(args); ok { // see alloc.go
		if err := checkSized(thread, "sorted", n, each); err != nil {
			return nil, err
		}
	}
	if reverse, ok := reverseArg(kwargs); ok && len(args) == 1 {
		if v, ok := args[0].(*Vec); ok {
			if err := charge(thread, v.Len()); err != nil {
				return nil, err
			}
		}
		if v, ok := sortedList(args[0], reverse); ok {
			return v, nil
		}
	}
	return universe("sorted").CallInternal(thread, args, kwargs)
}

// reverseArg returns the value of reverse= if kwargs has it only, as a
// bool, or false if kwargs is empty.
func reverseArg(kwargs []starlark.Tuple) (reverse, ok bool) {
	switch {
	case len(kwargs) == 0:
		return false, true
	case len(kwargs) == 1 && kwargs[0][0] == starlark.String("reverse"):
		b, ok := kwargs[0][1].(starlark.Bool)
		return bool(b), ok
	}
	return false, false
}

// sortedList returns the list sorted(x, reverse=reverse), if x is a range,
// a vec, or a list or tuple of ints of 64 bits or of floats.
func sortedList(x starlark.Value, reverse bool) (*starlark.List, bool) {
	switch x := x.(type) {
	case *Vec:
		s := x.sorted(reverse)
		elems := make([]starlark.Value, s.Len())
		for i := range elems {
			elems[i] = s.Index(i)
		}
		return starlark.NewList(elems), true
	case *starlark.List, starlark.Tuple:
		xs := x.(starlark.Indexable)
		n := xs.Len()
		if n == 0 {
			return nil, false
		}
		switch xs.Index(0).(type) {
		case starlark.Int:
			ints := make([]int64, n)
			for i := range ints {
				k, ok := xs.Index(i).(starlark.Int)
				if !ok {
					return nil, false
				}
				if ints[i], ok = k.Int64(); !ok {
					return nil, false
				}
			}
			sortInts(ints, reverse)
			return NewIntVec(ints).list(), true
		case starlark.Float:
			floats := make([]float64, n)
			for i := range floats {
				f, ok := xs.Index(i).(starlark.Float)
				if !ok {
					return nil, false
				}
				floats[i] = float64(f)
			}
			sortFloats(floats, reverse)
			return NewFloatVec(floats).list(), true
		}
	default:
		r, ok := asRange(x)
		if !ok {
			return nil, false
		}
		n := rangeLen(r)
		elems := make([]starlark.Value, n)
		for i := range elems {
			k := i
			if (r.step > 0) == reverse {
				k = n - 1 - i
			}
			elems[i] = starlark.MakeInt(r.start + k*r.step)
		}
		return starlark.NewList(elems), true
	}
	return nil, false
}

// sorted returns a vec of v's elements in order, ascending or (if
// reverse) descending, as Starlark's sorted orders them.
func (v *Vec) sorted(reverse bool) *Vec {
	w := &Vec{kind: v.kind, meter: v.meter}
	switch v.kind {
	case intVec:
		w.ints = slices.Clone(v.ints)
		sortInts(w.ints, reverse)
	case floatVec:
		w.floats = slices.Clone(v.floats)
		sortFloats(w.floats, reverse)
	default:
		falses := 0
		for _, b := range v.bools {
			if !b {
				falses++
			}
		}
		w.bools = make([]bool, len(v.bools))
		for i := range w.bools {
			w.bools[i] = i >= falses
		}
		if reverse {
			slices.Reverse(w.bools)
		}
	}
	return w
}

// sortInts sorts xs in place, ascending or (if reverse) descending.
func sortInts(xs []int64, reverse bool) {
	slices.Sort(xs) // not stable: equal ints are the same
	if reverse {
		slices.Reverse(xs)
	}
}

// sortFloats sorts xs in place as Starlark's sorted does: by its total
// order (NaN last), equal elements (-0.0 and 0.0) keeping their order,
// also in reverse.
func sortFloats(xs []float64, reverse bool) {
	if reverse {
		slices.SortStableFunc(xs, func(x, y float64) int { return floatCmp(y, x) })
	} else {
		slices.SortStableFunc(xs, floatCmp)
	}
}

// list returns v's elements as a list.
func (v *Vec) list() *starlark.List {
	elems := make([]starlark.Value, v.Len())
	for i := range elems {
		elems[i] = v.Index(i)
	}
	return starlark.NewList(elems)
}

package lang

import (
	"fmt"
	"math/bits"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
	"go.starlark.net/syntax"
)

// The vec module: making vecs, and what works on a whole vec.
//
//	vec.arange(stop), vec.arange(start, stop, step=1)
//	                          the ints of range(start, stop, step), as a vec
//	vec.array(xs, dtype=None) a vec of the elements of xs (a list, tuple,
//	                          range, vec or other iterable): ints, floats or
//	                          bools; ints and floats together make floats.
//	                          dtype "int", "float" or "bool" converts each
//	                          element as int(), float() or bool() would
//	vec.zeros(n, dtype="int"), vec.ones(n, dtype="int")
//	vec.concat(vecs)          the elements of the vecs (of one dtype), in order
//	vec.sum(v)                sum(v), exact: ints past 64 bits included
//	vec.mean(v)               sum(v) / len(v)
//	vec.min(v), vec.max(v)    min(v), max(v)
//	vec.dot(v, w)             sum of v[i] * w[i], exact for ints
//	vec.sorted(v, reverse=False)  sorted(v), as a vec
//	vec.tolist(v)             list(v)
//	vec.lt(a, b), vec.le, vec.gt, vec.ge, vec.eq, vec.ne
//	                          the bool vec of a[i] < b[i] (...), a and b vecs
//	                          of one length or numbers (one at least a vec)
//
// The functions that take a vec first are also its methods: v.sum(),
// v.dot(w), v.lt(0), v.tolist(). v.dtype is "int", "float" or "bool".
//
// Each costs a step for every elemsPerStep elements it goes through, and
// one that would allocate past the memory limit is refused before it
// does (see meter.go).

// init makes vec a builtin.
func init() { builtins["vec"] = vecModule }

var vecModule = &starlarkstruct.Module{Name: "vec", Members: starlark.StringDict{
	"arange": starlark.NewBuiltin("vec.arange", vecArange),
	"array":  starlark.NewBuiltin("vec.array", vecArray),
	"zeros":  starlark.NewBuiltin("vec.zeros", vecFill),
	"ones":   starlark.NewBuiltin("vec.ones", vecFill),
	"concat": starlark.NewBuiltin("vec.concat", vecConcat),
	"sum":    starlark.NewBuiltin("vec.sum", vecSum),
	"mean":   starlark.NewBuiltin("vec.mean", vecMean),
	"min":    starlark.NewBuiltin("vec.min", vecMinMax),
	"max":    starlark.NewBuiltin("vec.max", vecMinMax),
	"dot":    starlark.NewBuiltin("vec.dot", vecDot),
	"sorted": starlark.NewBuiltin("vec.sorted", vecSorted),
	"tolist": starlark.NewBuiltin("vec.tolist", vecToList),
	"lt":     starlark.NewBuiltin("vec.lt", vecCompare),
	"le":     starlark.NewBuiltin("vec.le", vecCompare),
	"gt":     starlark.NewBuiltin("vec.gt", vecCompare),
	"ge":     starlark.NewBuiltin("vec.ge", vecCompare),
	"eq":     starlark.NewBuiltin("vec.eq", vecCompare),
	"ne":     starlark.NewBuiltin("vec.ne", vecCompare),
}}

// vecMethods are the methods of a vec: the functions of the module that
// take a vec first, with the vec as the receiver.
var vecMethods = func() map[string]*starlark.Builtin {
	methods := map[string]*starlark.Builtin{}
	for _, name := range []string{"sum", "mean", "min", "max", "dot", "sorted", "tolist", "lt", "le", "gt", "ge", "eq", "ne"} {
		f := vecModule.Members[name].(*starlark.Builtin)
		methods[name] = starlark.NewBuiltin(f.Name(), func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			return f.CallInternal(thread, append(starlark.Tuple{b.Receiver()}, args...), kwargs)
		})
	}
	return methods
}()

// made returns v, made or received by the evaluation running in thread,
// charging that evaluation for operators on it.
func made(thread *starlark.Thread, v *Vec) *Vec { return v.metered(meterOf(thread)) }

// begin charges the evaluation running in thread for work over n elements
// and checks that n elements of size bytes fit in memory.
func begin(thread *starlark.Thread, what string, n, size int) error {
	if err := checkAlloc(what, uint64(n), size, state(thread).in.maxMemory()); err != nil {
		return err
	}
	return charge(thread, n)
}

// vecArg returns x as a vec, for the function fname.
func vecArg(fname string, x starlark.Value) (*Vec, error) {
	v, ok := x.(*Vec)
	if !ok {
		return nil, fmt.Errorf("%s: got %s, want vec", fname, x.Type())
	}
	return v, nil
}

// dtypeArg returns the kind named by the dtype argument of fname, and
// whether one is given (None is none).
func dtypeArg(fname string, dtype starlark.Value) (vecKind, bool, error) {
	if dtype == nil || dtype == starlark.None {
		return intVec, false, nil
	}
	switch s, _ := starlark.AsString(dtype); s {
	case "int":
		return intVec, true, nil
	case "float":
		return floatVec, true, nil
	case "bool":
		return boolVec, true, nil
	}
	return 0, false, fmt.Errorf(`%s: dtype is %s, want "int", "float" or "bool"`, fname, dtype)
}

func vecArange(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var start, stop, step int64 = 0, 0, 1
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &start, &stop, &step); err != nil {
		return nil, err
	}
	if len(args) == 1 {
		start, stop = 0, start
	}
	if step == 0 {
		return nil, fmt.Errorf("%s: step argument must not be zero", b.Name())
	}
	// The count, in uint64: the span of an int64 range may not fit an int64.
	var n uint64
	switch {
	case step > 0 && stop > start:
		n = (uint64(stop)-uint64(start)-1)/uint64(step) + 1
	case step < 0 && start > stop:
		n = (uint64(start)-uint64(stop)-1)/(-uint64(step)) + 1
	}
	if err := checkAlloc(b.Name(), n, 8, state(thread).in.maxMemory()); err != nil {
		return nil, err
	}
	if err := charge(thread, int(n)); err != nil {
		return nil, err
	}
	out := make([]int64, n)
	x := start
	for i := range out {
		out[i] = x
		x += step // past the last, it may wrap: it is not used
	}
	return made(thread, NewIntVec(out)), nil
}

func vecArray(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var xs, dtype starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "xs", &xs, "dtype?", &dtype); err != nil {
		return nil, err
	}
	kind, given, err := dtypeArg(b.Name(), dtype)
	if err != nil {
		return nil, err
	}
	v, err := toVec(thread, b.Name(), xs, kind, given)
	if err != nil {
		return nil, err
	}
	return made(thread, v), nil
}

// vecFill is vec.zeros(n, dtype="int") and vec.ones(n, dtype="int").
func vecFill(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var (
		n     int
		dtype starlark.Value = starlark.String("int")
	)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "n", &n, "dtype?", &dtype); err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, fmt.Errorf("%s: n is %d, want 0 or more", b.Name(), n)
	}
	kind, _, err := dtypeArg(b.Name(), dtype)
	if err != nil {
		return nil, err
	}
	if err := begin(thread, b.Name(), n, 8); err != nil {
		return nil, err
	}
	one := b.Name() == "vec.ones"
	v := &Vec{kind: kind}
	switch kind {
	case intVec:
		v.ints = make([]int64, n)
		if one {
			for i := range v.ints {
				v.ints[i] = 1
			}
		}
	case floatVec:
		v.floats = make([]float64, n)
		if one {
			for i := range v.floats {
				v.floats[i] = 1
			}
		}
	default:
		v.bools = make([]bool, n)
		if one {
			for i := range v.bools {
				v.bools[i] = true
			}
		}
	}
	return made(thread, v), nil
}

func vecConcat(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var parts starlark.Iterable
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &parts); err != nil {
		return nil, err
	}
	var vecs []*Vec
	total := 0
	it := parts.Iterate()
	defer it.Done()
	var x starlark.Value
	for it.Next(&x) {
		v, ok := x.(*Vec)
		if !ok {
			return nil, fmt.Errorf("%s: element %d is a %s, want vec", b.Name(), len(vecs), x.Type())
		}
		if len(vecs) > 0 && v.kind != vecs[0].kind {
			return nil, fmt.Errorf(`%s: element %d is a vec of %ss after vecs of %ss: convert it with vec.array(v, dtype="%s")`,
				b.Name(), len(vecs), v.kind, vecs[0].kind, vecs[0].kind)
		}
		vecs = append(vecs, v)
		total += v.Len()
	}
	if err := begin(thread, b.Name(), total, 8); err != nil {
		return nil, err
	}
	out := &Vec{}
	if len(vecs) > 0 {
		out.kind = vecs[0].kind
	}
	for _, v := range vecs {
		out.ints = append(out.ints, v.ints...)
		out.floats = append(out.floats, v.floats...)
		out.bools = append(out.bools, v.bools...)
	}
	return made(thread, out), nil
}

// oneVec unpacks the arguments of fname(v), or of fname(v, name=...) if
// name is not "".
func oneVec(fname string, args starlark.Tuple, kwargs []starlark.Tuple, pairs ...any) (*Vec, error) {
	var x starlark.Value
	if err := starlark.UnpackArgs(fname, args, kwargs, append([]any{"v", &x}, pairs...)...); err != nil {
		return nil, err
	}
	return vecArg(fname, x)
}

func vecSum(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	v, err := oneVec(b.Name(), args, kwargs)
	if err != nil {
		return nil, err
	}
	return sumVec(thread, b.Name(), v, starlark.MakeInt(0))
}

// sumVec is sum(v, start) for the builtin fname.
func sumVec(thread *starlark.Thread, fname string, v *Vec, start starlark.Value) (starlark.Value, error) {
	if err := charge(thread, v.Len()); err != nil {
		return nil, err
	}
	var a adder
	a.set(start)
	if err := a.addAll(v); err != nil {
		return nil, fmt.Errorf("%s: %v", fname, err)
	}
	return a.total(), nil
}

func vecMean(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	v, err := oneVec(b.Name(), args, kwargs)
	if err != nil {
		return nil, err
	}
	if v.Len() == 0 {
		return nil, fmt.Errorf("%s: the vec is empty", b.Name())
	}
	total, err := sumVec(thread, b.Name(), v, starlark.MakeInt(0))
	if err != nil {
		return nil, err
	}
	mean, err := starlark.Binary(syntax.SLASH, total, starlark.MakeInt(v.Len()))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", b.Name(), err)
	}
	return mean, nil
}

func vecMinMax(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	v, err := oneVec(b.Name(), args, kwargs)
	if err != nil {
		return nil, err
	}
	if v.Len() == 0 {
		return nil, fmt.Errorf("%s: the vec is empty", b.Name())
	}
	if err := charge(thread, v.Len()); err != nil {
		return nil, err
	}
	return v.extremum(b.Name() == "vec.max"), nil
}

func vecSorted(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var reverse bool
	v, err := oneVec(b.Name(), args, kwargs, "reverse?", &reverse)
	if err != nil {
		return nil, err
	}
	if err := begin(thread, b.Name(), v.Len(), 8); err != nil {
		return nil, err
	}
	return made(thread, v.sorted(reverse)), nil
}

func vecToList(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	v, err := oneVec(b.Name(), args, kwargs)
	if err != nil {
		return nil, err
	}
	if err := begin(thread, b.Name(), v.Len(), 16); err != nil {
		return nil, err
	}
	return v.list(), nil
}

// vecDot is vec.dot(v, w): sum([x * y for x, y in zip(v, w)]), exact for
// ints, and for floats added from left to right.
func vecDot(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var x, y starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "v", &x, "w", &y); err != nil {
		return nil, err
	}
	v, err := vecArg(b.Name(), x)
	if err != nil {
		return nil, err
	}
	w, err := vecArg(b.Name(), y)
	if err != nil {
		return nil, err
	}
	n := v.Len()
	if w.Len() != n {
		return nil, fmt.Errorf("%s: vecs of %d and %d elements", b.Name(), n, w.Len())
	}
	if err := charge(thread, n); err != nil {
		return nil, err
	}
	switch {
	case n == 0:
		return starlark.MakeInt(0), nil
	case v.kind == intVec && w.kind == intVec:
		var top, hi, lo uint64 // a 192-bit sum of 128-bit products
		for i, x := range v.ints {
			phi, plo := mul128(x, w.ints[i])
			var carry uint64
			lo, carry = bits.Add64(lo, plo, 0)
			hi, carry = bits.Add64(hi, phi, carry)
			top += uint64(int64(phi)>>63) + carry
		}
		return int192(top, hi, lo), nil
	case v.kind != boolVec && w.kind != boolVec:
		xs, xm := vecOperand(v).floats()
		ys, ym := vecOperand(w).floats()
		total := 0.0 // sum starts at 0, and 0 + x is 0.0 + x
		for i := range n {
			total += float64(xs[i&xm] * ys[i&ym]) // rounded before it is added: no fused multiply-add
		}
		return starlark.Float(total), nil
	}
	var a adder
	a.set(starlark.MakeInt(0))
	for i := range n {
		p, err := starlark.Binary(syntax.STAR, v.Index(i), w.Index(i))
		if err == nil {
			err = a.add(p)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: element %d: %v", b.Name(), i, err)
		}
	}
	return a.total(), nil
}

// vecCompare is vec.lt(a, b) and its kin.
func vecCompare(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var x, y starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "a", &x, "b", &y); err != nil {
		return nil, err
	}
	a, aok := asOperand(x)
	c, cok := asOperand(y)
	if !aok || !cok || a.vec == nil && c.vec == nil {
		return nil, fmt.Errorf("%s: got %s and %s, want vecs of one length, or a vec and a number", b.Name(), x.Type(), y.Type())
	}
	op := map[string]syntax.Token{"vec.lt": syntax.LT, "vec.le": syntax.LE, "vec.gt": syntax.GT,
		"vec.ge": syntax.GE, "vec.eq": syntax.EQL, "vec.ne": syntax.NEQ}[b.Name()]
	if err := charge(thread, max(a.len(), c.len())); err != nil {
		return nil, err
	}
	v, err := compare(b.Name(), op, a, c)
	if err != nil {
		return nil, err
	}
	return made(thread, v), nil
}

// len returns the length of a vec operand, 0 for a scalar.
func (o operand) len() int {
	if o.vec == nil {
		return 0
	}
	return o.vec.Len()
}

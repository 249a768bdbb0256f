package lang

import (
	"fmt"
	"math"
	"math/bits"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// Element-wise operations on vecs: the operators (Binary, Unary) and the
// comparisons of the vec module (vec.lt, ...). Each element's result is
// what Starlark gives for the two elements (see Vec); the native loops
// below compute it without making a Starlark value of each, and the
// cases they do not cover go element by element through starlark.Binary
// or starlark.Compare (genericOp, genericCompare), so both give the same.

// operand is one side of an element-wise operation: a vec, or a scalar (a
// number or bool that stands for every element).
type operand struct {
	vec    *Vec           // nil for a scalar
	x      starlark.Value // the scalar
	kind   vecKind        // of the vec's elements or of the scalar
	native bool           // a vec, or a scalar of a kind: an int of 64 bits, a float, a bool
	i      int64          // the scalar, if an int of 64 bits
	f      float64        // the scalar, if a float
	b      bool           // the scalar, if a bool
}

// vecOperand returns v as an operand.
func vecOperand(v *Vec) operand { return operand{vec: v, kind: v.kind, native: true} }

// scalarOperand returns x as an operand, if it is an int, float or bool.
func scalarOperand(x starlark.Value) (operand, bool) {
	switch x := x.(type) {
	case starlark.Int:
		i, ok := x.Int64()
		return operand{x: x, kind: intVec, native: ok, i: i}, true
	case starlark.Float:
		return operand{x: x, kind: floatVec, native: true, f: float64(x)}, true
	case starlark.Bool:
		return operand{x: x, kind: boolVec, native: true, b: bool(x)}, true
	}
	return operand{}, false
}

// asOperand returns x as an operand: a vec or a scalar.
func asOperand(x starlark.Value) (operand, bool) {
	if v, ok := x.(*Vec); ok {
		return vecOperand(v), true
	}
	return scalarOperand(x)
}

// at returns element i of the operand, as a Starlark value.
func (o operand) at(i int) starlark.Value {
	if o.vec != nil {
		return o.vec.Index(i)
	}
	return o.x
}

// ints returns the operand's ints and a mask: element i is xs[i&mask] (a
// scalar is a slice of one, with mask 0).
func (o operand) ints() ([]int64, int) {
	if o.vec != nil {
		return o.vec.ints, -1
	}
	return []int64{o.i}, 0
}

// floats returns the operand's numbers as floats, as ints(); ints are
// converted as Starlark converts them in arithmetic with a float.
func (o operand) floats() ([]float64, int) {
	switch {
	case o.vec == nil && o.kind == floatVec:
		return []float64{o.f}, 0
	case o.vec == nil:
		return []float64{float64(o.i)}, 0
	case o.kind == floatVec:
		return o.vec.floats, -1
	}
	fs := make([]float64, len(o.vec.ints))
	for i, x := range o.vec.ints {
		fs[i] = float64(x)
	}
	return fs, -1
}

// bools returns the operand's bools, as ints().
func (o operand) bools() ([]bool, int) {
	if o.vec != nil {
		return o.vec.bools, -1
	}
	return []bool{o.b}, 0
}

// operation returns the length of the result of an element-wise operation
// on a and b, and the meter it charges; it fails if a and b are vecs of
// different lengths.
func operation(what string, a, b operand) (int, *meter, error) {
	switch {
	case a.vec != nil && b.vec != nil:
		if a.vec.Len() != b.vec.Len() {
			return 0, nil, fmt.Errorf("%s: vecs of %d and %d elements", what, a.vec.Len(), b.vec.Len())
		}
		m := a.vec.meter
		if m == nil {
			m = b.vec.meter
		}
		return a.vec.Len(), m, nil
	case a.vec != nil:
		return a.vec.Len(), a.vec.meter, nil
	}
	return b.vec.Len(), b.vec.meter, nil
}

// Binary implements the arithmetic and bitwise operators, element by
// element, with a vec of the same length or a scalar on either side.
func (v *Vec) Binary(op syntax.Token, y starlark.Value, side starlark.Side) (starlark.Value, error) {
	switch op {
	case syntax.PLUS, syntax.MINUS, syntax.STAR, syntax.SLASH, syntax.SLASHSLASH, syntax.PERCENT,
		syntax.AMP, syntax.PIPE, syntax.CIRCUMFLEX:
	default:
		return nil, nil
	}
	other, ok := asOperand(y)
	if !ok {
		return nil, nil // Starlark says the operator is not defined for the types
	}
	a, b := vecOperand(v), other
	if side == starlark.Right {
		a, b = b, a
	}
	return elementwise(op, a, b)
}

// elementwise returns a op b element by element.
func elementwise(op syntax.Token, a, b operand) (starlark.Value, error) {
	what := "vec " + op.String()
	n, m, err := operation(what, a, b)
	if err != nil {
		return nil, err
	}
	m.add(n)
	if err := checkAlloc(what, uint64(n), 8, m.memoryLimit()); err != nil {
		return nil, err
	}
	arith := op == syntax.PLUS || op == syntax.MINUS || op == syntax.STAR ||
		op == syntax.SLASH || op == syntax.SLASHSLASH || op == syntax.PERCENT
	if a.native && b.native {
		switch {
		case a.kind == intVec && b.kind == intVec && op != syntax.SLASH:
			return intOp(what, op, a, b, n, m)
		case a.kind != boolVec && b.kind != boolVec && arith:
			return floatOp(what, op, a, b, n, m)
		case a.kind == boolVec && b.kind == boolVec && !arith:
			return boolOp(op, a, b, n, m), nil
		}
	}
	return genericOp(what, op, a, b, n, m)
}

// intOp is elementwise for two int operands, and any op but /.
func intOp(what string, op syntax.Token, a, b operand, n int, m *meter) (starlark.Value, error) {
	xs, xm := a.ints()
	ys, ym := b.ints()
	out := make([]int64, n)
	var overflow uint64 // nonzero if some result did not fit
	switch op {
	case syntax.PLUS:
		for i := range out {
			x, y := xs[i&xm], ys[i&ym]
			s := x + y
			overflow |= uint64((x^s)&(y^s)) >> 63
			out[i] = s
		}
	case syntax.MINUS:
		for i := range out {
			x, y := xs[i&xm], ys[i&ym]
			d := x - y
			overflow |= uint64((x^y)&(x^d)) >> 63
			out[i] = d
		}
	case syntax.STAR:
		for i := range out {
			x, y := xs[i&xm], ys[i&ym]
			hi, lo := mul128(x, y)
			overflow |= hi ^ uint64(int64(lo)>>63)
			out[i] = int64(lo)
		}
	case syntax.SLASHSLASH:
		for i := range out {
			x, y := xs[i&xm], ys[i&ym]
			if y == 0 {
				return nil, fmt.Errorf("%s: floored division by zero at element %d", what, i)
			}
			if x == math.MinInt64 && y == -1 {
				overflow = 1
				break
			}
			q := x / y
			if (x%y != 0) && (x < 0) != (y < 0) {
				q--
			}
			out[i] = q
		}
	case syntax.PERCENT:
		for i := range out {
			x, y := xs[i&xm], ys[i&ym]
			if y == 0 {
				return nil, fmt.Errorf("%s: integer modulo by zero at element %d", what, i)
			}
			r := x % y
			if r != 0 && (x < 0) != (y < 0) {
				r += y
			}
			out[i] = r
		}
	case syntax.AMP:
		for i := range out {
			out[i] = xs[i&xm] & ys[i&ym]
		}
	case syntax.PIPE:
		for i := range out {
			out[i] = xs[i&xm] | ys[i&ym]
		}
	case syntax.CIRCUMFLEX:
		for i := range out {
			out[i] = xs[i&xm] ^ ys[i&ym]
		}
	}
	if overflow != 0 {
		return genericOp(what, op, a, b, n, m) // it says where
	}
	return &Vec{kind: intVec, ints: out, meter: m}, nil
}

// mul128 returns the 128-bit product of x and y, two's complement.
func mul128(x, y int64) (hi, lo uint64) {
	hi, lo = bits.Mul64(uint64(x), uint64(y))
	hi -= uint64(x>>63) & uint64(y)
	hi -= uint64(y>>63) & uint64(x)
	return hi, lo
}

// floatOp is elementwise for an arithmetic op on numbers one of which at
// least is a float, or on ints with /.
func floatOp(what string, op syntax.Token, a, b operand, n int, m *meter) (starlark.Value, error) {
	xs, xm := a.floats()
	ys, ym := b.floats()
	out := make([]float64, n)
	switch op {
	case syntax.PLUS:
		for i := range out {
			out[i] = xs[i&xm] + ys[i&ym]
		}
	case syntax.MINUS:
		for i := range out {
			out[i] = xs[i&xm] - ys[i&ym]
		}
	case syntax.STAR:
		for i := range out {
			out[i] = xs[i&xm] * ys[i&ym]
		}
	case syntax.SLASH:
		for i := range out {
			y := ys[i&ym]
			if y == 0 {
				return nil, fmt.Errorf("%s: floating-point division by zero at element %d", what, i)
			}
			out[i] = xs[i&xm] / y
		}
	case syntax.SLASHSLASH:
		for i := range out {
			y := ys[i&ym]
			if y == 0 {
				return nil, fmt.Errorf("%s: floored division by zero at element %d", what, i)
			}
			out[i] = math.Floor(xs[i&xm] / y)
		}
	case syntax.PERCENT:
		for i := range out {
			y := ys[i&ym]
			if y == 0 {
				return nil, fmt.Errorf("%s: floating-point modulo by zero at element %d", what, i)
			}
			out[i] = float64(starlark.Float(xs[i&xm]).Mod(starlark.Float(y)))
		}
	}
	return &Vec{kind: floatVec, floats: out, meter: m}, nil
}

// boolOp is elementwise for & | ^ on bools: and, or, xor.
func boolOp(op syntax.Token, a, b operand, n int, m *meter) starlark.Value {
	xs, xm := a.bools()
	ys, ym := b.bools()
	out := make([]bool, n)
	for i := range out {
		x, y := xs[i&xm], ys[i&ym]
		switch op {
		case syntax.AMP:
			out[i] = x && y
		case syntax.PIPE:
			out[i] = x || y
		default:
			out[i] = x != y
		}
	}
	return &Vec{kind: boolVec, bools: out, meter: m}
}

// genericOp is elementwise through starlark.Binary, element by element:
// for the cases the native loops do not cover, and to say which element
// of an int operation does not fit in 64 bits.
func genericOp(what string, op syntax.Token, a, b operand, n int, m *meter) (starlark.Value, error) {
	kind := a.kind
	if a.vec == nil {
		kind = b.kind
	}
	out := vecBuilder{what: what, kind: kind}
	for i := range n {
		x, y := a.at(i), b.at(i)
		z, err := starlark.Binary(op, x, y)
		if err != nil {
			return nil, fmt.Errorf("%s: element %d: %v", what, i, err)
		}
		if err := out.add(i, z, func() string { return fmt.Sprintf("%s %s %s", x, op, y) }); err != nil {
			return nil, err
		}
	}
	return out.vec(m), nil
}

// vecBuilder makes a vec of values, all ints of 64 bits, floats or bools.
type vecBuilder struct {
	what   string
	kind   vecKind // of the elements, set by the first
	ints   []int64
	floats []float64
	bools  []bool
}

// add appends z, element i. For an error, expr says what gave z.
func (b *vecBuilder) add(i int, z starlark.Value, expr func() string) error {
	var kind vecKind
	switch z := z.(type) {
	case starlark.Int:
		n, ok := z.Int64()
		if !ok {
			return fmt.Errorf("%s: int overflow at element %d: %s is %s, beyond 64 bits (for big ints use a list; for floats, v * 1.0)", b.what, i, expr(), z)
		}
		kind = intVec
		b.ints = append(b.ints, n)
	case starlark.Float:
		kind = floatVec
		b.floats = append(b.floats, float64(z))
	case starlark.Bool:
		kind = boolVec
		b.bools = append(b.bools, bool(z))
	default:
		return fmt.Errorf("%s: element %d is a %s: a vec holds ints, floats or bools", b.what, i, z.Type())
	}
	if i == 0 {
		b.kind = kind
	} else if kind != b.kind {
		return fmt.Errorf("%s: element %d is %s after %ss", b.what, i, kind.article(), b.kind)
	}
	return nil
}

// vec returns the vec made, charging m.
func (b *vecBuilder) vec(m *meter) *Vec {
	return &Vec{kind: b.kind, ints: b.ints, floats: b.floats, bools: b.bools, meter: m}
}

// Unary implements -v, +v and ~v (bitwise not of ints, not of bools).
func (v *Vec) Unary(op syntax.Token) (starlark.Value, error) {
	n := v.Len()
	v.meter.add(n)
	switch {
	case op == syntax.PLUS && v.kind != boolVec:
		return v, nil
	case op == syntax.MINUS && v.kind == floatVec:
		out := make([]float64, n)
		for i, x := range v.floats {
			out[i] = -x
		}
		return &Vec{kind: floatVec, floats: out, meter: v.meter}, nil
	case op == syntax.MINUS && v.kind == intVec:
		out := make([]int64, n)
		for i, x := range v.ints {
			if x == math.MinInt64 {
				return nil, fmt.Errorf("vec -: int overflow at element %d: -(%d) is %d, beyond 64 bits (for big ints use a list; for floats, v * 1.0)", i, x, uint64(1)<<63)
			}
			out[i] = -x
		}
		return &Vec{kind: intVec, ints: out, meter: v.meter}, nil
	case op == syntax.TILDE && v.kind == intVec:
		out := make([]int64, n)
		for i, x := range v.ints {
			out[i] = ^x
		}
		return &Vec{kind: intVec, ints: out, meter: v.meter}, nil
	case op == syntax.TILDE && v.kind == boolVec:
		out := make([]bool, n)
		for i, x := range v.bools {
			out[i] = !x
		}
		return &Vec{kind: boolVec, bools: out, meter: v.meter}, nil
	}
	// The rest is no operation on such elements (-True, ~1.5): Starlark
	// says so for the first, and an empty vec has none.
	what := "vec " + op.String()
	out := vecBuilder{what: what, kind: v.kind}
	for i := range n {
		x := v.Index(i)
		z, err := starlark.Unary(op, x)
		if err != nil {
			return nil, fmt.Errorf("%s: element %d: %v", what, i, err)
		}
		if err := out.add(i, z, func() string { return op.String() + x.String() }); err != nil {
			return nil, err
		}
	}
	return out.vec(v.meter), nil
}

// compare returns the bool vec of a op b element by element, op one of
// == != < <= > >=, with Starlark's comparison of each pair (ints and floats
// compare exactly, NaN is above +inf and equal to itself).
func compare(what string, op syntax.Token, a, b operand) (*Vec, error) {
	n, m, err := operation(what, a, b)
	if err != nil {
		return nil, err
	}
	if err := checkAlloc(what, uint64(n), 1, m.memoryLimit()); err != nil {
		return nil, err
	}
	out := make([]bool, n)
	if a.native && b.native && a.kind != boolVec && b.kind != boolVec {
		cmp := numberComparison(a, b)
		for i := range out {
			out[i] = threeway(op, cmp(i))
		}
		return &Vec{kind: boolVec, bools: out, meter: m}, nil
	}
	for i := range out {
		ok, err := starlark.Compare(op, a.at(i), b.at(i))
		if err != nil {
			return nil, fmt.Errorf("%s: element %d: %v", what, i, err)
		}
		out[i] = ok
	}
	return &Vec{kind: boolVec, bools: out, meter: m}, nil
}

// numberComparison returns the function that compares element i of a with
// element i of b, numbers both (ints of 64 bits or floats).
func numberComparison(a, b operand) func(i int) int {
	switch {
	case a.kind == intVec && b.kind == intVec:
		xs, xm := a.ints()
		ys, ym := b.ints()
		return func(i int) int { return cmpInt(xs[i&xm], ys[i&ym]) }
	case a.kind == floatVec && b.kind == floatVec:
		xs, xm := a.floats()
		ys, ym := b.floats()
		return func(i int) int { return floatCmp(xs[i&xm], ys[i&ym]) }
	case a.kind == intVec:
		xs, xm := a.ints()
		ys, ym := b.floats()
		return func(i int) int { return cmpIntFloat(xs[i&xm], ys[i&ym]) }
	}
	xs, xm := a.floats()
	ys, ym := b.ints()
	return func(i int) int { return -cmpIntFloat(ys[i&ym], xs[i&xm]) }
}

// threeway interprets the result c of a three-way comparison for op.
func threeway(op syntax.Token, c int) bool {
	switch op {
	case syntax.EQL:
		return c == 0
	case syntax.NEQ:
		return c != 0
	case syntax.LT:
		return c < 0
	case syntax.LE:
		return c <= 0
	case syntax.GT:
		return c > 0
	}
	return c >= 0
}

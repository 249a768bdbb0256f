package lang

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// The native paths (native.go, vec_ops.go, vec_module.go) against the
// interpreter: on random inputs (ints of every size, past 64 bits
// included; floats with -0.0, inf and nan), each result must be exactly
// the interpreted one: the same type, the same int, the same float bit for
// bit, the same order of equal elements; and where the interpreted code
// fails, the native one fails too. The interpreted side is refSource run
// by plain Starlark: loops of + and Starlark's own min, max and sorted.

const refSource = `
def ref_sum(xs, start):
    acc = start
    for x in xs:
        acc = acc + x
    return acc

OPS = {
    "+": lambda x, y: x + y,
    "-": lambda x, y: x - y,
    "*": lambda x, y: x * y,
    "/": lambda x, y: x / y,
    "//": lambda x, y: x // y,
    "%": lambda x, y: x % y,
    "&": lambda x, y: x & y,
    "|": lambda x, y: x | y,
    "^": lambda x, y: x ^ y,
    "<": lambda x, y: x < y,
    "<=": lambda x, y: x <= y,
    ">": lambda x, y: x > y,
    ">=": lambda x, y: x >= y,
    "==": lambda x, y: x == y,
    "!=": lambda x, y: x != y,
}

def ref_elementwise(op, xs, ys):
    f = OPS[op]
    return [f(x, y) for x, y in zip(xs, ys)]

def ref_neg(xs):
    return [-x for x in xs]

def ref_dot(xs, ys):
    return ref_sum([x * y for x, y in zip(xs, ys)], 0)

def ref_mean(xs):
    return ref_sum(xs, 0) / len(xs)

def ref_min(xs):
    return min(xs)

def ref_max(xs):
    return max(xs)

def ref_sorted(xs, reverse):
    return sorted(xs, reverse = reverse)

def ref_equal(xs, ys):
    return xs == ys

def ref_in(x, xs):
    return x in xs
`

// reference is refSource, loaded.
type reference struct {
	t       *testing.T
	globals starlark.StringDict
}

func newReference(t *testing.T) *reference {
	t.Helper()
	globals, err := starlark.ExecFileOptions(&syntax.FileOptions{}, &starlark.Thread{}, "ref.star", refSource, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &reference{t: t, globals: globals}
}

// call calls the reference function name, and returns the message of its
// error if it fails.
func (r *reference) call(name string, args ...starlark.Value) (starlark.Value, error) {
	v, err := starlark.Call(&starlark.Thread{}, r.globals[name], args, nil)
	var ee *starlark.EvalError
	if errors.As(err, &ee) {
		return nil, errors.New(ee.Msg)
	}
	return v, err
}

// native calls the sperse builtin or vec function fn.
func native(fn starlark.Value, args starlark.Tuple, kwargs ...starlark.Tuple) (starlark.Value, error) {
	return starlark.Call(&starlark.Thread{}, fn, args, kwargs)
}

// same reports whether x and y are the same value: the same type, equal
// ints, the same float bits (any NaN the same), lists and vecs of the same
// elements.
func same(x, y starlark.Value) bool {
	if vx, ok := x.(*Vec); ok {
		x = vx.list()
	}
	if vy, ok := y.(*Vec); ok {
		y = vy.list()
	}
	if x.Type() != y.Type() {
		return false
	}
	switch x := x.(type) {
	case starlark.Float:
		fx, fy := float64(x), float64(y.(starlark.Float))
		return math.Float64bits(fx) == math.Float64bits(fy) || fx != fx && fy != fy
	case *starlark.List:
		l := y.(*starlark.List)
		if x.Len() != l.Len() {
			return false
		}
		for i := range x.Len() {
			if !same(x.Index(i), l.Index(i)) {
				return false
			}
		}
		return true
	}
	eq, err := starlark.Equal(x, y)
	return err == nil && eq
}

// gen makes random values of the kinds that matter to exactness.
type gen struct{ *rand.Rand }

func newGen(t *testing.T) gen {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	return gen{rand.New(rand.NewPCG(seed, 1))}
}

// int64 returns a small int, one near the limits of 64 bits, or any.
func (g gen) int64() int64 {
	switch g.IntN(6) {
	case 0, 1:
		return g.Int64N(41) - 20
	case 2:
		return math.MaxInt64 - g.Int64N(4)
	case 3:
		return math.MinInt64 + g.Int64N(4)
	case 4:
		return int64(1) << g.IntN(63) * (1 - 2*g.Int64N(2))
	}
	return int64(g.Uint64())
}

// bigInt returns an int past 64 bits.
func (g gen) bigInt() starlark.Int {
	b := new(big.Int).Lsh(big.NewInt(1), uint(63+g.IntN(40)))
	b.Add(b, big.NewInt(g.Int64N(1000)))
	if g.IntN(2) == 0 {
		b.Neg(b)
	}
	return starlark.MakeBigInt(b)
}

// float returns a float: small, whole, huge, tiny, one that an int of
// 64 bits does not hold exactly, -0.0, inf or nan.
func (g gen) float() float64 {
	switch g.IntN(12) {
	case 0:
		return math.Copysign(0, -1)
	case 1:
		return 0
	case 2:
		return math.Inf(1 - 2*g.IntN(2))
	case 3:
		return math.NaN()
	case 4:
		return float64(g.Int64N(21) - 10)
	case 5:
		return 0x1p53 + float64(2*g.Int64N(8)) // past 2**53: ints round
	case 6:
		return math.MaxFloat64 * float64(1-2*g.IntN(2))
	case 7:
		return 5e-324
	case 8:
		return float64(g.int64())
	}
	return g.NormFloat64() * math.Pow(10, float64(g.IntN(40)-20))
}

// number returns an int (of 64 bits or past), or a float.
func (g gen) number(kinds string) starlark.Value {
	switch kinds[g.IntN(len(kinds))] {
	case 'i':
		return starlark.MakeInt64(g.int64())
	case 'b':
		return g.bigInt()
	case 'f':
		return starlark.Float(g.float())
	case 't':
		return starlark.Bool(g.IntN(2) == 0)
	}
	return starlark.String("x")
}

// list returns a list of up to 30 values of kinds: 'i' ints of 64 bits,
// 'b' big ints, 'f' floats, 't' bools, 's' strings.
func (g gen) list(kinds string) *starlark.List {
	elems := make([]starlark.Value, g.IntN(31))
	for i := range elems {
		elems[i] = g.number(kinds)
	}
	return starlark.NewList(elems)
}

// vec returns a vec of n elements of kind.
func (g gen) vec(kind vecKind, n int) *Vec {
	v := &Vec{kind: kind}
	for range n {
		switch kind {
		case intVec:
			v.ints = append(v.ints, g.int64())
		case floatVec:
			v.floats = append(v.floats, g.float())
		default:
			v.bools = append(v.bools, g.IntN(2) == 0)
		}
	}
	return v
}

func (g gen) kind() vecKind { return vecKind(g.IntN(3)) }

// listKinds are the mixes of elements the list tests draw from.
var listKinds = []string{"i", "ib", "f", "if", "ibf", "ift", "is", "b"}

func TestNativeSumList(t *testing.T) {
	ref, g := newReference(t), newGen(t)
	for range 2000 {
		xs := g.list(listKinds[g.IntN(len(listKinds))])
		start := g.number("iibf")
		got, err := native(builtins["sum"], starlark.Tuple{xs, start})
		want, werr := ref.call("ref_sum", xs, start)
		checkSame(t, fmt.Sprintf("sum(%s, %s)", xs, start), got, err, want, werr)
		if werr != nil && err != nil && err.Error() != "sum: "+werr.Error() {
			t.Errorf("sum(%s, %s): error %q, want %q", xs, start, err, "sum: "+werr.Error())
		}
	}
}

func TestNativeSumRange(t *testing.T) {
	ref, g := newReference(t), newGen(t)
	for range 2000 {
		start := g.Int64N(1<<62) - 1<<61
		step := g.Int64N(1<<40) + 1
		if g.IntN(3) == 0 {
			step = g.Int64N(5) + 1
		}
		if g.IntN(2) == 0 {
			step = -step
		}
		stop := start + step*(g.Int64N(40)-3)
		r, err := starlark.Call(&starlark.Thread{}, starlark.Universe["range"], starlark.Tuple{starlark.MakeInt64(start), starlark.MakeInt64(stop), starlark.MakeInt64(step)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		acc := g.number("iibf")
		got, err := native(builtins["sum"], starlark.Tuple{r, acc})
		want, werr := ref.call("ref_sum", r, acc)
		checkSame(t, fmt.Sprintf("sum(%s, %s)", r, acc), got, err, want, werr)
		for _, name := range []string{"min", "max"} {
			got, err := native(builtins[name], starlark.Tuple{r})
			want, werr := ref.call("ref_"+name, r)
			checkSame(t, fmt.Sprintf("%s(%s)", name, r), got, err, want, werr)
		}
		reverse := starlark.Bool(g.IntN(2) == 0)
		got, err = native(builtins["sorted"], starlark.Tuple{r}, starlark.Tuple{starlark.String("reverse"), reverse})
		want, werr = ref.call("ref_sorted", r, reverse)
		checkSame(t, fmt.Sprintf("sorted(%s, reverse=%s)", r, reverse), got, err, want, werr)
	}
}

func TestNativeSumVec(t *testing.T) {
	ref, g := newReference(t), newGen(t)
	for range 2000 {
		v := g.vec(g.kind(), g.IntN(30))
		start := g.number("iibf")
		got, err := native(builtins["sum"], starlark.Tuple{v, start})
		want, werr := ref.call("ref_sum", v.list(), start)
		checkSame(t, fmt.Sprintf("sum(%s, %s)", full(v), start), got, err, want, werr)
	}
}

// TestNativeSumPast64Bits checks sums of ints whose total, and partial
// totals, pass 64 bits and come back.
func TestNativeSumPast64Bits(t *testing.T) {
	ref := newReference(t)
	v := NewIntVec([]int64{math.MaxInt64, math.MaxInt64, math.MaxInt64, math.MinInt64, math.MinInt64, math.MinInt64, math.MinInt64, 5})
	for _, xs := range []starlark.Value{v, v.list(), NewIntVec(v.ints[:3])} {
		got, err := native(builtins["sum"], starlark.Tuple{xs})
		want, werr := ref.call("ref_sum", xs, starlark.MakeInt(0))
		checkSame(t, fmt.Sprintf("sum(%s)", xs), got, err, want, werr)
	}
	if got, _ := native(builtins["sum"], starlark.Tuple{NewIntVec(v.ints[:3])}); got.String() != "27670116110564327421" {
		t.Errorf("sum of three MaxInt64 = %s", got)
	}
}

func TestNativeMinMaxSorted(t *testing.T) {
	ref, g := newReference(t), newGen(t)
	for range 2000 {
		var xs starlark.Value = g.list(listKinds[g.IntN(len(listKinds))])
		if g.IntN(2) == 0 {
			xs = g.vec(g.kind(), g.IntN(30))
		}
		list := xs
		if v, ok := xs.(*Vec); ok {
			list = v.list()
		}
		for _, name := range []string{"min", "max"} {
			got, err := native(builtins[name], starlark.Tuple{xs})
			want, werr := ref.call("ref_"+name, list)
			checkSame(t, fmt.Sprintf("%s(%s)", name, full(xs)), got, err, want, werr)
		}
		for _, reverse := range []starlark.Bool{false, true} {
			got, err := native(builtins["sorted"], starlark.Tuple{xs}, starlark.Tuple{starlark.String("reverse"), reverse})
			want, werr := ref.call("ref_sorted", list, reverse)
			checkSame(t, fmt.Sprintf("sorted(%s, reverse=%s)", full(xs), reverse), got, err, want, werr)
		}
		if v, ok := xs.(*Vec); ok {
			got, err := native(vecModule.Members["sorted"], starlark.Tuple{v})
			want, werr := ref.call("ref_sorted", list, starlark.False)
			checkSame(t, fmt.Sprintf("vec.sorted(%s)", full(v)), got, err, want, werr)
		}
	}
}

// operand returns a random operand for an element-wise operation on n
// elements, and the list of its elements for the reference: a vec, or a
// scalar (repeated).
func (g gen) operand(n int) (starlark.Value, *starlark.List) {
	if g.IntN(3) > 0 {
		v := g.vec(g.kind(), n)
		return v, v.list()
	}
	x := g.number("iiibfft")
	elems := make([]starlark.Value, n)
	for i := range elems {
		elems[i] = x
	}
	return x, starlark.NewList(elems)
}

// fitsVec reports whether the elements of l can make a vec: ints of 64
// bits, floats or bools.
func fitsVec(l *starlark.List) bool {
	for i := range l.Len() {
		if k, ok := l.Index(i).(starlark.Int); ok {
			if _, ok := k.Int64(); !ok {
				return false
			}
		}
	}
	return true
}

func TestVecElementwise(t *testing.T) {
	ref, g := newReference(t), newGen(t)
	ok, overflows := 0, 0
	for range 6000 {
		n := g.IntN(12)
		x, xs := g.operand(n)
		y, ys := g.operand(n)
		_, xv := x.(*Vec)
		_, yv := y.(*Vec)
		if !xv && !yv {
			continue
		}
		op := []syntax.Token{syntax.PLUS, syntax.MINUS, syntax.STAR, syntax.SLASH, syntax.SLASHSLASH,
			syntax.PERCENT, syntax.AMP, syntax.PIPE, syntax.CIRCUMFLEX}[g.IntN(9)]
		what := fmt.Sprintf("%s %s %s", full(x), op, full(y))
		got, err := starlark.Binary(op, x, y)
		want, werr := ref.call("ref_elementwise", starlark.String(op.String()), xs, ys)
		if xb, yb := isBoolVec(x), isBoolVec(y); werr != nil && (xb || !xv) && (yb || !yv) && op >= syntax.AMP && op <= syntax.CIRCUMFLEX {
			continue // & | ^ of bools: an extension of vecs, no Starlark operation
		}
		if werr == nil && !fitsVec(want.(*starlark.List)) {
			if err == nil || !strings.Contains(err.Error(), "int overflow") {
				t.Errorf("%s = %v, %v; want an int overflow error (the exact result is %s)", what, got, err, want)
			}
			overflows++
			continue
		}
		if werr == nil {
			ok++
		}
		checkSame(t, what, got, err, want, werr)
	}
	if ok < 1000 || overflows < 100 {
		t.Errorf("only %d results and %d overflows among the cases: the generator does not cover both", ok, overflows)
	}
}

func isBoolVec(x starlark.Value) bool {
	v, ok := x.(*Vec)
	return ok && v.kind == boolVec
}

func TestVecUnary(t *testing.T) {
	ref, g := newReference(t), newGen(t)
	for range 1000 {
		v := g.vec(g.kind(), g.IntN(12))
		got, err := starlark.Unary(syntax.MINUS, v)
		want, werr := ref.call("ref_neg", v.list())
		if werr == nil && !fitsVec(want.(*starlark.List)) {
			if err == nil || !strings.Contains(err.Error(), "int overflow") {
				t.Errorf("-%s = %v, %v; want an int overflow error", full(v), got, err)
			}
			continue
		}
		checkSame(t, "-"+full(v), got, err, want, werr)
	}
}

func TestVecCompare(t *testing.T) {
	ref, g := newReference(t), newGen(t)
	names := map[string]string{"vec.lt": "<", "vec.le": "<=", "vec.gt": ">", "vec.ge": ">=", "vec.eq": "==", "vec.ne": "!="}
	for range 4000 {
		n := g.IntN(12)
		x, xs := g.operand(n)
		y, ys := g.operand(n)
		_, xv := x.(*Vec)
		_, yv := y.(*Vec)
		if !xv && !yv {
			continue
		}
		for fn, op := range names {
			got, err := native(vecModule.Members[fn[4:]], starlark.Tuple{x, y})
			want, werr := ref.call("ref_elementwise", starlark.String(op), xs, ys)
			checkSame(t, fmt.Sprintf("%s(%s, %s)", fn, full(x), full(y)), got, err, want, werr)
		}
		if xv && yv {
			got, err := starlark.Equal(x, y)
			want, _ := ref.call("ref_equal", xs, ys)
			if err != nil || starlark.Bool(got) != want {
				t.Errorf("%s == %s is %v (%v), want %s", full(x), full(y), got, err, want)
			}
		}
	}
}

func TestVecContains(t *testing.T) {
	ref, g := newReference(t), newGen(t)
	for range 2000 {
		v := g.vec(g.kind(), g.IntN(8))
		x := g.number("iibft")
		if g.IntN(2) == 0 && v.Len() > 0 {
			x = v.Index(g.IntN(v.Len()))
		}
		got, err := v.Has(x)
		want, _ := ref.call("ref_in", x, v.list())
		if err != nil || starlark.Bool(got) != want {
			t.Errorf("%s in %s is %v (%v), want %s", x, full(v), got, err, want)
		}
	}
}

func TestVecDotMean(t *testing.T) {
	ref, g := newReference(t), newGen(t)
	for range 2000 {
		n := g.IntN(20)
		v, w := g.vec(g.kind(), n), g.vec(g.kind(), n)
		got, err := native(vecModule.Members["dot"], starlark.Tuple{v, w})
		want, werr := ref.call("ref_dot", v.list(), w.list())
		checkSame(t, fmt.Sprintf("vec.dot(%s, %s)", full(v), full(w)), got, err, want, werr)
		if n > 0 {
			got, err := native(vecModule.Members["mean"], starlark.Tuple{v})
			want, werr := ref.call("ref_mean", v.list())
			checkSame(t, fmt.Sprintf("vec.mean(%s)", full(v)), got, err, want, werr)
		}
	}
}

// checkSame fails the test unless the native result (got, err) is the
// reference's (want, werr): both the same value, or both errors.
func checkSame(t *testing.T, what string, got starlark.Value, err error, want starlark.Value, werr error) {
	t.Helper()
	switch {
	case werr != nil && err == nil:
		t.Errorf("%s = %s, want an error as the interpreter's: %v", what, got, werr)
	case werr == nil && err != nil:
		t.Errorf("%s: %v, want %s", what, err, want)
	case werr == nil && !same(got, want):
		t.Errorf("%s = %s (%s), want %s (%s)", what, full(got), got.Type(), want, want.Type())
	}
}

// full returns the repr of x, or of all the elements of a vec.
func full(x starlark.Value) string {
	if v, ok := x.(*Vec); ok {
		return "vec(" + v.list().String() + ")"
	}
	return x.String()
}

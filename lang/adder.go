package lang

import (
	"math/big"
	"math/bits"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// adder adds values to a running total from left to right, exactly as +
// does (sum's loop), but without making a Starlark value at each step while
// the total and the values are ints of 64 bits, or floats and such ints.
type adder struct {
	mode   addMode
	base   starlark.Int   // intMode: the total is base + the 128-bit int hi:lo
	hi, lo uint64         // intMode
	f      float64        // floatMode: the total
	v      starlark.Value // valueMode: the total
}

type addMode uint8

const (
	intMode   addMode = iota // the total is an int
	floatMode                // the total is a float
	valueMode                // the total is any other value
)

// set makes v the total.
func (a *adder) set(v starlark.Value) {
	a.hi, a.lo = 0, 0
	switch v := v.(type) {
	case starlark.Int:
		a.mode, a.base = intMode, v
	case starlark.Float:
		a.mode, a.f = floatMode, float64(v)
	default:
		a.mode, a.v = valueMode, v
	}
}

// total returns the total.
func (a *adder) total() starlark.Value {
	switch a.mode {
	case intMode:
		if a.hi == 0 && a.lo == 0 {
			return a.base
		}
		return a.base.Add(int128(a.hi, a.lo))
	case floatMode:
		return starlark.Float(a.f)
	}
	return a.v
}

// add adds x to the total as total + x does.
func (a *adder) add(x starlark.Value) error {
	switch a.mode {
	case intMode:
		if k, ok := x.(starlark.Int); ok {
			if n, ok := k.Int64(); ok {
				lo, carry := bits.Add64(a.lo, uint64(n), 0)
				a.lo, a.hi = lo, a.hi+uint64(n>>63)+carry
			} else {
				a.set(a.total().(starlark.Int).Add(k))
			}
			return nil
		}
	case floatMode:
		switch x := x.(type) {
		case starlark.Float:
			a.f += float64(x)
			return nil
		case starlark.Int:
			if n, ok := x.Int64(); ok { // float + int converts the int so
				a.f += float64(n)
				return nil
			}
		}
	}
	z, err := starlark.Binary(syntax.PLUS, a.total(), x)
	if err != nil {
		return err
	}
	a.set(z)
	return nil
}

// addInts adds the ints xs, one after the other.
func (a *adder) addInts(xs []int64) error {
	switch a.mode {
	case intMode:
		hi, lo := a.hi, a.lo
		for _, x := range xs {
			var carry uint64
			lo, carry = bits.Add64(lo, uint64(x), 0)
			hi += uint64(x>>63) + carry
		}
		a.hi, a.lo = hi, lo
		return nil
	case floatMode:
		f := a.f
		for _, x := range xs {
			f += float64(x)
		}
		a.f = f
		return nil
	}
	for _, x := range xs {
		if err := a.add(starlark.MakeInt64(x)); err != nil {
			return err
		}
	}
	return nil
}

// addFloats adds the floats xs, one after the other.
func (a *adder) addFloats(xs []float64) error {
	for len(xs) > 0 && a.mode != floatMode {
		if err := a.add(starlark.Float(xs[0])); err != nil {
			return err
		}
		xs = xs[1:]
	}
	f := a.f
	for _, x := range xs {
		f += x
	}
	a.f = f
	return nil
}

// addAll adds the elements of xs, one after the other.
func (a *adder) addAll(xs starlark.Iterable) error {
	switch xs := xs.(type) {
	case *Vec:
		switch xs.kind {
		case intVec:
			return a.addInts(xs.ints)
		case floatVec:
			return a.addFloats(xs.floats)
		}
	case *starlark.List:
		for i := range xs.Len() {
			if err := a.add(xs.Index(i)); err != nil {
				return err
			}
		}
		return nil
	case starlark.Tuple:
		for _, x := range xs {
			if err := a.add(x); err != nil {
				return err
			}
		}
		return nil
	}
	it := xs.Iterate()
	defer it.Done()
	var x starlark.Value
	for it.Next(&x) {
		if err := a.add(x); err != nil {
			return err
		}
	}
	return nil
}

// int128 returns the 128-bit two's complement int hi:lo.
func int128(hi, lo uint64) starlark.Int {
	if hi == uint64(int64(lo)>>63) {
		return starlark.MakeInt64(int64(lo))
	}
	b := big.NewInt(int64(hi))
	b.Lsh(b, 64)
	return starlark.MakeBigInt(b.Add(b, new(big.Int).SetUint64(lo)))
}

// int192 returns the 192-bit two's complement int top:hi:lo.
func int192(top, hi, lo uint64) starlark.Int {
	if top == uint64(int64(hi)>>63) {
		return int128(hi, lo)
	}
	b := big.NewInt(int64(top))
	b.Lsh(b, 64)
	b.Add(b, new(big.Int).SetUint64(hi))
	b.Lsh(b, 64)
	return starlark.MakeBigInt(b.Add(b, new(big.Int).SetUint64(lo)))
}

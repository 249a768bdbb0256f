package lang

import (
	"context"
	"testing"
)

// Benchmarks of the native paths against the interpreter, side by side in
// one run (the machine is shared: compare ratios, not times). Each reports
// ns/elem, the time per element summed or mapped.
//
//	go test -run XXX -bench 'SumRange|VecSum|PmapSmall' -benchtime 3x ./lang/
//
// The splits run in process (InProcess): one chunk per core, each through
// the codec into a fresh interpreter, as on a server.

// benchEval evaluates the cell src in in b.N times, and reports the time
// per element of n.
func benchEval(b *testing.B, in *Interp, src string, scope map[string]Value, n int) {
	b.Helper()
	c := mustParse(b, src)
	b.ResetTimer()
	for range b.N {
		if _, err := in.Eval(context.Background(), c, scope); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/elem")
}

// BenchmarkSumRange sums 0..n-1 in chunks, one per core: by formula
// (sum of a range), in a vec made of each chunk's range (as
// dask.array.arange(n).sum() does with NumPy), the same in blocks of 65,536
// (which stay in the CPU's cache), in a Starlark loop over each chunk
// (Python's way without NumPy), and with a mapper per element.
func BenchmarkSumRange(b *testing.B) {
	in := NewInterp("local")
	const blocks = "def blocks(r):\n    return sum([vec.array(r[i:i + 65536]).sum() for i in range(0, len(r), 65536)])"
	const loop = "def loop(r):\n    acc = 0\n    for x in r:\n        acc += x\n    return acc"
	fns := map[string]Value{}
	for name, src := range map[string]string{"blocks": blocks, "loop": loop} {
		v, err := in.Eval(context.Background(), mustParse(b, src), nil)
		if err != nil {
			b.Fatal(err)
		}
		fns[name] = v
	}
	for _, bc := range []struct {
		name, src string
		n         int
	}{
		{"formula/1e8", "x = mapreduce(sum, sum, range(100000000), chunks=True)", 1e8},
		{"vec/1e8", "x = mapreduce(lambda r: vec.array(r).sum(), sum, range(100000000), chunks=True)", 1e8},
		{"vec-blocks/1e8", "x = mapreduce(blocks, sum, range(100000000), chunks=True)", 1e8},
		{"loop/1e7", "x = mapreduce(loop, sum, range(10000000), chunks=True)", 1e7},
		{"mapper/1e7", "x = mapreduce(lambda x: x, sum, range(10000000))", 1e7},
	} {
		b.Run(bc.name, func(b *testing.B) { benchEval(b, in, bc.src, fns, bc.n) })
	}
}

// BenchmarkVecSum sums a million ints or floats: a vec and a list with the
// native sum, and a list with a Starlark loop (the interpreter's way).
func BenchmarkVecSum(b *testing.B) {
	const n = 1_000_000
	in := NewInterp("local")
	scope := map[string]Value{}
	for name, src := range map[string]string{
		"ints":   "ints = vec.arange(1000000)",
		"floats": "floats = vec.arange(1000000) * 0.5",
		"loop":   "def loop(xs):\n    acc = 0\n    for x in xs:\n        acc += x\n    return acc",
	} {
		v, err := in.Eval(context.Background(), mustParse(b, src), nil)
		if err != nil {
			b.Fatal(err)
		}
		scope[name] = v
	}
	scope["intlist"], scope["floatlist"] = scope["ints"].(*Vec).list(), scope["floats"].(*Vec).list()
	for _, bc := range []struct{ name, src string }{
		{"int/vec", "x = sum(ints)"},
		{"int/list", "x = sum(intlist)"},
		{"int/loop", "x = loop(intlist)"},
		{"float/vec", "x = sum(floats)"},
		{"float/list", "x = sum(floatlist)"},
		{"float/loop", "x = loop(floatlist)"},
	} {
		b.Run(bc.name, func(b *testing.B) { benchEval(b, in, bc.src, scope, n) })
	}
}

// BenchmarkPmapSmall maps a small function over 100,000 elements, split
// one chunk per core: called per element on a vec and on a range, and
// once per chunk on vec slices; and, for reference, a comprehension
// without a split.
func BenchmarkPmapSmall(b *testing.B) {
	const n = 100_000
	in := NewInterp("local")
	v, err := in.Eval(context.Background(), mustParse(b, "v = vec.arange(100000)"), nil)
	if err != nil {
		b.Fatal(err)
	}
	scope := map[string]Value{"v": v}
	for _, bc := range []struct{ name, src string }{
		{"comprehension", "x = [x * 2 + 1 for x in range(100000)]"},
		{"pmap/range", "x = pmap(lambda x: x * 2 + 1, range(100000))"},
		{"pmap/vec", "x = pmap(lambda x: x * 2 + 1, v)"},
		{"pmap/vec-chunks", "x = pmap(lambda c: c * 2 + 1, v, chunks=True)"},
	} {
		b.Run(bc.name, func(b *testing.B) { benchEval(b, in, bc.src, scope, n) })
	}
}

package lang

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.starlark.net/starlark"
)

func TestFuncNeeds(t *testing.T) {
	greet := starlark.NewBuiltin("greet", func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
		return starlark.None, nil
	})
	server := &Interp{Where: "s", Provided: starlark.StringDict{"greet": greet, "db": starlark.String("x")}}
	local := NewInterp("local")
	eval := func(in *Interp, src string, scope map[string]Value) Value {
		t.Helper()
		v, err := in.Eval(context.Background(), mustParse(t, src), scope)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		return v
	}
	k := eval(local, "k = 3", nil)
	uses := eval(server, "def uses(x):\n    return greet(x) + db", nil)
	helper := eval(server, "def helper(x):\n    return greet(x)", nil)
	for _, tc := range []struct {
		v    Value
		want []string
	}{
		{starlark.MakeInt(1), nil},
		{builtins["sum"], nil},
		{eval(local, "f = lambda x: x + k + len(where()) + sum([math.floor(1.5)])", map[string]Value{"k": k}), nil},
		{eval(local, "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)", nil), nil},
		{eval(local, "def adder(n):\n    return lambda x: x + n", nil), nil},
		{uses, []string{"db", "greet"}},
		// Through what a function captures, and containers.
		{eval(local, "g = lambda x: helper(x)", map[string]Value{"helper": helper}), []string{"greet"}},
		{starlark.NewList([]Value{starlark.Tuple{uses}}), []string{"db", "greet"}},
	} {
		if got := FuncNeeds(tc.v); !slices.Equal(got, tc.want) {
			t.Errorf("FuncNeeds(%s) = %v, want %v", tc.v, got, tc.want)
		}
	}
}

// recordSplitter is InProcess that records the jobs it gets.
type recordSplitter struct {
	InProcess
	mu   sync.Mutex
	jobs []SplitJob
}

func (r *recordSplitter) Split(ctx context.Context, job SplitJob) ([]Value, error) {
	r.mu.Lock()
	r.jobs = append(r.jobs, job)
	r.mu.Unlock()
	return r.InProcess.Split(ctx, job)
}

func TestSplitArgs(t *testing.T) {
	rec := &recordSplitter{InProcess: InProcess{Where: "local"}}
	in := &Interp{Where: "local", Splitter: rec}
	for _, tc := range []struct {
		src, want string
		on        []string
	}{
		{`x = pmap(lambda v: v + 1, [1, 2])`, "[2, 3]", nil},
		{`x = pmap(lambda v: v + 1, [1, 2], on="gpu")`, "[2, 3]", []string{"gpu"}},
		{`x = pmap(xs=range(3), f=lambda v: v, on="eu,db-1.x")`, "[0, 1, 2]", []string{"eu", "db-1.x"}},
		{`x = mapreduce(lambda v: v, sum, range(5), on=None)`, "10", nil},
		{`x = mapreduce(lambda v: v, sum, range(5), on="a_b")`, "10", []string{"a_b"}},
	} {
		rec.jobs = nil
		v, err := in.Eval(context.Background(), mustParse(t, tc.src), nil)
		if err != nil || v.String() != tc.want {
			t.Errorf("%s = %v, %v; want %s", tc.src, v, err, tc.want)
			continue
		}
		if len(rec.jobs) != 1 || !slices.Equal(rec.jobs[0].On, tc.on) {
			t.Errorf("%s: jobs %+v, want one with On %q", tc.src, rec.jobs, tc.on)
		}
	}
	for _, tc := range []struct{ src, want string }{
		{`x = pmap(lambda v: v, [1], on="a b")`, `pmap: bad selector on="a b"`},
		{`x = pmap(lambda v: v, [1], on="a,")`, `pmap: bad selector on="a,"`},
		{`x = mapreduce(lambda v: v, sum, [1], on=["a"])`, `mapreduce: on= is list, want a string`},
		{`x = pmap(lambda v: v, [1], where="a")`, `unexpected keyword argument "where"`},
	} {
		_, err := in.Eval(context.Background(), mustParse(t, tc.src), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.src, err, tc.want)
		}
	}
}

func TestSplitProgress(t *testing.T) {
	in := NewInterp("local")
	var (
		mu      sync.Mutex
		reports []string
	)
	ctx := WithProgress(context.Background(), func(done, total int) {
		mu.Lock()
		reports = append(reports, fmt.Sprintf("%d/%d", done, total))
		mu.Unlock()
	})
	// Two splits, one nested in the chunks of the other: only the outer
	// one reports. Then a second split counts on.
	src := "x = pmap(lambda v: sum(pmap(lambda w: w, range(v))), range(40)) + pmap(lambda v: v, range(8))"
	v, err := in.Eval(ctx, mustParse(t, src), nil)
	if err != nil {
		t.Fatal(err)
	}
	if l := v.(*starlark.List); l.Len() != 48 || l.Index(39).String() != "741" {
		t.Errorf("x = %s", v)
	}
	mu.Lock()
	defer mu.Unlock()
	n := min(40, runtime.GOMAXPROCS(0))
	m := min(8, runtime.GOMAXPROCS(0))
	if want := fmt.Sprintf("%d/%d", n+m, n+m); len(reports) != n+m+2 || reports[len(reports)-1] != want {
		t.Errorf("reports %v: want %d of them, ending with %s", reports, n+m+2, want)
	}
	if reports[0] != fmt.Sprintf("0/%d", n) || reports[n+1] != fmt.Sprintf("%d/%d", n, n+m) {
		t.Errorf("reports %v: want 0/%d first, and %d/%d when the second split starts", reports, n, n, n+m)
	}
}

func TestSplitVec(t *testing.T) {
	v := NewIntVec([]int64{0, 1, 2, 3, 4, 5, 6})
	chunks, err := SplitItems(v, 3)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range chunks {
		got = append(got, c.String())
	}
	if want := []string{"vec([0, 1, 2])", "vec([3, 4])", "vec([5, 6])"}; !slices.Equal(got, want) {
		t.Errorf("SplitItems(%s, 3) = %v, want %v", v, got, want)
	}
	if &chunks[1].(*Vec).ints[0] != &v.ints[3] {
		t.Errorf("the chunks of a vec copy its elements; want them shared")
	}

	rec := &recordSplitter{InProcess: InProcess{Where: "local"}}
	in := &Interp{Where: "local", Splitter: rec}
	for _, tc := range []struct{ src, want string }{
		{"x = pmap(lambda x: x * x, vec.arange(5))", "[0, 1, 4, 9, 16]"},
		{"x = mapreduce(lambda x: x, sum, vec.arange(1, 101))", "5050"},
		{"x = pmap(lambda c: c * c, vec.arange(5), chunks=True)", "vec([0, 1, 4, 9, 16])"},
		{"x = pmap(lambda c: type(c), vec.arange(5), chunks=True)", "error: pmap: a chunk returned string, want list, tuple or vec"},
		{"x = pmap(lambda c: [type(c)], range(1), chunks=True)", `["range"]`},
		{"x = mapreduce(vec.sum, sum, vec.arange(1, 101) * 1.5, chunks=True)", "7575.0"},
		{"x = mapreduce(lambda c: vec.array(c).dot(vec.array(c)), sum, range(1000), chunks=True)", "332833500"},
		{"x = mapreduce(lambda c: len(c), sum, vec.arange(0), chunks=True)", "0"},
	} {
		rec.jobs = nil
		v, err := in.Eval(context.Background(), mustParse(t, tc.src), nil)
		if want, ok := strings.CutPrefix(tc.want, "error: "); ok {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s = %v, %v; want an error %q", tc.src, v, err, want)
			}
			continue
		}
		if err != nil || v.String() != tc.want {
			t.Errorf("%s = %v, %v; want %s", tc.src, v, err, tc.want)
			continue
		}
		// The splitter gets the vec, never a list made of it.
		if strings.Contains(tc.src, "vec.arange") && (len(rec.jobs) != 1 || rec.jobs[0].Items.Type() != "vec") {
			t.Errorf("%s: jobs %+v, want one whose items are a vec", tc.src, rec.jobs)
		}
	}
}

func TestChunkWhole(t *testing.T) {
	in := NewInterp("local")
	for _, whole := range []bool{false, true} {
		ch := Chunk{Map: starlark.Universe["len"], Reduce: starlark.None, Items: NewFloatVec([]float64{1, 2}), Whole: whole}
		data, err := EncodeChunk(ch)
		if err != nil {
			t.Fatal(err)
		}
		got, err := in.DecodeChunk(data, DecodeLimits{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Whole != whole || got.Items.String() != "vec([1.0, 2.0])" {
			t.Errorf("chunk with Whole %v decodes as %+v", whole, got)
		}
	}
	bad, _ := Encode(starlark.Tuple{starlark.Universe["len"], starlark.None, starlark.NewList(nil), starlark.False})
	if _, err := in.DecodeChunk(bad, DecodeLimits{}); err == nil || !strings.Contains(err.Error(), "want the tuple (map, reduce, items) or (map, reduce, items, True)") {
		t.Errorf("a 4-tuple ending in False decodes: %v", err)
	}
}

func TestMinChunks(t *testing.T) {
	for _, tc := range []struct {
		items Value
		max   int
		want  int
	}{
		{NewIntVec(make([]int64, 1000)), 8000, 1},
		{NewIntVec(make([]int64, 1000)), 7999, 2},
		{NewFloatVec(make([]float64, 1000)), 100, 80},
		{NewBoolVec(make([]bool, 1000)), 100, 10},
		{NewIntVec(nil), 100, 1},
		{starlark.NewList(make([]Value, 1000)), 10, 1}, // size unknown
	} {
		if got := MinChunks(tc.items, tc.max); got != tc.want {
			t.Errorf("MinChunks(%s, %d) = %d, want %d", tc.items.Type(), tc.max, got, tc.want)
		}
	}
}

package lang

import (
	"context"
	"errors"
	"math"
	"regexp"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// evalErr evaluates the cells of src in order in in, each with the values
// of those before it, and returns the error of the last one.
func evalErr(t *testing.T, in *Interp, src string) (Value, *Error) {
	t.Helper()
	cells, err := ParseFile("t.sp", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	scope := map[string]Value{}
	var v Value
	for _, c := range cells {
		v, err = in.Eval(context.Background(), c, scope)
		if err != nil {
			break
		}
		scope[c.Name] = v
	}
	if err == nil {
		return v, nil
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *Error", err, err)
	}
	return nil, e
}

// TestCallDepth checks that a recursion that does not end is stopped with
// an error at MaxCallDepth, with a short backtrace, instead of reaching Go's
// stack limit (which would end the process), and that a deep one that ends
// runs.
func TestCallDepth(t *testing.T) {
	in := &Interp{Where: "local", MaxSteps: 1 << 40}
	_, e := evalErr(t, in, "def f(n):\n    return f(n + 1)\nx = f(0)\n")
	if e == nil {
		t.Fatal("a recursion without end returned")
	}
	if ok, _ := regexp.MatchString(`^stopped at \d+ nested calls: the evaluation's limit is 10000 \(a recursion that does not end\?\)$`, e.Msg); !ok || e.Pos.Line != 2 {
		t.Errorf("error %s at %s, want the call depth limit at line 2", e.Msg, e.Pos)
	}
	if n := strings.Count(e.Backtrace, "\n"); n > 30 || !strings.Contains(e.Backtrace, "more calls") {
		t.Errorf("backtrace of %d lines, want it cut:\n%s", n, e.Backtrace)
	}
	// The interpreter is unharmed.
	v, e := evalErr(t, in, "def down(n):\n    return 0 if n == 0 else 1 + down(n - 1)\nx = down(5000)\n")
	if e != nil || v.String() != "5000" {
		t.Errorf("a recursion 5000 deep = %v, %v; want 5000", v, e)
	}
}

// TestRepeatGuard checks that a repetition of a literal that would take the
// process over its memory limit is refused before it allocates, and that
// smaller ones, and functions that repeat, work as before.
func TestRepeatGuard(t *testing.T) {
	in := &Interp{Where: "local", MaxMemory: 64 << 20}
	for _, tc := range []struct{ src, want string }{
		{"x = [0] * 1000000000", "a list of 1000000000 elements would take 14.9 GiB: the memory limit is 64.0 MiB for all evaluations in this process"},
		{"x = 1000000000 * [0, 1]", "a list of 2000000000 elements would take 29.8 GiB"},
		{"x = (None,) * 10000000", "a tuple of 10000000 elements would take 152.6 MiB"},
		{"x = 'ab' * 100000000", "a string of 200000000 bytes would take 190.7 MiB"},
		{"x = b'a' * 100000000", "a bytes value of 100000000 bytes would take 95.4 MiB"},
		{"def f(n):\n    return [[n] * n]\nx = f(100000000)", "a list of 100000000 elements would take 1.5 GiB"},
		{"x = 'a' * (1 << 40)", "repeat count 1099511627776 too large"},
	} {
		_, e := evalErr(t, in, tc.src)
		if e == nil || !strings.HasPrefix(e.Msg, tc.want) || e.Pos.Line == 0 {
			t.Errorf("%s: %v, want an error starting %q", tc.src, e, tc.want)
		}
	}
	for _, tc := range []struct{ src, want string }{
		{"x = len([0] * 100000)", "100000"},
		{"x = '-' * 3 + 2 * 'ab'", `"---abab"`},
		{"x = [] * 1000000000", "[]"},
		{"x = [[0] * 2] * 2", "[[0, 0], [0, 0]]"},
		{"x = 6 * 7", "42"},
		{"x = len([1, 2] * 1000000)", "2000000"},
	} {
		v, e := evalErr(t, in, tc.src)
		if e != nil || v.String() != tc.want {
			t.Errorf("%s = %v, %v; want %s", tc.src, v, e, tc.want)
		}
	}
	if _, e := evalErr(t, in, "x = [0] * 'a'"); e == nil || e.Msg != "unknown binary op: list * string" {
		t.Errorf("[0] * 'a': %v, want Starlark's own error", e)
	}
	if _, e := evalErr(t, in, "x = repeat*(1, 2, 'list')"); e == nil {
		t.Errorf("code named the guard")
	}

	// A function that repeats travels as its source, and is guarded where
	// it runs.
	f, e := evalErr(t, in, "def f(n):\n    return 'ab' * n")
	if e != nil {
		t.Fatal(e)
	}
	data, err := Encode(f)
	if err != nil {
		t.Fatal(err)
	}
	there := &Interp{Where: "there", MaxMemory: 64 << 20}
	g, err := there.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := there.Call(context.Background(), g, starlark.MakeInt(2)); err != nil || v.String() != `"abab"` {
		t.Errorf("f(2) there = %v, %v", v, err)
	}
	if _, err := there.Call(context.Background(), g, starlark.MakeInt(1<<30)); err == nil || !strings.Contains(err.Error(), "a string of 2147483648 bytes would take 2.0 GiB") {
		t.Errorf("f(1 << 30) there: %v, want the guard's error", err)
	}
}

// TestMemoryWatch checks that an evaluation that builds a value step by step
// is stopped once the process holds more than the memory limit, and that
// evaluations after it run.
func TestMemoryWatch(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates a few hundred MiB")
	}
	live := readHeap().live
	in := &Interp{Where: "local", MaxSteps: 1 << 40, MaxMemory: live + 64<<20}
	_, e := evalErr(t, in, "x = [i for i in range(100000000)]")
	if e == nil || !regexp.MustCompile(`^stopped with [\d.]+ MiB of memory in use: the limit is [\d.]+ MiB for all evaluations in this process$`).MatchString(e.Msg) || e.Pos.Line != 1 {
		t.Fatalf("a list of 100,000,000 ints: %v, want stopped at the memory limit", e)
	}
	if v, e := evalErr(t, in, "x = len([i for i in range(100000)])"); e != nil || v.String() != "100000" {
		t.Errorf("after the stop: %v, %v", v, e)
	}
	// No limit: nothing is watched.
	none := &Interp{Where: "local", MaxMemory: math.MaxUint64}
	if v, e := evalErr(t, none, "x = len([0] * 10000000)"); e != nil || v.String() != "10000000" {
		t.Errorf("without a limit: %v, %v", v, e)
	}
}

func TestSizeString(t *testing.T) {
	for _, tc := range []struct {
		n    uint64
		want string
	}{{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {3 << 29, "1.5 GiB"}, {math.MaxUint64, "16.0 EiB"}} {
		if got := sizeString(tc.n); got != tc.want {
			t.Errorf("sizeString(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

// TestJSONDepth checks that json.decode refuses input nested deeper than
// maxJSONDepth before its decoder recurses into it, and that the json
// module still travels by name.
func TestJSONDepth(t *testing.T) {
	in := NewInterp("local")
	if _, e := evalErr(t, in, `x = json.decode("[" * 20000000 + "]" * 20000000)`); e == nil || e.Msg != "json.decode: nested deeper than 10000 levels" || e.Pos.Line != 1 {
		t.Errorf("20,000,000 nested arrays: %v, want the nesting limit", e)
	}
	for _, tc := range []struct{ src, want string }{
		{`x = len(json.decode("[" * 10000 + "]" * 10000))`, "1"},
		{`x = json.decode('{"a": [1, "]]][[[\\"{"]}')`, `{"a": [1, "]]][[[\"{"]}`},
		{`x = json.decode("[[", default=7)`, "7"},
		{`x = json.encode({"k": [1, 2]})`, `"{\"k\":[1,2]}"`},
	} {
		if v, e := evalErr(t, in, tc.src); e != nil || v.String() != tc.want {
			t.Errorf("%s = %v, %v; want %s", tc.src, v, e, tc.want)
		}
	}
	v, e := evalErr(t, in, "x = json")
	if e != nil {
		t.Fatal(e)
	}
	data, err := Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	if back, err := in.Decode(data); err != nil || back != v {
		t.Errorf("json module decoded as %v, %v; want the module", back, err)
	}
	if !jsonDeeper(`[{"a": [[]]}]`, 3) || jsonDeeper(`[{"a": [[]]}]`, 4) || jsonDeeper(`"[[[[\"[["`, 0) {
		t.Error("jsonDeeper counts wrong")
	}
}

// TestSizedValues checks that a value built in one step whose size is known
// beforehand (by a builtin that makes a sequence of an iterable, or by a
// repetition of anything but a literal) is refused before it is allocated
// if it would take the process over its memory limit, with an error that
// says what and why at the cell's position, and that values under the limit
// are built as before.
func TestSizedValues(t *testing.T) {
	runtime.GC() // the live heap of the last collection is now's
	in := &Interp{Where: "local", MaxSteps: 1 << 40, MaxMemory: readHeap().live + 64<<20}
	rep := "def rep(a, b):\n    return a * b\n"
	for _, tc := range []struct{ src, want string }{
		{"x = len(list(range(10000000)))", "list: 10000000 elements would take 152.6 MiB: the memory limit is "},
		{"x = tuple(range(10000000))", "tuple: 10000000 elements would take 152.6 MiB"},
		{"x = sorted(range(10000000))", "sorted: 10000000 elements would take 152.6 MiB"},
		{"x = [f(range(10000000)) for f in [sorted]]", "sorted: 10000000 elements would take 152.6 MiB"},
		{"x = reversed(range(10000000))", "reversed: 10000000 elements would take 152.6 MiB"},
		{"x = enumerate(range(10000000))", "enumerate: 10000000 elements would take 686.6 MiB"},
		{"x = zip(range(10000000), range(20000000))", "zip: 10000000 elements would take 686.6 MiB"},
		{"x = set(range(10000000))", "set: 10000000 elements would take 610.4 MiB"},
		{"x = bytes(range(100000000))", "bytes: 100000000 elements would take 95.4 MiB"},
		{"f = list\nx = f(range(10000000))", "list: 10000000 elements would take 152.6 MiB"},
		{rep + "x = rep([0], 10000000)", "a list of 10000000 elements would take 152.6 MiB"},
		{rep + "x = rep(5000000, (1, 2))", "a tuple of 10000000 elements would take 152.6 MiB"},
		{rep + "x = rep('ab', 50000000)", "a string of 100000000 bytes would take 95.4 MiB"},
		{rep + "x = rep(100000000, b'a')", "a bytes value of 100000000 bytes would take 95.4 MiB"},
		{"def f(s, n):\n    s *= n\n    return s\nx = f([0], 10000000)", "a list of 10000000 elements would take 152.6 MiB"},
		{"def f(s, n):\n    return [s * (n + 1)]\nx = f([0], 10000000)", "a list of 10000001 elements would take 152.6 MiB"},
		// A formula: evaluated without the interpreter, checked the same way.
		{"l = [0, 1]\nn = 10000000\nx = l * n", "a list of 20000000 elements would take 305.2 MiB"},
		{"s = 'abc'\nn = 50000000\nx = n * s", "a string of 150000000 bytes would take 143.1 MiB"},
	} {
		heapBefore := allocated()
		_, e := evalErr(t, in, tc.src)
		if e == nil || !strings.HasPrefix(e.Msg, tc.want) || !strings.Contains(e.Msg, "for all evaluations in this process") || e.Pos.Line == 0 {
			t.Errorf("%s: %v, want an error starting %q at a position", tc.src, e, tc.want)
		}
		// Refused before it was built: far less was allocated than asked.
		if grew := allocated() - heapBefore; grew > 32<<20 {
			t.Errorf("%s: %s allocated meanwhile, want the value refused before it is built", tc.src, sizeString(grew))
		}
	}
	for _, tc := range []struct{ src, want string }{
		{"x = len(list(range(1000000)))", "1000000"},
		{"x = len(tuple(range(3000000)))", "3000000"},
		{"x = sorted(range(3), reverse=True)", "[2, 1, 0]"},
		{"x = len(enumerate(range(300000)))", "300000"},
		{"x = zip(range(2), 'ab'.elems())", `[(0, "a"), (1, "b")]`},
		{"x = len(set(range(100000)))", "100000"},
		{"x = bytes(range(65, 68))", `b"ABC"`},
		{rep + "x = len(rep([0], 3000000))", "3000000"},
		{rep + "x = len(rep(20000000, 'ab'))", "40000000"},
		{rep + "x = (rep(6, 7), rep(1.5, 2), rep(2, 0.25), rep(-1, [1]), rep([1, 2], 2), rep(2, vec.arange(2)))", "(42, 3.0, 0.5, [], [1, 2, 1, 2], vec([0, 2]))"},
		{"l = [0, 1]\nn = 1000000\nx = len(l * n)", "2000000"},
		{"a = 6\nb = 7\nx = a * b", "42"},
	} {
		v, e := evalErr(t, in, tc.src)
		if e != nil || v.String() != tc.want {
			t.Errorf("%s = %v, %v; want %s", tc.src, v, e, tc.want)
		}
	}
	// The operators' own errors are Starlark's.
	for _, tc := range []struct{ src, want string }{
		{rep + "x = rep([1], [2])", "unknown binary op: list * list"},
		{rep + "x = rep(None, 3)", "unknown binary op: NoneType * int"},
		{rep + "x = rep('a', 1 << 40)", "repeat count 1099511627776 too large"},
	} {
		if _, e := evalErr(t, in, tc.src); e == nil || e.Msg != tc.want {
			t.Errorf("%s: %v, want %q", tc.src, e, tc.want)
		}
	}
	// Without a limit, nothing is refused.
	none := &Interp{Where: "local", MaxMemory: math.MaxUint64}
	if v, e := evalErr(t, none, "x = len(list(range(5000000)))"); e != nil || v.String() != "5000000" {
		t.Errorf("without a limit: %v, %v", v, e)
	}
}

// allocated returns the bytes the process has allocated on the heap so far.
func allocated() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestGuardedOperands checks which operators * the compiler guards: not
// those whose operands are numbers by their syntax, nor x * 2.
func TestGuardedOperands(t *testing.T) {
	for _, tc := range []struct {
		src   string
		guard bool
	}{
		{"a * b", true},
		{"x * 3", true},
		{"3 * x", true},
		{"x * 2", false},
		{"2 * x + 1", false},
		{"x * 0.5", false},
		{"x * -4", false},
		{"(a - b) * (c + 1.0)", false},
		{"(a - b) * (c + d)", true},
		{"(a - b) * (c * d)", true},
		{"(a - b) * c[0]", true},
		{"(a or b) * 5", true},
		{"(a < b) * c", true},
		{"a / b * (c // d)", false},
	} {
		f, err := syntax.Parse("t.sp", "x = "+tc.src, 0)
		if err != nil {
			t.Fatal(err)
		}
		guardRepeats(f)
		var got bool
		syntax.Walk(f, func(n syntax.Node) bool {
			if id, ok := n.(*syntax.Ident); ok && id.Name == repeatKey {
				got = true
			}
			return true
		})
		if got != tc.guard {
			t.Errorf("%s: guarded %v, want %v", tc.src, got, tc.guard)
		}
	}
}

// TestMemoryWatchStopsTheHolder checks that when the heap is over the
// limit, the watch stops the evaluation that built the memory, not an
// older one that built nothing. The lists the hog builds are each too
// small to be checked against the heap (repeatCheck) but are counted.
func TestMemoryWatchStopsTheHolder(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates a few hundred MiB")
	}
	runtime.GC()
	in := &Interp{Where: "local", MaxSteps: 1 << 62, MaxMemory: readHeap().live + 64<<20}
	spin := mustParse(t, "x = len([1 for i in range(1 << 30) for j in range(1 << 30) if False])")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	spun := make(chan error, 1)
	go func() {
		_, err := in.Eval(ctx, spin, nil)
		spun <- err
	}()
	// The innocent loop runs first.
	for {
		memWatch.mu.Lock()
		n := len(memWatch.threads)
		memWatch.mu.Unlock()
		if n > 0 {
			break
		}
		runtime.Gosched()
	}
	_, e := evalErr(t, in, "x = [list(range(50000)) for i in range(1000000)]")
	if e == nil || !strings.HasPrefix(e.Msg, "stopped with ") {
		t.Fatalf("the hog: %v, want stopped at the memory limit", e)
	}
	select {
	case err := <-spun:
		t.Fatalf("the innocent loop was stopped: %v", err)
	default:
	}
	cancel()
	if err := <-spun; err == nil || !strings.Contains(err.Error(), "cancelled") {
		t.Errorf("the innocent loop: %v, want cancelled", err)
	}
}

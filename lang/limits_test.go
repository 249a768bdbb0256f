package lang

import (
	"context"
	"errors"
	"math"
	"regexp"
	"strings"
	"testing"

	"go.starlark.net/starlark"
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

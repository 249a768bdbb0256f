package lang

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestVecSteps checks that vec work counts against the step limit in
// proportion to the elements it goes through: a loop of few iterations
// over large vecs is stopped, as a loop over their elements would be.
func TestVecSteps(t *testing.T) {
	const limit = 200_000
	in := &Interp{Where: "local", MaxSteps: limit}
	v, err := NewInterp("local").Eval(context.Background(), mustParse(t, "v = vec.arange(100000)"), nil)
	if err != nil {
		t.Fatal(err)
	}
	scope := map[string]Value{"v": v}
	for _, src := range []string{
		// Builtins: each call goes through 100,000 elements (6,250 steps).
		"x = [vec.arange(100000).sum() for i in range(100)]",
		"x = [sum(v) for i in range(100)]",
		"x = [v.lt(i).dtype for i in range(100)]",
		// Operators, on a vec of the scope and on vecs the cell makes.
		"x = [(v + i).dtype for i in range(100)]",
		"x = [(-v).dtype for i in range(100)]",
		"x = [(vec.ones(100000) * i).dtype for i in range(100)]",
	} {
		_, err := in.Eval(context.Background(), mustParse(t, src), scope)
		var e *Error
		if !errors.As(err, &e) || !strings.HasPrefix(e.Msg, "stopped after 200000 steps") {
			t.Errorf("%s: %v, want it stopped at the step limit", src, err)
		}
	}
	// The same few iterations over small vecs take few steps.
	for _, src := range []string{
		"x = [(vec.arange(100) + i).sum() for i in range(100)]",
		"x = [(v[:100] * 2).dtype for i in range(100)]",
	} {
		if _, err := in.Eval(context.Background(), mustParse(t, src), scope); err != nil {
			t.Errorf("%s: %v", src, err)
		}
	}
}

// TestVecMemory checks that a vec that would take the process over its
// memory limit is refused before it is allocated.
func TestVecMemory(t *testing.T) {
	in := &Interp{Where: "local", MaxMemory: 64 << 20}
	big, err := in.Eval(context.Background(), mustParse(t, "big = vec.arange(6000000)"), nil) // 46 MiB
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ src, want string }{
		{"x = vec.arange(1000000000000)", "vec.arange: 1000000000000 elements would take 7.3 TiB: the memory limit is 64.0 MiB for all evaluations in this process"},
		{"x = vec.zeros(100000000)", "vec.zeros: 100000000 elements would take 762.9 MiB"},
		{"x = vec.array(range(100000000))", "vec.array: 100000000 elements would take 762.9 MiB"},
		{"x = vec.arange(-9223372036854775808, 9223372036854775807)", "vec.arange: 18446744073709551615 elements would take 16.0 EiB"},
		// With big in the heap, another as large does not fit.
		{"x = big + 1", "vec +: 6000000 elements would take 45.8 MiB, with "},
		{"x = big * 0.5", "vec *: 6000000 elements would take 45.8 MiB, with "},
	} {
		_, err := in.Eval(context.Background(), mustParse(t, tc.src), map[string]Value{"big": big})
		var e *Error
		if !errors.As(err, &e) || !strings.HasPrefix(e.Msg, tc.want) {
			t.Errorf("%s: %v, want an error starting %q", tc.src, err, tc.want)
		}
	}
}

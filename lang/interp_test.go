package lang

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.starlark.net/starlark"
)

func mustParse(t testing.TB, src string) *Cell {
	t.Helper()
	c := ParseCell("t.sp", 1, src)
	if c == nil || c.Err != nil {
		t.Fatalf("ParseCell(%q): %v", src, c)
	}
	return c
}

func TestEvalStepLimit(t *testing.T) {
	in := &Interp{Where: "local", MaxSteps: 10_000}
	c := mustParse(t, "x = [i for i in range(1000000)]")
	_, err := in.Eval(context.Background(), c, nil)
	var e *Error
	if !errors.As(err, &e) || !strings.Contains(e.Msg, "stopped after 10000 steps") || e.Pos.Line != 1 {
		t.Errorf("Eval over the step limit = %v, want a positioned error naming the limit", err)
	}
}

// TestEvalAfterStop checks that evaluations after one stopped by the step
// limit or by cancellation run in full, with the whole step limit: a
// stopped thread is never reused.
func TestEvalAfterStop(t *testing.T) {
	in := &Interp{Where: "local", MaxSteps: 10_000}
	long := mustParse(t, "x = [i for i in range(1000000)]")
	short := mustParse(t, "y = len([i for i in range(1000)])")
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for range 3 {
		if _, err := in.Eval(context.Background(), long, nil); err == nil {
			t.Fatal("the long cell ran within the step limit")
		}
		if _, err := in.Eval(cancelled, short, nil); !errors.Is(err, context.Canceled) {
			t.Fatalf("the short cell with a cancelled context: %v", err)
		}
		for range 3 {
			if v, err := in.Eval(context.Background(), short, nil); err != nil || v.String() != "1000" {
				t.Fatalf("y = %v, %v after a stopped evaluation", v, err)
			}
		}
	}
}

func TestEvalCancel(t *testing.T) {
	in := NewInterp("local")
	c := ParseCell("t.sp", 1, "def spin():\n    while True:\n        pass")
	spin, err := in.Eval(context.Background(), c, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := in.Eval(ctx, mustParse(t, "x = spin()"), map[string]Value{"spin": spin})
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled Eval = %v, want an error wrapping context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Eval did not stop when its context was cancelled")
	}
}

func TestEvalConcurrentScopes(t *testing.T) {
	// One cell evaluated at once with scopes that differ in which free names
	// are cells: the compiled-code cache must never mix them up.
	in := NewInterp("local")
	c := mustParse(t, "y = len + 1 if type(len) == \"int\" else len([1, 2])")
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			scope := map[string]Value{}
			want := "2" // len is the builtin
			if i%2 == 0 {
				scope["len"] = starlark.MakeInt(i)
				want = fmt.Sprint(i + 1) // len is a cell that shadows the builtin
			}
			v, err := in.Eval(context.Background(), c, scope)
			if err != nil || v.String() != want {
				t.Errorf("scope %v: got %v, %v; want %s", scope, v, err, want)
			}
		})
	}
	wg.Wait()
}

func TestParseCellKinds(t *testing.T) {
	for _, tc := range []struct {
		src      string
		name     string
		kind     Kind
		remote   bool
		selector string
		free     string
	}{
		{"x = a + b", "x", ValueCell, false, "", "a b"},
		{"x = remote f(a)", "x", ValueCell, true, "", "a f"},
		{"x = remote@gpu,eu f(a)", "x", ValueCell, true, "gpu,eu", "a f"},
		{"remote@db q()", "", AnonCell, true, "db", "q"},
		{"def f(n):\n    return n + k", "f", FuncCell, false, "", "k"},
		{"def fib(n):\n    return fib(n - 1)", "fib", FuncCell, false, "", ""},
		{"[y for y in xs if y > lim]", "", AnonCell, false, "", "lim xs"},
		{"remote_x = 1", "remote_x", ValueCell, false, "", ""},
		{"t = (1,\n  2)", "t", ValueCell, false, "", ""},
	} {
		c := ParseCell("t.sp", 1, tc.src)
		if c.Err != nil {
			t.Errorf("%q: %v", tc.src, c.Err)
			continue
		}
		got := fmt.Sprintf("%s %v %v %s [%s]", c.Name, c.Kind, c.Remote, strings.Join(c.Selector, ","), strings.Join(c.Free, " "))
		want := fmt.Sprintf("%s %v %v %s [%s]", tc.name, tc.kind, tc.remote, tc.selector, tc.free)
		if got != want {
			t.Errorf("%q: got %s, want %s", tc.src, got, want)
		}
	}
}

func TestParseFileSplitsCells(t *testing.T) {
	src := `# comment
a = 1   # trailing

b = [1,
2]
def f(x):
    # a comment inside
    s = """a
b = 2
"""
    return x

c = a + \
  b[0]
d = "# not a comment" + '(' # )
a + b[0]
`
	cells, err := ParseFile("w.sp", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cells {
		if c.Err != nil {
			t.Errorf("%s: %v", c.Name, c.Err)
		}
		got = append(got, fmt.Sprintf("%s@%d", c.Name, c.Pos.Line))
	}
	if want := "a@2 b@4 f@6 c@13 d@15 _1@16"; strings.Join(got, " ") != want {
		t.Errorf("cells %s, want %s", strings.Join(got, " "), want)
	}
}

func TestProvidedNames(t *testing.T) {
	greet := starlark.NewBuiltin("greet", func(_ *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
		return starlark.String("hi " + args[0].(starlark.String).GoString()), nil
	})
	server := &Interp{Where: "s", Provided: starlark.StringDict{"greet": greet}}
	v, err := server.Eval(context.Background(), mustParse(t, `x = greet("bob")`), nil)
	if err != nil || v.String() != `"hi bob"` {
		t.Errorf("provided name: %v, %v", v, err)
	}
	// Split work runs where the names are provided too.
	v, err = server.Eval(context.Background(), mustParse(t, `x = pmap(lambda n: greet(n), ["a", "b"])`), nil)
	if err != nil || v.String() != `["hi a", "hi b"]` {
		t.Errorf("pmap over a provided name: %v, %v", v, err)
	}
	// A function that uses a provided name does not carry it: it works
	// where the name is provided, and is undefined elsewhere.
	f, err := server.Eval(context.Background(), ParseCell("t.sp", 1, "def f(n):\n    return greet(n)"), nil)
	if err != nil {
		t.Fatal(err)
	}
	data, err := Encode(f)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewInterp("plain").Decode(data); err == nil || !strings.Contains(err.Error(), "undefined: greet") {
		t.Errorf("decoding where greet is not provided: %v, want undefined: greet", err)
	}
	other := &Interp{Where: "s2", Provided: starlark.StringDict{"greet": greet}}
	g, err := other.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := other.Call(context.Background(), g, starlark.String("al")); err != nil || v.String() != `"hi al"` {
		t.Errorf("f shipped to another provider: %v, %v", v, err)
	}
}

func TestDecodeJobReusesCells(t *testing.T) {
	server := NewInterp("server")
	c := mustParse(t, "x = n + 1")
	var first *Cell
	for n := range 3 {
		job, err := EncodeJob(c, map[string]Value{"n": starlark.MakeInt(n)})
		if err != nil {
			t.Fatal(err)
		}
		sc, scope, err := server.DecodeJob(job)
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = sc
		} else if sc != first {
			t.Errorf("job %d: the same code was parsed again", n)
		}
		if v, err := server.Eval(context.Background(), sc, scope); err != nil || v.String() != fmt.Sprint(n+1) {
			t.Errorf("job %d = %v, %v", n, v, err)
		}
	}
}

// TestJobFormat checks that EncodeJob writes exactly what Encode writes for
// the tuple (source, file, line, name, scope), which DecodeJob reads back
// with frozen values, and that DecodeJob names what is wrong with a bad job.
func TestJobFormat(t *testing.T) {
	c := mustParse(t, "y = f(x) + len(s)")
	f := mustParse(t, "def f(a):\n    return a * k")
	in := NewInterp("local")
	fv, err := in.Eval(context.Background(), f, map[string]Value{"k": starlark.MakeInt(3)})
	if err != nil {
		t.Fatal(err)
	}
	scope := map[string]Value{"x": starlark.MakeInt(14), "f": fv, "s": starlark.NewList([]Value{starlark.None})}
	job, err := EncodeJob(c, scope)
	if err != nil {
		t.Fatal(err)
	}
	d := starlark.NewDict(3)
	for _, name := range []string{"f", "s", "x"} {
		d.SetKey(starlark.String(name), scope[name])
	}
	want, err := Encode(starlark.Tuple{starlark.String(c.Source), starlark.String(c.Pos.File), starlark.MakeInt(c.Pos.Line), starlark.String(c.Name), d})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(job, want) {
		t.Fatalf("EncodeJob = %x\nwant        %x", job, want)
	}

	server := NewInterp("server")
	sc, sscope, err := server.DecodeJob(job)
	if err != nil {
		t.Fatal(err)
	}
	if sc.Name != "y" || sc.Source != c.Source || len(sscope) != 3 {
		t.Fatalf("decoded %s = %q with %d names", sc.Name, sc.Source, len(sscope))
	}
	if err := sscope["s"].(*starlark.List).Append(starlark.None); err == nil {
		t.Error("a decoded scope value is not frozen")
	}
	if v, err := server.Eval(context.Background(), sc, sscope); err != nil || v.String() != "43" {
		t.Errorf("y = %v, %v; want 43", v, err)
	}

	if _, err := EncodeJob(c, map[string]Value{"x": starlark.NewBuiltin("b", nil)}); err == nil || !strings.Contains(err.Error(), "cell y: cannot encode builtin_function_or_method value <built-in function b> at x") {
		t.Errorf("EncodeJob of a builtin: %v", err)
	}
	dup := append([]byte(nil), want...)
	dup = bytes.Replace(dup, []byte("\x61x"), []byte("\x61s"), 1) // the key x becomes a second s
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"not a tuple", encodeOrFatal(t, starlark.NewList(nil)), "decode job: decode value: offset 0: want a 5-tuple (source, file, line, name, scope)"},
		{"short tuple", encodeOrFatal(t, starlark.Tuple{starlark.String("x = 1")}), "got a 1-tuple, want a 5-tuple"},
		{"line zero", encodeOrFatal(t, starlark.Tuple{starlark.String("x = 1"), starlark.String("f"), starlark.MakeInt(0), starlark.String("x"), starlark.NewDict(0)}), "the line must be a positive int32"},
		{"scope not a dict", encodeOrFatal(t, starlark.Tuple{starlark.String("x = 1"), starlark.String("f"), starlark.MakeInt(1), starlark.String("x"), starlark.NewList(nil)}), "want the scope, a dict"},
		{"duplicate name", dup, `duplicate dict key "s"`},
		{"trailing bytes", append(want[:len(want):len(want)], 0), "1 trailing bytes after the value"},
		{"another cell", encodeOrFatal(t, starlark.Tuple{starlark.String("x = 1"), starlark.String("f"), starlark.MakeInt(1), starlark.String("z"), starlark.NewDict(0)}), "code defines x, not z"},
	} {
		if _, _, err := server.DecodeJob(tc.data); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: DecodeJob: %v, want an error with %q", tc.name, err, tc.want)
		}
	}
}

func encodeOrFatal(t *testing.T, v Value) []byte {
	t.Helper()
	b, err := Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestJobRefs checks that a job carries references to pending values, and
// that a reference is nothing else can carry.
func TestJobRefs(t *testing.T) {
	c := mustParse(t, "y = a + b")
	job, err := EncodeJob(c, map[string]Value{"a": Ref(7), "b": starlark.MakeInt(1)})
	if err != nil {
		t.Fatal(err)
	}
	_, scope, err := NewInterp("server").DecodeJob(job)
	if err != nil {
		t.Fatal(err)
	}
	if scope["a"] != Ref(7) || scope["b"] != starlark.MakeInt(1) {
		t.Errorf("decoded scope %v", scope)
	}
	if _, err := Encode(starlark.NewList([]Value{Ref(7)})); err == nil || !strings.Contains(err.Error(), "cannot encode ref value") {
		t.Errorf("Encode of a ref in a list: %v", err)
	}
	if _, err := NewInterp("x").Decode([]byte{0xd9, 0x73, 0x78, 0x07}); err == nil {
		t.Error("Decode accepted a ref outside a job")
	}
}

func TestAwait(t *testing.T) {
	c := mustParse(t, "y = a + b")
	pa, pb := NewPromise(), NewPromise()
	req := Request{Cell: c, Scope: map[string]Value{"k": starlark.None}, Pending: map[string]*Promise{"a": pa, "b": pb}}
	go func() {
		pa.Resolve(Result{Value: starlark.MakeInt(1)})
		pb.Resolve(Result{Value: starlark.MakeInt(2)})
	}()
	got, err := req.Await(context.Background())
	if err != nil || len(got.Pending) != 0 || len(got.Scope) != 3 || got.Scope["b"] != starlark.MakeInt(2) || len(req.Scope) != 1 {
		t.Fatalf("Await = %+v, %v", got, err)
	}
	pc := NewPromise()
	pc.Resolve(Result{Err: errors.New("boom")})
	_, err = Request{Cell: c, Pending: map[string]*Promise{"a": pc}}.Await(context.Background())
	var ie *InputFailedError
	if !errors.As(err, &ie) || ie.Input != "a" || err.Error() != "depends on failed a" {
		t.Errorf("Await with a failed input: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (Request{Cell: c, Pending: map[string]*Promise{"a": NewPromise()}}).Await(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Await cancelled: %v", err)
	}
}

func TestWith(t *testing.T) {
	in := &Interp{Where: "s", MaxSteps: 7, MaxMemory: 9, Provided: starlark.StringDict{"a": starlark.None}}
	w := in.With(starlark.StringDict{"b": starlark.True}, 3)
	if w.Where != "s" || w.MaxSteps != 3 || w.MaxMemory != 9 || w.Provided.Has("a") || !w.Provided.Has("b") {
		t.Errorf("With = %+v", w)
	}
	if !w.IsBuiltin("b") || w.IsBuiltin("a") {
		t.Error("the new interpreter's builtins are not its provided names")
	}
}

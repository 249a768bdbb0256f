package server

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/remote"
)

func TestModules(t *testing.T) {
	ts := startServer(t, Config{Name: "mods", Modules: []Module{
		{File: "testdata/modules/echo.star"},
		{Name: "loud", File: "testdata/modules/uses_echo.star"},
	}}, nil)
	c := connect(t, ts)
	want := []string{"VERSION", "echo", "echos", "here", "shout", "total"}
	if !slices.Equal(c.welcome.Provides, want) {
		t.Errorf("Welcome.Provides = %q, want %q (sorted, no private names, no builtins)", c.welcome.Provides, want)
	}
	for _, tc := range []struct {
		src, want string
	}{
		{`first = echo("hi")`, `"hi"`},
		{`third = echos("hi", 2, "more")`, `"hi 2 more"`},
		{`t = total([1, 2, 3])`, "6"},
		{`w = here()`, `"mods"`},
		{`v = VERSION`, `"1.0"`},
		{`s = shout("hey")`, `"HEY!"`},
		{`l = len(echo([1, 2]))`, "2"},
	} {
		t.Run(tc.src, func(t *testing.T) {
			if got := value(t, c.eval(remote.EvalCell, cellJob(t, tc.src, nil))); got != tc.want {
				t.Errorf("%s = %s, want %s", tc.src, got, tc.want)
			}
		})
	}
	t.Run("private names are not provided", func(t *testing.T) {
		for _, src := range []string{`p = _secret`, `p = _text(1)`} {
			wantError(t, c.eval(remote.EvalCell, cellJob(t, src, nil)), remote.CodeFailed, "undefined")
		}
	})
	t.Run("a module function's error points into the module", func(t *testing.T) {
		res := c.eval(remote.EvalCell, cellJob(t, `e = total(["a"])`, nil))
		wantError(t, res, remote.CodeFailed, "")
		if !strings.Contains(res.Error.Backtrace, "echo.star") {
			t.Errorf("backtrace %q does not show the module's file", res.Error.Backtrace)
		}
	})
	t.Run("a module function travels as code", func(t *testing.T) {
		res := c.eval(remote.EvalCell, cellJob(t, `f = echos`, nil))
		in := lang.NewInterp("local")
		f, err := in.Decode(res.Value)
		if err != nil {
			t.Fatal(err)
		}
		v, err := in.Call(context.Background(), f, localValue(t, `a = "a"`, nil), localValue(t, "b = 2", nil))
		if err != nil || v.String() != `"a 2"` {
			t.Errorf("echos(\"a\", 2) run locally = %v, %v; want \"a 2\"", v, err)
		}
	})
	if logs := ts.logs.String(); !strings.Contains(logs, "module=echo") || !strings.Contains(logs, "module=loud") {
		t.Errorf("the log does not name the modules loaded:\n%s", logs)
	}
}

func TestModuleErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.star")
	if err := os.WriteFile(bad, []byte("def ok():\n    return 1\n\ndef broken(x:\n    return x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mod := func(name, src string) Module { return Module{Name: name, File: name + ".star", Source: []byte(src)} }
	for _, tc := range []struct {
		name    string
		modules []Module
		provide map[string]any
		want    string
	}{
		{"syntax error in a file", []Module{{Name: "bad", File: bad}}, nil, "module bad: " + bad + ":4:14: got ':', want ')'"},
		{"undefined name", []Module{mod("m", "def f():\n    return nosuch\n")}, nil, "module m: m.star:2:12: undefined: nosuch"},
		{"top-level code fails", []Module{mod("m", "x = 1\ny = x // 0\n")}, nil, "module m: m.star:2:7: floored division by zero"},
		{"endless top-level code", []Module{mod("m", "def f():\n    while True:\n        pass\nf()\n")}, nil, "module m: m.star:"},
		{"missing file", []Module{{File: filepath.Join(dir, "nope.star")}}, nil, "module nope: open " + filepath.Join(dir, "nope.star")},
		{"a builtin", []Module{mod("m", "def len(x):\n    return 0\n")}, nil, "module m (m.star): cannot provide len: it is a builtin"},
		{"two modules, one name", []Module{mod("a", "def f():\n    return 1\n"), mod("b", "def f():\n    return 2\n")}, nil,
			"module b (b.star): cannot provide f: module a (a.star) provides it already"},
		{"a module and Provide, one name", []Module{mod("a", "def f():\n    return 1\n")}, map[string]any{"f": 1},
			"module a (a.star): cannot provide f: Config.Provide provides it already"},
		{"a later module's name", []Module{mod("a", "def f():\n    return g()\n"), mod("b", "def g():\n    return 1\n")}, nil,
			"module a: a.star:2:12: undefined: g"},
		{"load", []Module{mod("m", `load("x.star", "y")`)}, nil, "module m: m.star:1:1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(Config{Name: "a", Tokens: []string{testToken}, Modules: tc.modules, Provide: tc.provide, MaxSteps: 1_000_000})
			if err == nil {
				s.Close()
				t.Fatalf("New succeeded, want error %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v\nwant an error containing %q", err, tc.want)
			}
			var le *lang.Error
			if strings.Contains(tc.want, ".star:") && (!errors.As(err, &le) || le.Pos.Line == 0) {
				t.Errorf("error %v is not a *lang.Error with a position", err)
			}
		})
	}
}

func TestProvide(t *testing.T) {
	ts := startServer(t, Config{Name: "go", Provide: map[string]any{
		"double": func(n int) int { return 2 * n },
		"join":   func(sep string, parts ...string) string { return strings.Join(parts, sep) },
		"scale": func(xs []float64, k float64) []float64 {
			out := make([]float64, len(xs))
			for i, x := range xs {
				out[i] = x * k
			}
			return out
		},
		"fails":  func() error { return errors.New("it failed") },
		"panics": func() int { panic("oops") },
		"deadline": func(ctx context.Context) bool {
			_, ok := ctx.Deadline()
			return ok
		},
		"keys":  func(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) },
		"rates": map[string]float64{"eur": 1.1, "chf": 1.2},
		"rows":  []lang.Items{{{Key: "b", Value: 1}, {Key: "a", Value: nil}}},
		"pi":    3.14,
	}}, nil)
	c := connect(t, ts)
	want := []string{"deadline", "double", "fails", "join", "keys", "panics", "pi", "rates", "rows", "scale"}
	if !slices.Equal(c.welcome.Provides, want) {
		t.Errorf("Welcome.Provides = %q, want %q", c.welcome.Provides, want)
	}
	for _, tc := range []struct {
		src, want string
	}{
		{`d = double(21)`, "42"},
		{`j = join("-", "a", "b", "c")`, `"a-b-c"`},
		{`j = join(",")`, `""`},
		{`s = scale([1, 2.5], 2)`, "[2.0, 5.0]"},
		{`s = scale((1,), 3)`, "[3.0]"},
		{`d = deadline()`, "True"},
		{`k = keys({"b": 1, "a": [2]})`, `["a", "b"]`},
		{`r = rates`, `{"chf": 1.2, "eur": 1.1}`},
		{`r = rows`, `[{"b": 1, "a": None}]`},
		{`p = pi * 2`, "6.28"},
	} {
		t.Run(tc.src, func(t *testing.T) {
			if got := value(t, c.eval(remote.EvalCell, cellJob(t, tc.src, nil))); got != tc.want {
				t.Errorf("%s = %s, want %s", tc.src, got, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		src, want string
	}{
		{`e = fails()`, "fails: it failed"},
		{`e = panics()`, "panics: panic: oops"},
		{`e = double("x")`, "double: argument 1: got string, want int"},
		{`e = double(1 << 70)`, "double: argument 1: 1180591620717411303424 does not fit in a Go int"},
		{`e = double(1, 2)`, "double: got 2 arguments, want 1"},
		{`e = join()`, "join: got 0 arguments, want at least 1"},
		{`e = double(n = 1)`, "double: unexpected keyword argument"},
		{`e = scale(["a"], 1)`, "scale: argument 1: element 0: got string, want float"},
		{`e = rates.update({"x": 1})`, "frozen"},
	} {
		t.Run(tc.src, func(t *testing.T) {
			wantError(t, c.eval(remote.EvalCell, cellJob(t, tc.src, nil)), remote.CodeFailed, tc.want)
		})
	}
}

func TestProvideErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		provide map[string]any
		want    string
	}{
		{"not an identifier", map[string]any{"a-b": 1}, `Config.Provide: cannot provide "a-b": not an identifier`},
		{"a keyword", map[string]any{"def": 1}, `Config.Provide: cannot provide "def": not an identifier`},
		{"private", map[string]any{"_x": 1}, "cannot provide _x: a name starting with _ is private"},
		{"a builtin", map[string]any{"len": 1}, "cannot provide len: it is a builtin"},
		{"a builtin of sperse", map[string]any{"where": 1}, "cannot provide where: it is a builtin"},
		{"data that cannot be a value", map[string]any{"ch": make(chan int)}, "provided name ch: cannot convert Go chan int"},
		{"a parameter code cannot pass", map[string]any{"f": func(chan int) {}}, "function f: parameter 1 has Go type chan int"},
		{"too many results", map[string]any{"f": func() (int, int, error) { return 0, 0, nil }}, "function f: returns func() (int, int, error)"},
		{"two results without an error", map[string]any{"f": func() (int, int) { return 0, 0 }}, "function f: returns"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(Config{Name: "a", Tokens: []string{testToken}, Provide: tc.provide})
			if err == nil {
				s.Close()
				t.Fatalf("New succeeded, want error %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v\nwant an error containing %q", err, tc.want)
			}
		})
	}
}

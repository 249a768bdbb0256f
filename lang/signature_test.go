package lang

import (
	"context"
	"strings"
	"testing"
)

// funcValue evaluates the function cell src.
func funcValue(t *testing.T, src string) Value {
	t.Helper()
	c := ParseCell("lib.sp", 1, src)
	if c == nil || c.Err != nil {
		t.Fatalf("cell %q: %v", src, c.Err)
	}
	v, err := NewInterp("local").Eval(context.Background(), c, nil)
	if err != nil {
		t.Fatalf("eval %q: %v", src, err)
	}
	return v
}

func TestSignatureOf(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"def f(): pass", "f()"},
		{"def f(x): pass", "f(x)"},
		{"def f(x, y=1, *args): pass", "f(x, y=1, *args)"},
		{"def f(x, *, k, j=[1, 2], **kw): pass", "f(x, *, k, j=[1, 2], **kw)"},
		{"def f(*args, k=None): pass", "f(*args, k=None)"},
		{"def f(**kw): pass", "f(**kw)"},
		{`def f(s="` + strings.Repeat("a", 100) + `"): pass`, `f(s="` + strings.Repeat("a", 39) + `...)`},
		{"remote def f(a, b): pass", "f(a, b)"},
		{"g = lambda a, b=2: a", "g(a, b=2)"},
	} {
		t.Run(tc.src, func(t *testing.T) {
			name := "f"
			if tc.src[0] == 'g' {
				name = "g"
			}
			sig, err := SignatureOf(name, 3, funcValue(t, tc.src))
			if err != nil {
				t.Fatal(err)
			}
			if got := sig.String(); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
			if sig.Version != 3 {
				t.Errorf("version %d, want 3", sig.Version)
			}
		})
	}
	if _, err := SignatureOf("x", 1, funcValue(t, "x = 1")); err == nil || err.Error() != "got int, want a function (def or lambda)" {
		t.Errorf("SignatureOf an int: %v", err)
	}
}

func TestCheckCalls(t *testing.T) {
	sig := func(src string) Signature {
		t.Helper()
		s, err := SignatureOf("f", 3, funcValue(t, src))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	one := sig("def f(x): pass")
	for _, tc := range []struct {
		name string
		sig  Signature
		cell string
		want string // "" if the calls match
	}{
		{"match", one, "y = remote f(3)", ""},
		{"too many", one, "y = remote f(3, 4)", "ws.sp:1:12: f() takes 1 positional argument but 2 were given (published f, version 3: f(x))"},
		{"too few", one, "y = remote f()", "ws.sp:1:12: f() missing 1 required positional argument: 'x' (published f, version 3: f(x))"},
		{"by keyword", one, "y = remote f(x=3)", ""},
		{"unknown keyword", one, "y = remote f(z=3)", "ws.sp:1:12: f() got an unexpected keyword argument 'z' (published f, version 3: f(x))"},
		{"twice", one, "y = remote f(3, x=3)", "ws.sp:1:12: f() got multiple values for argument 'x' (published f, version 3: f(x))"},
		{"unpacks", one, "y = remote f(*[1, 2])", ""},
		{"unpacks keywords", one, "y = remote f(**{'z': 1})", ""},
		{"nested", one, "y = remote [f(i) for i in range(3)] + [f(1, 2)]", "ws.sp:1:40: f() takes 1 positional argument but 2 were given (published f, version 3: f(x))"},
		{"shadowed by a parameter", one, "g = lambda f: f(1, 2)", ""},
		{"shadowed by a local", one, "def g():\n    f = len\n    return f(1, 2)", ""},
		{"not a plain name", one, "y = remote [f][0](1, 2)", ""},
		{"anonymous cell", one, "remote f(1, 2)", "ws.sp:1:8: f() takes 1 positional argument but 2 were given (published f, version 3: f(x))"},
		{"defaults", sig("def f(x, y=1): pass"), "y = f(1, 2, 3)", "ws.sp:1:5: f() takes from 1 to 2 positional arguments but 3 were given (published f, version 3: f(x, y=1))"},
		{"none", sig("def f(): pass"), "y = f(1)", "ws.sp:1:5: f() takes 0 positional arguments but 1 was given (published f, version 3: f())"},
		{"varargs", sig("def f(x, *rest): pass"), "y = f(1, 2, 3, 4)", ""},
		{"varargs missing", sig("def f(x, y, z, *rest): pass"), "y = f()", "ws.sp:1:5: f() missing 3 required positional arguments: 'x', 'y', and 'z' (published f, version 3: f(x, y, z, *rest))"},
		{"keyword-only", sig("def f(x, *, k): pass"), "y = f(1)", "ws.sp:1:5: f() missing 1 required keyword-only argument: 'k' (published f, version 3: f(x, *, k))"},
		{"keyword-only given", sig("def f(x, *, k): pass"), "y = f(1, k=2)", ""},
		{"keyword-only positionally", sig("def f(x, *, k): pass"), "y = f(1, 2, k=3)", "ws.sp:1:5: f() takes 1 positional argument but 2 were given (published f, version 3: f(x, *, k))"},
		{"kwargs", sig("def f(x, **kw): pass"), "y = f(1, a=1, b=2)", ""},
		{"varargs name is no keyword", sig("def f(*args): pass"), "y = f(args=1)", "ws.sp:1:5: f() got an unexpected keyword argument 'args' (published f, version 3: f(*args))"},
		{"syntax error", one, "y = f(1, 2", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ParseCell("ws.sp", 1, tc.cell)
			if c.Name == "" {
				c.Name = "_1"
			}
			err := CheckCalls(c, map[string]Signature{"f": tc.sig})
			got := ""
			if err != nil {
				got = err.Error()
				if _, ok := err.(*Error); !ok {
					t.Errorf("error is %T, want *Error", err)
				}
			}
			if got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

package lang

import (
	"fmt"
	"strings"

	"go.starlark.net/resolve"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// Signature is the parameters of a published function, as its def wrote
// them: what a call of it must match (see CheckCalls). A client checks a
// cell's calls of published names against the signatures its servers
// advertise before it sends the cell anywhere.
type Signature struct {
	Name    string  // the published name
	Version int     // the version it is the signature of
	Params  []Param // the positional parameters in order, then the keyword-only ones
	Varargs string  // the name of its *args parameter; "" if it has none
	Kwargs  string  // the name of its **kwargs parameter; "" if it has none
}

// Param is one parameter of a Signature.
type Param struct {
	Name    string
	Default string // the repr of its default value, shortened; "" if it has none (a call must give it)
	KwOnly  bool   // keyword-only: after * or *args
}

// maxDefaultRepr bounds the repr of a default value in a Signature.
const maxDefaultRepr = 40

// SignatureOf returns the signature of fn published as name at version:
// fn must be a def function or a lambda, or a pinned one (its function).
func SignatureOf(name string, version int, fn Value) (Signature, error) {
	f, err := publishable(fn)
	if err != nil {
		return Signature{}, err
	}
	sig := Signature{Name: name, Version: version}
	n := f.NumParams()
	if f.HasKwargs() {
		n--
		sig.Kwargs, _ = f.Param(n)
	}
	if f.HasVarargs() {
		n--
		sig.Varargs, _ = f.Param(n)
	}
	positional := n - f.NumKwonlyParams()
	for i := range n {
		p := Param{KwOnly: i >= positional}
		p.Name, _ = f.Param(i)
		if d := f.ParamDefault(i); d != nil {
			p.Default = shorten(d.String(), maxDefaultRepr)
		}
		sig.Params = append(sig.Params, p)
	}
	return sig, nil
}

// publishable returns the Starlark function of v, a value publish accepts:
// a def function or a lambda, or a pinned function.
func publishable(v Value) (*starlark.Function, error) {
	switch f := v.(type) {
	case *starlark.Function:
		return f, nil
	case *Pinned:
		return f.Fn, nil
	}
	return nil, fmt.Errorf("got %s, want a function (def or lambda)", v.Type())
}

// shorten cuts s to about n bytes on a rune boundary, marking the cut.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "..."
}

// String returns the signature as a def writes it: "f(x, y=1, *args, k, **kw)".
func (s Signature) String() string {
	var parts []string
	star := false
	for _, p := range s.Params {
		if p.KwOnly && !star {
			star = true
			parts = append(parts, "*"+s.Varargs)
		}
		if p.Default != "" {
			parts = append(parts, p.Name+"="+p.Default)
		} else {
			parts = append(parts, p.Name)
		}
	}
	if !star && s.Varargs != "" {
		parts = append(parts, "*"+s.Varargs)
	}
	if s.Kwargs != "" {
		parts = append(parts, "**"+s.Kwargs)
	}
	return s.Name + "(" + strings.Join(parts, ", ") + ")"
}

// positional returns the parameters that take positional arguments, and how
// many of them come first without a default.
func (s Signature) positional() (names []string, required int) {
	for _, p := range s.Params {
		if p.KwOnly {
			break
		}
		names = append(names, p.Name)
		if p.Default == "" {
			required = len(names)
		}
	}
	return names, required
}

// Call is a call of a name in a cell's code, as FindCalls finds it: how many
// positional arguments it passes and the names of its keyword arguments.
type Call struct {
	Name       string
	Pos        Pos // where the call starts: its callee
	Positional int
	Keywords   []string
	Unpacks    bool // passes *args or **kwargs: its arguments are known only when it runs
}

// FindCalls returns the calls in c's code, in order, of the names for
// which want is true: calls f(...) whose callee is the name f itself, a
// name the cell does not bind (a parameter or a variable of its own called
// f is another f). A cell that does not parse calls nothing.
func FindCalls(c *Cell, want func(name string) bool) []Call {
	if c.Err != nil {
		return nil
	}
	f, err := parseCode(c.Pos.File, c.Pos.Line, c.codeCol, c.code)
	if err != nil {
		return nil
	}
	if err := resolve.File(f, func(string) bool { return true }, starlark.Universe.Has); err != nil {
		return nil
	}
	var calls []Call
	syntax.Walk(f, func(n syntax.Node) bool {
		call, ok := n.(*syntax.CallExpr)
		if !ok {
			return true
		}
		id, ok := call.Fn.(*syntax.Ident)
		if !ok || !want(id.Name) {
			return true
		}
		if b, ok := id.Binding.(*resolve.Binding); !ok || b.Scope != resolve.Predeclared {
			return true
		}
		k := Call{Name: id.Name, Pos: toPos(id.NamePos)}
		for _, arg := range call.Args {
			switch arg := arg.(type) {
			case *syntax.BinaryExpr:
				if kw, ok := arg.X.(*syntax.Ident); ok && arg.Op == syntax.EQ {
					k.Keywords = append(k.Keywords, kw.Name)
					continue
				}
			case *syntax.UnaryExpr:
				if arg.Op == syntax.STAR || arg.Op == syntax.STARSTAR {
					k.Unpacks = true
					continue
				}
			}
			k.Positional++
		}
		calls = append(calls, k)
		return true
	})
	return calls
}

// Check returns the error of call if it does not match sig, the signature
// of the published function it calls, or nil: an *Error at the call's
// position that says what is wrong as Python would, then which version of
// the function it was checked against. A call that unpacks arguments
// (*args, **kwargs) is not checked.
func (call Call) Check(sig Signature) error {
	if call.Unpacks {
		return nil
	}
	msg := sig.mismatch(call.Positional, call.Keywords)
	if msg == "" {
		return nil
	}
	return &Error{Pos: call.Pos, Msg: fmt.Sprintf("%s() %s (published %s, version %d: %s)",
		call.Name, msg, sig.Name, sig.Version, sig)}
}

// mismatch says why a call with npos positional arguments and keyword
// arguments named kws does not match s, or returns "".
func (s Signature) mismatch(npos int, kws []string) string {
	names, required := s.positional()
	if npos > len(names) && s.Varargs == "" {
		takes := fmt.Sprint(len(names))
		if required < len(names) {
			takes = fmt.Sprintf("from %d to %d", required, len(names))
		}
		were := "were"
		if npos == 1 {
			were = "was"
		}
		return fmt.Sprintf("takes %s positional argument%s but %d %s given", takes, plural(len(names)), npos, were)
	}
	given := map[string]bool{}
	for i := 0; i < npos && i < len(names); i++ {
		given[names[i]] = true
	}
	for _, kw := range kws {
		known := false
		for _, p := range s.Params {
			known = known || p.Name == kw
		}
		switch {
		case given[kw]:
			return fmt.Sprintf("got multiple values for argument '%s'", kw)
		case !known && s.Kwargs == "":
			return fmt.Sprintf("got an unexpected keyword argument '%s'", kw)
		}
		given[kw] = true
	}
	var missing, missingKw []string
	for _, p := range s.Params {
		if p.Default != "" || given[p.Name] {
			continue
		}
		if p.KwOnly {
			missingKw = append(missingKw, p.Name)
		} else {
			missing = append(missing, p.Name)
		}
	}
	switch {
	case len(missing) > 0:
		return fmt.Sprintf("missing %d required positional argument%s: %s", len(missing), plural(len(missing)), quoteList(missing))
	case len(missingKw) > 0:
		return fmt.Sprintf("missing %d required keyword-only argument%s: %s", len(missingKw), plural(len(missingKw)), quoteList(missingKw))
	}
	return ""
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// quoteList lists names as Python does: 'a', 'a' and 'b', 'a', 'b', and 'c'.
func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = "'" + n + "'"
	}
	switch len(q) {
	case 1:
		return q[0]
	case 2:
		return q[0] + " and " + q[1]
	}
	return strings.Join(q[:len(q)-1], ", ") + ", and " + q[len(q)-1]
}

// CheckCalls checks the calls in c's code of the names in sigs (see
// FindCalls) against their signatures, and returns the error of the first
// that does not match (see Call.Check), or nil.
func CheckCalls(c *Cell, sigs map[string]Signature) error {
	if len(sigs) == 0 {
		return nil
	}
	for _, call := range FindCalls(c, func(name string) bool { _, ok := sigs[name]; return ok }) {
		if err := call.Check(sigs[call.Name]); err != nil {
			return err
		}
	}
	return nil
}

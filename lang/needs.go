package lang

import (
	"sort"

	"go.starlark.net/starlark"
)

// FuncNeeds returns the names that the functions in v use but neither
// capture nor find among the builtins of sperse and Starlark, sorted: the
// names the place that runs them must provide (a server's plugins, datasets,
// databases; see Interp.Provided). v may be a function, or a list, tuple or
// dict holding functions; the functions they capture are followed. Any other
// value needs nothing.
func FuncNeeds(v Value) []string {
	need := map[string]bool{}
	seen := map[Value]bool{}
	var walk func(v Value)
	walk = func(v Value) {
		switch v := v.(type) {
		case *starlark.Function:
			if seen[v] {
				return
			}
			seen[v] = true
			funcNeeds(v, need, walk)
		case *starlark.List:
			for i := 0; i < v.Len(); i++ {
				walk(v.Index(i))
			}
		case starlark.Tuple:
			for _, x := range v {
				walk(x)
			}
		case *starlark.Dict:
			for _, kv := range v.Items() {
				walk(kv[1])
			}
		}
	}
	walk(v)
	names := make([]string, 0, len(need))
	for name := range need {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// funcNeeds adds to need the names fn uses that it does not capture and
// that are no builtins, and walks the values it captures. It reads fn's
// source through its unit, as captureFunc does.
func funcNeeds(fn *starlark.Function, need map[string]bool, walk func(Value)) {
	predeclared := fn.Module().Predeclared()
	u, _ := predeclared[unitKey].(*unit)
	if u == nil {
		return
	}
	pos := fn.Position()
	src := u.funcs[[2]int32{pos.Line, pos.Col}]
	if src == nil {
		return
	}
	var globals starlark.StringDict
	for _, name := range src.refs {
		if u.scope[name] {
			walk(predeclared[name])
			continue
		}
		if globals == nil {
			globals = fn.Globals()
		}
		if v, ok := globals[name]; ok {
			walk(v)
			continue
		}
		if _, ok := builtinNamed(name); !ok {
			need[name] = true
		}
	}
	for i := 0; i < fn.NumFreeVars(); i++ {
		_, v := fn.FreeVar(i)
		walk(v)
	}
}

package lang

import (
	"context"
	"fmt"
	"math/big"
	"reflect"
	"slices"
	"unicode/utf8"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// This file is what a place needs to provide names beyond the builtins (see
// Interp.Provided) without importing starlark: Starlark modules loaded from
// files, Go functions wrapped as builtins, and Go data converted to values.

// LoadModule runs the Starlark file filename, whose text is src, as a module
// of in, and returns its globals, frozen, so that they are safe to share
// between evaluations. The module's code may use in's builtins and provided
// names. Its functions may be provided by another interpreter: when code
// calls them, they run in the caller's thread, with the caller's where(),
// limits and cancellation.
//
// A file that does not parse or compile, or whose top-level code fails, is
// an *Error with the position in filename ("file:line:col: message").
// Top-level code stops when ctx is done or at in's step limit.
func (in *Interp) LoadModule(ctx context.Context, filename string, src []byte) (map[string]Value, error) {
	if len(src) > MaxFileSize {
		return nil, fmt.Errorf("%s: file is %d bytes; a module may be at most %d", filename, len(src), MaxFileSize)
	}
	if !utf8.Valid(src) {
		return nil, fmt.Errorf("%s: file is not UTF-8 text", filename)
	}
	f, err := parseCode(filename, 1, 1, string(src))
	if err != nil {
		return nil, err
	}
	prog, u, err := in.compileFile(f, string(src), Pos{File: filename, Line: 1, Col: 1}, nil)
	if err != nil {
		return nil, err
	}
	globals, err := in.run(ctx, filename, func(thread *starlark.Thread) (starlark.StringDict, error) {
		env := make(starlark.StringDict, len(in.builtinDict())+1)
		for name, v := range in.builtinDict() {
			env[name] = v
		}
		env[unitKey], env[repeatKey] = u, repeatGuard
		return prog.Init(thread, env)
	})
	if err != nil {
		return nil, err
	}
	globals.Freeze()
	return globals, nil
}

// IsIdentifier reports whether name is a Starlark identifier that is not a
// keyword: a name code can refer to.
func IsIdentifier(name string) bool {
	e, err := syntax.ParseExpr("", name, 0)
	id, ok := e.(*syntax.Ident)
	return err == nil && ok && id.Name == name
}

// Items is a dict whose keys keep the order given, for FromGo: a row of a
// table, say. A map becomes a dict with its keys sorted.
type Items []Item

// Item is one key and value of Items.
type Item struct {
	Key   string
	Value any
}

// FromGo converts Go data to a value: nil to None; bool; the integer types
// and *big.Int to int; float32 and float64 to float; string; []byte to
// bytes; Items, and maps with string keys (sorted), to dict; other slices
// and arrays to list, recursively. A Value is returned as it is. Anything
// else is an error.
func FromGo(x any) (Value, error) {
	switch x := x.(type) {
	case nil:
		return starlark.None, nil
	case Value:
		return x, nil
	case bool:
		return starlark.Bool(x), nil
	case int:
		return starlark.MakeInt(x), nil
	case int64:
		return starlark.MakeInt64(x), nil
	case uint64:
		return starlark.MakeUint64(x), nil
	case *big.Int:
		if x == nil {
			return starlark.None, nil
		}
		return starlark.MakeBigInt(x), nil
	case float64:
		return starlark.Float(x), nil
	case string:
		return starlark.String(x), nil
	case []byte:
		return starlark.Bytes(x), nil
	case Items:
		d := starlark.NewDict(len(x))
		for _, it := range x {
			v, err := FromGo(it.Value)
			if err != nil {
				return nil, fmt.Errorf("key %q: %w", it.Key, err)
			}
			d.SetKey(starlark.String(it.Key), v)
		}
		return d, nil
	case []any:
		return listFromGo(len(x), func(i int) any { return x[i] })
	}
	rv := reflect.ValueOf(x)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return starlark.MakeInt64(rv.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return starlark.MakeUint64(rv.Uint()), nil
	case reflect.Float32, reflect.Float64:
		return starlark.Float(rv.Float()), nil
	case reflect.String:
		return starlark.String(rv.String()), nil
	case reflect.Bool:
		return starlark.Bool(rv.Bool()), nil
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.Type().Elem().Kind() == reflect.Uint8 {
			return starlark.Bytes(rv.Bytes()), nil
		}
		return listFromGo(rv.Len(), func(i int) any { return rv.Index(i).Interface() })
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			break
		}
		keys := rv.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int {
			switch {
			case a.String() < b.String():
				return -1
			case a.String() > b.String():
				return 1
			}
			return 0
		})
		d := starlark.NewDict(len(keys))
		for _, k := range keys {
			v, err := FromGo(rv.MapIndex(k).Interface())
			if err != nil {
				return nil, fmt.Errorf("key %q: %w", k.String(), err)
			}
			d.SetKey(starlark.String(k.String()), v)
		}
		return d, nil
	}
	return nil, fmt.Errorf("cannot convert Go %T to a value", x)
}

func listFromGo(n int, elem func(i int) any) (Value, error) {
	elems := make([]starlark.Value, n)
	for i := range elems {
		v, err := FromGo(elem(i))
		if err != nil {
			return nil, fmt.Errorf("element %d: %w", i, err)
		}
		elems[i] = v
	}
	return starlark.NewList(elems), nil
}

// ToGo converts a value to Go data: None to nil; bool; int to int64, or to
// *big.Int if it does not fit; float to float64; string; bytes to []byte;
// list and tuple to []any; a vec to []int64, []float64 or []bool (a copy);
// a dict whose keys are all strings to map[string]any, recursively. Other values (functions, ranges, sets, dicts
// with other keys) are returned as they are, as Values.
func ToGo(v Value) any {
	switch v := v.(type) {
	case starlark.NoneType:
		return nil
	case starlark.Bool:
		return bool(v)
	case starlark.Int:
		if i, ok := v.Int64(); ok {
			return i
		}
		return v.BigInt()
	case starlark.Float:
		return float64(v)
	case starlark.String:
		return string(v)
	case starlark.Bytes:
		return []byte(v)
	case *starlark.List:
		return sliceToGo(v)
	case starlark.Tuple:
		return sliceToGo(v)
	case *Vec:
		switch v.kind {
		case intVec:
			return slices.Clone(v.ints)
		case floatVec:
			return slices.Clone(v.floats)
		}
		return slices.Clone(v.bools)
	case *starlark.Dict:
		m := make(map[string]any, v.Len())
		for _, kv := range v.Items() {
			k, ok := kv[0].(starlark.String)
			if !ok {
				return v
			}
			m[string(k)] = ToGo(kv[1])
		}
		return m
	}
	return v
}

func sliceToGo(s starlark.Indexable) []any {
	out := make([]any, s.Len())
	for i := range out {
		out[i] = ToGo(s.Index(i))
	}
	return out
}

var (
	contextType = reflect.TypeFor[context.Context]()
	errorType   = reflect.TypeFor[error]()
	valueType   = reflect.TypeFor[Value]()
)

// GoFunc returns a function named name that code can call like a builtin,
// and that calls the Go function fn. Positional arguments only.
//
// fn may take a context.Context first: the evaluation's, done when it is
// cancelled or runs out of time (the interpreter cannot stop a Go function
// that ignores it). Its other parameters, a final variadic one included,
// may be: bool; any integer type (an int that does not fit is an error);
// float32 or float64 (an int is accepted too); string; []byte; Value (as
// it is); any (converted by ToGo); and slices of these or maps from string
// to these, for lists, tuples and dicts. It may return nothing, a result, an
// error, or a result and an error; the result is converted by FromGo. A
// call with an argument of the wrong type or number, or whose fn returns an
// error or panics, fails with "name: ..." at the call in the caller's code.
//
// GoFunc's error is for an fn that is not a function of such types.
func GoFunc(name string, fn any) (Value, error) {
	fv := reflect.ValueOf(fn)
	if fn == nil || fv.Kind() != reflect.Func || fv.IsNil() {
		return nil, fmt.Errorf("function %s: got %T, want a Go function", name, fn)
	}
	ft := fv.Type()
	first := 0
	if ft.NumIn() > 0 && ft.In(0) == contextType {
		first = 1
	}
	params := make([]reflect.Type, 0, ft.NumIn()-first)
	for i := first; i < ft.NumIn(); i++ {
		t := ft.In(i)
		if ft.IsVariadic() && i == ft.NumIn()-1 {
			t = t.Elem()
		}
		if !argTypeOK(t) {
			return nil, fmt.Errorf("function %s: parameter %d has Go type %s, which code cannot pass", name, i+1, ft.In(i))
		}
		params = append(params, t)
	}
	errOut := ft.NumOut() > 0 && ft.Out(ft.NumOut()-1) == errorType
	switch {
	case ft.NumOut() > 2, ft.NumOut() == 2 && !errOut:
		return nil, fmt.Errorf("function %s: returns %s; want nothing, a result, an error, or a result and an error", name, ft)
	}
	variadic := ft.IsVariadic()
	fixed := len(params)
	if variadic {
		fixed--
	}
	call := func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (result starlark.Value, err error) {
		if len(kwargs) > 0 {
			return nil, fmt.Errorf("%s: unexpected keyword argument %s", name, kwargs[0][0])
		}
		if len(args) < fixed || !variadic && len(args) > fixed {
			want := fmt.Sprint(fixed)
			if variadic {
				want = fmt.Sprintf("at least %d", fixed)
			}
			return nil, fmt.Errorf("%s: got %d arguments, want %s", name, len(args), want)
		}
		in := make([]reflect.Value, 0, first+len(args))
		if first == 1 {
			in = append(in, reflect.ValueOf(state(thread).ctx))
		}
		for i, a := range args {
			t := params[min(i, len(params)-1)]
			v, err := convertArg(a, t)
			if err != nil {
				return nil, fmt.Errorf("%s: argument %d: %v", name, i+1, err)
			}
			in = append(in, v)
		}
		defer func() {
			if r := recover(); r != nil {
				result, err = nil, fmt.Errorf("%s: panic: %v", name, r)
			}
		}()
		out := fv.Call(in)
		if errOut {
			if e, _ := out[len(out)-1].Interface().(error); e != nil {
				return nil, fmt.Errorf("%s: %w", name, e)
			}
			out = out[:len(out)-1]
		}
		if len(out) == 0 {
			return starlark.None, nil
		}
		v, err := FromGo(out[0].Interface())
		if err != nil {
			return nil, fmt.Errorf("%s: result: %w", name, err)
		}
		return v, nil
	}
	return starlark.NewBuiltin(name, call), nil
}

// argTypeOK reports whether convertArg can make a Go value of type t.
func argTypeOK(t reflect.Type) bool {
	if t == valueType || t.Kind() == reflect.Interface && t.NumMethod() == 0 {
		return true
	}
	switch t.Kind() {
	case reflect.Bool, reflect.String, reflect.Float32, reflect.Float64,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	case reflect.Slice:
		return argTypeOK(t.Elem())
	case reflect.Map:
		return t.Key().Kind() == reflect.String && argTypeOK(t.Elem())
	}
	return false
}

// convertArg converts v to a Go value of type t (for which argTypeOK).
func convertArg(v Value, t reflect.Type) (reflect.Value, error) {
	wrong := func() (reflect.Value, error) {
		return reflect.Value{}, fmt.Errorf("got %s, want %s", v.Type(), typeName(t))
	}
	if t == valueType {
		return reflect.ValueOf(&v).Elem(), nil
	}
	if t.Kind() == reflect.Interface {
		g := ToGo(v)
		if g == nil {
			return reflect.Zero(t), nil
		}
		return reflect.ValueOf(g), nil
	}
	out := reflect.New(t).Elem()
	switch t.Kind() {
	case reflect.Bool:
		b, ok := v.(starlark.Bool)
		if !ok {
			return wrong()
		}
		out.SetBool(bool(b))
	case reflect.String:
		s, ok := v.(starlark.String)
		if !ok {
			return wrong()
		}
		out.SetString(string(s))
	case reflect.Float32, reflect.Float64:
		f, ok := starlark.AsFloat(v)
		if !ok {
			return wrong()
		}
		out.SetFloat(f)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := v.(starlark.Int)
		if !ok {
			return wrong()
		}
		i, ok := n.Int64()
		if !ok || out.OverflowInt(i) {
			return reflect.Value{}, fmt.Errorf("%s does not fit in a Go %s", n, t)
		}
		out.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := v.(starlark.Int)
		if !ok {
			return wrong()
		}
		u, ok := n.Uint64()
		if !ok || out.OverflowUint(u) {
			return reflect.Value{}, fmt.Errorf("%s does not fit in a Go %s", n, t)
		}
		out.SetUint(u)
	case reflect.Slice:
		if b, ok := v.(starlark.Bytes); ok && t.Elem().Kind() == reflect.Uint8 {
			out.SetBytes([]byte(b))
			break
		}
		s, ok := v.(starlark.Indexable)
		if !ok || v.Type() != "list" && v.Type() != "tuple" {
			return wrong()
		}
		out.Set(reflect.MakeSlice(t, s.Len(), s.Len()))
		for i := range s.Len() {
			e, err := convertArg(s.Index(i), t.Elem())
			if err != nil {
				return reflect.Value{}, fmt.Errorf("element %d: %w", i, err)
			}
			out.Index(i).Set(e)
		}
	case reflect.Map:
		d, ok := v.(*starlark.Dict)
		if !ok {
			return wrong()
		}
		out.Set(reflect.MakeMapWithSize(t, d.Len()))
		for _, kv := range d.Items() {
			k, ok := kv[0].(starlark.String)
			if !ok {
				return reflect.Value{}, fmt.Errorf("dict key %s is a %s, want string", kv[0], kv[0].Type())
			}
			e, err := convertArg(kv[1], t.Elem())
			if err != nil {
				return reflect.Value{}, fmt.Errorf("key %q: %w", string(k), err)
			}
			out.SetMapIndex(reflect.ValueOf(string(k)).Convert(t.Key()), e)
		}
	default:
		return wrong()
	}
	return out, nil
}

// typeName names the kind of value a Go type takes, as code sees it.
func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "bool"
	case reflect.String:
		return "string"
	case reflect.Float32, reflect.Float64:
		return "float"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "bytes"
		}
		return "list"
	case reflect.Map:
		return "dict"
	}
	return "int"
}

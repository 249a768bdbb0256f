package lang

import (
	"encoding/json"
	"math"
	"strconv"

	"go.starlark.net/starlark"
)

// ToJSON returns v as JSON if v has a natural JSON form: None, bools, ints,
// finite floats, strings, and lists, tuples and string-keyed dicts of those
// (dicts keep their order). It returns nil, false for anything else (bytes,
// ranges, functions, sets, NaN) or for a value nested too deeply.
func ToJSON(v Value) ([]byte, bool) {
	return appendJSON(nil, v, 0)
}

func appendJSON(dst []byte, v Value, depth int) ([]byte, bool) {
	if depth > 256 {
		return nil, false
	}
	switch v := v.(type) {
	case starlark.NoneType:
		return append(dst, "null"...), true
	case starlark.Bool:
		return strconv.AppendBool(dst, bool(v)), true
	case starlark.Int:
		return append(dst, v.String()...), true
	case starlark.Float:
		f := float64(v)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, false
		}
		return strconv.AppendFloat(dst, f, 'g', -1, 64), true
	case starlark.String:
		b, err := json.Marshal(string(v))
		return append(dst, b...), err == nil
	case *starlark.List:
		return appendJSONArray(dst, v.Len(), v.Index, depth)
	case starlark.Tuple:
		return appendJSONArray(dst, len(v), func(i int) Value { return v[i] }, depth)
	case *starlark.Dict:
		dst = append(dst, '{')
		for i, item := range v.Items() {
			k, ok := item[0].(starlark.String)
			if !ok {
				return nil, false
			}
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, ok = appendJSON(dst, k, depth+1); !ok {
				return nil, false
			}
			dst = append(dst, ':')
			if dst, ok = appendJSON(dst, item[1], depth+1); !ok {
				return nil, false
			}
		}
		return append(dst, '}'), true
	}
	return nil, false
}

func appendJSONArray(dst []byte, n int, index func(int) Value, depth int) ([]byte, bool) {
	dst = append(dst, '[')
	for i := 0; i < n; i++ {
		if i > 0 {
			dst = append(dst, ',')
		}
		var ok bool
		if dst, ok = appendJSON(dst, index(i), depth+1); !ok {
			return nil, false
		}
	}
	return append(dst, ']'), true
}

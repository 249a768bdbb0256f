package lang

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"math"
	"math/big"
	"reflect"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
	"go.starlark.net/syntax"
)

// codecEval returns the value of the Starlark expression src, which may use
// the vec module.
func codecEval(t testing.TB, src string) Value {
	t.Helper()
	thread := &starlark.Thread{Name: "test"}
	v, err := starlark.EvalOptions(&syntax.FileOptions{Set: true}, thread, "test.star", src, starlark.StringDict{"vec": vecModule})
	if err != nil {
		t.Fatalf("eval %s: %v", src, err)
	}
	return v
}

// codecEqual reports whether x and y are equal values of the same type with the same repr.
func codecEqual(t testing.TB, x, y Value) bool {
	t.Helper()
	eq, err := starlark.EqualDepth(x, y, DefaultMaxNesting+2)
	if err != nil {
		t.Fatalf("compare %s and %s: %v", reprForError(x), reprForError(y), err)
	}
	return eq && x.Type() == y.Type() && x.String() == y.String()
}

// codecRoundTripCases are Starlark expressions of every kind of value that travels.
var codecRoundTripCases = []string{
	"None", "True", "False",
	"0", "1", "-1", "23", "24", "-24", "-25", "255", "256", "65535", "65536",
	"4294967295", "4294967296", "-4294967297",
	"9223372036854775807", "-9223372036854775808", "9223372036854775808",
	"18446744073709551615", "-18446744073709551616",
	"18446744073709551616", "-18446744073709551617",
	"1 << 100", "-(1 << 100)", "(1 << 500) + 12345",
	"0.0", "-0.0", "1.5", "-2.25", "1e308", "-1e308", "5e-324", "1.7976931348623157e308",
	"float('inf')", "float('-inf')", "float('nan')",
	`""`, `"hello"`, `"héllo, 世界 ✓"`, `"é"[:1]`, `"ok" + "é"[1:] + "ok"`, `"ok" + "✓"[:2]`, `"a" * 300`,
	`b""`, `b"\x00\xff"`, `b"abc"`,
	"[]", `[1, "a", None]`, "[[[]]]", "[1.5, [2, [3, [4]]]]",
	"()", "(1,)", "(1, (2, 3))", "([], ())",
	"{}", `{"b": 1, "a": 2}`, `{(1, 2): [3], 1: "x", None: {}}`, `{"k": {"n": {"m": set([1])}}}`,
	"set()", "set([3, 1, 2])", `set([(1, 2), "a", None, 1.5])`,
	"range(0)", "range(10)", "range(1, 10)", "range(0, 1000000000, 3)", "range(10, 0, -2)",
	"range(10)[::2]", "range(10)[::-1]", "range(-5, 5)",
	"range(-9223372036854775807, 0)", "range(0, -9223372036854775807, -1)", "range(9223372036854775807)",
	`[range(3), (range(4),), {"r": range(5)}]`,
	`{"b": [1, (2, b"3")], "a": set([None]), "c": {1: 2.5}}`,
	"vec.arange(0)", "vec.arange(5)", "vec.array([-1, 9223372036854775807, -9223372036854775808])",
	"vec.array([0.5, -0.0, 5e-324, float('inf'), float('-inf'), float('nan')])",
	`vec.array([], dtype="float")`, "vec.array([True, False, True])", `vec.array([], dtype="bool")`,
	`[vec.arange(3), (vec.ones(2, dtype="float"),), {"v": vec.arange(10, 0, -3)}]`,
}

func TestCodecRoundTrip(t *testing.T) {
	in := NewInterp("test")
	for _, src := range codecRoundTripCases {
		t.Run(src, func(t *testing.T) {
			want := codecEval(t, src)
			data, err := Encode(want)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			got, err := in.Decode(data)
			if err != nil {
				t.Fatalf("Decode(%x): %v", data, err)
			}
			if !codecEqual(t, got, want) {
				t.Errorf("got %s (%s), want %s (%s)", got, got.Type(), want, want.Type())
			}
			again, err := Encode(got)
			if err != nil {
				t.Fatalf("Encode again: %v", err)
			}
			if !bytes.Equal(again, data) {
				t.Errorf("re-encoding gives %x, want %x", again, data)
			}
		})
	}
}

func TestCodecEncoding(t *testing.T) {
	tests := []struct {
		src  string
		want string // hex
	}{
		{"None", "f6"},
		{"True", "f5"},
		{"False", "f4"},
		{"0", "00"},
		{"23", "17"},
		{"24", "1818"},
		{"256", "190100"},
		{"65536", "1a00010000"},
		{"4294967296", "1b0000000100000000"},
		{"-1", "20"},
		{"-24", "37"},
		{"-25", "3818"},
		{"18446744073709551615", "1bffffffffffffffff"},
		{"-18446744073709551616", "3bffffffffffffffff"},
		{"18446744073709551616", "c249010000000000000000"},
		{"-18446744073709551617", "c349010000000000000000"},
		{"1 << 100", "c24d10000000000000000000000000"},
		{"1.5", "fb3ff8000000000000"},
		{"0.0", "fb0000000000000000"},
		{"-0.0", "fb8000000000000000"},
		{"float('inf')", "fb7ff0000000000000"},
		{"float('nan')", "fb7ff8000000000000"},
		{`"a"`, "6161"},
		{`"é"[:1]`, "d9737741c3"},
		{`b"a"`, "4161"},
		{"[]", "80"},
		{"[1, [2]]", "82018102"},
		{"()", "d9737080"},
		{"(1, 2)", "d97370820102"},
		{"{}", "d9737180"},
		{`{"b": 1, "a": 2}`, "d97371846162016161" + "02"},
		{"set()", "d9737280"},
		{"set([2, 1])", "d97372820201"},
		{"range(10)", "d9737383000a01"},
		{"range(0, 1000000000, 3)", "d97373" + "83" + "00" + "1a3b9aca00" + "03"},
		{"range(5, -5, -1)", "d97373" + "83" + "05" + "24" + "20"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			data, err := Encode(codecEval(t, tt.src))
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(data); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestCodecAppendValue(t *testing.T) {
	dst := []byte{0xaa}
	got, err := AppendValue(dst, starlark.MakeInt(1))
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{0xaa, 0x01}; !bytes.Equal(got, want) {
		t.Errorf("got %x, want %x", got, want)
	}
	got, err = AppendValue(dst, starlark.NewBuiltin("b", nil))
	if err == nil || len(got) != len(dst) {
		t.Errorf("got %x, %v; want %x and an error", got, err, dst)
	}
}

func TestCodecDeterministic(t *testing.T) {
	build := func(keys ...string) *starlark.Dict {
		d := starlark.NewDict(len(keys))
		for i, k := range keys {
			d.SetKey(starlark.String(k), starlark.Tuple{starlark.MakeInt(i), starlark.Float(0.5)})
		}
		return d
	}
	encode := func(v Value) string {
		data, err := Encode(v)
		if err != nil {
			t.Fatal(err)
		}
		return hex.EncodeToString(data)
	}
	v := codecEval(t, `{"x": [1, 2.5, "s", b"b", (None,), set([1]), range(3)], "y": 1 << 80}`)
	if got, want := encode(v), encode(v); got != want {
		t.Errorf("encoding twice: got %s, then %s", got, want)
	}
	if got, want := encode(build("b", "a", "c")), encode(build("b", "a", "c")); got != want {
		t.Errorf("equal dicts built in the same order: got %s and %s", got, want)
	}
	if got, other := encode(build("b", "a")), encode(build("a", "b")); got == other {
		t.Errorf("dicts built in different orders encode the same: %s", got)
	}
	nan1, nan2 := starlark.Float(math.NaN()), starlark.Float(math.Float64frombits(0xfff0000000000001))
	if got, want := encode(nan2), encode(nan1); got != want {
		t.Errorf("NaNs: got %s and %s", got, want)
	}
}

func TestCodecHash(t *testing.T) {
	if got, want := Hash(nil), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"; got != want {
		t.Errorf("Hash(nil) = %s, want %s", got, want)
	}
	data, err := Encode(codecEval(t, `{"f": [1, 2], "g": "x"}`))
	if err != nil {
		t.Fatal(err)
	}
	again, _ := Encode(codecEval(t, `{"f": [1, 2], "g": "x"}`))
	if got, want := Hash(again), Hash(data); got != want || len(got) != 64 {
		t.Errorf("Hash of equal encodings: got %s, want %s", got, want)
	}
	other, _ := Encode(codecEval(t, `{"g": "x", "f": [1, 2]}`))
	if Hash(other) == Hash(data) {
		t.Errorf("Hash of different encodings is the same")
	}
}

func TestCodecRangeUnexpanded(t *testing.T) {
	r := codecEval(t, "range(0, 1000000000, 3)")
	data, err := Encode(r)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 16 {
		t.Errorf("range(0, 1000000000, 3) encodes to %d bytes, want at most 16", len(data))
	}
	got, err := NewInterp("test").Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != r.String() || got.Type() != "range" {
		t.Errorf("got %s (%s), want %s", got, got.Type(), r)
	}
	if n := got.(starlark.Sequence).Len(); n != 333333334 {
		t.Errorf("len = %d, want 333333334", n)
	}
}

func TestCodecKindsDistinct(t *testing.T) {
	in := NewInterp("test")
	for _, pair := range [][2]string{
		{"[1, 2]", "(1, 2)"},
		{`"ab"`, `b"ab"`},
		{"[1, 2, 3]", "set([1, 2, 3])"},
		{"[0, 3, 1]", "range(0, 3)"},
		{"1", "1.0"},
		{"1", "True"},
		{"0", "None"},
	} {
		a, b := codecEval(t, pair[0]), codecEval(t, pair[1])
		da, _ := Encode(a)
		db, _ := Encode(b)
		if bytes.Equal(da, db) {
			t.Errorf("%s and %s both encode to %x", pair[0], pair[1], da)
		}
		got, err := in.Decode(db)
		if err != nil {
			t.Fatal(err)
		}
		if got.Type() != b.Type() {
			t.Errorf("%s decodes as a %s, want %s", pair[1], got.Type(), b.Type())
		}
	}
}

func TestCodecFrozen(t *testing.T) {
	in := NewInterp("test")
	data, _ := Encode(codecEval(t, `[{"k": [1]}, set([1])]`))
	v, err := in.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	l := v.(*starlark.List)
	inner, _, _ := l.Index(0).(*starlark.Dict).Get(starlark.String("k"))
	for name, err := range map[string]error{
		"list append":       l.Append(starlark.None),
		"dict set":          l.Index(0).(*starlark.Dict).SetKey(starlark.String("j"), starlark.None),
		"inner list append": inner.(*starlark.List).Append(starlark.None),
		"set insert":        l.Index(1).(*starlark.Set).Insert(starlark.MakeInt(2)),
	} {
		if err == nil {
			t.Errorf("%s: no error, want frozen", name)
		}
	}
}

// codecNested returns depth lists nested in one another, the innermost empty.
func codecNested(depth int) Value {
	v := Value(starlark.NewList(nil))
	for range depth - 1 {
		v = starlark.NewList([]Value{v})
	}
	return v
}

func TestCodecNesting(t *testing.T) {
	in := NewInterp("test")
	data, err := Encode(codecNested(DefaultMaxNesting))
	if err != nil {
		t.Fatalf("Encode at the limit: %v", err)
	}
	if _, err := in.Decode(data); err != nil {
		t.Fatalf("Decode at the limit: %v", err)
	}
	if _, err := in.DecodeLimited(data, DecodeLimits{MaxNesting: 10}); err == nil {
		t.Errorf("Decode with MaxNesting 10: no error")
	}
	_, err = Encode(codecNested(DefaultMaxNesting + 1))
	var ee *EncodeError
	if !errors.As(err, &ee) || !strings.Contains(err.Error(), "nested deeper than 256") {
		t.Errorf("Encode over the limit: got %v, want an *EncodeError about nesting", err)
	}
	over := append(bytes.Repeat([]byte{0x81}, DefaultMaxNesting), 0x80)
	if _, err := in.Decode(over); err == nil || !strings.Contains(err.Error(), "nested deeper than 256") {
		t.Errorf("Decode over the limit: got %v, want an error about nesting", err)
	}
}

func TestCodecEncodeErrors(t *testing.T) {
	// A bound method (a builtin with a receiver) cannot travel: builtins
	// without one travel by name (see TestCodecBuiltins).
	builtin, err := starlark.NewList(nil).Attr("append")
	if err != nil {
		t.Fatal(err)
	}
	module := &starlarkstruct.Module{Name: "m"}
	cyclic := starlark.NewList(nil)
	cyclic.Append(cyclic)
	dictKey := starlark.NewDict(1)
	dictKey.SetKey(builtin, starlark.MakeInt(1))
	tests := []struct {
		name     string
		v        Value
		wantType string
		wantPath string
		wantMsg  string
	}{
		{"builtin", builtin, "builtin_function_or_method", "", "cannot encode builtin_function_or_method value <built-in method append of list value>"},
		{"module", module, "module", "", "cannot encode module value"},
		{"nil", nil, "nil", "", "not a Starlark value"},
		{"in a list", starlark.NewList([]Value{starlark.MakeInt(1), starlark.None, builtin}), "builtin_function_or_method", "[2]", " at [2]"},
		{"in a tuple", starlark.Tuple{module}, "module", "[0]", " at [0]"},
		{"in a dict", codecDict(t, "k", starlark.NewList([]Value{builtin})), "builtin_function_or_method", `["k"][0]`, ` at ["k"][0]`},
		{"dict key", dictKey, "builtin_function_or_method", ".keys()[0]", ""},
		{"in a set", codecSet(t, starlark.MakeInt(1), builtin), "builtin_function_or_method", ".elems()[1]", ""},
		{"cyclic list", cyclic, "list", strings.Repeat("[0]", maxPathSegments) + "...", "nested deeper than 256 levels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := Encode(tt.v)
			var ee *EncodeError
			if !errors.As(err, &ee) {
				t.Fatalf("got %x, %v; want an *EncodeError", data, err)
			}
			if ee.Type != tt.wantType || ee.Path != tt.wantPath {
				t.Errorf("got type %q path %q, want %q %q", ee.Type, ee.Path, tt.wantType, tt.wantPath)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("got %q, want it to contain %q", err, tt.wantMsg)
			}
		})
	}
}

func codecDict(t testing.TB, k string, v Value) *starlark.Dict {
	d := starlark.NewDict(1)
	if err := d.SetKey(starlark.String(k), v); err != nil {
		t.Fatal(err)
	}
	return d
}

func codecSet(t testing.TB, elems ...Value) *starlark.Set {
	s := starlark.NewSet(len(elems))
	for _, x := range elems {
		if err := s.Insert(x); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func TestCodecDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string // hex, spaces ignored
		want string // what the error must contain
	}{
		{"empty", "", "offset 0: unexpected end of input"},
		{"truncated head", "19 01", "offset 0: unexpected end of input in an item's head"},
		{"truncated text", "62 61", "offset 0: length 2 exceeds the 1 bytes left"},
		{"truncated bytes", "5a 00 00 00 05 00", "offset 0: length 5 exceeds the 1 bytes left"},
		{"truncated array", "82 01 19", "offset 2: unexpected end of input in an item's head"},
		{"array longer than input", "83 01 02", "offset 0: length 3 exceeds the 2 bytes left"},
		{"truncated bignum", "c2 42 01", "offset 1: length 2 exceeds"},
		{"huge text length", "7b ff ff ff ff ff ff ff ff", "length 18446744073709551615 exceeds the 0 bytes left"},
		{"huge array length", "9b 7f ff ff ff ff ff ff ff 00", "length 9223372036854775807 exceeds the 1 bytes left"},
		{"huge dict length", "d9 73 71 9a 10 00 00 00", "offset 3: length 268435456 exceeds the 0 bytes left"},
		{"trailing bytes", "01 02 03", "offset 1: 2 trailing bytes after the value"},
		{"indefinite array", "9f 01 ff", "offset 0: indefinite length"},
		{"indefinite bytes", "5f 41 00 ff", "offset 0: indefinite length"},
		{"indefinite text", "7f ff", "offset 0: indefinite length"},
		{"indefinite in list", "81 bf ff", "offset 1: indefinite length"},
		{"break", "ff", "offset 0: unexpected break"},
		{"reserved info", "1c", "offset 0: reserved additional information 28"},
		{"reserved in array", "82 00 3e", "offset 2: reserved additional information 30"},
		{"undefined", "f7", "offset 0: unknown simple value 23"},
		{"simple 16", "f0", "unknown simple value 16"},
		{"simple 255", "f8 ff", "unknown simple value 255"},
		{"unknown tag", "d8 63 00", "decode value: offset 0: unknown tag 99"},
		{"date tag", "81 c1 00", "offset 1: unknown tag 1"},
		{"map", "a1 01 02", "offset 0: a map is not a value"},
		{"bad UTF-8", "62 ff fe", "offset 0: invalid UTF-8"},
		{"bad UTF-8 in list", "82 00 61 c3", "offset 2: invalid UTF-8"},
		{"dict list key", "d9 73 71 82 80 01", "offset 4: dict key: unhashable type: list"},
		{"dict duplicate key", "d9 73 71 84 01 01 01 02", "offset 6: duplicate dict key 1"},
		{"dict int float key", "d9 73 71 84 01 01 fb 3f f0 00 00 00 00 00 00 02", "duplicate dict key 1.0"},
		{"dict odd", "d9 73 71 81 01", "a dict needs an even number of items, not 1"},
		{"dict not array", "d9 73 71 01", "offset 3: tag 29553 must be followed by an array, not an unsigned int"},
		{"set duplicate", "d9 73 72 82 01 01", "offset 5: duplicate set element 1"},
		{"set unhashable", "d9 73 72 81 80", "set element: unhashable type: list"},
		{"tuple not array", "d9 73 70 61 61", "tag 29552 must be followed by an array, not a text string"},
		{"tuple truncated", "d9 73 70", "offset 3: unexpected end of input"},
		{"bignum not bytes", "c2 01", "offset 1: tag 2 must be followed by a byte string, not an unsigned int"},
		{"raw string not bytes", "d9 73 77 61 61", "tag 29559 must be followed by a byte string, not a text string"},
		{"range too short", "d9 73 73 82 00 01", "a range needs 3 items [start, stop, step], not 2"},
		{"range zero step", "d9 73 73 83 00 01 00", "offset 0: range(0, 1, 0): range: step argument must not be zero"},
		{"range not int", "d9 73 73 83 00 f6 01", "offset 5: range stop must be an int, not NoneType"},
		{"range too big", "d9 73 73 83 00 c2 49 01 00 00 00 00 00 00 00 00 01", "range stop 18446744073709551616 out of range"},
		{"range too long", "d9 73 73 83 3b 7f ff ff ff ff ff ff ff 1b 7f ff ff ff ff ff ff ff 01", "range(-9223372036854775808, 9223372036854775807, 1) spans more than the largest int"},
		{"range too long down", "d9 73 73 83 00 3b 7f ff ff ff ff ff ff ff 20", "spans more than the largest int"},
		{"function too short", "d9 73 74 80", "a function needs 7 items"},
		{"function name not string", "d9 73 74 87 01 60 60 01 01 60 80", "offset 4: function name must be a string, not int"},
		{"function line not int", "d9 73 74 87 61 66 60 60 60 01 60 80", "function line must be an int, not string"},
		{"function line 0", "d9 73 74 87 61 66 60 60 00 01 60 80", "offset 0: function position 0:1 is not a line and column"},
		{"function column negative", "d9 73 74 87 61 66 60 60 01 20 60 80", "function position 1:-1 is not a line and column"},
		{"function line too big", "d9 73 74 87 61 66 60 60 1b 00 00 00 01 00 00 00 00 01 60 80", "function position 4294967296:1 is not"},
		{"function scope not array", "d9 73 74 87 61 66 60 60 01 01 60 00", "offset 11: a function's scope must be an array, not an unsigned int"},
		{"function scope odd", "d9 73 74 87 61 66 60 60 01 01 60 81 61 61", "a function's scope needs an even number of items, not 1"},
		{"function scope unsorted", "d9 73 74 87 61 66 60 60 01 01 60 84 61 62 01 61 61 02", "offset 15: captured names must be sorted and distinct: \"a\" after \"b\""},
		{"function scope duplicate", "d9 73 74 87 61 66 60 60 01 01 60 84 61 61 01 61 61 02", "captured names must be sorted and distinct"},
	}
	in := NewInterp("test")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := hex.DecodeString(strings.ReplaceAll(tt.in, " ", ""))
			if err != nil {
				t.Fatal(err)
			}
			v, err := in.Decode(data)
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("got %v, %v; want a *DecodeError", v, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestCodecDecodeLimits(t *testing.T) {
	data, _ := Encode(codecEval(t, "[1, 2, 3, 4, 5]"))
	in := NewInterp("test")
	if _, err := in.DecodeLimited(data, DecodeLimits{MaxSize: len(data)}); err != nil {
		t.Errorf("at MaxSize: %v", err)
	}
	_, err := in.DecodeLimited(data, DecodeLimits{MaxSize: len(data) - 1})
	if want := "6 bytes exceed the limit of 5"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("over MaxSize: got %v, want %q", err, want)
	}
	if _, err := in.DecodeLimited(data, DecodeLimits{MaxNesting: 1}); err != nil {
		t.Errorf("at MaxNesting: %v", err)
	}
}

func TestCodecDecodeLiberal(t *testing.T) {
	tests := []struct {
		name string
		in   string // hex, spaces ignored
		want string // repr
	}{
		{"long head", "1b 00 00 00 00 00 00 00 01", "1"},
		{"long array head", "98 01 01", "[1]"},
		{"float16", "f9 3e 00", "1.5"},
		{"float16 subnormal", "f9 00 01", "5.960464477539063e-08"},
		{"float16 inf", "f9 fc 00", "-inf"},
		{"float16 nan", "f9 7e 00", "nan"},
		{"float32", "fa 3f c0 00 00", "1.5"},
		{"small bignum", "c2 41 05", "5"},
		{"bignum leading zeros", "c2 43 00 00 07", "7"},
		{"empty bignum", "c2 40", "0"},
		{"negative small bignum", "c3 41 05", "-6"},
		{"most negative int", "3b ff ff ff ff ff ff ff ff", "-18446744073709551616"},
		{"raw string that is UTF-8", "d9 73 77 42 68 69", `"hi"`},
		{"NaN payload", "fb 7f f0 00 00 00 00 00 01", "nan"},
	}
	in := NewInterp("test")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, _ := hex.DecodeString(strings.ReplaceAll(tt.in, " ", ""))
			v, err := in.Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			if got := v.String(); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

// codecFuncs returns functions f, g and h compiled from src by Starlark alone.
func codecFuncs(t testing.TB, src string) starlark.StringDict {
	t.Helper()
	predeclared := starlark.StringDict{"k": starlark.None, "y": starlark.None}
	globals, err := starlark.ExecFileOptions(&syntax.FileOptions{}, &starlark.Thread{Name: "test"}, "test.star", src, predeclared)
	if err != nil {
		t.Fatal(err)
	}
	return globals
}

// TestCodecFuncWire checks the wire form of functions, with a stand-in for
// captureFunc and makeFunc so that it tests the codec alone.
func TestCodecFuncWire(t *testing.T) {
	globals := codecFuncs(t, "def f(): return g()\ndef g(): return f()\ndef h(): return k + y\n")
	f, g, h := globals["f"].(*starlark.Function), globals["g"].(*starlark.Function), globals["h"].(*starlark.Function)
	codes := map[*starlark.Function]*FuncCode{
		f: {Name: "f", Source: "def f(): return g()", Pos: Pos{"a.sp", 1, 1}, Scope: []Binding{{"g", g}}},
		g: {Name: "g", Source: "def g(): return f()", Pos: Pos{"a.sp", 2, 1}, Scope: []Binding{{"f", f}}},
		h: {Name: "h", Source: "def h(): return k + y", Pos: Pos{"a.sp", 3, 5}, Self: "hh",
			Scope: []Binding{{"y", codecEval(t, `[1, "two", (3,)]`)}, {"k", starlark.MakeInt(7)}}},
	}
	capture := func(fn *starlark.Function) (*FuncCode, error) { return codes[fn], nil }

	t.Run("cycle", func(t *testing.T) {
		e := encoder{capture: capture}
		err := e.value(starlark.NewList([]Value{f}))
		if err == nil {
			t.Fatalf("no error encoding functions that refer to each other")
		}
		err.finish()
		if got, want := err.Error(), "cannot encode function value <function f> at [0].g.f: it refers to itself through g"; got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	})

	t.Run("round trip", func(t *testing.T) {
		e := encoder{capture: capture}
		if err := e.value(h); err != nil {
			t.Fatal(err)
		}
		var got *FuncCode
		d := decoder{data: e.buf, maxNesting: DefaultMaxNesting, makeFunc: func(fc *FuncCode) (Value, error) {
			got = fc
			return starlark.None, nil
		}}
		if _, err := d.value(); err != nil {
			t.Fatalf("decode %x: %v", e.buf, err)
		}
		want := codes[h]
		if got.Name != want.Name || got.Source != want.Source || got.Pos != want.Pos || got.Self != want.Self {
			t.Errorf("got %+v, want %+v", got, want)
		}
		// Scope is encoded sorted by name whatever the order given.
		if len(got.Scope) != 2 || got.Scope[0].Name != "k" || got.Scope[1].Name != "y" ||
			!codecEqual(t, got.Scope[0].Value, want.Scope[1].Value) || !codecEqual(t, got.Scope[1].Value, want.Scope[0].Value) {
			t.Errorf("got scope %v, want %v sorted", got.Scope, want.Scope)
		}
	})

	t.Run("no interpreter", func(t *testing.T) {
		e := encoder{capture: capture}
		if err := e.value(h); err != nil {
			t.Fatal(err)
		}
		_, err := (*Interp)(nil).Decode(e.buf)
		if want := "function h: no interpreter"; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want %q", err, want)
		}
	})
}

// TestCodecFunctions round-trips functions defined in cells through the real
// captureFunc and makeFunc.
func TestCodecFunctions(t *testing.T) {
	ctx := context.Background()
	local, remote := NewInterp("local"), NewInterp("server")
	define := func(src string) Value {
		t.Helper()
		c := ParseCell("f.sp", 1, src)
		v, err := local.Eval(ctx, c, nil)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		return v
	}
	tests := []struct {
		src  string
		arg  Value
		want string
	}{
		{"def inc(x):\n    return x + 1", starlark.MakeInt(41), "42"},
		{"def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)", starlark.MakeInt(20), "6765"},
		{"add = (lambda k: lambda x: k + [x])([1, 2])", starlark.MakeInt(3), "[1, 2, 3]"},
		// A body that ends in an index or a slice: starlark's syntax.IndexExpr
		// and SliceExpr spans end before the "]", so the source must be cut after it.
		{"def first(xs):\n    return xs[0]", codecEval(t, "[5, 6]"), "5"},
		{"rest = lambda xs: xs[1:]", codecEval(t, "[5, 6]"), "[6]"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			fn := define(tt.src)
			data, err := Encode(fn)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			again, err := Encode(fn)
			if err != nil || Hash(again) != Hash(data) {
				t.Errorf("encoding twice: hashes %s and %s (%v)", Hash(again), Hash(data), err)
			}
			got, err := remote.Decode(data)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			result, err := remote.Call(ctx, got, tt.arg)
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			if result.String() != tt.want {
				t.Errorf("got %s, want %s", result, tt.want)
			}
		})
	}
}

// TestCodecInteropOut checks that fxamacker/cbor decodes our encodings of
// plain values to the expected Go values.
func TestCodecInteropOut(t *testing.T) {
	big100 := new(big.Int).Lsh(big.NewInt(1), 100)
	tests := []struct {
		src  string
		want any
	}{
		{"None", nil},
		{"True", true},
		{"0", uint64(0)},
		{"1000000", uint64(1000000)},
		{"-1", int64(-1)},
		{"-9223372036854775808", int64(math.MinInt64)},
		{"18446744073709551615", uint64(math.MaxUint64)},
		{"1 << 100", *big100},
		{"-(1 << 100)", *new(big.Int).Neg(big100)},
		{"1.5", 1.5},
		{"float('-inf')", math.Inf(-1)},
		{`"héllo"`, "héllo"},
		{`b"\x00\xff"`, []byte{0, 0xff}},
		{`[1, "a", [2.5, None], []]`, []any{uint64(1), "a", []any{2.5, nil}, []any{}}},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			data, err := Encode(codecEval(t, tt.src))
			if err != nil {
				t.Fatal(err)
			}
			var got any
			if err := cbor.Unmarshal(data, &got); err != nil {
				t.Fatalf("cbor.Unmarshal(%x): %v", data, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

// TestCodecInteropIn checks that we decode fxamacker/cbor's encodings of
// plain Go values to the expected Starlark values.
func TestCodecInteropIn(t *testing.T) {
	half, err := cbor.EncOptions{ShortestFloat: cbor.ShortestFloat16}.EncMode()
	if err != nil {
		t.Fatal(err)
	}
	big100 := new(big.Int).Lsh(big.NewInt(1), 100)
	tests := []struct {
		name string
		v    any
		mode cbor.EncMode // nil: cbor.Marshal's defaults
		want string       // a Starlark expression
	}{
		{"nil", nil, nil, "None"},
		{"bool", false, nil, "False"},
		{"uint8", uint8(200), nil, "200"},
		{"int", -100000, nil, "-100000"},
		{"int64 min", int64(math.MinInt64), nil, "-9223372036854775808"},
		{"uint64 max", uint64(math.MaxUint64), nil, "18446744073709551615"},
		{"big", big100, nil, "1 << 100"},
		{"negative big", new(big.Int).Neg(big100), nil, "-(1 << 100)"},
		{"small big", big.NewInt(5), nil, "5"},
		{"float64", 1.5, nil, "1.5"},
		{"float32", float32(0.25), nil, "0.25"},
		{"float16", 1.5, half, "1.5"},
		{"string", "héllo", nil, `"héllo"`},
		{"bytes", []byte("ab"), nil, `b"ab"`},
		{"slice", []any{1, "a", []any{2.5, nil}, []int{}}, nil, `[1, "a", [2.5, None], []]`},
		{"array", [3]int{1, 2, 3}, nil, "[1, 2, 3]"},
	}
	in := NewInterp("test")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var data []byte
			var err error
			if tt.mode != nil {
				data, err = tt.mode.Marshal(tt.v)
			} else {
				data, err = cbor.Marshal(tt.v)
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := in.Decode(data)
			if err != nil {
				t.Fatalf("Decode(%x): %v", data, err)
			}
			if want := codecEval(t, tt.want); !codecEqual(t, got, want) {
				t.Errorf("got %s, want %s", got, want)
			}
		})
	}
}

func TestCodecEncodeGrowth(t *testing.T) {
	elems := []Value{starlark.String(strings.Repeat("x", 1<<20))}
	for i := range 100_000 {
		elems = append(elems, starlark.MakeInt(i))
	}
	data, err := Encode(starlark.NewList(elems))
	if err != nil {
		t.Fatal(err)
	}
	if got, limit := cap(data), 2*len(data); got > limit {
		t.Errorf("encoding %d bytes took a buffer of %d, want at most %d", len(data), got, limit)
	}
}

func TestCodecBuiltins(t *testing.T) {
	in := NewInterp("test")
	for _, name := range []string{"len", "sum", "math", "json", "where", "range"} {
		v, _ := builtinNamed(name)
		data, err := Encode(v)
		if err != nil {
			t.Errorf("Encode(%s): %v", name, err)
			continue
		}
		got, err := in.Decode(data)
		if err != nil || got != v {
			t.Errorf("Decode(Encode(%s)) = %v, %v; want the same builtin", name, got, err)
		}
	}
	data := append(appendHead(nil, majorTag, tagBuiltin), 0x64, 'n', 'o', 'p', 'e')
	if _, err := in.Decode(data); err == nil || !strings.Contains(err.Error(), `unknown builtin "nope"`) {
		t.Errorf("Decode of an unknown builtin: %v, want an error naming it", err)
	}
}

package lang

import (
	"encoding/hex"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
	"go.starlark.net/starlark"
)

func TestVecEncoding(t *testing.T) {
	for _, tt := range []struct {
		src  string
		want string // hex
	}{
		{"vec.arange(0)", "d84f40"},
		{"vec.arange(2)", "d84f50" + "0000000000000000" + "0100000000000000"},
		{"vec.array([-2])", "d84f48" + "feffffffffffffff"},
		{"vec.array([1.5])", "d85648" + "000000000000f83f"},
		{"vec.array([-0.0])", "d85648" + "0000000000000080"},
		{"vec.array([float('nan')])", "d85648" + "000000000000f87f"},
		{"vec.array([True, False])", "d97379" + "42" + "0100"},
		{`vec.array([], dtype="bool")`, "d97379" + "40"},
	} {
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

// TestVecCompact checks that a vec travels as its bytes: 8 per element
// and a few for the head, where a list takes a head per element.
func TestVecCompact(t *testing.T) {
	const n = 1_000_000
	v := codecEval(t, "vec.arange(4294967296, 4294967296 + 1000000)")
	data, err := Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	if want := 8*n + 8; len(data) > want {
		t.Errorf("a vec of %d ints encodes to %d bytes, want at most %d", n, len(data), want)
	}
	got, err := NewInterp("test").Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if !codecEqual(t, got, v) {
		t.Errorf("round trip gives %s, want %s", got, v)
	}
}

func TestVecDecodeErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   string // hex, spaces ignored
		want string
	}{
		{"int length", "d8 4f 43 00 00 00", "offset 0: a typed array of tag 79 has 3 bytes, not a multiple of 8"},
		{"float length", "d8 56 41 00", "a typed array of tag 86 has 1 bytes, not a multiple of 8"},
		{"bool byte", "d9 73 79 42 01 02", "offset 0: a bool vec holds bytes 0 and 1, not 2 (element 1)"},
		{"not bytes", "d8 4f 80", "offset 2: tag 79 must be followed by a byte string, not an array"},
		{"longer than input", "d8 56 5a 7f ff ff ff 00", "length 2147483647 exceeds the 1 bytes left"},
		{"big-endian ints", "d8 4b 40", "unknown tag 75"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			data, err := hex.DecodeString(strings.ReplaceAll(tt.in, " ", ""))
			if err != nil {
				t.Fatal(err)
			}
			v, err := NewInterp("test").Decode(data)
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

// TestVecInterop checks that another CBOR library reads a vec as the RFC
// 8746 typed array it is.
func TestVecInterop(t *testing.T) {
	data, err := Encode(codecEval(t, "vec.array([1, -1])"))
	if err != nil {
		t.Fatal(err)
	}
	var got cbor.Tag
	if err := cbor.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	want := cbor.Tag{Number: 79, Content: []byte{1, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v, want %#v", got, want)
	}
}

// TestModuleFunctionsTravel checks that the functions of builtin modules
// travel by name, as the builtins do: mapreduce(vec.sum, ...) sends vec.sum.
func TestModuleFunctionsTravel(t *testing.T) {
	in := NewInterp("test")
	for _, name := range []string{"vec.sum", "vec.arange", "math.sqrt", "json.encode"} {
		v, ok := builtinNamed(name)
		if !ok {
			t.Fatalf("no builtin %s", name)
		}
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
	if _, err := Encode(codecEval(t, "vec.arange(3).sum")); err == nil {
		t.Errorf("a vec's bound method encodes; want an error, as for [].append")
	}
}

func TestVecToGo(t *testing.T) {
	for _, tt := range []struct {
		src  string
		want any
	}{
		{"vec.array([1, -2])", []int64{1, -2}},
		{"vec.array([0.5, -0.0])", []float64{0.5, math.Copysign(0, -1)}},
		{"vec.array([True, False])", []bool{true, false}},
	} {
		got := ToGo(codecEval(t, tt.src))
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ToGo(%s) = %#v, want %#v", tt.src, got, tt.want)
		}
	}
	xs := []int64{1, 2}
	v := NewIntVec(xs)
	ToGo(v).([]int64)[0] = 99
	if got := v.Index(0); got != starlark.MakeInt(1) {
		t.Errorf("changing what ToGo returned changed the vec: v[0] = %s", got)
	}
}

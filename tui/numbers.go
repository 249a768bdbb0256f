package tui

import (
	"math"
	"math/big"
	"reflect"
	"strconv"
	"strings"

	"github.com/sperse/sperse/lang"
)

// Numbers are read through the methods Starlark's values have, so that any
// value that behaves as an int or a float (a numeric array's elements
// included) is charted, without this package naming the interpreter's types.
type (
	int64er  interface{ Int64() (int64, bool) }
	bigInter interface{ BigInt() *big.Int }
)

// asNumber returns v as a float64 if v is an int (of any size: one too big
// for a float64 is ±Inf) or a float. Bools are not numbers here.
func asNumber(v lang.Value) (float64, bool) {
	if v == nil {
		return 0, false
	}
	if i, ok := v.(int64er); ok {
		if n, ok := i.Int64(); ok {
			return float64(n), true
		}
		if b, ok := v.(bigInter); ok {
			f, _ := new(big.Float).SetInt(b.BigInt()).Float64()
			return f, true
		}
		return 0, false
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Float64 || rv.Kind() == reflect.Float32 {
		return rv.Float(), true
	}
	return 0, false
}

// isInt reports whether v is an int.
func isInt(v lang.Value) bool {
	_, ok := v.(int64er)
	return ok
}

// isNumber reports whether v is an int or a float.
func isNumber(v lang.Value) bool {
	_, ok := asNumber(v)
	return ok
}

// sampleIndexes returns at most k indexes of a sequence of n elements,
// evenly spread from the first to the last, in order.
func sampleIndexes(n, k int) []int {
	if n <= 0 || k <= 0 {
		return nil
	}
	if n <= k {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		return idx
	}
	idx := make([]int, k)
	for i := range idx {
		if k == 1 {
			break
		}
		idx[i] = int(int64(i) * int64(n-1) / int64(k-1))
	}
	return idx
}

// fmtNum formats x for reading: an integral value exactly with thousands
// separators (up to 10^15), others to about six significant digits, the
// very large and very small in exponent form.
func fmtNum(x float64) string {
	if s, ok := fmtSpecial(x); ok {
		return s
	}
	ax := math.Abs(x)
	if ax >= 1e15 || ax != 0 && ax < 1e-4 {
		return strconv.FormatFloat(x, 'g', 6, 64)
	}
	if x == math.Trunc(x) {
		return thousands(strconv.FormatFloat(x, 'f', 0, 64))
	}
	digits := 1
	if ax >= 1 {
		digits = int(math.Floor(math.Log10(ax))) + 1
	}
	prec := min(max(6-digits, 0), 4)
	s := strconv.FormatFloat(x, 'f', prec, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return thousands(s)
}

// fmtSpecial formats the numbers that fmtNum and fmtShort write alike:
// zero (and not -0), nan and the infinities.
func fmtSpecial(x float64) (string, bool) {
	switch {
	case x == 0:
		return "0", true
	case math.IsNaN(x):
		return "nan", true
	case math.IsInf(x, 1):
		return "+inf", true
	case math.IsInf(x, -1):
		return "-inf", true
	}
	return "", false
}

// fmtInt formats n with thousands separators.
func fmtInt(n int) string { return thousands(strconv.Itoa(n)) }

// thousands puts commas between the thousands of the integer part of the
// decimal number s.
func thousands(s string) string {
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	intPart, frac := s, ""
	if i := strings.IndexByte(s, '.'); i >= 0 {
		intPart, frac = s[:i], s[i:]
	}
	if len(intPart) <= 3 {
		return sign + s
	}
	var b strings.Builder
	b.WriteString(sign)
	first := len(intPart) % 3
	if first > 0 {
		b.WriteString(intPart[:first])
	}
	for i := first; i < len(intPart); i += 3 {
		if b.Len() > len(sign) {
			b.WriteByte(',')
		}
		b.WriteString(intPart[i : i+3])
	}
	b.WriteString(frac)
	return b.String()
}

// fmtShort formats x in at most about seven columns, for axes and cards:
// 377, -2.5, 0.001234, 12.3k, 4.56M, 1.2e+30.
func fmtShort(x float64) string {
	if s, ok := fmtSpecial(x); ok {
		return s
	}
	ax := math.Abs(x)
	switch {
	case ax < 1000:
		return strconv.FormatFloat(x, 'g', 4, 64)
	case ax < 1e5 && x == math.Trunc(x):
		return strconv.FormatFloat(x, 'f', 0, 64)
	case ax < 1e5:
		return strconv.FormatFloat(x, 'f', 1, 64)
	case ax >= 1e15:
		return strconv.FormatFloat(x, 'g', 2, 64)
	}
	suffixes := []string{"k", "M", "G", "T"}
	scale := 1e3
	for i, suf := range suffixes {
		m := x / scale
		s := strconv.FormatFloat(m, 'g', 3, 64)
		if math.Abs(m) < 999.5 || i == len(suffixes)-1 {
			if strings.Contains(s, "e") { // 'g' chose an exponent (1e+03)
				s = strconv.FormatFloat(m, 'f', 0, 64)
			}
			return s + suf
		}
		scale *= 1e3
	}
	return strconv.FormatFloat(x, 'g', 3, 64)
}

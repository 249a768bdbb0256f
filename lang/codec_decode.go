package lang

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"unicode/utf8"

	"go.starlark.net/starlark"
)

// decoder walks one encoded value in data (see Decode).
type decoder struct {
	data       []byte
	off        int // the next byte to read
	nesting    int // containers entered
	maxNesting int
	makeFunc   func(*FuncCode) (Value, error) // nil: functions cannot be decoded
}

// errorf returns a *DecodeError at offset off.
func (d *decoder) errorf(off int, format string, args ...any) *DecodeError {
	return &DecodeError{Offset: off, Msg: fmt.Sprintf(format, args...)}
}

// head reads the head of the item at d.off: its major type, its additional
// information and its argument (a length, a value, a tag number or float bits).
func (d *decoder) head() (major, info byte, arg uint64, err error) {
	start := d.off
	if start >= len(d.data) {
		return 0, 0, 0, d.errorf(start, "unexpected end of input")
	}
	b := d.data[start]
	major, info = b&0xe0, b&0x1f
	if info < 24 {
		d.off++
		return major, info, uint64(info), nil
	}
	var size int
	switch info {
	case 24:
		size = 1
	case 25:
		size = 2
	case 26:
		size = 4
	case 27:
		size = 8
	case 31:
		if major == majorSimple {
			return 0, 0, 0, d.errorf(start, "unexpected break")
		}
		return 0, 0, 0, d.errorf(start, "indefinite length (not allowed)")
	default:
		return 0, 0, 0, d.errorf(start, "reserved additional information %d", info)
	}
	if len(d.data)-start-1 < size {
		return 0, 0, 0, d.errorf(start, "unexpected end of input in an item's head")
	}
	p := d.data[start+1 : start+1+size]
	switch size {
	case 1:
		arg = uint64(p[0])
	case 2:
		arg = uint64(binary.BigEndian.Uint16(p))
	case 4:
		arg = uint64(binary.BigEndian.Uint32(p))
	default:
		arg = binary.BigEndian.Uint64(p)
	}
	d.off = start + 1 + size
	return major, info, arg, nil
}

// shortInt decodes the item at d.off if it is an int whose head is at most
// 5 bytes long, and reports whether it did.
func (d *decoder) shortInt() (Value, bool) {
	data, off := d.data, d.off
	if off >= len(data) {
		return nil, false
	}
	b := data[off]
	if b&^0x3f != 0 { // not major type 0 or 1
		return nil, false
	}
	var n int64
	switch info := b & 0x1f; {
	case info < 24:
		n, d.off = int64(info), off+1
	case info == 24 && off+1 < len(data):
		n, d.off = int64(data[off+1]), off+2
	case info == 25 && off+2 < len(data):
		n, d.off = int64(binary.BigEndian.Uint16(data[off+1:])), off+3
	case info == 26 && off+4 < len(data):
		n, d.off = int64(binary.BigEndian.Uint32(data[off+1:])), off+5
	default:
		return nil, false
	}
	if b&majorNegInt != 0 {
		n = -1 - n
	}
	return starlark.MakeInt64(n), true
}

// value decodes the item at d.off.
func (d *decoder) value() (Value, error) {
	start := d.off
	major, info, arg, err := d.head()
	if err != nil {
		return nil, err
	}
	switch major {
	case majorUint:
		return starlark.MakeUint64(arg), nil
	case majorNegInt:
		if arg <= math.MaxInt64 {
			return starlark.MakeInt64(-1 - int64(arg)), nil
		}
		b := new(big.Int).SetUint64(arg)
		return starlark.MakeBigInt(b.Not(b)), nil
	case majorBytes:
		b, err := d.bytes(start, arg)
		if err != nil {
			return nil, err
		}
		return starlark.Bytes(string(b)), nil
	case majorText:
		return d.text(start, arg)
	case majorArray:
		return d.list(start, arg)
	case majorMap:
		return nil, d.errorf(start, "a map is not a value (a dict is tag %d and an array)", tagDict)
	case majorTag:
		return d.tagged(start, arg)
	}
	return d.simple(start, info, arg)
}

// simple decodes a value of major type 7: a bool, None or a float.
func (d *decoder) simple(start int, info byte, arg uint64) (Value, error) {
	switch info {
	case itemFalse & 0x1f:
		return starlark.False, nil
	case itemTrue & 0x1f:
		return starlark.True, nil
	case itemNull & 0x1f:
		return starlark.None, nil
	case itemFloat16 & 0x1f:
		return starlark.Float(halfFloat(uint16(arg))), nil
	case itemFloat32 & 0x1f:
		return starlark.Float(math.Float32frombits(uint32(arg))), nil
	case itemFloat64 & 0x1f:
		return starlark.Float(math.Float64frombits(arg)), nil
	}
	return nil, d.errorf(start, "unknown simple value %d", arg)
}

// bytes returns the n bytes at d.off, not copied, for an item that starts at start.
func (d *decoder) bytes(start int, n uint64) ([]byte, error) {
	if n > uint64(len(d.data)-d.off) {
		return nil, d.errorf(start, "length %d exceeds the %d bytes left", n, len(d.data)-d.off)
	}
	b := d.data[d.off : d.off+int(n)]
	d.off += int(n)
	return b, nil
}

func (d *decoder) text(start int, n uint64) (Value, error) {
	b, err := d.bytes(start, n)
	if err != nil {
		return nil, err
	}
	if !utf8.Valid(b) {
		return nil, d.errorf(start, "invalid UTF-8 in a text string (use tag %d for such strings)", tagRawString)
	}
	return starlark.String(b), nil
}

// enter notes that a container is being decoded, failing if that is too deep.
func (d *decoder) enter(start int) error {
	d.nesting++
	if d.nesting > d.maxNesting {
		return d.errorf(start, "nested deeper than %d levels", d.maxNesting)
	}
	return nil
}

func (d *decoder) leave() { d.nesting-- }

// elems decodes the n items of an array that starts at start.
func (d *decoder) elems(start int, n uint64) ([]Value, error) {
	if n > uint64(len(d.data)-d.off) {
		return nil, d.errorf(start, "length %d exceeds the %d bytes left", n, len(d.data)-d.off)
	}
	if err := d.enter(start); err != nil {
		return nil, err
	}
	defer d.leave()
	elems := make([]Value, n)
	for i := range elems {
		if x, ok := d.shortInt(); ok { // the commonest element, without the general path
			elems[i] = x
			continue
		}
		x, err := d.value()
		if err != nil {
			return nil, err
		}
		elems[i] = x
	}
	return elems, nil
}

func (d *decoder) list(start int, n uint64) (Value, error) {
	elems, err := d.elems(start, n)
	if err != nil {
		return nil, err
	}
	return starlark.NewList(elems), nil
}

// arrayHead reads the head of the array that tag must be followed by and
// returns its length, checked against the input left.
func (d *decoder) arrayHead(tag uint64) (uint64, error) {
	at := d.off
	major, _, n, err := d.head()
	if err != nil {
		return 0, err
	}
	if major != majorArray {
		return 0, d.errorf(at, "tag %d must be followed by an array, not %s", tag, majorName(major))
	}
	if n > uint64(len(d.data)-d.off) {
		return 0, d.errorf(at, "length %d exceeds the %d bytes left", n, len(d.data)-d.off)
	}
	return n, nil
}

// tagged decodes the item after a tag number.
func (d *decoder) tagged(start int, tag uint64) (Value, error) {
	switch tag {
	case tagPosBignum, tagNegBignum:
		return d.bignum(tag)
	case tagRawString:
		b, err := d.byteString(tag)
		if err != nil {
			return nil, err
		}
		return starlark.String(b), nil
	case tagTuple:
		n, err := d.arrayHead(tag)
		if err != nil {
			return nil, err
		}
		elems, err := d.elems(start, n)
		if err != nil {
			return nil, err
		}
		return starlark.Tuple(elems), nil
	case tagDict:
		return d.dict(start)
	case tagSet:
		return d.set(start)
	case tagRange:
		return d.rangeValue(start)
	case tagFunc:
		return d.function(start)
	case tagPinned:
		return d.pinned(start)
	case tagVecInt, tagVecFloat, tagVecBool:
		return d.vec(start, tag)
	case tagBuiltin:
		name, err := d.string("builtin name")
		if err != nil {
			return nil, err
		}
		v, ok := builtinNamed(name)
		if !ok {
			return nil, d.errorf(start, "unknown builtin %q", name)
		}
		return v, nil
	}
	return nil, d.errorf(start, "unknown tag %d", tag)
}

// byteString reads the byte string that tag must be followed by.
func (d *decoder) byteString(tag uint64) ([]byte, error) {
	at := d.off
	major, _, n, err := d.head()
	if err != nil {
		return nil, err
	}
	if major != majorBytes {
		return nil, d.errorf(at, "tag %d must be followed by a byte string, not %s", tag, majorName(major))
	}
	return d.bytes(at, n)
}

func (d *decoder) bignum(tag uint64) (Value, error) {
	mag, err := d.byteString(tag)
	if err != nil {
		return nil, err
	}
	b := new(big.Int).SetBytes(mag)
	if tag == tagNegBignum {
		b.Not(b) // -1-b
	}
	return starlark.MakeBigInt(b), nil
}

func (d *decoder) dict(start int) (Value, error) {
	n, err := d.arrayHead(tagDict)
	if err != nil {
		return nil, err
	}
	if n%2 != 0 {
		return nil, d.errorf(start, "a dict needs an even number of items, not %d", n)
	}
	if err := d.enter(start); err != nil {
		return nil, err
	}
	defer d.leave()
	dict := starlark.NewDict(int(n / 2))
	for i := range int(n / 2) {
		at := d.off
		k, err := d.value()
		if err != nil {
			return nil, err
		}
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		if err := dict.SetKey(k, v); err != nil {
			return nil, &DecodeError{Offset: at, Msg: "dict key", Err: err}
		}
		if dict.Len() != i+1 {
			return nil, d.errorf(at, "duplicate dict key %s", reprForError(k))
		}
	}
	return dict, nil
}

func (d *decoder) set(start int) (Value, error) {
	n, err := d.arrayHead(tagSet)
	if err != nil {
		return nil, err
	}
	if err := d.enter(start); err != nil {
		return nil, err
	}
	defer d.leave()
	set := starlark.NewSet(int(n))
	for i := range int(n) {
		at := d.off
		x, err := d.value()
		if err != nil {
			return nil, err
		}
		if err := set.Insert(x); err != nil {
			return nil, &DecodeError{Offset: at, Msg: "set element", Err: err}
		}
		if set.Len() != i+1 {
			return nil, d.errorf(at, "duplicate set element %s", reprForError(x))
		}
	}
	return set, nil
}

// int64 decodes an int that must fit in 64 bits.
func (d *decoder) int64(what string) (int64, error) {
	at := d.off
	v, err := d.value()
	if err != nil {
		return 0, err
	}
	i, ok := v.(starlark.Int)
	if !ok {
		return 0, d.errorf(at, "%s must be an int, not %s", what, v.Type())
	}
	n, ok := i.Int64()
	if !ok {
		return 0, d.errorf(at, "%s %s out of range", what, i)
	}
	return n, nil
}

// string decodes a string.
func (d *decoder) string(what string) (string, error) {
	at := d.off
	v, err := d.value()
	if err != nil {
		return "", err
	}
	s, ok := v.(starlark.String)
	if !ok {
		return "", d.errorf(at, "%s must be a string, not %s", what, v.Type())
	}
	return string(s), nil
}

// rangeValue decodes [start, stop, step] after a range tag at offset at.
func (d *decoder) rangeValue(at int) (Value, error) {
	n, err := d.arrayHead(tagRange)
	if err != nil {
		return nil, err
	}
	if n != 3 {
		return nil, d.errorf(at, "a range needs 3 items [start, stop, step], not %d", n)
	}
	if err := d.enter(at); err != nil {
		return nil, err
	}
	defer d.leave()
	var start, stop, step int64
	for _, p := range [...]struct {
		what string
		n    *int64
	}{{"range start", &start}, {"range stop", &stop}, {"range step", &step}} {
		if *p.n, err = d.int64(p.what); err != nil {
			return nil, err
		}
	}
	if !rangeSpanFits(start, stop, step) {
		return nil, d.errorf(at, "range(%d, %d, %d) spans more than the largest int", start, stop, step)
	}
	r, err := makeRange(rangeBounds{int(start), int(stop), int(step)})
	if err != nil {
		return nil, &DecodeError{Offset: at, Msg: fmt.Sprintf("range(%d, %d, %d)", start, stop, step), Err: err}
	}
	return r, nil
}

// function decodes [name, source, file, line, col, self, scope] (see FuncCode)
// and makes the function.
func (d *decoder) function(start int) (Value, error) {
	n, err := d.arrayHead(tagFunc)
	if err != nil {
		return nil, err
	}
	if n != 7 {
		return nil, d.errorf(start, "a function needs 7 items [name, source, file, line, col, self, scope], not %d", n)
	}
	if err := d.enter(start); err != nil {
		return nil, err
	}
	defer d.leave()
	fc, err := d.funcCode(start)
	if err != nil {
		return nil, err
	}
	if d.makeFunc == nil {
		return nil, d.errorf(start, "function %s: no interpreter to make it in", fc.Name)
	}
	fn, err := d.makeFunc(fc)
	if err != nil {
		return nil, &DecodeError{Offset: start, Msg: "function " + fc.Name, Err: err}
	}
	return fn, nil
}

// funcCode decodes the items of a function after its array head.
func (d *decoder) funcCode(start int) (*FuncCode, error) {
	var fc FuncCode
	var line, col int64
	var err error
	if fc.Name, err = d.string("function name"); err != nil {
		return nil, err
	}
	if fc.Source, err = d.string("function source"); err != nil {
		return nil, err
	}
	if fc.Pos.File, err = d.string("function file"); err != nil {
		return nil, err
	}
	if line, err = d.int64("function line"); err != nil {
		return nil, err
	}
	if col, err = d.int64("function column"); err != nil {
		return nil, err
	}
	if line < 1 || line > math.MaxInt32 || col < 0 || col > math.MaxInt32 {
		return nil, d.errorf(start, "function position %d:%d is not a line and column", line, col)
	}
	fc.Pos.Line, fc.Pos.Col = int(line), int(col)
	if fc.Self, err = d.string("function self"); err != nil {
		return nil, err
	}
	if fc.Scope, err = d.scope(); err != nil {
		return nil, err
	}
	return &fc, nil
}

// scope decodes [name1, value1, name2, value2, ...], names strictly increasing.
func (d *decoder) scope() ([]Binding, error) {
	at := d.off
	major, _, n, err := d.head()
	if err != nil {
		return nil, err
	}
	if major != majorArray {
		return nil, d.errorf(at, "a function's scope must be an array, not %s", majorName(major))
	}
	if n > uint64(len(d.data)-d.off) {
		return nil, d.errorf(at, "length %d exceeds the %d bytes left", n, len(d.data)-d.off)
	}
	if n%2 != 0 {
		return nil, d.errorf(at, "a function's scope needs an even number of items, not %d", n)
	}
	scope := make([]Binding, n/2)
	for i := range scope {
		nameAt := d.off
		name, err := d.string("captured name")
		if err != nil {
			return nil, err
		}
		if i > 0 && name <= scope[i-1].Name {
			return nil, d.errorf(nameAt, "captured names must be sorted and distinct: %q after %q", name, scope[i-1].Name)
		}
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		scope[i] = Binding{Name: name, Value: v}
	}
	return scope, nil
}

// majorName names a CBOR major type for errors.
func majorName(major byte) string {
	return [...]string{"an unsigned int", "a negative int", "a byte string", "a text string",
		"an array", "a map", "a tag", "a simple value or float"}[major>>5]
}

// halfFloat returns the value of the IEEE 754 half-precision float with bits h
// (RFC 8949 Appendix D).
func halfFloat(h uint16) float64 {
	exp := int(h>>10) & 0x1f
	mant := float64(h & 0x3ff)
	var f float64
	switch exp {
	case 0:
		f = math.Ldexp(mant, -24)
	case 0x1f:
		f = math.Inf(1)
		if mant != 0 {
			f = math.NaN()
		}
	default:
		f = math.Ldexp(mant+1024, exp-25)
	}
	if h&0x8000 != 0 {
		f = -f
	}
	return f
}

// rangeSpanFits reports whether the distance a range covers, from start
// towards stop, fits in an int64. Starlark computes the length of a range
// with int arithmetic that overflows, unchecked, when it does not.
func rangeSpanFits(start, stop, step int64) bool {
	switch {
	case step > 0 && stop > start:
		return uint64(stop)-uint64(start) <= math.MaxInt64
	case step < 0 && start > stop:
		return uint64(start)-uint64(stop) <= math.MaxInt64
	}
	return true
}

// pinned decodes [function, selector...] after a pinned tag.
func (d *decoder) pinned(start int) (Value, error) {
	n, err := d.arrayHead(tagPinned)
	if err != nil {
		return nil, err
	}
	if n < 1 {
		return nil, d.errorf(start, "a pinned function needs [function, selector...]")
	}
	if err := d.enter(start); err != nil {
		return nil, err
	}
	defer d.leave()
	v, err := d.value()
	if err != nil {
		return nil, err
	}
	fn, ok := v.(*starlark.Function)
	if !ok {
		return nil, d.errorf(start, "a pinned function holds a function, not %s", v.Type())
	}
	p := &Pinned{Fn: fn}
	for i := uint64(1); i < n; i++ {
		s, err := d.string("selector")
		if err != nil {
			return nil, err
		}
		p.Selector = append(p.Selector, s)
	}
	return p, nil
}

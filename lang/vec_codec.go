package lang

import (
	"encoding/binary"
	"math"
	"slices"
)

// Vecs in the codec: RFC 8746 typed arrays, a byte string of the elements
// tagged with their type, so that a vec travels as its bytes, without a
// head per element. Ints and floats are little-endian, as the machines
// sperse runs on keep them, so both ends copy the bytes and convert
// nothing. Bools, for which RFC 8746 has no tag, are a byte each, 0 or 1,
// under a tag of sperse's. NaN is written as the one NaN scalar floats
// are (canonicalNaN), so equal vecs encode to equal bytes.
const (
	tagVecInt   = 79    // RFC 8746: sint64, little endian, typed array
	tagVecFloat = 86    // RFC 8746: IEEE 754 binary64, little endian, typed array
	tagVecBool  = 29561 // sperse: bools, one byte each, 0 or 1
)

// vec appends v as a typed array.
func (e *encoder) vec(v *Vec) {
	switch v.kind {
	case intVec:
		e.head(majorTag, tagVecInt)
		e.head(majorBytes, 8*uint64(len(v.ints)))
		buf := slices.Grow(e.buf, 8*len(v.ints))
		for _, x := range v.ints {
			buf = binary.LittleEndian.AppendUint64(buf, uint64(x))
		}
		e.buf = buf
	case floatVec:
		e.head(majorTag, tagVecFloat)
		e.head(majorBytes, 8*uint64(len(v.floats)))
		buf := slices.Grow(e.buf, 8*len(v.floats))
		for _, f := range v.floats {
			bits := math.Float64bits(f)
			if f != f {
				bits = canonicalNaN
			}
			buf = binary.LittleEndian.AppendUint64(buf, bits)
		}
		e.buf = buf
	default:
		e.head(majorTag, tagVecBool)
		e.head(majorBytes, uint64(len(v.bools)))
		for _, b := range v.bools {
			e.buf = append(e.buf, byte(boolInt(b)))
		}
	}
}

// vec decodes the byte string of a typed array after tag, which started at
// start. Its length is checked against the input before anything is
// allocated, and the vec takes no more memory than its encoding.
func (d *decoder) vec(start int, tag uint64) (Value, error) {
	data, err := d.byteString(tag)
	if err != nil {
		return nil, err
	}
	if tag == tagVecBool {
		bools := make([]bool, len(data))
		for i, b := range data {
			if b > 1 {
				return nil, d.errorf(start, "a bool vec holds bytes 0 and 1, not %d (element %d)", b, i)
			}
			bools[i] = b == 1
		}
		return NewBoolVec(bools), nil
	}
	if len(data)%8 != 0 {
		return nil, d.errorf(start, "a typed array of tag %d has %d bytes, not a multiple of 8", tag, len(data))
	}
	if tag == tagVecInt {
		ints := make([]int64, len(data)/8)
		for i := range ints {
			ints[i] = int64(binary.LittleEndian.Uint64(data[8*i:]))
		}
		return NewIntVec(ints), nil
	}
	floats := make([]float64, len(data)/8)
	for i := range floats {
		floats[i] = math.Float64frombits(binary.LittleEndian.Uint64(data[8*i:]))
	}
	return NewFloatVec(floats), nil
}

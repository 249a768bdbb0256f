package lang

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode/utf8"
)

// The value codec: how values travel between client and servers.
//
// A value is one CBOR item (RFC 8949), encoded deterministically: the same
// value always gives the same bytes, every head in its shortest form, every
// length definite. That makes Hash of an encoding a content address for code.
//
//	None              null
//	bool              false, true
//	int               major type 0 or 1 if it fits in 64 bits, else tag 2 or 3
//	                  (bignum) with a minimal big-endian magnitude
//	float             always the 8-byte float64 form; NaN as 0x7ff8000000000000
//	string            text string if valid UTF-8, else tag 29559 + byte string
//	bytes             byte string
//	list              array
//	tuple             tag 29552 + array
//	dict              tag 29553 + array [k1, v1, k2, v2, ...] in insertion order
//	set               tag 29554 + array in insertion order
//	range             tag 29555 + [start, stop, step], never expanded
//	function          tag 29556 + [name, source, file, line, col, self, scope]
//	                  where scope is [name1, value1, name2, value2, ...] sorted
//	                  by name (see FuncCode)
//	builtin           tag 29557 + its name: a builtin function or module of
//	                  Starlark or sperse (len, sum, math), found by name on
//	                  the receiving side
//	pinned function   tag 29558 + [function, selector...]: a "remote def"
//	vec of ints       tag 79 (RFC 8746 sint64 little-endian typed array) +
//	                  byte string of the elements, 8 bytes each
//	vec of floats     tag 86 (RFC 8746 binary64 little-endian) + byte
//	                  string, 8 bytes each, NaN as 0x7ff8000000000000
//	vec of bools      tag 29561 + byte string, a byte 0 or 1 each
//	                  (see vec_codec.go)
//
// In a job's scope only (see EncodeJob), a value may also be a Ref (tag
// 29560 + an unsigned int) or a ValueRef (tag 29562 + a byte string of 32
// bytes, a SHA-256: see valref.go).
//
// Decoding is liberal where that is harmless and strict where it matters: it
// accepts non-shortest heads, 2- and 4-byte floats, bignums with leading zeros
// or small values, and raw strings that are valid UTF-8 (all normalized, so
// re-encoding gives the canonical form), and rejects indefinite lengths, maps,
// unknown tags and simple values (undefined included), typed arrays whose
// length is no multiple of their element's, invalid UTF-8 in text
// strings, unhashable or duplicate dict keys and set elements, ranges whose
// span overflows an int, functions with unsorted captured names or a position
// that is not a line and column, trailing bytes, and anything over its
// DecodeLimits. Every length is checked against the input left before
// anything is allocated.
//
// Decode walks the bytes by hand and does not first run fxamacker/cbor's
// DecMode.Wellformed: the walker checks everything Wellformed does, and the
// extra pass cost a quarter to a third of decode throughput, which took it
// below the 300 MB/s target. Measured on a list of the ints 0..999,999 (4.87
// MB encoded; go test -bench Codec ./lang/, 2-core VM shared with other
// jobs, go1.26): Decode 320-490 MB/s, Wellformed then Decode 245-290 MB/s;
// Encode 520-670 MB/s, AppendValue into a reused buffer 800-840 MB/s.
// CBOR tag numbers of sperse values.
const (
	tagPosBignum = 2     // RFC 8949 unsigned bignum
	tagNegBignum = 3     // RFC 8949 negative bignum
	tagTuple     = 29552 // tuple: an array
	tagDict      = 29553 // dict: an array of keys and values, alternating
	tagSet       = 29554 // set: an array
	tagRange     = 29555 // range: [start, stop, step]
	tagFunc      = 29556 // function: see FuncCode
	tagBuiltin   = 29557 // builtin function or module: its name
	tagPinned    = 29558 // pinned function: [function, selector...]
	tagRawString = 29559 // a string that is not valid UTF-8: a byte string
	tagRef       = 29560 // a Ref, in a job's scope only: an unsigned int
)

// CBOR major types, in the top three bits of an item's first byte.
const (
	majorUint   byte = 0 << 5
	majorNegInt byte = 1 << 5
	majorBytes  byte = 2 << 5
	majorText   byte = 3 << 5
	majorArray  byte = 4 << 5
	majorMap    byte = 5 << 5
	majorTag    byte = 6 << 5
	majorSimple byte = 7 << 5
)

// Whole first bytes of CBOR simple values and floats.
const (
	itemFalse   byte = 0xf4
	itemTrue    byte = 0xf5
	itemNull    byte = 0xf6
	itemFloat16 byte = 0xf9
	itemFloat32 byte = 0xfa
	itemFloat64 byte = 0xfb
)

// canonicalNaN is the one NaN that Encode writes, whatever the NaN's payload.
const canonicalNaN = 0x7ff8000000000000

// Limits of the codec.
const (
	// DefaultMaxEncodedSize is the largest encoding Decode accepts when
	// DecodeLimits.MaxSize is 0.
	DefaultMaxEncodedSize = 256 << 20
	// DefaultMaxNesting is how deeply containers (lists, tuples, dicts, sets,
	// ranges, functions) may nest when DecodeLimits.MaxNesting is 0, and
	// always when encoding. A list that contains itself exceeds it.
	DefaultMaxNesting = 256
)

// DecodeLimits bounds what a decode accepts. The zero value means the defaults.
//
// There is no separate bound on the number of elements of a container: each
// element takes at least one byte, so a length larger than the input left is
// an error before anything is allocated. Memory still grows faster than the
// input: a decoded value takes up to about 16 times its encoded size for a
// list of small ints, 48 for a list of empty lists and 130 for a list of empty
// dicts or sets, so a server should set MaxSize to what it can afford.
type DecodeLimits struct {
	MaxSize    int // the largest encoding accepted, in bytes; 0 means DefaultMaxEncodedSize
	MaxNesting int // how deeply containers may nest; 0 means DefaultMaxNesting
}

// orDefaults returns l with its zero fields set to the defaults.
func (l DecodeLimits) orDefaults() DecodeLimits {
	if l.MaxSize <= 0 {
		l.MaxSize = DefaultMaxEncodedSize
	}
	if l.MaxNesting <= 0 {
		l.MaxNesting = DefaultMaxNesting
	}
	return l
}

// Encode returns the deterministic CBOR encoding of v. It fails with an
// *EncodeError if v holds a value of a kind that cannot travel (a builtin, a
// module, ...), a function that refers to itself through others, or
// containers nested deeper than DefaultMaxNesting (a list containing itself).
//
// Encode does not modify v and is safe to call from any goroutine on a frozen
// value; an unfrozen set is marked as being iterated while it is encoded, so it
// must not be encoded by two goroutines at once.
func Encode(v Value) ([]byte, error) {
	return AppendValue(nil, v)
}

// AppendValue appends the encoding of v to dst and returns the extended slice,
// as Encode does. On error it returns dst unchanged in length.
func AppendValue(dst []byte, v Value) ([]byte, error) {
	e := encoder{buf: dst, capture: captureFunc}
	if err := e.value(v); err != nil {
		return dst, err.finish()
	}
	return e.buf, nil
}

// Decode decodes data, which must be exactly one encoded value, within the
// default DecodeLimits. Functions are made in interpreter in. The value
// returned is frozen, so it may be shared between goroutines. Errors are
// *DecodeError.
func (in *Interp) Decode(data []byte) (Value, error) {
	return in.DecodeLimited(data, DecodeLimits{})
}

// DecodeLimited is Decode within the given limits.
func (in *Interp) DecodeLimited(data []byte, limits DecodeLimits) (Value, error) {
	limits = limits.orDefaults()
	if len(data) > limits.MaxSize {
		return nil, &DecodeError{Msg: fmt.Sprintf("%d bytes exceed the limit of %d", len(data), limits.MaxSize)}
	}
	d := decoder{data: data, maxNesting: limits.MaxNesting}
	if in != nil {
		d.makeFunc = in.makeFunc
	}
	v, err := d.value()
	if err != nil {
		return nil, err
	}
	if d.off != len(data) {
		return nil, d.errorf(d.off, "%d trailing bytes after the value", len(data)-d.off)
	}
	v.Freeze()
	return v, nil
}

// Hash returns the content hash of an encoding: the hex of its SHA-256. Code
// is identified by the Hash of its Encode.
func Hash(encoded []byte) string {
	sum := sha256.Sum256(encoded)
	return hex.EncodeToString(sum[:])
}

// EncodeError reports a value that cannot be encoded, and where it is.
type EncodeError struct {
	// Path says where the value is inside the value given to Encode, as a
	// suffix for that value's name: `[3]["k"]` is element "k" of element 3;
	// `.keys()[2]` is the third key of a dict; `.elems()[1]` is the second
	// element of a set; `.y` is the value that a function captures as y.
	// It is "" for the value itself.
	Path string
	Type string // the Starlark type of the value, e.g. "builtin_function_or_method"
	Repr string // the value's repr, shortened
	Err  error  // why it cannot be encoded, if more than its type; may be nil

	segments []string // path segments innermost first, while unwinding
}

func (e *EncodeError) Error() string {
	var b strings.Builder
	b.WriteString("cannot encode ")
	b.WriteString(e.Type)
	b.WriteString(" value ")
	b.WriteString(e.Repr)
	if e.Path != "" {
		b.WriteString(" at ")
		b.WriteString(e.Path)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the reason, if any.
func (e *EncodeError) Unwrap() error { return e.Err }

// maxPathSegments bounds EncodeError.Path: a list nested in itself would
// otherwise give a path of DefaultMaxNesting segments.
const maxPathSegments = 16

// in records that the value at fault is inside segment seg, while unwinding.
func (e *EncodeError) in(seg string) *EncodeError {
	e.segments = append(e.segments, seg)
	return e
}

// finish sets Path from the segments recorded while unwinding.
func (e *EncodeError) finish() *EncodeError {
	var b strings.Builder
	for i := len(e.segments) - 1; i >= 0; i-- {
		if len(e.segments)-i > maxPathSegments {
			b.WriteString("...")
			break
		}
		b.WriteString(e.segments[i])
	}
	e.Path = b.String()
	e.segments = nil
	return e
}

// DecodeError reports why data is not an encoded value, and where.
type DecodeError struct {
	Offset int    // the byte offset of the item at fault
	Msg    string // what is wrong with it
	Err    error  // the underlying error (for instance making a function); may be nil
}

func (e *DecodeError) Error() string {
	msg := fmt.Sprintf("decode value: offset %d: %s", e.Offset, e.Msg)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the underlying error, if any.
func (e *DecodeError) Unwrap() error { return e.Err }

// maxReprLen bounds the reprs written in errors.
const maxReprLen = 48

// reprForError returns the repr of v, cut to about maxReprLen bytes.
func reprForError(v Value) string {
	if v == nil {
		return "nil"
	}
	return cutRepr(v.String())
}

// cutRepr cuts s to about maxReprLen bytes on a rune boundary.
func cutRepr(s string) string {
	if len(s) <= maxReprLen {
		return s
	}
	cut := maxReprLen
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

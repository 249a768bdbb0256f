package lang

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"go.starlark.net/starlark"
)

// Big values of a job's scope travel once to a place that keeps them: a job
// may carry, instead of such a value, a ValueRef, the SHA-256 of the value's
// encoding (which is deterministic, so equal values have equal hashes). The
// place resolves it from what it keeps, or answers that it lacks it, and
// the job is sent again with the value. EncodeJobSharing and
// DecodeJobSharing are the two ends.

// tagValueRef is the CBOR tag of a ValueRef, in a job's scope only: a byte
// string of 32 bytes.
const tagValueRef = 29562

// ValueRef stands, in the scope of a job, for a value the place the job is
// sent to keeps: the SHA-256 of the value's encoding. It is no value code
// can use: the place resolves it before it runs the job.
type ValueRef [sha256.Size]byte

var _ starlark.Value = ValueRef{}

// RefTo returns the ValueRef of a value whose encoding is enc.
func RefTo(enc []byte) ValueRef { return sha256.Sum256(enc) }

func (r ValueRef) String() string        { return "<value sha256:" + hex.EncodeToString(r[:]) + ">" }
func (r ValueRef) Type() string          { return "valueref" }
func (r ValueRef) Freeze()               {}
func (r ValueRef) Truth() starlark.Bool  { return starlark.True }
func (r ValueRef) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable: valueref") }

// SharedValue is a big value of a job's scope: one whose encoding takes at
// least the threshold given to EncodeJobSharing or DecodeJobSharing.
type SharedValue struct {
	Name   string   // its name in the scope
	Ref    ValueRef // the SHA-256 of its encoding
	Size   int      // the length of its encoding, in bytes
	Inline bool     // the job holds the value itself; false: a ValueRef to it
	Value  Value    // DecodeJobSharing: the value, if Inline
}

// EncodeJobSharing is EncodeJob for a place that keeps big values: each
// value of scope whose encoding takes at least min bytes is hashed, and if
// has reports that the place keeps it, the job holds a ValueRef to it
// instead of the value. It returns the job and its big values, those sent
// inline and those sent by reference. A nil has sends every value inline.
func EncodeJobSharing(c *Cell, scope map[string]Value, min int, has func(ValueRef) bool) ([]byte, []SharedValue, error) {
	var shared []SharedValue
	job, err := encodeJob(c, scope, func(e *encoder, name string, start int) {
		size := len(e.buf) - start
		if size < min {
			return
		}
		ref := RefTo(e.buf[start:])
		inline := has == nil || !has(ref)
		if !inline {
			e.buf = e.buf[:start]
			e.valueRef(ref)
		}
		shared = append(shared, SharedValue{Name: name, Ref: ref, Size: size, Inline: inline})
	})
	if err != nil {
		return nil, nil, err
	}
	return job, shared, nil
}

// DecodeJobSharing is DecodeJob for a place that keeps big values: it also
// returns the big values of the job's scope, those whose encoding takes at
// least min bytes (hashed, with their values) and the ValueRefs, which stay
// in the scope for the caller to resolve.
func (in *Interp) DecodeJobSharing(data []byte, min int) (*Cell, map[string]Value, []SharedValue, error) {
	var shared []SharedValue
	c, scope, err := in.decodeJob(data, func(name string, v Value, enc []byte) {
		if r, ok := v.(ValueRef); ok {
			shared = append(shared, SharedValue{Name: name, Ref: r})
			return
		}
		if len(enc) >= min {
			shared = append(shared, SharedValue{Name: name, Ref: RefTo(enc), Size: len(enc), Inline: true, Value: v})
		}
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("decode job: %w", err)
	}
	return c, scope, shared, nil
}

// valueRef appends r as it stands in a job's scope.
func (e *encoder) valueRef(r ValueRef) {
	e.head(majorTag, tagValueRef)
	e.head(majorBytes, uint64(len(r)))
	e.buf = append(e.buf, r[:]...)
}

// valueRef decodes a ValueRef at d.off, whose tag's head is 3 bytes.
func (d *decoder) valueRef() (Value, error) {
	d.off += 3
	at := d.off
	major, _, n, err := d.head()
	if err != nil {
		return nil, err
	}
	if major != majorBytes || n != sha256.Size {
		return nil, d.errorf(at, "tag %d must be followed by a byte string of %d bytes (a SHA-256)", tagValueRef, sha256.Size)
	}
	if uint64(len(d.data)-d.off) < n {
		return nil, d.errorf(at, "a byte string of %d bytes, but %d are left", n, len(d.data)-d.off)
	}
	var r ValueRef
	copy(r[:], d.data[d.off:])
	d.off += sha256.Size
	return r, nil
}

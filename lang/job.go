package lang

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"go.starlark.net/starlark"
)

// EncodeJob encodes what a place needs to evaluate cell c: its source, where
// the source is (for positions in errors), its name, and scope, the values of
// the cells it uses. The encoding is deterministic: equal jobs encode to equal
// bytes, so Hash of it identifies the computation.
//
// A job is the tuple (source, file, line, name, scope), scope being a dict
// from names to values in the order of the names. It is written here
// directly, as Encode would write that tuple, without building it. A value
// in scope may be a Ref, which only a job can carry.
func EncodeJob(c *Cell, scope map[string]Value) ([]byte, error) {
	return encodeJob(c, scope, nil)
}

// encodeJob is EncodeJob; if share is not nil, it is called after each
// value of the scope is written, with the encoder and the offset at which
// the value starts (see EncodeJobSharing).
func encodeJob(c *Cell, scope map[string]Value, share func(e *encoder, name string, start int)) ([]byte, error) {
	names := make([]string, 0, len(scope))
	for name := range scope {
		names = append(names, name)
	}
	slices.Sort(names)
	e := encoder{buf: make([]byte, 0, 64+len(c.Source)), capture: captureFunc}
	e.head(majorTag, tagTuple)
	e.head(majorArray, 5)
	e.string(c.Source)
	e.string(c.Pos.File)
	e.int64(int64(c.Pos.Line))
	e.string(c.Name)
	e.head(majorTag, tagDict)
	e.head(majorArray, 2*uint64(len(names)))
	for _, name := range names {
		e.string(name)
		switch r := scope[name].(type) {
		case Ref:
			e.head(majorTag, tagRef)
			e.head(majorUint, uint64(r))
			continue
		case ValueRef:
			e.valueRef(r)
			continue
		}
		start := len(e.buf)
		if err := e.value(scope[name]); err != nil {
			return nil, fmt.Errorf("cell %s: %w", c.Name, err.in(name).finish())
		}
		if share != nil {
			share(&e, name, start)
		}
	}
	return e.buf, nil
}

// DecodeJob decodes a job made by EncodeJob, making its functions in in.
// The values of the scope are frozen; some may be Refs.
func (in *Interp) DecodeJob(data []byte) (*Cell, map[string]Value, error) {
	c, scope, err := in.decodeJob(data, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("decode job: %w", err)
	}
	return c, scope, nil
}

// decodeJob is DecodeJob; if share is not nil, it is called after each
// value of the scope is read, with its name, the value and its encoding.
func (in *Interp) decodeJob(data []byte, share func(name string, v Value, enc []byte)) (*Cell, map[string]Value, error) {
	limits := DecodeLimits{}.orDefaults()
	if len(data) > limits.MaxSize {
		return nil, nil, &DecodeError{Msg: fmt.Sprintf("%d bytes exceed the limit of %d", len(data), limits.MaxSize)}
	}
	d := decoder{data: data, maxNesting: limits.MaxNesting, makeFunc: in.makeFunc}
	const job = "a 5-tuple (source, file, line, name, scope)"
	if n, err := d.arrayOf(tagTuple, job); err != nil || n != 5 {
		if err == nil {
			err = d.errorf(0, "got a %d-tuple, want %s", n, job)
		}
		return nil, nil, err
	}
	var (
		src, file, name string
		err             error
	)
	codeStart := d.off
	if src, err = d.textString(); err != nil {
		return nil, nil, err
	}
	if file, err = d.textString(); err != nil {
		return nil, nil, err
	}
	at := d.off
	major, _, line, err := d.head()
	if err != nil {
		return nil, nil, err
	}
	if major != majorUint || line < 1 || line > math.MaxInt32 {
		return nil, nil, d.errorf(at, "the line must be a positive int32")
	}
	if name, err = d.textString(); err != nil {
		return nil, nil, err
	}
	key := cellKey(sha256.Sum256(data[codeStart:d.off]))
	at = d.off
	n, err := d.arrayOf(tagDict, "the scope, a dict")
	if err != nil {
		return nil, nil, err
	}
	if n%2 != 0 {
		return nil, nil, d.errorf(at, "a dict needs an even number of items, not %d", n)
	}
	scope := make(map[string]Value, n/2)
	for range n / 2 {
		at := d.off
		name, err := d.textString()
		if err != nil {
			return nil, nil, err
		}
		start := d.off
		v, err := d.scopeValue()
		if err != nil {
			return nil, nil, err
		}
		if _, dup := scope[name]; dup {
			return nil, nil, d.errorf(at, "duplicate dict key %q", name)
		}
		v.Freeze()
		scope[name] = v
		if share != nil {
			share(name, v, data[start:d.off])
		}
	}
	if d.off != len(data) {
		return nil, nil, d.errorf(d.off, "%d trailing bytes after the value", len(data)-d.off)
	}
	c, err := in.jobCell(key, src, file, int(line), name)
	if err != nil {
		return nil, nil, err
	}
	return c, scope, nil
}

// scopeValue decodes the value of a job's scope entry at d.off: a value, a
// Ref or a ValueRef.
func (d *decoder) scopeValue() (Value, error) {
	rest := d.data[d.off:]
	if len(rest) >= 3 && rest[0] == majorTag|25 && binary.BigEndian.Uint16(rest[1:]) == tagValueRef {
		return d.valueRef()
	}
	if len(rest) < 3 || rest[0] != majorTag|25 || binary.BigEndian.Uint16(rest[1:]) != tagRef {
		return d.value()
	}
	d.off += 3
	at := d.off
	major, _, id, err := d.head()
	if err != nil {
		return nil, err
	}
	if major != majorUint {
		return nil, d.errorf(at, "tag %d must be followed by an unsigned int, not %s", tagRef, majorName(major))
	}
	return Ref(id), nil
}

// arrayOf reads the heads of a tag and of the array it tags at d.off, and
// returns the array's length. what names the value expected, for errors.
func (d *decoder) arrayOf(tag uint64, what string) (uint64, error) {
	at := d.off
	major, _, got, err := d.head()
	if err != nil {
		return 0, err
	}
	if major != majorTag || got != tag {
		return 0, d.errorf(at, "want %s", what)
	}
	return d.arrayHead(tag)
}

// textString reads a text string at d.off.
func (d *decoder) textString() (string, error) {
	at := d.off
	major, _, n, err := d.head()
	if err != nil {
		return "", err
	}
	if major != majorText {
		return "", d.errorf(at, "want a string, not %s", majorName(major))
	}
	v, err := d.text(at, n)
	if err != nil {
		return "", err
	}
	return string(v.(starlark.String)), nil
}

// jobCell returns the parsed cell of a job's code, src at file:line
// defining name, from the interpreter's cache when the same code came
// before (k, the content hash of the encoding of src, file, line and name),
// so that its compiled program is reused: a server sees the same cells
// again and again. The cache is bounded (see cellCache): the least recently
// used cells go.
func (in *Interp) jobCell(k cellKey, src, file string, line int, name string) (*Cell, error) {
	if c := in.cells.get(k); c != nil {
		return c, nil
	}
	c := parseCell(file, line, src, true)
	if c == nil {
		return nil, fmt.Errorf("decode job: cell %s has no code", name)
	}
	if c.Kind == AnonCell {
		c.Name = name
	}
	if c.Name != name {
		return nil, fmt.Errorf("decode job: code defines %s, not %s", c.Name, name)
	}
	return in.cells.put(k, c, len(src)+len(file)+len(name)), nil
}

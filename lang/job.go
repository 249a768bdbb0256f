package lang

import (
	"fmt"
	"sort"

	"go.starlark.net/starlark"
)

// EncodeJob encodes what a place needs to evaluate cell c: its source, where
// the source is (for positions in errors), its name, and scope, the values of
// the cells it uses. The encoding is deterministic: equal jobs encode to equal
// bytes, so Hash of it identifies the computation.
func EncodeJob(c *Cell, scope map[string]Value) ([]byte, error) {
	names := make([]string, 0, len(scope))
	for name := range scope {
		names = append(names, name)
	}
	sort.Strings(names)
	d := starlark.NewDict(len(names))
	for _, name := range names {
		if err := d.SetKey(starlark.String(name), scope[name]); err != nil {
			return nil, err
		}
	}
	job := starlark.Tuple{
		starlark.String(c.Source), starlark.String(c.Pos.File), starlark.MakeInt(c.Pos.Line),
		starlark.String(c.Name), d,
	}
	data, err := Encode(job)
	if err != nil {
		return nil, fmt.Errorf("cell %s: %w", c.Name, err)
	}
	return data, nil
}

// DecodeJob decodes a job made by EncodeJob, making its functions in in.
func (in *Interp) DecodeJob(data []byte) (*Cell, map[string]Value, error) {
	v, err := in.Decode(data)
	if err != nil {
		return nil, nil, fmt.Errorf("decode job: %w", err)
	}
	t, ok := v.(starlark.Tuple)
	if !ok || len(t) != 5 {
		return nil, nil, fmt.Errorf("decode job: got %s, want a 5-tuple", v.Type())
	}
	src, ok1 := starlark.AsString(t[0])
	file, ok2 := starlark.AsString(t[1])
	line, err3 := starlark.AsInt32(t[2])
	name, ok4 := starlark.AsString(t[3])
	d, ok5 := t[4].(*starlark.Dict)
	if !ok1 || !ok2 || err3 != nil || line < 1 || !ok4 || !ok5 {
		return nil, nil, fmt.Errorf("decode job: malformed fields")
	}
	c, err := in.jobCell(cellKey{file, int(line), src, name})
	if err != nil {
		return nil, nil, err
	}
	scope := make(map[string]Value, d.Len())
	for _, item := range d.Items() {
		k, ok := starlark.AsString(item[0])
		if !ok {
			return nil, nil, fmt.Errorf("decode job: scope key is %s, want string", item[0].Type())
		}
		scope[k] = item[1]
	}
	return c, scope, nil
}

// cellKey identifies the code of a job.
type cellKey struct {
	file string
	line int
	src  string
	name string
}

// maxJobCells bounds the parsed cells an Interp keeps for DecodeJob.
const maxJobCells = 1024

// jobCell returns the parsed cell for k, from the interpreter's cache when
// the same code came before, so that its compiled program is reused: a
// server sees the same cells again and again. The cache is bounded: when it
// is full it is emptied.
func (in *Interp) jobCell(k cellKey) (*Cell, error) {
	in.cellsMu.Lock()
	c := in.cells[k]
	in.cellsMu.Unlock()
	if c != nil {
		return c, nil
	}
	c = ParseCell(k.file, k.line, k.src)
	if c == nil {
		return nil, fmt.Errorf("decode job: cell %s has no code", k.name)
	}
	if c.Kind == AnonCell {
		c.Name = k.name
	}
	if c.Name != k.name {
		return nil, fmt.Errorf("decode job: code defines %s, not %s", c.Name, k.name)
	}
	in.cellsMu.Lock()
	if in.cells == nil || len(in.cells) >= maxJobCells {
		in.cells = make(map[cellKey]*Cell)
	}
	in.cells[k] = c
	in.cellsMu.Unlock()
	return c, nil
}

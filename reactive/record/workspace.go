package record

import (
	"cmp"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/reactive"
)

// Workspace is a recorded workspace at one point of its recording: the
// cells and servers a replay shows. Apply moves it one event on. The zero
// Workspace is empty, with no servers. Its fields must not be changed but
// by Apply.
type Workspace struct {
	// Cells are the cells defined and not deleted, in order of first
	// definition; the cells first defined together (by one load) are in
	// the order of their positions.
	Cells   []*Cell
	Servers []Server // the servers known, in order of first appearance; Connected says which are
	Seq     uint64   // the last event applied; 0 before the first
	Offset  time.Duration
	Marker  string // the text of the last marker applied

	byName  map[string]*Cell
	started time.Time // the header's
	// The new cells defined at offset runAt are Cells[run:]: the cells of
	// one load, which the engine publishes in dependency order, and which
	// are kept in the order of their positions, as the engine keeps them.
	run   int
	runAt time.Duration
}

// Cell is a cell of a recorded workspace, as its last event left it.
type Cell struct {
	Name      string
	Version   int
	State     reactive.State
	Source    string // "" if the recording has no definition of the cell
	Pos       lang.Pos
	Dups      []Definition
	Where     string
	Took      time.Duration
	Attempts  int
	Progress  reactive.Progress
	Value     *Value // in state ready
	Error     string
	ErrorPos  lang.Pos
	Backtrace string
	Input     string
	Root      string
	Seq       uint64        // its last event's: a cell with the same Seq is unchanged
	Changed   time.Duration // the offset of its last event
	Started   time.Duration // the offset of its last dispatched event
	Runs      int           // dispatched events since its last definition
}

// NewWorkspace returns the workspace at the start of a recording with
// header h: no cells, and h's servers.
func NewWorkspace(h Header) *Workspace {
	return &Workspace{Servers: slices.Clone(h.Servers), byName: make(map[string]*Cell), started: h.Started}
}

// Cell returns the cell name, or nil.
func (w *Workspace) Cell(name string) *Cell { return w.byName[name] }

// Apply applies ev. A cell event for a cell the recording never defined (a
// recording started after the cell was) adds the cell, without its source.
func (w *Workspace) Apply(ev *Event) {
	if w.byName == nil {
		w.byName = make(map[string]*Cell)
	}
	w.Seq, w.Offset = ev.Seq, ev.Offset
	if ev.Offset != w.runAt {
		w.run, w.runAt = len(w.Cells), ev.Offset
	}
	switch ev.Kind {
	case Marker:
		w.Marker = ev.Text
		return
	case ServerJoined, ServerLeft:
		s := *ev.Server
		s.Connected = ev.Kind == ServerJoined
		i := slices.IndexFunc(w.Servers, func(x Server) bool {
			if x.Addr != "" && s.Addr != "" {
				return x.Addr == s.Addr
			}
			return x.Name == s.Name
		})
		if i < 0 {
			w.Servers = append(w.Servers, s)
		} else {
			w.Servers[i] = s
		}
		return
	case Deleted:
		if c := w.byName[ev.Cell]; c != nil {
			delete(w.byName, ev.Cell)
			i := slices.Index(w.Cells, c)
			w.Cells = slices.Delete(w.Cells, i, i+1)
			if i < w.run {
				w.run--
			}
		}
		return
	}
	if !ev.Kind.IsCell() {
		return
	}
	c := w.byName[ev.Cell]
	if c == nil {
		c = &Cell{Name: ev.Cell}
		w.byName[ev.Cell] = c
		if ev.Kind == Defined {
			run := w.Cells[w.run:]
			// After the cells at or before its position.
			i, _ := slices.BinarySearchFunc(run, ev.Pos, func(x *Cell, p lang.Pos) int {
				if comparePos(x.Pos, p) <= 0 {
					return -1
				}
				return 1
			})
			w.Cells = slices.Insert(w.Cells, w.run+i, c)
		} else {
			w.Cells = append(w.Cells, c) // no position: after the run, which it ends
			w.run = len(w.Cells)
		}
	}
	switch ev.Kind {
	case Defined:
		c.Source, c.Pos, c.Dups = ev.Source, ev.Pos, ev.Dups
		c.Runs = 0
	case Dispatched:
		c.Started = ev.Offset
		c.Runs++
	}
	c.Version, c.State = ev.Version, ev.State
	c.Where, c.Took, c.Value = ev.Where, ev.Took, ev.Value
	c.Attempts, c.Progress = ev.Attempts, ev.Progress
	c.Error, c.ErrorPos, c.Backtrace = ev.Error, ev.ErrorPos, ev.Backtrace
	c.Input, c.Root = ev.Input, ev.Root
	c.Seq, c.Changed = ev.Seq, ev.Offset
}

// At returns the workspace after the first n events of rec (all of them if
// n is larger).
func (rec *Recording) At(n int) *Workspace {
	w := NewWorkspace(rec.Header)
	for i := range rec.Events[:min(max(n, 0), len(rec.Events))] {
		w.Apply(&rec.Events[i])
	}
	return w
}

// Final returns the workspace at the end of rec.
func (rec *Recording) Final() *Workspace { return rec.At(len(rec.Events)) }

// Markers returns the indexes in rec.Events of the markers, in order.
func (rec *Recording) Markers() []int {
	var at []int
	for i := range rec.Events {
		if rec.Events[i].Kind == Marker {
			at = append(at, i)
		}
	}
	return at
}

func comparePos(a, b lang.Pos) int {
	return cmp.Or(strings.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
}

// View returns c, a cell of w, as the engine shows a live cell, so that what
// draws live cells draws a replayed one alike. Its code is parsed from the
// recorded source (nil if there is none); its value is decoded in
// interpreter in, or, when the recording has no encoding of it or it does
// not decode, is a value that prints as the recorded display form; its
// error prints as recorded, and is a *reactive.InputError for an upstream
// error and a *lang.Error for an error of code with a position. Times are
// the recording's start plus the offsets. Dependents is left empty.
//
// View parses and decodes each time: callers that draw often keep what it
// returns for the cell's Version and Changed.
func (w *Workspace) View(c *Cell, in *lang.Interp) reactive.CellView {
	v := reactive.CellView{
		Name:     c.Name,
		Version:  c.Version,
		State:    c.State,
		Where:    c.Where,
		Took:     c.Took,
		Runs:     c.Runs,
		Attempts: c.Attempts,
		Progress: c.Progress,
	}
	if c.Source != "" {
		v.Cell = parseDefinition(c.Name, Definition{Source: c.Source, Pos: c.Pos})
		for _, d := range c.Dups {
			v.Dups = append(v.Dups, parseDefinition(c.Name, d))
		}
		if v.Cell != nil {
			v.Deps = v.Cell.Deps(func(name string) bool { return w.byName[name] != nil })
			slices.Sort(v.Deps)
		}
	}
	if c.Runs > 0 && c.State != reactive.Queued {
		v.Started = w.started.Add(c.Started)
		if c.State != reactive.Running {
			v.Finished = w.started.Add(c.Changed)
		}
	}
	if c.Value != nil {
		val, err := c.Value.Decode(in)
		if err != nil {
			none, _ := in.Decode([]byte{0xf6}) // CBOR null
			val = reprValue{Value: none, v: c.Value}
		}
		v.Value = val
	}
	v.Err = c.err()
	return v
}

// parseDefinition parses a recorded definition of the cell name.
func parseDefinition(name string, d Definition) *lang.Cell {
	c := lang.ParseCell(d.Pos.File, d.Pos.Line, d.Source)
	if c != nil {
		c.Name = name // an anonymous cell is named by the caller
	}
	return c
}

// err returns the cell's error, as an error.
func (c *Cell) err() error {
	switch {
	case c.Error == "":
		return nil
	case c.State == reactive.UpstreamError && c.Input != "":
		return &reactive.InputError{Input: c.Input, Root: cmp.Or(c.Root, c.Input)}
	case c.ErrorPos.File != "":
		if msg, ok := strings.CutPrefix(c.Error, c.ErrorPos.String()+": "); ok {
			return &lang.Error{Pos: c.ErrorPos, Msg: msg, Backtrace: c.Backtrace}
		}
	}
	return errors.New(c.Error)
}

// reprValue is a recorded value that cannot be decoded: it prints as its
// recorded display form, and is otherwise None.
type reprValue struct {
	lang.Value // None
	v          *Value
}

func (r reprValue) String() string {
	if r.v.Truncated() {
		return r.v.Repr + "..."
	}
	return r.v.Repr
}

func (r reprValue) Type() string { return r.v.Type }

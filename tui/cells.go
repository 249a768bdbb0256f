package tui

import (
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/reactive"
)

// item is one cell as the user interface keeps it: the engine's latest view
// of it, and what is derived from that view, made once per change and only
// when the cell is shown.
type item struct {
	view reactive.CellView
	gen  uint64 // bumped on every change of view

	// The preview line, made from view when prevGen != gen.
	prev    string
	prevGen uint64

	// The face of the card (what it shows of the value), made from view
	// when faceGen != gen.
	face    *face
	faceGen uint64

	// The card, cached: lines and what they were drawn for.
	card    []string
	cardKey cardKey
}

// store is the cells of the workspace, in the engine's order (of first
// definition), with an index by name.
type store struct {
	items  []*item
	index  map[string]int
	counts [numStates]int
	gen    uint64 // the last item gen given
	holes  bool   // items has nil entries (deleted) to compact
	added  bool   // a cell was added since the last reorder
}

func newStore() *store {
	return &store{index: make(map[string]int)}
}

func (s *store) len() int { return len(s.items) }

// get returns the cell name, or nil.
func (s *store) get(name string) *item {
	if i, ok := s.index[name]; ok {
		return s.items[i]
	}
	return nil
}

// apply applies one event. Call settle after a burst of them.
func (s *store) apply(ev reactive.Event) {
	name := ev.Cell.Name
	i, ok := s.index[name]
	if ev.Kind == reactive.Deleted {
		if ok {
			s.items[i] = nil
			delete(s.index, name)
			s.holes = true
		}
		return
	}
	s.put(ev.Cell, i, ok)
}

// set replaces the cell of view.Name (or adds it) with view.
func (s *store) set(view reactive.CellView) {
	i, ok := s.index[view.Name]
	s.put(view, i, ok)
}

func (s *store) put(view reactive.CellView, i int, ok bool) {
	s.gen++
	if ok {
		it := s.items[i]
		it.view, it.gen = view, s.gen
		return
	}
	if s.holes {
		s.compact() // keep the index right for the new cell
	}
	s.index[view.Name] = len(s.items)
	s.items = append(s.items, &item{view: view, gen: s.gen})
	s.added = true
}

// reorder puts the cells in the order of names (the engine's order of first
// definition: events come in the order cells run, which is not it); cells
// not in names keep their place after the others.
func (s *store) reorder(names []string) {
	s.added = false
	if s.holes {
		s.compact()
	}
	pos := make(map[string]int, len(names))
	for i, n := range names {
		pos[n] = i
	}
	at := func(it *item) int {
		if p, ok := pos[it.view.Name]; ok {
			return p
		}
		return len(names)
	}
	slices.SortStableFunc(s.items, func(a, b *item) int { return at(a) - at(b) })
	for i, it := range s.items {
		s.index[it.view.Name] = i
	}
}

// settle compacts deleted cells away and counts the states.
func (s *store) settle() {
	if s.holes {
		s.compact()
	}
	s.counts = [numStates]int{}
	for _, it := range s.items {
		s.counts[stateIndex(it.view.State)]++
	}
}

func (s *store) compact() {
	j := 0
	for _, it := range s.items {
		if it != nil {
			s.items[j] = it
			s.index[it.view.Name] = j
			j++
		}
	}
	clear(s.items[j:])
	s.items = s.items[:j]
	s.holes = false
}

// previewOf returns the preview line of it, made once per change.
func (it *item) previewOf() string {
	if it.prevGen == it.gen && it.gen != 0 {
		return it.prev
	}
	it.prev, it.prevGen = makePreview(&it.view), it.gen
	return it.prev
}

// makePreview returns the line a card shows under the cell's name: its
// value, or what keeps it from having one.
func makePreview(v *reactive.CellView) string {
	switch v.State {
	case reactive.Ready:
		return preview(v.Value, previewMax)
	case reactive.Queued:
		if len(v.Deps) > 0 {
			return "waiting for " + strings.Join(v.Deps, ", ")
		}
		return "waiting"
	case reactive.Running:
		return "running on " + v.Where
	case reactive.Cancelled:
		if v.Err != nil {
			return oneLine(errMessage(v.Err))
		}
		return "cancelled"
	}
	if v.Err != nil {
		return oneLine(firstLine(errMessage(v.Err)))
	}
	return v.State.String()
}

// errMessage returns the message of err without its position (the
// inspector shows that).
func errMessage(err error) string {
	var le *lang.Error
	if errors.As(err, &le) && le.Error() == err.Error() {
		return le.Msg
	}
	return err.Error()
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// formatDuration prints d briefly: 850µs, 12ms, 1.3s, 2m05s. The figures
// are cut, not rounded: a recording keeps durations to the microsecond, and
// cutting that again shows what the session showed.
func formatDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Millisecond:
		return d.Truncate(time.Microsecond).String()
	case d < 10*time.Millisecond:
		return d.Truncate(10 * time.Microsecond).String()
	case d < time.Second:
		return d.Truncate(time.Millisecond).String()
	case d < time.Minute:
		return d.Truncate(100 * time.Millisecond).String()
	}
	d = d.Truncate(time.Second)
	m := d / time.Minute
	sec := (d % time.Minute) / time.Second
	return strings.TrimSuffix(time.Duration(m*time.Minute).String(), "0s") + twoDigits(int(sec)) + "s"
}

func twoDigits(n int) string {
	return string([]byte{byte('0' + n/10), byte('0' + n%10)})
}

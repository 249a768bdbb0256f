package tui

import (
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/sperse/sperse/reactive"
)

// Card geometry: a card is at least cardHeight lines (a one-line value;
// tables, numbers and strings of several lines take more, see face), at
// least minCardWidth columns.
const (
	cardHeight   = 5
	minCardWidth = 24
)

// grid is the pane of cells as cards, laid out in as many columns as fit,
// each row of cards as high as its tallest card. It draws only the rows of
// cards that are visible.
type grid struct {
	keys          gridKeys
	width, height int // inside the pane's border
	sel           int // the selected cell's index
	top           int // the first visible row of cards
	// empty is what the grid shows with no cells; nil means emptyWorkspace.
	empty func(st *Styles, width int) []string
}

func newGrid() grid { return grid{keys: newGridKeys()} }

// SetSize sets the size inside the pane's border.
func (g *grid) SetSize(w, h int) {
	g.width, g.height = max(w, 1), max(h, 1)
}

func (g *grid) cols() int { return max(1, g.width/minCardWidth) }

func (g *grid) cardWidth() int { return max(g.width/g.cols(), 6) }

// rowCount is the number of rows of n cells.
func (g *grid) rowCount(n int) int { return (n + g.cols() - 1) / g.cols() }

// rowHeight is the height of row r: its tallest card's.
func (g *grid) rowHeight(s *store, r int) int {
	cols := g.cols()
	h := cardHeight
	for i := r * cols; i < min((r+1)*cols, s.len()); i++ {
		h = max(h, s.items[i].cardHeight())
	}
	return h
}

// visibleRows returns how many rows of cards from the top row fit in the
// pane (at least one).
func (g *grid) visibleRows(s *store) int {
	used, rows := 0, 0
	for r := g.top; r < g.rowCount(s.len()); r++ {
		h := g.rowHeight(s, r)
		if rows > 0 && used+h > g.height {
			break
		}
		used += h
		rows++
	}
	return max(rows, 1)
}

// firstFitting returns the first row from which the rows up to last fit in
// the pane (last itself if it alone does not).
func (g *grid) firstFitting(s *store, last int) int {
	used := 0
	r := last
	for ; r >= 0; r-- {
		used += g.rowHeight(s, r)
		if used > g.height {
			break
		}
	}
	return min(r+1, last)
}

// clamp keeps the selection inside the cells and visible, and the rows
// filling the pane.
func (g *grid) clamp(s *store) {
	n := s.len()
	g.sel = min(max(g.sel, 0), max(n-1, 0))
	row := g.sel / g.cols()
	if row < g.top {
		g.top = row
	}
	if row >= g.top+g.visibleRows(s) {
		g.top = g.firstFitting(s, row)
	}
	last := 0
	if rows := g.rowCount(n); rows > 0 {
		last = g.firstFitting(s, rows-1)
	}
	g.top = min(max(g.top, 0), last)
}

// gridAction is what a key in the grid asks of the root model.
type gridAction int

const (
	gridNone gridAction = iota
	gridMoved
	gridEdit
	gridInspect
	gridRerun
	gridDelete
	gridLeave
)

// Update handles a key for the cells of s.
func (g *grid) Update(msg tea.KeyPressMsg, s *store) (gridAction, bool) {
	n := s.len()
	cols, rows := g.cols(), g.visibleRows(s)
	move := func(d int) (gridAction, bool) {
		g.sel += d
		g.clamp(s)
		return gridMoved, true
	}
	switch {
	case key.Matches(msg, g.keys.Left):
		return move(-1)
	case key.Matches(msg, g.keys.Right):
		return move(1)
	case key.Matches(msg, g.keys.Up):
		if g.sel-cols < 0 {
			return gridMoved, true
		}
		return move(-cols)
	case key.Matches(msg, g.keys.Down):
		if g.sel+cols >= n {
			// From a row above the last, go to the last cell.
			if g.sel/cols < (n-1)/cols {
				return move(n - 1 - g.sel)
			}
			return gridMoved, true
		}
		return move(cols)
	case key.Matches(msg, g.keys.PageUp):
		return move(-cols * rows)
	case key.Matches(msg, g.keys.PageDown):
		return move(cols * rows)
	case key.Matches(msg, g.keys.First):
		return move(-g.sel)
	case key.Matches(msg, g.keys.Last):
		return move(n - 1 - g.sel)
	case key.Matches(msg, g.keys.Edit):
		return gridEdit, true
	case key.Matches(msg, g.keys.Inspect):
		return gridInspect, true
	case key.Matches(msg, g.keys.Rerun):
		return gridRerun, true
	case key.Matches(msg, g.keys.Delete):
		return gridDelete, true
	case key.Matches(msg, g.keys.Leave):
		return gridLeave, true
	}
	return gridNone, false
}

// title returns the pane's title: how many cells, and which are shown.
func (g *grid) title(s *store) string {
	n := s.len()
	if n == 0 {
		return "cells"
	}
	cols, rows := g.cols(), g.visibleRows(s)
	first := g.top * cols
	last := min(n, first+cols*rows)
	if first == 0 && last == n {
		return "cells · " + strconv.Itoa(n)
	}
	return "cells · " + strconv.Itoa(first+1) + "–" + strconv.Itoa(last) + " of " + strconv.Itoa(n)
}

// cardKey is what a card was drawn for: the same key draws the same lines.
type cardKey struct {
	gen      uint64
	width    int
	height   int
	selected bool
	frame    int   // the spinner frame, for running cells
	elapsed  int64 // tenths of seconds running, for running cells
	styles   *Styles
}

// View returns the grid's lines, exactly height lines of width columns.
func (g *grid) View(s *store, st *Styles, frame int, now time.Time) []string {
	lines := make([]string, 0, g.height)
	blank := strings.Repeat(" ", g.width)
	if s.len() == 0 {
		empty := g.empty
		if empty == nil {
			empty = emptyWorkspace
		}
		for _, l := range empty(st, g.width) {
			lines = append(lines, pad(l, g.width))
		}
		for len(lines) < g.height {
			lines = append(lines, blank)
		}
		return lines[:g.height]
	}
	g.clamp(s)
	cols, rows, cw := g.cols(), g.visibleRows(s), g.cardWidth()
	rest := g.width - cols*cw
	var b strings.Builder
	for r := g.top; r < g.top+rows; r++ {
		h := g.rowHeight(s, r)
		var cards [][]string
		for c := range cols {
			i := r*cols + c
			if i >= s.len() {
				break
			}
			cards = append(cards, s.items[i].cardLines(cw, h, i == g.sel, frame, now, st))
		}
		if len(cards) == 0 {
			break
		}
		for l := range h {
			b.Reset()
			for _, card := range cards {
				b.WriteString(card[l])
			}
			if missing := cols - len(cards); missing > 0 || rest > 0 {
				b.WriteString(blank[:missing*cw+rest])
			}
			lines = append(lines, b.String())
		}
	}
	for len(lines) < g.height {
		lines = append(lines, blank)
	}
	return lines[:g.height]
}

// emptyWorkspace is what the grid shows with no cells.
func emptyWorkspace(st *Styles, width int) []string {
	return []string{
		"",
		"  " + st.Bold.Render("No cells yet."),
		"",
		"  " + st.Text.Render("Type a cell below and press enter, for example"),
		"    " + st.Accent.Render("a = remote 6 * 7"),
		"    " + st.Accent.Render("b = a + 1"),
		"  " + st.Text.Render("or open a workspace with ") + st.Accent.Render(":load FILE") + st.Text.Render("."),
		"  " + st.Muted.Render("? shows every key, :help every command."),
	}
}

// cardLines returns the card of it, h lines of width w, drawn again only
// when something it shows changed.
func (it *item) cardLines(w, h int, selected bool, frame int, now time.Time, st *Styles) []string {
	k := cardKey{gen: it.gen, width: w, height: h, selected: selected, styles: st}
	if it.view.State == reactive.Running {
		k.frame = frame % len(spinnerFrames)
		if !it.view.Started.IsZero() {
			k.elapsed = int64(now.Sub(it.view.Started) / (100 * time.Millisecond))
		}
	}
	if it.card != nil && it.cardKey == k {
		return it.card
	}
	it.card, it.cardKey = it.drawCard(w, h, selected, frame, now, st), k
	return it.card
}

// drawCard draws the card of it in w×h: its name and state, its value
// (see face), and where and how long it ran on the line above the bottom.
func (it *item) drawCard(w, h int, selected bool, frame int, now time.Time, st *Styles) []string {
	v := &it.view
	state := stateIndex(v.State)
	inner := w - 4 // border and one space each side
	if inner < 1 {
		inner = 1
	}
	border := st.CardBorder[state]
	tl, tr, bl, br, hz, vt := "╭", "╮", "╰", "╯", "─", "│"
	nameStyle := st.CardName
	if selected {
		border = st.CardSelected
		tl, tr, bl, br, hz, vt = "┏", "┓", "┗", "┛", "━", "┃"
		nameStyle = st.CardNameSel
	}
	side := border.Render(vt)

	// Line 1: glyph, name, state.
	label := stateLabels[state]
	glyph := glyphOf(state, frame)
	nameRoom := inner - 2 - len(label) - 1
	name := v.Name
	if nameRoom < 1 {
		label, nameRoom = "", inner-2
	}
	name = ansi.Truncate(name, max(nameRoom, 1), "…")
	gap := inner - 2 - ansi.StringWidth(name) - ansi.StringWidth(label)
	l1 := st.State[state].Render(glyph) + " " + nameStyle.Render(name) + strings.Repeat(" ", max(gap, 0)) + st.State[state].Render(label)

	// Then the value, or what keeps the cell from having one.
	var value []string
	if f := it.faceOf(); f.kind != faceLine {
		value = f.valueLines(inner, st)
	} else {
		prev := ansi.Truncate(it.previewOf(), inner, "…")
		prevStyle := st.Text
		switch state {
		case reactive.Ready:
		case reactive.Error, reactive.UpstreamError, reactive.Cancelled, reactive.Stale, reactive.Unavailable:
			prevStyle = st.State[state]
		default:
			prevStyle = st.Muted
		}
		value = []string{prevStyle.Render(prev) + strings.Repeat(" ", inner-ansi.StringWidth(prev))}
	}

	// The last line: where and how long.
	foot := ansi.Truncate(cardFooter(v, now), inner, "…")
	foot = st.Muted.Render(foot) + strings.Repeat(" ", inner-ansi.StringWidth(foot))

	blank := strings.Repeat(" ", inner)
	lines := make([]string, 0, max(h, cardHeight))
	lines = append(lines, border.Render(tl+strings.Repeat(hz, w-2)+tr), side+" "+l1+" "+side)
	for i := range max(h-4, 1) {
		l := blank
		if i < len(value) {
			l = value[i]
		}
		lines = append(lines, side+" "+l+" "+side)
	}
	return append(lines, side+" "+foot+" "+side, border.Render(bl+strings.Repeat(hz, w-2)+br))
}

// cardFooter is the last line of a card: where the cell ran and how long it
// took (or has been running).
func cardFooter(v *reactive.CellView, now time.Time) string {
	var parts []string
	if v.Where != "" {
		parts = append(parts, v.Where)
	}
	switch {
	case v.State == reactive.Running && !v.Started.IsZero() && !now.IsZero():
		parts = append(parts, formatDuration(now.Sub(v.Started)))
	case v.State == reactive.Running:
	case v.Took > 0:
		parts = append(parts, formatDuration(v.Took))
	}
	if v.Runs > 1 {
		parts = append(parts, strconv.Itoa(v.Runs)+" runs")
	}
	if v.Version > 1 {
		parts = append(parts, "v"+strconv.Itoa(v.Version))
	}
	return strings.Join(parts, " · ")
}

// pad returns s cut or padded with spaces to exactly w columns.
func pad(s string, w int) string {
	sw := ansi.StringWidth(s)
	switch {
	case sw == w:
		return s
	case sw < w:
		return s + strings.Repeat(" ", w-sw)
	}
	return ansi.Truncate(s, w, "…")
}

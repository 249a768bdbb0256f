package tui

import (
	"strconv"
	"strings"

	"github.com/charmbracelet/x/ansi"

	"github.com/sperse/sperse/lang"
)

// table is a list seen as rows and columns: a list of dicts (a column per
// key, in the order the keys are first seen) or of lists and tuples (a
// column per position). The columns and their widths come from a bounded
// sample of the rows (tableSample), so a table of any length is laid out
// at the same cost; a key that only rows outside the sample have gets no
// column, and a wider cell is cut with "…". The rows themselves are read
// when they are shown.
type table struct {
	rows   indexable
	n      int
	dicts  bool
	cols   []tableCol
	minLen int // the shortest and longest row sampled (lists)
	maxLen int
}

// tableCol is a column of a table.
type tableCol struct {
	name    string
	key     lang.Value // the dict key; nil for a position
	width   int        // the widest sampled cell, the name included, at most maxColWidth
	numeric bool       // every sampled cell of it is a number
}

// Table bounds.
const (
	tableSample   = 1000 // rows sampled for the columns and their widths
	tableMaxCols  = 256  // columns at most (a list of dicts with many keys)
	maxColWidth   = 32   // a column's width at most
	cellTextBytes = 256  // a cell's text is made from at most this much of its value
)

// newTable returns x as a table, with columns from up to sample rows: the
// first hundred, and the rest spread over the whole list.
func newTable(x indexable, sample int) *table {
	t := &table{rows: x, n: x.Len(), minLen: -1}
	idx := sampleIndexes(t.n, sample)
	if t.n > sample {
		head := min(100, sample/2)
		idx = append(sampleIndexes(head, head), sampleIndexes(t.n-head, sample-head)...)
		for i := head; i < len(idx); i++ {
			idx[i] += head
		}
	}
	seen := map[string]int{} // a dict key's repr → its column
	for _, i := range idx {
		row := x.Index(i)
		if row == nil {
			continue
		}
		switch r := row.(type) {
		case keyed:
			if row.Type() != "dict" {
				continue
			}
			t.dicts = true
			for _, k := range r.Keys() {
				ks := k.String()
				c, ok := seen[ks]
				if !ok {
					if len(t.cols) >= tableMaxCols {
						continue
					}
					c = len(t.cols)
					seen[ks] = c
					t.cols = append(t.cols, newColumn(keyName(k), k))
				}
				v, _, _ := r.Get(k)
				t.cols[c].measure(v)
			}
		case indexable:
			if row.Type() != "list" && row.Type() != "tuple" {
				continue
			}
			l := r.Len()
			if t.minLen < 0 || l < t.minLen {
				t.minLen = l
			}
			t.maxLen = max(t.maxLen, l)
			for c := 0; c < l && c < tableMaxCols; c++ {
				if c == len(t.cols) {
					t.cols = append(t.cols, newColumn(strconv.Itoa(c), nil))
				}
				t.cols[c].measure(r.Index(c))
			}
		}
	}
	return t
}

func newColumn(name string, key lang.Value) tableCol {
	return tableCol{name: name, key: key, width: min(max(ansi.StringWidth(name), 1), maxColWidth), numeric: true}
}

// measure widens c for a cell.
func (c *tableCol) measure(v lang.Value) {
	text, num := cellText(v)
	c.numeric = c.numeric && num
	c.width = min(max(c.width, ansi.StringWidth(text)), maxColWidth)
}

// keyName is how a dict key heads its column: a string as its text.
func keyName(k lang.Value) string {
	if gs, ok := k.(goStringer); ok && k.Type() == "string" {
		return oneLine(cutUTF8(gs.GoString(), cellTextBytes))
	}
	return preview(k, cellTextBytes)
}

// ragged reports whether the rows sampled have different lengths.
func (t *table) ragged() bool { return !t.dicts && t.minLen != t.maxLen }

// cell returns the cell of row in column c, and whether the row has one.
func (t *table) cell(row lang.Value, c int) (lang.Value, bool) {
	switch r := row.(type) {
	case keyed:
		if t.cols[c].key == nil {
			return nil, false
		}
		v, found, err := r.Get(t.cols[c].key)
		return v, found && err == nil
	case indexable:
		if c < r.Len() {
			return r.Index(c), true
		}
	}
	return nil, false
}

// cellText returns how a cell shows: a string as its text on one line, a
// number as its repr (num is true), anything else as its short repr.
func cellText(v lang.Value) (text string, num bool) {
	if v == nil {
		return "", false
	}
	if isNumber(v) {
		return v.String(), true
	}
	if gs, ok := v.(goStringer); ok && v.Type() == "string" {
		return oneLine(cutUTF8(gs.GoString(), cellTextBytes)), false
	}
	return preview(v, cellTextBytes), false
}

// tableLayout is the columns of a table that fit a width, from a first.
type tableLayout struct {
	gutter int   // the row numbers' width, 0 for none
	gap    int   // spaces between columns
	cols   []int // the columns shown
	widths []int // their widths (the last may be cut)
}

// layout returns the columns from first that fit in width, after a gutter
// of gutter columns: whole ones, then the next cut if at least four
// columns of it fit (the first is cut to fit if it must).
func (t *table) layout(first, width, gutter, gap int) tableLayout {
	l := tableLayout{gutter: gutter, gap: gap}
	room := width - gutter
	if gutter > 0 {
		room -= gap
	}
	for c := first; c < len(t.cols) && room > 0; c++ {
		w := t.cols[c].width
		if len(l.cols) > 0 {
			if room <= gap {
				break
			}
			room -= gap
		}
		if w > room {
			if len(l.cols) > 0 && room < 4 {
				break
			}
			w = room
		}
		l.cols = append(l.cols, c)
		l.widths = append(l.widths, w)
		room -= w
	}
	return l
}

// header returns the line of column names of l.
func (t *table) header(l tableLayout, st *Styles) string {
	var b strings.Builder
	if l.gutter > 0 {
		b.WriteString(strings.Repeat(" ", l.gutter+l.gap))
	}
	for i, c := range l.cols {
		if i > 0 {
			b.WriteString(strings.Repeat(" ", l.gap))
		}
		name := ansi.Truncate(t.cols[c].name, l.widths[i], "…")
		if t.cols[c].numeric {
			name = padLeft(name, l.widths[i])
		} else {
			name = pad(name, l.widths[i])
		}
		b.WriteString(st.TableHead.Render(name))
	}
	return b.String()
}

// rule returns the line under the header.
func (t *table) rule(l tableLayout, st *Styles) string {
	var b strings.Builder
	if l.gutter > 0 {
		b.WriteString(strings.Repeat(" ", l.gutter+l.gap))
	}
	for i, w := range l.widths {
		if i > 0 {
			b.WriteString(strings.Repeat(" ", l.gap))
		}
		b.WriteString(strings.Repeat("─", w))
	}
	return st.Border.Render(b.String())
}

// row returns row i in l: its number in the gutter, then its cells,
// numbers to the right. A row that is no dict or list (a table is told
// from a sample) shows its repr across the columns.
func (t *table) row(i int, l tableLayout, st *Styles) string {
	var b strings.Builder
	if l.gutter > 0 {
		b.WriteString(st.Muted.Render(padLeft(strconv.Itoa(i), l.gutter)))
		b.WriteString(strings.Repeat(" ", l.gap))
	}
	row := t.rows.Index(i)
	if typ := typeOf(row); typ != "dict" && typ != "list" && typ != "tuple" {
		total := 0
		for j, w := range l.widths {
			total += w
			if j > 0 {
				total += l.gap
			}
		}
		b.WriteString(st.Muted.Render(ansi.Truncate(preview(row, cellTextBytes), total, "…")))
		return b.String()
	}
	for j, c := range l.cols {
		if j > 0 {
			b.WriteString(strings.Repeat(" ", l.gap))
		}
		w := l.widths[j]
		v, ok := t.cell(row, c)
		if !ok {
			b.WriteString(strings.Repeat(" ", w))
			continue
		}
		text, num := cellText(v)
		text = ansi.Truncate(text, w, "…")
		style := st.Text
		if v != nil && v.Type() == "NoneType" {
			style = st.Muted
		}
		if num {
			b.WriteString(style.Render(padLeft(text, w)))
		} else {
			b.WriteString(style.Render(text) + strings.Repeat(" ", w-ansi.StringWidth(text)))
		}
	}
	return b.String()
}

// tableView is the table view of the inspector: a line that says how big
// the table is and which columns show, the header, a rule, then the rows,
// each made when it is shown. Left and right scroll the columns.
type tableView struct {
	t      *table
	st     *Styles
	colOff int // the first column shown
	width  int // the width last laid out for, for the keys
}

func newTableView(x indexable, st *Styles) *tableView {
	return &tableView{t: newTable(x, tableSample), st: st}
}

// Body lines before the rows.
const tableTop = 3

func (v *tableView) Len() int { return v.t.n + tableTop }

func (v *tableView) layout(width int) tableLayout {
	v.width = width
	return v.t.layout(v.colOff, width, len(strconv.Itoa(max(v.t.n-1, 0))), 2)
}

func (v *tableView) Seg(i, width int) string {
	l := v.layout(width)
	switch i {
	case 0:
		return v.info(l)
	case 1:
		return v.t.header(l, v.st)
	case 2:
		return v.t.rule(l, v.st)
	}
	return v.t.row(i-tableTop, l, v.st)
}

// Sticky keeps the header at the top once the rows scroll under it.
func (v *tableView) Sticky(first, width int) (string, bool) {
	if first < 2 {
		return "", false
	}
	return v.t.header(v.layout(width), v.st), true
}

// info is the first line: rows, columns, and which columns show.
func (v *tableView) info(l tableLayout) string {
	t := v.t
	s := plural(t.n, "row") + " × " + plural(len(t.cols), "column")
	if t.ragged() {
		s += " · ragged: rows of " + strconv.Itoa(t.minLen) + " to " + strconv.Itoa(t.maxLen)
	}
	if len(l.cols) > 0 && len(l.cols) < len(t.cols) {
		last := l.cols[len(l.cols)-1]
		s += " · columns " + strconv.Itoa(l.cols[0]+1) + "–" + strconv.Itoa(last+1) + " · ←→ scroll"
	}
	return v.st.Muted.Render(s)
}

// Scroll moves the columns d to the right (left if d < 0), stopping with
// the last column shown.
func (v *tableView) Scroll(d int) bool {
	off := min(max(v.colOff+d, 0), max(len(v.t.cols)-1, 0))
	if d > 0 && v.width > 0 {
		// Stop once the last column is shown whole.
		l := v.t.layout(v.colOff, v.width, len(strconv.Itoa(max(v.t.n-1, 0))), 2)
		if n := len(l.cols); n > 0 && l.cols[n-1] == len(v.t.cols)-1 && l.widths[n-1] == v.t.cols[len(v.t.cols)-1].width {
			off = v.colOff
		}
	}
	moved := off != v.colOff
	v.colOff = off
	return moved
}

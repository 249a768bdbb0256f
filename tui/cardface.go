package tui

import (
	"math"
	"strings"

	"github.com/charmbracelet/x/ansi"

	"github.com/sperse/sperse/reactive"
)

// faceKind is what a card shows of a ready cell's value.
type faceKind int

const (
	faceLine  faceKind = iota // one line: the value's preview
	faceSpark                 // numbers: a sparkline and their count and span
	faceTable                 // a table: its header, its first rows, how many
	faceText                  // a string of several lines: its first lines
)

// Card faces: how many rows of a table and lines of a string a card shows.
const (
	cardTableRows = 2
	cardTextLines = 3
)

// face is what a card shows of its value, found once per change of the
// cell (it looks at a bounded sample of the value).
type face struct {
	kind  faceKind
	lines int // the lines it takes on the card
	seq   numSeq
	table *table
	text  string
	nText int // the string's lines
}

// faceOf returns the face of a cell's view.
func faceOf(v *reactive.CellView) face {
	if v.State != reactive.Ready || v.Value == nil {
		return face{kind: faceLine, lines: 1}
	}
	val := v.Value
	if val.Type() == "string" {
		if gs, ok := val.(goStringer); ok {
			s := gs.GoString()
			if n := stringLines(s); n > 1 {
				return face{kind: faceText, lines: min(n, cardTextLines), text: s, nText: n}
			}
		}
		return face{kind: faceLine, lines: 1}
	}
	if seq, ok := numericSeq(val); ok {
		return face{kind: faceSpark, lines: 2, seq: seq}
	}
	if x, ok := val.(indexable); ok && (val.Type() == "list" || val.Type() == "tuple") && tableShape(x) == tableRegular {
		t := newTable(x, cardTableRows)
		rows := min(t.n, cardTableRows)
		lines := rows + 1 // and the count
		if t.dicts {
			lines++ // the header
		}
		return face{kind: faceTable, lines: lines, table: t}
	}
	return face{kind: faceLine, lines: 1}
}

// faceOf returns the face of it, made once per change.
func (it *item) faceOf() *face {
	if it.faceGen != it.gen || it.face == nil {
		f := faceOf(&it.view)
		it.face, it.faceGen = &f, it.gen
	}
	return it.face
}

// cardHeight is the height of its card.
func (it *item) cardHeight() int { return cardHeight - 1 + it.faceOf().lines }

// valueLines returns the lines of a ready value's face, each exactly w
// columns.
func (f *face) valueLines(w int, st *Styles) []string {
	switch f.kind {
	case faceSpark:
		spark, note := sparkOf(f.seq, w)
		return []string{st.Accent.Render(spark) + strings.Repeat(" ", w-ansi.StringWidth(spark)), muted(st, note, w)}
	case faceTable:
		t := f.table
		l := t.layout(0, w, 0, 1)
		var out []string
		if t.dicts {
			out = append(out, pad(t.header(l, st), w))
		}
		for i := range min(t.n, cardTableRows) {
			out = append(out, pad(t.row(i, l, st), w))
		}
		return append(out, muted(st, plural(t.n, "row"), w))
	case faceText:
		var out []string
		rest := f.text
		shown := f.lines
		if f.nText > f.lines {
			shown-- // the last line says how many there are
		}
		for range shown {
			line, after, _ := strings.Cut(rest, "\n")
			rest = after
			line = ansi.Truncate(sanitize(cutUTF8(line, 4*w), true), w, "…")
			out = append(out, st.Text.Render(line)+strings.Repeat(" ", w-ansi.StringWidth(line)))
		}
		if f.nText > f.lines {
			out = append(out, muted(st, "… "+plural(f.nText, "line"), w))
		}
		return out
	}
	return nil
}

func muted(st *Styles, s string, w int) string {
	s = ansi.Truncate(s, w, "…")
	return st.Muted.Render(s) + strings.Repeat(" ", w-ansi.StringWidth(s))
}

// sparkReads bounds what a card's sparkline reads of a sequence: at most
// this many elements per character; a longer stretch is sampled evenly.
const sparkReads = 16

// sparkExact is the longest sequence whose span a card shows: its minimum
// and maximum are read whole. A range's are computed at any length.
const sparkExact = 4096

// sparkOf returns the sparkline of seq in at most w characters (a
// character an element, or the mean of a stretch of them), and a note: the
// count, the kind of numbers, and the span when it is known exactly.
func sparkOf(seq numSeq, w int) (spark, note string) {
	n := seq.n
	b := min(n, max(w, 1))
	means := make([]float64, b)
	for k := range means {
		from, to := k*n/b, (k+1)*n/b
		step := max((to-from)/sparkReads, 1)
		sum, cnt := 0.0, 0
		for i := from; i < to; i += step {
			f, ok := seq.at(i)
			if !ok || math.IsNaN(f) || math.IsInf(f, 0) {
				continue
			}
			sum += f
			cnt++
		}
		means[k] = math.NaN()
		if cnt > 0 {
			means[k] = sum / float64(cnt)
		}
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, f := range means {
		if !math.IsNaN(f) {
			lo, hi = math.Min(lo, f), math.Max(hi, f)
		}
	}
	spark = sparkChars(means, lo, hi)

	note = fmtCount(n) + " " + seqKind(seq)
	if n == 1 {
		note = strings.TrimSuffix(note, "s")
	}
	if lo, hi, ok := spanOf(seq); ok {
		if lo == hi {
			note += " · " + fmtShort(lo)
		} else {
			note += " · " + fmtShort(lo) + "…" + fmtShort(hi)
		}
	}
	return spark, note
}

// spanOf returns the minimum and maximum of seq if it is a range or at
// most sparkExact long.
func spanOf(seq numSeq) (lo, hi float64, ok bool) {
	if seq.arith {
		last := seq.start + float64(seq.n-1)*seq.step
		return math.Min(seq.start, last), math.Max(seq.start, last), true
	}
	if seq.n > sparkExact {
		return 0, 0, false
	}
	for i := range seq.n {
		f, isNum := seq.at(i)
		if !isNum || math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		if !ok {
			lo, hi, ok = f, f, true
		}
		lo, hi = math.Min(lo, f), math.Max(hi, f)
	}
	return lo, hi, ok
}

// seqKind says what numbers seq holds, from a sample: "ints", "floats",
// or "numbers" for both.
func seqKind(seq numSeq) string {
	if seq.arith {
		if seq.start == math.Trunc(seq.start) && seq.step == math.Trunc(seq.step) {
			return "ints"
		}
		return "numbers"
	}
	ints, floats := 0, 0
	for _, i := range sampleIndexes(seq.n, shapeSample) {
		if isInt(seq.x.Index(i)) {
			ints++
		} else {
			floats++
		}
	}
	switch {
	case floats == 0:
		return "ints"
	case ints == 0:
		return "floats"
	}
	return "numbers"
}

// fmtCount formats a count for a card: exactly up to 100,000, shortly
// above.
func fmtCount(n int) string {
	if n >= 100_000 {
		return fmtShort(float64(n))
	}
	return fmtInt(n)
}

package tui

import (
	"math"
	"strings"

	"github.com/charmbracelet/x/ansi"

	"github.com/sperse/sperse/lang"
)

// longSeries is the length from which a sequence's chart has a histogram
// under it.
const longSeries = 50

// chartView is the chart view of the inspector. A sequence of numbers
// shows its count, minimum, maximum and mean, then a bar chart (when a
// bar a value fits the width) or a line chart, sized to fill the pane, and
// a histogram when it is long. A dict of numbers shows a labelled bar a
// key. The lines are drawn for a width and kept until it changes.
type chartView struct {
	st     *Styles
	s      *series      // nil while the values are being read
	keys   []lang.Value // a dict's keys; nil for a sequence
	height int          // the pane's height

	lines  []string // drawn for cacheW×cacheH
	cacheW int
	cacheH int

	hist  histogram // for hist.k bins
	dictW [3]int    // a dict chart's width, and its label and value widths for it
}

// histogram is a series' histogram in k bins (see series.histogram).
type histogram struct {
	k      int
	edges  []float64
	width  float64
	counts []int
}

// histogram returns the histogram of the series for the pane's height,
// counted once.
func (v *chartView) histogram() histogram {
	if k := v.histBins(); v.hist.k != k || v.hist.counts == nil {
		edges, w, counts := v.s.histogram(k)
		v.hist = histogram{k: k, edges: edges, width: w, counts: counts}
	}
	return v.hist
}

// chartChrome is the lines a sequence's chart takes besides the plot: the
// value's title and the switcher above it, the statistics, a blank line,
// the axis and its labels. A long sequence's histogram takes two more (a
// blank line and its title) and its bins.
const chartChrome = 6

// plotHeight and histBins share the pane between the plot and, for a long
// sequence, the histogram, so that both show at once: the plot gets a
// little more than half.
func (v *chartView) plotHeight() int {
	room := v.height - chartChrome
	if v.s != nil && v.s.n >= longSeries {
		room = (room - 2) * 11 / 20
	}
	return max(room, 4)
}

func (v *chartView) histBins() int {
	return min(max(v.height-chartChrome-2-v.plotHeight(), 4), 20)
}

func (v *chartView) Len() int {
	switch {
	case v.s == nil:
		return 1
	case v.keys != nil:
		return 1 + len(v.keys)
	case v.s.count == 0:
		return 1
	}
	n := 2 + v.plotHeight() + 2
	if v.s.n >= longSeries {
		n += 2 + len(v.histogram().counts)
	}
	return n
}

func (v *chartView) Seg(i, width int) string {
	if v.s == nil {
		return v.st.Muted.Render("reading the values…")
	}
	if v.keys != nil {
		if i == 0 {
			return v.statsLine(width)
		}
		return v.dictBar(i-1, width)
	}
	if v.lines == nil || v.cacheW != width || v.cacheH != v.height {
		v.lines, v.cacheW, v.cacheH = v.draw(width), width, v.height
	}
	if i < len(v.lines) {
		return v.lines[i]
	}
	return ""
}

// statsLine says what the chart is of, in width: its numbers in full if
// they fit, else the values shortly, else the count too.
func (v *chartView) statsLine(width int) string {
	s := v.s
	var line string
	for form := range 3 {
		num, count := fmtNum, fmtInt
		if form > 0 {
			num = fmtShort
		}
		if form > 1 {
			count = fmtCount
		}
		parts := []string{"count " + count(s.count)}
		if s.count > 0 {
			parts = append(parts, "min "+num(s.min), "max "+num(s.max), "mean "+num(s.mean))
		}
		switch {
		case s.skipped > 0 && form == 0:
			parts = append(parts, count(s.skipped)+" skipped (nan, inf or no number)")
		case s.skipped > 0:
			parts = append(parts, count(s.skipped)+" skipped")
		}
		if s.sampled() {
			parts = append(parts, "every "+ordinal(s.stride)+" of "+count(s.n))
		}
		line = strings.Join(parts, " · ")
		if ansi.StringWidth(line) <= width {
			break
		}
	}
	return v.st.Text.Render(ansi.Truncate(line, width, "…"))
}

// draw draws a sequence's chart for width.
func (v *chartView) draw(width int) []string {
	s := v.s
	out := []string{v.statsLine(width)}
	if s.count == 0 {
		return out
	}
	out = append(out, "")
	h := v.plotHeight()
	if s.length() <= width-gutterFor(fmtShort(s.min), fmtShort(s.max), "0") {
		out = append(out, barChart(s, width, h, v.st)...)
	} else {
		out = append(out, lineChart(s, width, h, v.st)...)
	}
	if s.n >= longSeries {
		out = append(out, "", v.st.Title.Render("histogram"))
		out = append(out, histLines(v.histogram(), s.ints, width, v.st)...)
	}
	return out
}

// dictBar draws entry i of a dict of numbers: its key, a bar from zero,
// its value.
func (v *chartView) dictBar(i, width int) string {
	s, st := v.s, v.st
	lw, vw := v.dictWidths(width)
	label := pad(ansi.Truncate(keyName(v.keys[i]), lw, "…"), lw)
	f := s.vals[i]
	bw := max(width-lw-vw-2, 1)
	if math.IsNaN(f) {
		return st.Accent.Render(label) + " " + strings.Repeat(" ", bw) + " " + st.Muted.Render("skipped")
	}
	lo, hi := math.Min(s.min, 0), math.Max(s.max, 0)
	scale := (hi - lo) / float64(bw)
	if scale == 0 {
		scale = 1
	}
	zero := int(math.Round(-lo / scale))
	var bar string
	if f >= 0 {
		bar = strings.Repeat(" ", zero) + hbar(math.Min(f/scale, float64(bw-zero)))
	} else {
		left := hbarLeft(math.Min(-f/scale, float64(zero)))
		bar = strings.Repeat(" ", max(zero-ansi.StringWidth(left), 0)) + left
	}
	bar = pad(bar, bw)
	return st.Accent.Render(label) + " " + st.Accent.Render(bar) + " " + st.Text.Render(padLeft(fmtNum(f), vw))
}

// dictWidths returns the widths of a dict chart's labels and values: from
// the keys and values of a bounded sample, the labels at most a third of
// the width.
func (v *chartView) dictWidths(width int) (lw, vw int) {
	if v.dictW[0] == width {
		return v.dictW[1], v.dictW[2]
	}
	defer func() { v.dictW = [3]int{width, lw, vw} }()
	for _, i := range sampleIndexes(len(v.keys), tableSample) {
		lw = max(lw, ansi.StringWidth(keyName(v.keys[i])))
		if f := v.s.vals[i]; !math.IsNaN(f) {
			vw = max(vw, len(fmtNum(f)))
		}
	}
	vw = max(vw, len(fmtNum(v.s.min)), len(fmtNum(v.s.max)))
	return min(max(lw, 1), max(width/3, 1)), vw
}

// ordinal returns 2nd, 3rd, 11th, ...
func ordinal(n int) string {
	suffix := "th"
	switch {
	case n%100 >= 11 && n%100 <= 13:
	case n%10 == 1:
		suffix = "st"
	case n%10 == 2:
		suffix = "nd"
	case n%10 == 3:
		suffix = "rd"
	}
	return fmtInt(n) + suffix
}

package tui

import (
	"math"
	"strings"

	"github.com/charmbracelet/x/ansi"
)

// The plots are drawn with block and braille characters, so they read the
// same in every theme and with no colours at all: the colours only tint
// them.

// vBlocks are the eighths of a cell filled from the bottom, 0 to 8.
var vBlocks = [...]string{" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"}

// hBlocks are the eighths of a cell filled from the left, 0 to 8.
var hBlocks = [...]string{"", "▏", "▎", "▍", "▌", "▋", "▊", "▉", "█"}

// downBlock returns a cell filled from the top by k eighths: only a few
// such characters exist, so k is rounded to one of them.
func downBlock(k int) string {
	switch {
	case k <= 0:
		return " "
	case k <= 2:
		return "▔"
	case k <= 5:
		return "▀"
	}
	return "█"
}

// hbar returns a bar of f cells (fractions in eighths) filled from the
// left.
func hbar(f float64) string {
	if f <= 0 || math.IsNaN(f) {
		return ""
	}
	eighths := int(math.Round(f * 8))
	if eighths == 0 {
		eighths = 1 // a value above zero shows
	}
	return strings.Repeat("█", eighths/8) + hBlocks[eighths%8]
}

// hbarLeft returns a bar of f cells filled from the right, for values
// below zero: cells are whole or half.
func hbarLeft(f float64) string {
	if f <= 0 || math.IsNaN(f) {
		return ""
	}
	halves := max(int(math.Round(f*2)), 1)
	s := strings.Repeat("█", halves/2)
	if halves%2 == 1 {
		s = "▐" + s
	}
	return s
}

// sparkChars returns one character a value of vals, scaled from lo to hi;
// NaN is a space.
func sparkChars(vals []float64, lo, hi float64) string {
	var b strings.Builder
	for _, f := range vals {
		switch {
		case math.IsNaN(f):
			b.WriteString(" ")
		case hi == lo:
			b.WriteString(vBlocks[4])
		default:
			b.WriteString(vBlocks[1+int(math.Round((f-lo)/(hi-lo)*7))])
		}
	}
	return b.String()
}

// plot is a chart being drawn: a gutter of y labels, the plot area, an
// x axis and its labels.
type plot struct {
	st     *Styles
	width  int      // all of it
	gutter int      // the y labels and the axis character
	rows   []string // the plot area's rows, drawn
	ylab   []string // a label for some rows
	xlab   []xLabel
}

// xLabel is a label under the x axis at column x of the plot area.
type xLabel struct {
	x    int
	text string
}

// lines returns the plot's lines: each row with its label, the axis, the
// x labels placed where they fit without overlapping.
func (p *plot) lines() []string {
	lw := p.gutter - 2
	out := make([]string, 0, len(p.rows)+2)
	for i, r := range p.rows {
		label, tick := "", "│"
		if i < len(p.ylab) && p.ylab[i] != "" {
			label, tick = p.ylab[i], "┤"
		}
		out = append(out, p.st.Muted.Render(padLeft(label, lw))+" "+p.st.Border.Render(tick)+r)
	}
	plotW := p.width - p.gutter
	out = append(out, strings.Repeat(" ", lw+1)+p.st.Border.Render("└"+strings.Repeat("─", max(plotW, 0))))
	out = append(out, p.st.Muted.Render(p.xAxis()))
	return out
}

// xAxis returns the line of x labels: the first and the last always, the
// others where they fit between them.
func (p *plot) xAxis() string {
	line := []byte(strings.Repeat(" ", p.gutter))
	if len(p.xlab) == 0 {
		return string(line)
	}
	place := func(l xLabel) (int, int) {
		at := min(p.gutter+l.x, p.width-len(l.text))
		return at, at + len(l.text)
	}
	lastAt, _ := place(p.xlab[len(p.xlab)-1])
	end := -1
	for i, l := range p.xlab {
		at, stop := place(l)
		last := i == len(p.xlab)-1
		if at < p.gutter || end >= 0 && at <= end || !last && i > 0 && stop >= lastAt {
			continue
		}
		for len(line) < at {
			line = append(line, ' ')
		}
		line = append(line[:at], l.text...)
		end = stop
	}
	return string(line)
}

// padLeft pads s with spaces on the left to w columns.
func padLeft(s string, w int) string {
	if n := ansi.StringWidth(s); n < w {
		return strings.Repeat(" ", w-n) + s
	}
	return s
}

// gutterFor returns the gutter width for y labels.
func gutterFor(labels ...string) int {
	w := 1
	for _, l := range labels {
		w = max(w, len(l))
	}
	return w + 2
}

// barChart draws the values of s (at most as many as fit, one bar each) as
// vertical bars from zero, in width×height.
func barChart(s *series, width, height int, st *Styles) []string {
	n := s.length()
	lo, hi := math.Min(0, s.min), math.Max(0, s.max)
	if s.count == 0 {
		lo, hi = 0, 1
	}
	// The zero line falls between rows: zr rows above it, the rest below,
	// with one unit per row so both sides share a scale.
	var zr int
	var unit float64
	switch {
	case hi == 0 && lo == 0:
		zr, unit = height, 1
	case lo == 0:
		zr, unit = height, hi/float64(height)
	case hi == 0:
		zr, unit = 0, -lo/float64(height)
	default:
		zr = min(max(int(math.Round(float64(height)*hi/(hi-lo))), 1), height-1)
		unit = math.Max(hi/float64(zr), -lo/float64(height-zr))
	}
	top, bottom := float64(zr)*unit, -float64(height-zr)*unit
	ylab := make([]string, height)
	ylab[0], ylab[height-1] = fmtShort(top), fmtShort(bottom)
	if zr > 1 && zr < height {
		ylab[zr-1] = "0" // the row the bars above zero start from
	}
	p := plot{st: st, width: width, gutter: gutterFor(ylab...), ylab: ylab}
	plotW := width - p.gutter
	if n > plotW {
		return lineChart(s, width, height, st) // no room for a bar a value
	}
	gap, barW := 1, 1
	if 2*n-1 <= plotW {
		barW = min((plotW+1)/n-1, 8)
	} else {
		gap = 0
	}
	grid := make([][]string, height)
	for r := range grid {
		grid[r] = make([]string, 0, n*(barW+gap))
	}
	for j := range n {
		f := s.value(j)
		for r := range height {
			cell := " "
			switch {
			case math.IsNaN(f):
			case r < zr && f > 0: // row r is above zero: rows from the zero line up
				k := int(math.Round((f/unit - float64(zr-1-r)) * 8))
				cell = vBlocks[min(max(k, 0), 8)]
				if k <= 0 && r == zr-1 {
					cell = vBlocks[1] // a positive value shows
				}
			case r >= zr && f < 0:
				k := int(math.Round((-f/unit - float64(r-zr)) * 8))
				cell = downBlock(min(k, 8))
				if k <= 0 && r == zr {
					cell = "▔"
				}
			}
			grid[r] = append(grid[r], strings.Repeat(cell, barW))
			if gap > 0 && j < n-1 {
				grid[r] = append(grid[r], " ")
			}
		}
	}
	p.rows = make([]string, height)
	for r := range grid {
		p.rows[r] = st.Accent.Render(strings.Join(grid[r], ""))
	}
	for j := range n {
		p.xlab = append(p.xlab, xLabel{x: j * (barW + gap), text: itoaIndex(j * s.stride)})
	}
	return p.lines()
}

// lineChart draws s as a line in width×height with braille dots: each of
// the two dot columns of a cell spans the values that fall in it, from
// their minimum to their maximum, joined to its neighbours, so a spike
// between two columns is never lost.
func lineChart(s *series, width, height int, st *Styles) []string {
	lo, hi := s.min, s.max
	ylab := make([]string, height)
	ylab[0], ylab[height-1] = fmtShort(hi), fmtShort(lo)
	if height >= 5 {
		ylab[height/2] = fmtShort(lo + (hi-lo)*float64(height-1-height/2)/float64(height-1))
	}
	p := plot{st: st, width: width, gutter: gutterFor(ylab...), ylab: ylab}
	plotW := max(width-p.gutter, 1)
	cols, subRows := 2*plotW, 4*height
	dots := make([][]rune, height)
	for r := range dots {
		dots[r] = make([]rune, plotW)
		for c := range dots[r] {
			dots[r][c] = 0x2800
		}
	}
	bits := [2][4]rune{{0x01, 0x02, 0x04, 0x40}, {0x08, 0x10, 0x20, 0x80}}
	y := func(f float64) int {
		if hi == lo {
			return subRows / 2
		}
		return int(math.Round((f - lo) / (hi - lo) * float64(subRows-1)))
	}
	L := s.length()
	havePrev := false
	var plo, phi int
	for x := range cols {
		from, to := x*L/cols, (x+1)*L/cols
		if to <= from {
			to = from + 1
		}
		a, b, ok := s.rangeOf(from, min(to, L))
		if !ok {
			havePrev = false
			continue
		}
		ylo, yhi := y(a), y(b)
		if havePrev {
			if ylo > phi+1 {
				ylo = phi + 1
			}
			if yhi < plo-1 {
				yhi = plo - 1
			}
		}
		for yy := ylo; yy <= yhi; yy++ {
			r := subRows - 1 - yy
			dots[r/4][x/2] |= bits[x%2][r%4]
		}
		plo, phi, havePrev = y(a), y(b), true
	}
	p.rows = make([]string, height)
	for r := range dots {
		p.rows[r] = st.Accent.Render(string(dots[r]))
	}
	ticks := min(5, max(plotW/12, 2))
	for t := range ticks {
		x := t * (plotW - 1) / (ticks - 1)
		j := min(x*2*L/cols, L-1)
		if t == ticks-1 {
			j = L - 1
		}
		p.xlab = append(p.xlab, xLabel{x: x, text: itoaIndex(j * s.stride)})
	}
	return p.lines()
}

// itoaIndex formats an index on an axis.
func itoaIndex(i int) string {
	if i >= 100_000 {
		return fmtShort(float64(i))
	}
	return fmtInt(i)
}

// histLines draws a histogram as horizontal bars, a line a bin, in width
// columns; ints says the bins of width 1 are of integers, labelled so.
func histLines(h histogram, ints bool, width int, st *Styles) []string {
	edges, w, counts := h.edges, h.width, h.counts
	if len(counts) == 0 {
		return nil
	}
	labels := make([]string, len(edges))
	lw, most := 0, 0
	for i, e := range edges {
		switch {
		case ints && w == 1:
			labels[i] = fmtShort(e)
		default:
			labels[i] = fmtShort(e) + " – " + fmtShort(e+w)
		}
		lw = max(lw, len(labels[i]))
		most = max(most, counts[i])
	}
	cw := len(fmtInt(most))
	bw := max(width-lw-cw-3, 1)
	out := make([]string, len(counts))
	for i, c := range counts {
		bar := hbar(float64(c) / float64(max(most, 1)) * float64(bw))
		out[i] = st.Muted.Render(padLeft(labels[i], lw)) + " " + st.Accent.Render(bar) +
			strings.Repeat(" ", max(bw-ansi.StringWidth(bar), 0)) + " " + st.Text.Render(padLeft(fmtInt(c), cw))
	}
	return out
}

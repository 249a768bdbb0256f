package tui

import (
	"strings"

	"github.com/charmbracelet/x/ansi"
)

// textView shows segments of text (lines, or pieces of at most segMax
// bytes of a long line) wrapped to its width, from a scroll position. It
// wraps only the segments it shows, so a view of a huge text costs what
// its window does.
type textView struct {
	segs          []string
	off           int // the first segment shown
	sub           int // the first row shown of segment off
	width, height int

	// indentFrom is the first segment drawn indented by two spaces (the
	// value in the inspector, whose segments are shared with the value and
	// so not indented themselves); 0 for none.
	indentFrom int
}

// indent is how text from indentFrom on is indented.
const indent = "  "

// SetSize sets the size of the window.
func (t *textView) SetSize(w, h int) {
	t.width, t.height = max(w, 1), max(h, 1)
	t.sub = min(t.sub, max(len(t.rows(t.off))-1, 0))
}

// SetContent replaces the text; keep says whether to keep the scroll
// position (the same thing shown again) or go to the top.
func (t *textView) SetContent(segs []string, keep bool) {
	t.segs = segs
	if !keep {
		t.off, t.sub = 0, 0
	}
	t.off = min(t.off, max(len(segs)-1, 0))
	t.sub = min(t.sub, max(len(t.rows(t.off))-1, 0))
}

// rows returns segment i wrapped to the width.
func (t *textView) rows(i int) []string {
	if i < 0 || i >= len(t.segs) {
		return nil
	}
	s, w, in := t.segs[i], t.width, ""
	if t.indentFrom > 0 && i >= t.indentFrom && w > len(indent)+1 {
		w -= len(indent)
		in = indent
	}
	if ansi.StringWidth(s) <= w {
		return []string{in + s}
	}
	rows := strings.Split(ansi.Hardwrap(s, w, true), "\n")
	if in != "" {
		for j := range rows {
			rows[j] = in + rows[j]
		}
	}
	return rows
}

// Down scrolls down n rows, stopping with the last row at the bottom.
func (t *textView) Down(n int) {
	for ; n > 0; n-- {
		if t.atBottom() {
			return
		}
		if t.sub+1 < len(t.rows(t.off)) {
			t.sub++
		} else if t.off+1 < len(t.segs) {
			t.off, t.sub = t.off+1, 0
		}
	}
}

// atBottom reports whether the last row of the text is visible.
func (t *textView) atBottom() bool {
	seen := 0
	for i := t.off; i < len(t.segs); i++ {
		r := len(t.rows(i))
		if i == t.off {
			r -= t.sub
		}
		seen += r
		if seen > t.height {
			return false
		}
	}
	return true
}

// Up scrolls up n rows.
func (t *textView) Up(n int) {
	for ; n > 0; n-- {
		switch {
		case t.sub > 0:
			t.sub--
		case t.off > 0:
			t.off--
			t.sub = max(len(t.rows(t.off))-1, 0)
		default:
			return
		}
	}
}

// Top scrolls to the top.
func (t *textView) Top() { t.off, t.sub = 0, 0 }

// Bottom scrolls so that the last row is at the bottom.
func (t *textView) Bottom() {
	t.off, t.sub = max(len(t.segs)-1, 0), 0
	t.sub = max(len(t.rows(t.off))-1, 0)
	t.Up(t.height - 1)
}

// Percent is how far down the view is, 0 to 100, by segments.
func (t *textView) Percent() int {
	if len(t.segs) <= 1 || t.atBottom() {
		if t.off == 0 && t.sub == 0 {
			return 0
		}
		return 100
	}
	return t.off * 100 / (len(t.segs) - 1)
}

// Scrollable reports whether the text is longer than the window.
func (t *textView) Scrollable() bool {
	return t.off > 0 || t.sub > 0 || !t.atBottom()
}

// View returns exactly height lines of width columns.
func (t *textView) View() []string {
	lines := make([]string, 0, t.height)
	for i := t.off; i < len(t.segs) && len(lines) < t.height; i++ {
		rows := t.rows(i)
		if i == t.off {
			rows = rows[min(t.sub, len(rows)):]
		}
		for _, r := range rows {
			if len(lines) == t.height {
				break
			}
			lines = append(lines, pad(r, t.width))
		}
	}
	blank := strings.Repeat(" ", t.width)
	for len(lines) < t.height {
		lines = append(lines, blank)
	}
	return lines
}

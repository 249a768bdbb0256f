package tui

import (
	"strings"

	"github.com/charmbracelet/x/ansi"
)

// segSource is text as a textView reads it: Len segments (lines, or pieces
// of at most segMax bytes of a long line), each made when it is shown. A
// source of a huge value (a table of 100,000 rows, an expanded tree) makes
// only the segments on the screen. Seg is given the width the segment is
// shown at, so a source can lay its lines out for it; a longer segment is
// wrapped.
type segSource interface {
	Len() int
	Seg(i, width int) string
}

// stickySource is a segSource with a line that stays at the top of the
// view while the view is scrolled into it (a table's column headers).
type stickySource interface {
	segSource
	// Sticky returns the line to draw over the first row of a view whose
	// first segment is first, if there is one.
	Sticky(first, width int) (string, bool)
}

// segList is a segSource of segments made beforehand.
type segList []string

func (s segList) Len() int            { return len(s) }
func (s segList) Seg(i, _ int) string { return s[i] }

// docSource is the segments of head followed by those of body.
type docSource struct {
	head segList
	body segSource
}

func (d docSource) Len() int {
	if d.body == nil {
		return len(d.head)
	}
	return len(d.head) + d.body.Len()
}

func (d docSource) Seg(i, width int) string {
	if i < len(d.head) {
		return d.head[i]
	}
	return d.body.Seg(i-len(d.head), width)
}

func (d docSource) Sticky(first, width int) (string, bool) {
	if s, ok := d.body.(stickySource); ok && first >= len(d.head) {
		return s.Sticky(first-len(d.head), width)
	}
	return "", false
}

// textView shows segments of text wrapped to its width, from a scroll
// position. It makes and wraps only the segments it shows, so a view of a
// huge text costs what its window does.
type textView struct {
	src           segSource
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

func (t *textView) len() int {
	if t.src == nil {
		return 0
	}
	return t.src.Len()
}

// SetSize sets the size of the window.
func (t *textView) SetSize(w, h int) {
	t.width, t.height = max(w, 1), max(h, 1)
	t.sub = min(t.sub, max(len(t.rows(t.off))-1, 0))
}

// SetContent replaces the text; keep says whether to keep the scroll
// position (the same thing shown again) or go to the top.
func (t *textView) SetContent(segs []string, keep bool) {
	t.SetSource(segList(segs), keep)
}

// SetSource replaces the text with the segments of src; keep is as for
// SetContent.
func (t *textView) SetSource(src segSource, keep bool) {
	t.src = src
	if !keep {
		t.off, t.sub = 0, 0
	}
	t.off = min(t.off, max(t.len()-1, 0))
	t.sub = min(t.sub, max(len(t.rows(t.off))-1, 0))
}

// segWidth is the width segment i is shown at.
func (t *textView) segWidth(i int) (int, string) {
	if t.indentFrom > 0 && i >= t.indentFrom && t.width > len(indent)+1 {
		return t.width - len(indent), indent
	}
	return t.width, ""
}

// rows returns segment i wrapped to the width.
func (t *textView) rows(i int) []string {
	if i < 0 || i >= t.len() {
		return nil
	}
	w, in := t.segWidth(i)
	s := t.src.Seg(i, w)
	if ansi.StringWidth(s) <= w {
		return []string{in + s}
	}
	rows := strings.Split(ansi.Wrap(s, w, ""), "\n")
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
		} else if t.off+1 < t.len() {
			t.off, t.sub = t.off+1, 0
		}
	}
}

// atBottom reports whether the last row of the text is visible.
func (t *textView) atBottom() bool {
	seen := 0
	for i := t.off; i < t.len(); i++ {
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
	t.off, t.sub = max(t.len()-1, 0), 0
	t.sub = max(len(t.rows(t.off))-1, 0)
	t.Up(t.height - 1)
}

// ShowFrom scrolls so that segment i is at the top, or as near it as the
// text allows without blank rows below its end.
func (t *textView) ShowFrom(i int) {
	t.off, t.sub = min(max(i, 0), max(t.len()-1, 0)), 0
	seen := 0
	for j := t.off; j < t.len() && seen < t.height; j++ {
		seen += len(t.rows(j))
	}
	if seen < t.height {
		t.Bottom()
	}
}

// Reveal scrolls as little as it takes for segment i to be in the window.
func (t *textView) Reveal(i int) {
	if i < t.off || i == t.off && t.sub > 0 {
		t.off, t.sub = i, 0
		return
	}
	seen := 0
	for j := t.off; j <= i && j < t.len(); j++ {
		r := len(t.rows(j))
		if j == t.off {
			r -= t.sub
		}
		seen += r
	}
	if seen <= t.height {
		return
	}
	t.off, t.sub = i, max(len(t.rows(i))-1, 0)
	t.Up(t.height - 1)
}

// Percent is how far down the view is, 0 to 100, by segments.
func (t *textView) Percent() int {
	if t.len() <= 1 || t.atBottom() {
		if t.off == 0 && t.sub == 0 {
			return 0
		}
		return 100
	}
	return t.off * 100 / (t.len() - 1)
}

// Scrollable reports whether the text is longer than the window.
func (t *textView) Scrollable() bool {
	return t.off > 0 || t.sub > 0 || !t.atBottom()
}

// View returns exactly height lines of width columns.
func (t *textView) View() []string {
	lines := make([]string, 0, t.height)
	for i := t.off; i < t.len() && len(lines) < t.height; i++ {
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
	if s, ok := t.src.(stickySource); ok && len(lines) > 0 && (t.off > 0 || t.sub > 0) {
		w, in := t.segWidth(t.off)
		if line, ok := s.Sticky(t.off, w); ok {
			lines[0] = pad(in+line, t.width)
		}
	}
	blank := strings.Repeat(" ", t.width)
	for len(lines) < t.height {
		lines = append(lines, blank)
	}
	return lines
}

package tui

import (
	"fmt"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/sperse/sperse/reactive"
)

// layout is the geometry of the screen, made by (*Model).layout.
type layout struct {
	bodyH  int // lines between the header and the input's rule
	inputH int
	wide   bool // grid and side pane side by side
	gridW  int  // the grid's box width (wide) or the whole width
	sideW  int
	tiny   bool // too small to draw anything but a note
}

// Minimum terminal size.
const (
	minWidth  = 24
	minHeight = 8
)

func (m *screen) resize(w, h int) {
	m.width, m.height = w, h
	m.help.SetWidth(w)
	m.layout()
}

// layout sizes the panes for the terminal and the input's height.
func (m *screen) layout() {
	w, h := m.width, m.height
	l := layout{tiny: w < minWidth || h < minHeight}
	maxInput := max(1, min(10, h/4))
	l.inputH = m.input.Height(maxInput)
	l.bodyH = max(h-4-l.inputH, 3)
	l.wide = w >= 100
	if l.wide {
		l.sideW = min(max(w*2/5, 36), 72)
		l.gridW = w - l.sideW
	} else {
		l.gridW, l.sideW = w, w
	}
	m.lay = l
	inner := max(l.bodyH-2, 1)
	m.grid.SetSize(l.gridW-2, inner)
	m.insp.SetSize(l.sideW-2, inner)
	m.srv.SetSize(l.sideW-2, inner)
	m.logp.SetSize(l.sideW-2, inner)
	m.input.SetWidth(w - promptWidth)
	m.grid.clamp(m.cells)
}

// View draws the screen.
func (m *Model) View() tea.View { return m.teaView(m.render()) }

// render returns the screen's text and the cursor, if shown.
func (m *Model) render() (string, *tea.Cursor) {
	name := "input"
	if m.editing != "" {
		name = "input · editing " + m.editing
	}
	return m.draw(chrome{inputName: name, status: m.statusLine(), keys: m.helpLine(), help: m.helpBlocks, helpTitle: "keys and commands"})
}

// teaView is the view of the screen's content and cursor.
func (m *screen) teaView(content string, cursor *tea.Cursor) tea.View {
	v := tea.NewView(content)
	v.AltScreen = true
	v.WindowTitle = m.title
	if cursor != nil {
		v.Cursor = cursor
	}
	return v
}

// chrome is what the owner of a screen draws around its panes.
type chrome struct {
	inputName string            // the title of the input's rule
	status    string            // the status line, under the input
	keys      string            // the last line: the keys at hand
	help      func() [][]string // the sections of the full help, made when it is shown
	helpTitle string            // the title of the full help
}

// draw returns the screen's text, with c's lines, and the cursor, shown
// when the input has the focus.
func (m *screen) draw(c chrome) (string, *tea.Cursor) {
	l := m.lay
	if l.tiny {
		note := "sperse: the terminal is too small"
		if m.width < len(note) {
			note = "too small"
		}
		return pad(m.st.Muted.Render(note), m.width), nil
	}
	lines := make([]string, 0, m.height)
	lines = append(lines, m.header())
	lines = append(lines, m.body(c)...)
	lines = append(lines, m.rule(c.inputName))
	inputLines, cx, cy := m.input.View(m.st, m.width, l.inputH, m.focus == focusInput)
	inputTop := len(lines)
	lines = append(lines, inputLines...)
	lines = append(lines, c.status, c.keys)
	var cursor *tea.Cursor
	if m.focus == focusInput && !m.showHelp {
		cursor = tea.NewCursor(cx, inputTop+cy)
	}
	return strings.Join(lines, "\n"), cursor
}

// header is the first line: the workspace's summary and where cells run.
func (m *screen) header() string {
	st := m.st
	left := st.Title.Render(m.title) + "  " + st.Text.Render(plural(m.cells.len(), "cell"))
	for _, s := range []reactive.State{reactive.Running, reactive.Queued, reactive.Error, reactive.UpstreamError, reactive.Cancelled, reactive.Stale, reactive.Unavailable} {
		if n := m.cells.counts[s]; n > 0 {
			left += st.Muted.Render(" · ") + st.State[s].Render(strconv.Itoa(n)+" "+s.String())
		}
	}
	var right string
	if m.srv.none != "" {
		right = m.srv.none
	} else {
		up := 0
		for _, s := range m.srv.infos {
			if s.Connected {
				up++
			}
		}
		right = fmt.Sprintf("%d/%d servers", up, len(m.srv.infos))
	}
	right = st.Muted.Render(right + " · " + st.Theme.Name)
	gap := m.width - ansi.StringWidth(left) - ansi.StringWidth(right)
	if gap < 1 {
		return pad(left, m.width)
	}
	return left + strings.Repeat(" ", gap) + right
}

// body returns the panes between the header and the input.
func (m *screen) body(c chrome) []string {
	l := m.lay
	if m.showHelp {
		title := c.helpTitle + " · any key closes"
		if m.helpScroll {
			title = c.helpTitle + " · ↑↓ scroll · any other key closes"
		}
		return box(m.st, title, m.fullHelp(c.help(), m.width-2, l.bodyH-2), m.width, l.bodyH, true)
	}
	sideFocused := m.focus == focusInspector || m.focus == focusServers || m.focus == focusLog
	if !l.wide {
		if sideFocused {
			return m.sideBox(m.width)
		}
		return m.gridBox(m.width)
	}
	g, s := m.gridBox(l.gridW), m.sideBox(l.sideW)
	out := make([]string, len(g))
	for i := range g {
		out[i] = g[i] + s[i]
	}
	return out
}

func (m *screen) gridBox(w int) []string {
	content := m.grid.View(m.cells, m.st, m.frame, m.now)
	return box(m.st, m.grid.title(m.cells), content, w, m.lay.bodyH, m.focus == focusGrid)
}

func (m *screen) sideBox(w int) []string {
	var content []string
	var title string
	switch m.side {
	case focusServers:
		content, title = m.srv.View(m.st, m.focus == focusServers), m.srv.Title()
	case focusLog:
		content, title = m.logp.View(m.st), m.logp.Title()
	default:
		content, title = m.insp.View(m.focus == focusInspector), m.insp.Title()
	}
	return box(m.st, title, content, w, m.lay.bodyH, m.focus == m.side)
}

// paneNames are the names of the panes, in the tabs.
var paneNames = [...]string{focusInput: "input", focusGrid: "cells", focusInspector: "inspector", focusServers: "servers", focusLog: "log"}

// rule is the line above the input: the input's title, and the tabs.
func (m *screen) rule(name string) string {
	st := m.st
	border, title := st.Border, st.TitleDim
	if m.focus == focusInput {
		border, title = st.BorderFocus, st.Title
	}
	left := border.Render("── ") + title.Render(name) + border.Render(" ")
	var tabs []string
	for _, f := range m.panes {
		if f == m.focus {
			tabs = append(tabs, st.Title.Render(paneNames[f]))
		} else {
			tabs = append(tabs, st.TitleDim.Render(paneNames[f]))
		}
	}
	right := " " + strings.Join(tabs, st.Muted.Render(" · ")) + border.Render(" ──")
	fill := m.width - ansi.StringWidth(left) - ansi.StringWidth(right)
	if fill < 2 {
		return pad(left+border.Render(strings.Repeat("─", max(m.width, 0))), m.width)
	}
	return left + border.Render(strings.Repeat("─", fill)) + right
}

// statusLine is the line under the input: the search, completions, or the
// last message; and "● rec FILE" at the right while recording.
func (m *Model) statusLine() string {
	st := m.st
	var s string
	switch {
	case m.input.search != nil:
		s = st.Accent.Render("reverse search: ") + st.Text.Render(m.input.search.query)
		if m.input.SearchFailed() {
			s += st.ErrorText.Render("  (no match)")
		}
		s += st.Muted.Render("  ctrl+r older · enter take · esc cancel")
	case len(m.candidates) > 0:
		s = st.Muted.Render(strings.Join(m.candidates, "  "))
	case m.statusBad:
		s = st.ErrorText.Render(oneLine(m.status))
	default:
		s = st.Muted.Render(oneLine(m.status))
	}
	return withRight(s, m.rec.indicator(st), m.width)
}

// withRight returns left, cut to leave room for right, then right at
// the end of a line of w columns.
func withRight(left, right string, w int) string {
	rw := ansi.StringWidth(right)
	if rw == 0 || rw+2 > w {
		return pad(left, w)
	}
	return pad(left, w-rw-1) + " " + right
}

// helpLine shows the keys of the focused pane.
func (m *Model) helpLine() string {
	var short []key.Binding
	switch m.focus {
	case focusInput:
		short = m.input.keys.ShortHelp()
	case focusGrid:
		short = m.grid.keys.ShortHelp()
	case focusInspector:
		short = m.insp.ShortHelp()
	case focusServers:
		short = m.srv.keys.ShortHelp()
	case focusLog:
		short = m.logp.keys.ShortHelp()
	}
	short = append(short, m.keys.ShortHelp()...)
	return pad(m.help.ShortHelpView(short), m.width)
}

// helpBlocks are the sections of the full help: every key of every pane,
// and the commands.
func (m *Model) helpBlocks() [][]string {
	st := m.st
	cmds := []string{st.Title.Render("commands")}
	for _, c := range commands() {
		cmds = append(cmds, "  "+st.Accent.Render(padRight(":"+c.name+" "+c.args, 18))+st.Muted.Render(c.help))
	}
	return [][]string{
		m.helpSection("everywhere", m.keys.FullHelp()),
		append(cmds, ""),
		m.helpSection("input", m.input.keys.FullHelp()),
		m.helpSection("cells", m.grid.keys.FullHelp()),
		m.helpSection("inspector", m.insp.keys.FullHelp()),
		m.helpSection("log", m.logp.keys.FullHelp()),
		m.helpSection("servers", m.srv.keys.FullHelp()),
	}
}

// helpSection is a section of the full help: a title and the keys, in
// columns.
func (m *screen) helpSection(name string, keys [][]key.Binding) []string {
	b := []string{m.st.Title.Render(name)}
	for _, l := range strings.Split(m.help.FullHelpView(keys), "\n") {
		b = append(b, "  "+l)
	}
	return append(b, "")
}

// fullHelp returns the full help for a box of width×height: in columns if
// they fit, else in one column that scrolls.
func (m *screen) fullHelp(blocks [][]string, width, height int) []string {
	if lines, ok := flowColumns(blocks, width, height); ok {
		m.helpScroll = false
		return lines
	}
	var all []string
	for _, b := range blocks {
		all = append(all, b...)
	}
	if !m.helpScroll {
		m.helpText.SetContent(all, false)
		m.helpScroll = true
	} else {
		m.helpText.SetContent(all, true)
	}
	m.helpText.SetSize(width, height)
	return m.helpText.View()
}

// flowColumns lays blocks of lines out top to bottom in columns, a block
// never split, and returns height lines of width. It reports whether all
// of them fit.
func flowColumns(blocks [][]string, width, height int) ([]string, bool) {
	var cols [][]string
	var cur []string
	for _, b := range blocks {
		if len(b) > height {
			return nil, false
		}
		if len(cur) > 0 && len(cur)+len(b) > height {
			cols = append(cols, cur)
			cur = nil
		}
		cur = append(cur, b...)
	}
	if len(cur) > 0 {
		cols = append(cols, cur)
	}
	widths := make([]int, len(cols))
	total := 0
	for i, c := range cols {
		for _, l := range c {
			widths[i] = max(widths[i], ansi.StringWidth(l)+2)
		}
		total += widths[i]
	}
	if total-2 > width {
		return nil, false
	}
	out := make([]string, height)
	for row := range out {
		var b strings.Builder
		for i, c := range cols {
			l := ""
			if row < len(c) {
				l = c[row]
			}
			b.WriteString(pad(l, widths[i]))
		}
		out[row] = pad(b.String(), width)
	}
	return out, true
}

// box draws content in a border of w×h with title; content is cut or
// padded to fit.
func box(st *Styles, title string, content []string, w, h int, focused bool) []string {
	border, ts := st.Border, st.TitleDim
	if focused {
		border, ts = st.BorderFocus, st.Title
	}
	iw := max(w-2, 0)
	title = ansi.Truncate(title, max(iw-4, 0), "…")
	tw := ansi.StringWidth(title)
	var top string
	if tw > 0 && iw >= tw+3 {
		top = border.Render("╭─ ") + ts.Render(title) + border.Render(" "+strings.Repeat("─", iw-tw-3)+"╮")
	} else {
		top = border.Render("╭" + strings.Repeat("─", iw) + "╮")
	}
	side := border.Render("│")
	out := make([]string, 0, h)
	out = append(out, top)
	blank := strings.Repeat(" ", iw)
	for i := 0; i < h-2; i++ {
		line := blank
		if i < len(content) {
			line = content[i]
			if ansi.StringWidth(line) != iw {
				line = pad(line, iw)
			}
		}
		out = append(out, side+line+side)
	}
	if h >= 2 {
		out = append(out, border.Render("╰"+strings.Repeat("─", iw)+"╯"))
	}
	return out
}

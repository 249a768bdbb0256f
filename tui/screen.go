package tui

import (
	"time"

	"charm.land/bubbles/v2/help"
	tea "charm.land/bubbletea/v2"

	"github.com/sperse/sperse/themes"
)

// screen is what a live workspace (Model) and a replay (Replay) show
// alike: the cells as a grid of cards, the side panes (inspector, servers,
// log), the input, and the lines around them, laid out for the terminal.
// Each embeds one, fills its store and panes, and draws it with its own
// status and help lines (see draw).
type screen struct {
	st    *Styles
	cells *store

	grid  grid
	input input
	insp  inspector
	srv   serversPane
	logp  logPane
	help  help.Model

	title string  // the header's title and the window's
	panes []focus // the panes Tab goes through, in order

	focus      focus
	side       focus // the side pane shown: inspector, servers or log
	showHelp   bool
	helpText   textView // the full help when it must scroll
	helpScroll bool     // the full help does not fit: it scrolls

	width, height int
	lay           layout

	frame int       // the spinner's frame
	now   time.Time // the time running cells are drawn at

	status    string
	statusBad bool

	selName string // the selected cell
	wantSel string // a cell just defined, selected when it appears
}

// newScreen returns a screen with no cells, at 80×24 until told its size.
func newScreen(title string, th themes.Theme, panes []focus) screen {
	s := screen{
		cells: newStore(),
		grid:  newGrid(),
		input: newInput(),
		insp:  newInspector(),
		srv:   newServersPane(""),
		logp:  newLogPane(),
		help:  help.New(),
		title: title,
		panes: panes,
		focus: panes[0],
		side:  focusInspector,
	}
	s.setTheme(th)
	return s
}

func (m *screen) setTheme(t themes.Theme) {
	m.st = newStyles(t)
	m.help.Styles = m.st.Help
}

func (m *screen) setFocus(f focus) {
	m.focus = f
	if f == focusInspector || f == focusServers || f == focusLog {
		m.side = f
	}
}

// cycleFocus moves the focus d panes on (back if d < 0) in m.panes.
func (m *screen) cycleFocus(d int) {
	n := len(m.panes)
	i := 0
	for j, f := range m.panes {
		if f == m.focus {
			i = j
		}
	}
	m.setFocus(m.panes[((i+d)%n+n)%n])
}

// helpKey handles a key while the full help is shown: the arrows scroll a
// help that does not fit, and any other key closes it. It reports whether
// it took the key: Ctrl-C and Ctrl-D go on to do what they do.
func (m *screen) helpKey(msg tea.KeyPressMsg, scroll scrollKeys) bool {
	switch msg.String() {
	case "ctrl+c", "ctrl+d":
		return false
	case "up", "k", "down", "j", "pgup", "pgdown", "space":
		if m.helpScroll {
			scroll.scroll(&m.helpText, msg)
			return true
		}
	}
	m.showHelp = false
	return true
}

// syncSelection keeps the selection on the selected cell as cells come and
// go, and selects a cell just defined once it appears.
func (m *screen) syncSelection() {
	if m.wantSel != "" {
		if i, ok := m.cells.index[m.wantSel]; ok {
			m.selName, m.wantSel = m.wantSel, ""
			m.grid.sel = i
		}
	}
	if i, ok := m.cells.index[m.selName]; ok {
		m.grid.sel = i
	}
	m.grid.clamp(m.cells)
	if m.cells.len() > 0 {
		m.selName = m.cells.items[m.grid.sel].view.Name
	} else {
		m.selName = ""
	}
}

// showSelected points the inspector at the selected cell.
func (m *screen) showSelected() tea.Cmd {
	return m.insp.Show(m.cells.get(m.selName), m.cells, m.st)
}

// selected returns the selected cell, or nil.
func (m *screen) selected() *item { return m.cells.get(m.selName) }

// gridMovedTo selects the cell the grid's selection moved to.
func (m *screen) gridMovedTo() tea.Cmd {
	if m.cells.len() > 0 {
		m.selName = m.cells.items[m.grid.sel].view.Name
	}
	return m.showSelected()
}

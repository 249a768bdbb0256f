// Package tui is sperse's terminal user interface: a bubbletea program that
// shows a workspace's cells as a live grid of cards, with a REPL to define
// them, an inspector, the servers and a log of events.
//
// One root Model routes every message: keys to the focused pane (each pane
// owns its keys, see keys.go), engine events to the store of cells, results
// of commands to whoever asked. Slow work (reading and writing files,
// dialing servers, formatting a huge value) runs in tea.Cmds that return
// messages; the engine's events arrive through a command that waits on a
// reactive.Subscription and returns the whole burst as one message.
// Rendering draws only the visible cards, each cached until its cell, its
// size or its selection changes, and a value's preview is made once per
// change of the cell, cut at a few hundred bytes before it is drawn.
//
// Choices a user meets:
//
//   - Enter submits the input when it is a complete cell, as lang.ParseCell
//     sees it. An open bracket or triple-quoted string, a trailing
//     backslash, or a block header with no body yet ("def f():") goes on
//     to a new, indented line instead; Alt+Enter (or Ctrl+J) always does.
//     So "def f(x):", Enter, "return x", Enter defines f: a body of several
//     lines is typed with Alt+Enter between them, or pasted.
//   - Text with several top-level cells (pasted) defines them all at once.
//   - Submitting a name that exists redefines it; Enter on a card loads its
//     source, and an anonymous cell edited so keeps its name.
//   - Ctrl-C cancels the selected cell if it is queued or running, else
//     clears the input, else says how to quit; the next Ctrl-C quits.
//   - Tab in the input completes when there is a word before the cursor,
//     and moves the focus otherwise; Shift-Tab always moves it.
//   - The history (one JSON string a line) and the journal of the workspace
//     (one JSON record a line per definition or deletion) are kept in
//     Options.StateDir. A clean quit removes the journal; finding one at
//     start means the last run ended otherwise, and its cells are restored.
//     One sperse-tui per state directory: two would share a journal.
//   - The inspector shows a value in the views that fit it (viewsOf): a
//     table, a chart, a tree, a string's text, its repr; v cycles them,
//     and the choice is kept per cell. Cards show a table's first rows, a
//     sparkline of numbers, a string's first lines (see face).
//   - :export NAME FILE writes a value as JSON, CSV or its repr by the
//     file's extension, whole or not at all; :copy [NAME] puts its repr on
//     the clipboard with OSC 52, up to maxClipboard bytes.
//   - :record FILE (or Model.Record) records the session: what is typed at
//     the prompt (commands too), the engine's events, the servers joining
//     and leaving, and :mark's markers, written by a goroutine of its own
//     in the order they happened (see record.go). Replay (replay.go) plays
//     such a recording on the same screen (screen.go), evaluating nothing.
package tui

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/reactive"
	"github.com/sperse/sperse/themes"
)

// Options configure a Model.
type Options struct {
	// Engine is the workspace. The Model subscribes to it; the caller owns
	// it and closes it after the program ends.
	Engine *reactive.Engine

	// Servers is the remote client, for the servers pane and :connect; nil
	// when remote cells run in process (as in tests).
	Servers Servers

	Theme    themes.Theme // the theme at start
	ThemeDir string       // where :theme finds custom themes (themes.Dir); "" for the built-in ones only

	// StateDir keeps the history and the journal of the workspace; "" keeps
	// neither.
	StateDir string

	// Load is a workspace file to load at start, or "".
	Load string

	// Now is the clock (for tests); nil means time.Now.
	Now func() time.Time
}

// focus is a pane that can have the keyboard.
type focus int

const (
	focusInput focus = iota
	focusGrid
	focusInspector
	focusServers
	focusLog
)

// Model is the root model of the program. Make it with New, run it with
// tea.NewProgram, and Close it when the program has ended.
type Model struct {
	screen
	opts   Options
	engine *reactive.Engine
	sub    *reactive.Subscription
	keys   globalKeys

	ticking bool // a tickMsg is on its way

	candidates []string // completions shown in the status line

	quitArmed bool // a Ctrl-C said how to quit: the next one quits
	clean     bool // the user quit: the journal goes

	anon    int    // the last anonymous cell's number
	editing string // an anonymous cell loaded for editing: its name is kept

	history     *appender
	journal     *appender
	journalPath string

	rec recorder // the recording of the session, if one runs
}

// livePanes are the panes of a live workspace, in the order Tab goes
// through them.
var livePanes = []focus{focusInput, focusGrid, focusInspector, focusServers, focusLog}

// New returns the model of a workspace. It subscribes to the engine at
// once, so no event is missed.
func New(opts Options) *Model {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Theme.Name == "" && !opts.Theme.Mono {
		opts.Theme = themes.Dark()
	}
	m := &Model{
		screen: newScreen("sperse", opts.Theme, livePanes),
		opts:   opts,
		engine: opts.Engine,
		keys:   newGlobalKeys(),
	}
	m.now = opts.Now()
	if opts.Servers == nil {
		m.srv.none = "in-process evaluator"
	}
	m.sub = m.engine.Subscribe()
	for _, v := range m.engine.Cells() {
		m.cells.set(v)
		m.anon = max(m.anon, anonNumber(v.Name))
	}
	m.cells.settle()
	if opts.StateDir != "" {
		m.history = newAppender(filepath.Join(opts.StateDir, historyFile), false)
		m.journalPath = filepath.Join(opts.StateDir, journalFile)
		m.journal = newAppender(m.journalPath, true)
	}
	m.resize(80, 24)
	return m
}

// Close ends the subscription and the recording, if one runs, and writes
// what is pending to the history and the journal. If the user quit (rather
// than the program being killed), the journal is removed: there is nothing
// to restore. Call it after the program has ended.
func (m *Model) Close() error {
	m.sub.Close()
	err := m.rec.stop()
	if m.history != nil {
		if herr := m.history.Close(); err == nil {
			err = herr
		}
	}
	if m.journal != nil {
		if jerr := m.journal.Close(); err == nil {
			err = jerr
		}
		if m.clean {
			if rerr := removeFile(m.journalPath); err == nil {
				err = rerr
			}
		}
	}
	return err
}

// QuitCleanly reports whether the user quit (:quit, Ctrl-D, Ctrl-C twice).
func (m *Model) QuitCleanly() bool { return m.clean }

// Init starts waiting for the engine's events, reads the history, restores
// the journal of an unclean exit and loads Options.Load.
func (m *Model) Init() tea.Cmd {
	cmds := []tea.Cmd{waitEvents(m.sub)}
	var start []tea.Cmd
	if m.opts.StateDir != "" {
		cmds = append(cmds, readHistory(filepath.Join(m.opts.StateDir, historyFile)),
			m.journal.watch("journal"), m.history.watch("history"))
		start = append(start, readJournal(m.journalPath))
	}
	if m.opts.Load != "" {
		start = append(start, loadCmd(expandHome(m.opts.Load)))
	}
	if len(start) > 0 {
		cmds = append(cmds, tea.Sequence(start...))
	}
	if m.opts.Servers != nil {
		cmds = append(cmds, pollServers(m.opts.Servers), serversTick())
	}
	if m.rec.cur != nil { // Record was called
		cmds = append(cmds, waitRecording(m.rec.cur))
	}
	cmds = append(cmds, m.startTick())
	return tea.Batch(cmds...)
}

// eventsMsg is a burst of engine events: everything published since the last.
type eventsMsg struct{ events []reactive.Event }

// eventsClosedMsg says the engine was closed.
type eventsClosedMsg struct{}

// waitEvents waits for the next burst of events of sub. It reads only the
// subscription, which is safe from any goroutine.
func waitEvents(sub *reactive.Subscription) tea.Cmd {
	return func() tea.Msg {
		_, ok := <-sub.C()
		evs := sub.Next()
		if !ok && len(evs) == 0 {
			return eventsClosedMsg{}
		}
		return eventsMsg{events: evs}
	}
}

// tickMsg animates running cells.
type tickMsg struct{ t time.Time }

const tickEvery = 100 * time.Millisecond

func (m *Model) startTick() tea.Cmd {
	if m.ticking || m.cells.counts[reactive.Running] == 0 {
		return nil
	}
	m.ticking = true
	return tea.Tick(tickEvery, func(t time.Time) tea.Msg { return tickMsg{t} })
}

// Update routes a message.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	var cmd tea.Cmd
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.resize(msg.Width, msg.Height)
	case tea.KeyPressMsg:
		cmd = m.handleKey(msg)
	case tea.PasteMsg:
		m.setFocus(focusInput)
		m.input.Insert(msg.Content)
	case eventsMsg:
		cmd = tea.Batch(waitEvents(m.sub), m.applyEvents(msg.events))
	case eventsClosedMsg:
	case tickMsg:
		m.ticking = false
		m.frame++
		m.now = m.opts.Now()
		cmd = m.startTick()
	default:
		cmd = m.handleResult(msg)
	}
	m.layout()
	return m, cmd
}

// handleResult handles the message of a command.
func (m *Model) handleResult(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case inspectedMsg:
		m.insp.Inspected(msg, m.cells, m.st)
	case serversTickMsg:
		return tea.Batch(pollServers(m.opts.Servers), serversTick())
	case serversMsg:
		m.srv.infos = msg.infos
	case connectedMsg:
		if msg.err != nil {
			m.fail("connect " + msg.addr + ": " + msg.err.Error())
		} else {
			m.inform("connected to " + msg.addr)
		}
		return pollServers(m.opts.Servers)
	case publishedMsg:
		return m.published(msg)
	case disconnectedMsg:
		if msg.found {
			m.inform("disconnected " + msg.name)
		} else {
			m.fail("no server " + msg.name)
		}
		return pollServers(m.opts.Servers)
	case loadedMsg:
		m.loaded(msg)
	case savedMsg:
		if msg.err != nil {
			m.fail("save: " + msg.err.Error())
		} else {
			m.inform(fmt.Sprintf("saved %s to %s", plural(msg.cells, "cell"), msg.path))
		}
	case themeMsg:
		if msg.err != nil {
			m.fail(msg.err.Error())
		} else {
			m.setTheme(msg.theme)
			m.inform("theme " + msg.theme.Name)
			return m.showSelected()
		}
	case historyMsg:
		if msg.err != nil {
			m.fail("history: " + msg.err.Error())
		}
		// What was typed before the history arrived goes after it.
		m.input.SetHistory(append(msg.entries, m.input.hist...))
	case journalMsg:
		m.restored(msg)
	case appendFailedMsg:
		m.fail(msg.text())
		return msg.a.watch(msg.what)
	case fileCompletionMsg:
		m.completeWith(msg.word, msg.start, msg.cands)
	case recordStartedMsg, recordEndedMsg:
		return m.recordResult(msg)
	case exportedMsg:
		m.exported(msg)
	case copiedMsg:
		return m.copied(msg)
	}
	return nil
}

// applyEvents applies a burst of engine events.
func (m *Model) applyEvents(evs []reactive.Event) tea.Cmd {
	if len(evs) == 0 {
		return nil
	}
	for _, ev := range evs {
		m.cells.apply(ev)
		m.logp.event(ev)
	}
	if m.cells.added {
		// New cells: show them in the engine's order, not the events'.
		views := m.engine.Cells()
		names := make([]string, len(views))
		for i, v := range views {
			names[i] = v.Name
		}
		m.cells.reorder(names)
	}
	m.cells.settle()
	m.now = m.opts.Now()
	m.syncSelection()
	return tea.Batch(m.showSelected(), m.startTick())
}

// inform shows a message in the status line, and logs it.
func (m *Model) inform(s string) {
	m.status, m.statusBad, m.candidates = s, false, nil
	m.logp.note(m.opts.Now(), s, false)
}

// fail shows an error in the status line, and logs it.
func (m *Model) fail(s string) {
	m.status, m.statusBad, m.candidates = s, true, nil
	m.logp.note(m.opts.Now(), s, true)
}

// handleKey handles a key press: the global keys first, then the focused
// pane's.
func (m *Model) handleKey(msg tea.KeyPressMsg) tea.Cmd {
	armed := m.quitArmed
	m.quitArmed = false
	if m.showHelp && m.helpKey(msg, m.insp.keys.scrollKeys) {
		return nil
	}
	switch {
	case key.Matches(msg, m.keys.Interrupt):
		return m.interrupt(armed)
	case key.Matches(msg, m.keys.Quit) && (m.focus != focusInput || m.input.Empty()):
		return m.quit()
	case key.Matches(msg, m.keys.Prev):
		m.cycleFocus(-1)
		return nil
	case key.Matches(msg, m.keys.Next) && !(m.focus == focusInput && m.canComplete()):
		m.cycleFocus(1)
		return nil
	case msg.String() == "f1" || m.focus != focusInput && key.Matches(msg, m.keys.Help):
		m.showHelp = true
		return nil
	case m.focus != focusInput && key.Matches(msg, m.keys.Command):
		m.setFocus(focusInput)
		m.input.SetValue(":")
		return nil
	}
	switch m.focus {
	case focusInput:
		return m.updateInput(msg)
	case focusGrid:
		return m.updateGrid(msg)
	case focusInspector:
		took, cmd := m.insp.Update(msg)
		if !took && key.Matches(msg, m.insp.keys.Leave) {
			m.setFocus(focusGrid)
		}
		return cmd
	case focusServers:
		return m.updateServers(msg)
	case focusLog:
		if !m.logp.Update(msg) && key.Matches(msg, m.logp.keys.Leave) {
			m.setFocus(focusGrid)
		}
	}
	return nil
}

// interrupt is Ctrl-C: cancel the selected cell's evaluation if it has one
// to come, else clear the input, else say how to quit, else quit.
func (m *Model) interrupt(armed bool) tea.Cmd {
	if it := m.selected(); it != nil {
		switch it.view.State {
		case reactive.Queued, reactive.Running, reactive.Stale, reactive.Unavailable:
			if m.engine.Cancel(it.view.Name) {
				m.inform("cancelled " + it.view.Name)
				return nil
			}
		}
	}
	if m.focus == focusInput && !m.input.Empty() {
		m.input.Reset()
		m.editing = ""
		m.status, m.candidates = "", nil
		return nil
	}
	if armed {
		return m.quit()
	}
	m.quitArmed = true
	m.inform("Nothing to cancel. Press Ctrl-C again, Ctrl-D, or type :quit to quit.")
	return nil
}

// quit ends the program cleanly.
func (m *Model) quit() tea.Cmd {
	m.clean = true
	return tea.Quit
}

func (m *Model) updateInput(msg tea.KeyPressMsg) tea.Cmd {
	m.candidates = nil
	action, _ := m.input.Update(msg)
	switch action {
	case inputSubmit:
		return m.submit(m.input.Value())
	case inputComplete:
		return m.complete()
	case inputLeave:
		if m.input.search == nil {
			m.setFocus(focusGrid)
		}
	}
	return nil
}

// submit runs the input: a command, or a cell to define.
func (m *Model) submit(text string) tea.Cmd {
	text = strings.TrimRight(text, " \t\n") // the empty line that ended a block
	if m.input.remember(text) && m.history != nil {
		m.history.Append(historyLine(text))
	}
	m.input.Reset()
	if m.rec.cur != nil && text != "" {
		m.rec.cur.typed(text)
	}
	editing := m.editing
	m.editing = ""
	if strings.HasPrefix(strings.TrimSpace(text), ":") {
		m.status = ""
		return m.runCommand(text)
	}
	// Several cells at once (pasted): define them all, as a file.
	if cells, err := lang.ParseFile(replFile, []byte(text)); err == nil && len(cells) > 1 {
		bad := m.loadCells(cells)
		m.wantSel = cells[len(cells)-1].Name
		if bad > 0 {
			m.fail(fmt.Sprintf("defined %s, %d with errors", plural(len(cells), "cell"), bad))
		} else {
			m.inform("defined " + plural(len(cells), "cell"))
		}
		return nil
	}
	c := lang.ParseCell(replFile, 1, text)
	if c == nil {
		return nil
	}
	if c.Name == "" {
		if editing != "" {
			c.Name = editing
		} else {
			m.anon++
			c.Name = "_" + strconv.Itoa(m.anon)
		}
	}
	_, existed := m.engine.Cell(c.Name)
	m.engine.Define(c)
	m.journalAppend(defRecord(c))
	m.wantSel = c.Name
	switch {
	case c.Err != nil:
		m.fail(c.Name + ": " + c.Err.Error())
	case existed:
		m.inform("redefined " + c.Name)
	default:
		m.inform("defined " + c.Name)
	}
	return nil
}

func (m *Model) journalAppend(rec string) {
	if m.journal != nil {
		m.journal.Append(rec)
	}
}

// canComplete reports whether Tab in the input completes something.
func (m *Model) canComplete() bool {
	w, _ := m.input.Word()
	return w != "" && m.input.search == nil
}

// complete completes the word before the cursor.
func (m *Model) complete() tea.Cmd {
	word, start := m.input.Word()
	line := m.input.Value()
	if strings.HasPrefix(line, ":") && strings.Contains(line, " ") {
		if c, ok := findCommand(strings.TrimPrefix(strings.Fields(line)[0], ":")); ok && (c.arg == 'f' || c.arg == 'F' && start > len(strings.Fields(line)[0])+1) {
			return fileCompletion(word, start)
		}
	}
	m.completeWith(word, start, m.completions(word))
	return nil
}

// fileCompletionMsg carries the completions of a path, read off the loop.
type fileCompletionMsg struct {
	word  string
	start int
	cands []string
}

func fileCompletion(word string, start int) tea.Cmd {
	return func() tea.Msg {
		return fileCompletionMsg{word: word, start: start, cands: completeFile(word)}
	}
}

// completeWith completes word (starting at start) from cands: to the only
// candidate, or to their common prefix, listing them.
func (m *Model) completeWith(word string, start int, cands []string) {
	if w, s := m.input.Word(); w != word || s != start {
		return // typed on meanwhile
	}
	switch len(cands) {
	case 0:
		m.candidates = nil
		m.status, m.statusBad = "no completion for "+word, false
	case 1:
		c := cands[0]
		if !strings.HasSuffix(c, "/") && (strings.HasPrefix(c, ":") || m.input.Value()[0] == ':') {
			c += " "
		}
		m.input.ReplaceWord(start, c)
		m.candidates = nil
		m.status = ""
	default:
		m.input.ReplaceWord(start, commonPrefix(cands))
		m.candidates = cands
	}
}

func (m *Model) updateGrid(msg tea.KeyPressMsg) tea.Cmd {
	action, _ := m.grid.Update(msg, m.cells)
	it := m.selected()
	switch action {
	case gridMoved:
		return m.gridMovedTo()
	case gridEdit:
		if it != nil && it.view.Cell != nil {
			m.input.SetValue(it.view.Cell.Source)
			m.editing = ""
			if it.view.Cell.Kind == lang.AnonCell {
				m.editing = it.view.Name
			}
			m.setFocus(focusInput)
			m.inform("editing " + it.view.Name + ": enter redefines it")
		}
	case gridInspect:
		m.setFocus(focusInspector)
	case gridRerun:
		if it != nil {
			m.engine.Rerun(it.view.Name)
		}
	case gridDelete:
		if it != nil {
			return m.cmdDelete([]string{it.view.Name})
		}
	case gridLeave:
		m.setFocus(focusInput)
	}
	return nil
}

func (m *Model) updateServers(msg tea.KeyPressMsg) tea.Cmd {
	action, _ := m.srv.Update(msg)
	switch action {
	case serverConnect:
		m.setFocus(focusInput)
		m.input.SetValue(":connect ")
	case serverDisconnect:
		if name := m.srv.selected(); name != "" {
			return m.cmdDisconnect([]string{name})
		}
	case serverLeave:
		m.setFocus(focusGrid)
	}
	return nil
}

// loaded defines the cells of a loaded file.
func (m *Model) loaded(msg loadedMsg) {
	if msg.err != nil {
		m.fail("load: " + msg.err.Error())
		return
	}
	bad := m.loadCells(msg.cells)
	note := fmt.Sprintf("loaded %s from %s", plural(len(msg.cells), "cell"), msg.path)
	if bad > 0 {
		note += fmt.Sprintf(" (%d with errors)", bad)
	}
	m.inform(note)
}

// loadCells defines cells as one change (a file, or several cells pasted
// at once) and journals them. The anonymous ones get fresh names, after
// the REPL's. It returns how many have errors.
func (m *Model) loadCells(cells []*lang.Cell) int {
	used := make(map[string]bool, m.cells.len())
	for _, it := range m.cells.items {
		used[it.view.Name] = true
	}
	bad := 0
	for _, c := range cells {
		if c.Kind == lang.AnonCell && anonNumber(c.Name) > 0 {
			m.anon++
			for used["_"+strconv.Itoa(m.anon)] {
				m.anon++
			}
			c.Name = "_" + strconv.Itoa(m.anon)
		}
		if c.Err != nil {
			bad++
		}
	}
	m.engine.Load(cells)
	for _, c := range cells {
		m.journalAppend(defRecord(c))
	}
	return bad
}

// restored defines the cells of the journal of an unclean exit.
func (m *Model) restored(msg journalMsg) {
	if msg.err != nil {
		m.fail("journal " + msg.path + ": " + msg.err.Error())
		return
	}
	if len(msg.cells) == 0 {
		return
	}
	for _, c := range msg.cells {
		m.anon = max(m.anon, anonNumber(c.Name))
	}
	m.engine.Load(msg.cells)
	m.inform(fmt.Sprintf("Restored %s from the journal of a session that did not quit cleanly (%s).", plural(len(msg.cells), "cell"), msg.path))
}

package tui

import (
	"errors"
	"slices"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/reactive"
)

// inspector is the pane that shows the selected cell in full: its source,
// what it uses and what uses it, where and when it ran, and its whole value
// or its error with position and backtrace.
//
// The value is shown in one of the views that fit it (see viewsOf): a
// table, a chart, a tree, a string's text, or its repr. The view key cycles
// through them, and the choice is remembered per cell while the program
// runs. Each view makes only the lines on the screen, and what must read
// a big value whole (its repr, the numbers of a long chart) is made off the
// update loop (see valueCmd, seriesCmd).
type inspector struct {
	keys inspectorKeys
	text textView

	shown  inspectKey // the cell and version on show
	id     inspectID  // the run of it whose value is shown
	header []string   // everything above the value

	val     lang.Value // the value shown; nil if the cell has none
	hasVal  bool
	views   []viewKind          // the views that fit val, the default first
	view    viewKind            // the view on show
	chosen  map[string]viewKind // the view chosen, by cell
	body    segSource           // the view's lines; nil while being made
	pending bool                // the body is being made by a command

	// The view on show, when it is one with state of its own.
	table *tableView
	tree  *treeView
	chart *chartView

	// The numbers of val once read, for its chart (and for coming back to it).
	series     *series
	seriesKeys []lang.Value

	storeGen uint64 // the store's gen when the header was made
}

// inspectKey identifies what the inspector shows: a cell and the run of it.
type inspectKey struct {
	name   string
	gen    uint64 // changes with every change of the cell's view
	styles *Styles
}

// inspectID identifies a value: a cell, its version and its run.
type inspectID struct {
	name          string
	version, runs int
}

func newInspector() inspector {
	return inspector{keys: newInspectorKeys(), chosen: map[string]viewKind{}}
}

// SetSize sets the size inside the pane's border.
func (p *inspector) SetSize(w, h int) {
	p.text.SetSize(w, h)
	if p.chart != nil {
		p.chart.height = p.text.height
	}
}

// inspectedMsg carries what a command made of a big value for a view: the
// segments of its repr or text, or the numbers of its chart.
type inspectedMsg struct {
	inspectID
	view   viewKind
	segs   []string
	series *series
	keys   []lang.Value // a dict's keys, for its chart
}

// valueCmd makes the segments of a value off the update loop. The value is
// frozen, so reading it from another goroutine is safe.
func valueCmd(id inspectID, val lang.Value, view viewKind) tea.Cmd {
	return func() tea.Msg {
		return inspectedMsg{inspectID: id, view: view, segs: reprSegments(val, view)}
	}
}

// dictSeriesCmd reads the numbers of a big dict off the update loop.
func dictSeriesCmd(id inspectID, d keyed) tea.Cmd {
	return func() tea.Msg {
		keys := d.Keys()
		s := readSeries(numSeq{x: dictValues{d: d, keys: keys}, n: len(keys)})
		return inspectedMsg{inspectID: id, view: viewChart, series: s, keys: keys}
	}
}

// reprSegments returns the segments of v in the repr or text view.
func reprSegments(v lang.Value, view viewKind) []string {
	if view == viewRepr && v != nil && v.Type() == "string" {
		return appendSegments(nil, v.String(), "")
	}
	return valueSegments(v)
}

// Show shows it (nil for no cell); it returns a command when the value is
// big and is made off the update loop.
func (p *inspector) Show(it *item, s *store, st *Styles) tea.Cmd {
	if it == nil {
		if p.shown.name != "" || p.header == nil {
			p.shown, p.id = inspectKey{}, inspectID{}
			p.header = []string{st.Muted.Render("No cell selected.")}
			p.clearValue()
			p.text.indentFrom = 0
			p.text.SetContent(p.header, false)
		}
		return nil
	}
	k := inspectKey{name: it.view.Name, gen: it.gen, styles: st}
	if k == p.shown && s.gen == p.storeGen {
		return nil
	}
	// The header changes with any cell (a new dependent); the value only
	// with this one.
	same := k.name == p.shown.name
	p.storeGen = s.gen
	header := inspectHeader(&it.view, s, st)
	if k == p.shown && slices.Equal(header, p.header) {
		return nil // another cell changed, and nothing shown here did
	}
	p.header = header
	var cmd tea.Cmd
	switch {
	case k == p.shown:
	case k.name == p.shown.name && k.gen == p.shown.gen:
		p.shown = k
		p.restyle(st) // a new theme: the same value
	default:
		p.shown = k
		cmd = p.setValue(it, st)
	}
	p.refresh(same)
	return cmd
}

func (p *inspector) clearValue() {
	p.val, p.hasVal, p.views = nil, false, nil
	p.body, p.pending = nil, false
	p.table, p.tree, p.chart = nil, nil, nil
	p.series, p.seriesKeys = nil, nil
}

// setValue shows the value of it, in the view chosen for it if that fits,
// else in the first that fits.
func (p *inspector) setValue(it *item, st *Styles) tea.Cmd {
	id := inspectID{name: it.view.Name, version: it.view.Version, runs: it.view.Runs}
	if id == p.id && p.hasVal && it.view.State == reactive.Ready {
		p.restyle(st) // the same value (the cell's view changed around it)
		return nil
	}
	p.id = id
	p.clearValue()
	if it.view.State != reactive.Ready {
		return nil
	}
	p.val, p.hasVal = it.view.Value, true
	p.views = viewsOf(p.val)
	p.view = p.views[0]
	if c, ok := p.chosen[id.name]; ok && hasView(p.views, c) {
		p.view = c
	}
	return p.build(st)
}

// build makes the body of the view on show, or the command that makes it.
func (p *inspector) build(st *Styles) tea.Cmd {
	p.body, p.pending = nil, false
	p.table, p.tree, p.chart = nil, nil, nil
	switch p.view {
	case viewTable:
		if x, ok := p.val.(indexable); ok {
			p.table = newTableView(x, st)
			p.body = p.table
			return nil
		}
	case viewTree:
		p.tree = newTreeView(p.val, st)
		p.body = p.tree
		return nil
	case viewChart:
		p.chart = &chartView{st: st, height: p.text.height, s: p.series, keys: p.seriesKeys}
		p.body = p.chart
		if p.series != nil {
			return nil
		}
		if d, ok := p.val.(keyed); ok && p.val.Type() == "dict" {
			if d.Len() > syncSeriesMax {
				return dictSeriesCmd(p.id, d)
			}
			keys := d.Keys()
			p.series, p.seriesKeys = readSeries(numSeq{x: dictValues{d: d, keys: keys}, n: len(keys)}), keys
		} else {
			seq, ok := numericSeq(p.val)
			if !ok {
				break
			}
			if !seq.arith && seq.n > syncSeriesMax {
				return seriesCmd(p.id, seq)
			}
			p.series = readSeries(seq)
		}
		p.chart.s, p.chart.keys = p.series, p.seriesKeys
		return nil
	}
	if smallValue(p.val) {
		p.body = segList(reprSegments(p.val, p.view))
		return nil
	}
	p.pending = true
	return valueCmd(p.id, p.val, p.view)
}

// restyle draws the value with new styles.
func (p *inspector) restyle(st *Styles) {
	if p.table != nil {
		p.table.st = st
	}
	if p.tree != nil {
		p.tree.st = st
	}
	if p.chart != nil {
		p.chart.st, p.chart.lines = st, nil
	}
}

// Inspected takes what a command made, if it is still wanted.
func (p *inspector) Inspected(msg inspectedMsg, s *store, st *Styles) {
	it := s.get(msg.name)
	if it == nil || msg.inspectID != p.id || it.view.Version != msg.version || it.view.Runs != msg.runs {
		return
	}
	if msg.series != nil {
		p.series, p.seriesKeys = msg.series, msg.keys
		if p.chart != nil {
			p.chart.s, p.chart.keys = msg.series, msg.keys
		}
	} else {
		if !p.pending || p.view != msg.view {
			return
		}
		p.body, p.pending = segList(msg.segs), false
	}
	p.refresh(true)
}

// refresh gives the text view the header, the switcher of views and the
// value's body.
func (p *inspector) refresh(keep bool) {
	head := slices.Clip(p.header)
	p.text.indentFrom = len(head)
	var body segSource
	if p.hasVal {
		if len(p.views) > 1 {
			head = append(head, p.switcher())
		}
		body = p.body
		if p.pending || body == nil {
			body = segList{p.shown.styles.Muted.Render("(formatting the value…)")}
		}
	}
	p.text.SetSource(docSource{head: head, body: body}, keep)
}

// switcher is the line that names the views of the value, the one on show
// in brackets.
func (p *inspector) switcher() string {
	st := p.shown.styles
	var b strings.Builder
	for i, v := range p.views {
		if i > 0 {
			b.WriteString(" ")
		}
		if v == p.view {
			b.WriteString(st.Title.Render("[" + v.String() + "]"))
		} else {
			b.WriteString(st.Muted.Render(" " + v.String() + " "))
		}
	}
	return b.String() + st.Muted.Render("  "+p.keys.View.Help().Key+" next view")
}

// bodyStart is the segment the value's body starts at.
func (p *inspector) bodyStart() int {
	n := len(p.header)
	if p.hasVal && len(p.views) > 1 {
		n++
	}
	return n
}

// cycle shows the next view of the value and scrolls to it.
func (p *inspector) cycle() tea.Cmd {
	i := slices.Index(p.views, p.view)
	p.view = p.views[(i+1)%len(p.views)]
	p.chosen[p.shown.name] = p.view
	cmd := p.build(p.shown.styles)
	p.refresh(true)
	p.text.ShowFrom(len(p.header) - 1) // the value's title
	return cmd
}

// Update handles a key: the view key, the tree's keys and the table's
// when they are on show, and scrolling. It reports whether it took the
// key.
func (p *inspector) Update(msg tea.KeyPressMsg) (bool, tea.Cmd) {
	k := p.keys
	if key.Matches(msg, k.View) {
		if !p.hasVal || len(p.views) < 2 {
			return false, nil
		}
		return true, p.cycle()
	}
	if p.tree != nil && !p.pending {
		return p.treeKey(msg), nil
	}
	if p.table != nil {
		switch {
		case key.Matches(msg, k.Left):
			p.table.Scroll(-1)
			return true, nil
		case key.Matches(msg, k.Right):
			p.table.Scroll(1)
			return true, nil
		}
	}
	return k.scroll(&p.text, msg), nil
}

// treeKey handles a key of the tree view: the cursor moves, opens and
// closes, and the text scrolls to keep it in sight.
func (p *inspector) treeKey(msg tea.KeyPressMsg) bool {
	t, k := p.tree.t, p.keys
	page := max(p.text.height-1, 1)
	switch {
	case key.Matches(msg, k.Up):
		if t.cursor == 0 {
			p.text.Up(1) // to the header
			return true
		}
		t.Move(-1)
	case key.Matches(msg, k.Down):
		t.Move(1)
	case key.Matches(msg, k.PageUp):
		if t.cursor == 0 {
			p.text.Up(page)
			return true
		}
		t.Move(-page)
	case key.Matches(msg, k.PageDown):
		t.Move(page)
	case key.Matches(msg, k.Top):
		t.cursor = 0
		p.text.Top()
		return true
	case key.Matches(msg, k.Bottom):
		t.Move(t.Len())
	case key.Matches(msg, k.Open):
		t.Open()
	case key.Matches(msg, k.Close):
		t.Close()
	default:
		return false
	}
	p.text.Reveal(p.bodyStart() + t.cursor)
	return true
}

// scroll scrolls t for a key of k, and reports whether it was one.
func (k scrollKeys) scroll(t *textView, msg tea.KeyPressMsg) bool {
	switch {
	case key.Matches(msg, k.Up):
		t.Up(1)
	case key.Matches(msg, k.Down):
		t.Down(1)
	case key.Matches(msg, k.PageUp):
		t.Up(max(t.height-1, 1))
	case key.Matches(msg, k.PageDown):
		t.Down(max(t.height-1, 1))
	case key.Matches(msg, k.Top):
		t.Top()
	case key.Matches(msg, k.Bottom):
		t.Bottom()
	default:
		return false
	}
	return true
}

// View returns the pane's lines; focused says whether it has the focus
// (the tree's cursor shows only then).
func (p *inspector) View(focused bool) []string {
	if p.tree != nil {
		p.tree.focused = focused
	}
	return p.text.View()
}

// ShortHelp returns the keys at hand for the view on show.
func (p *inspector) ShortHelp() []key.Binding {
	k := p.keys
	var b []key.Binding
	switch {
	case p.tree != nil:
		up := k.Up
		up.SetHelp("↑↓/jk", "move")
		b = append(b, up, k.Open, k.Close)
	case p.table != nil:
		b = append(b, k.Up, k.Left)
	default:
		b = append(b, k.Up, k.PageUp, k.Top)
	}
	if p.hasVal && len(p.views) > 1 {
		b = append(b, k.View)
	}
	return append(b, k.Leave)
}

// Title returns the pane's title.
func (p *inspector) Title() string {
	if p.shown.name == "" {
		return "inspector"
	}
	t := "inspector · " + p.shown.name
	if p.text.Scrollable() {
		t += " · " + strconv.Itoa(p.text.Percent()) + "%"
	}
	return t
}

// inspectHeader returns the segments of everything the inspector shows of
// v above its value.
func inspectHeader(v *reactive.CellView, s *store, st *Styles) []string {
	state := stateIndex(v.State)
	var segs []string
	add := func(line string) { segs = append(segs, line) }
	label := func(name string) string { return st.Muted.Render(padRight(name, 10)) }

	add(st.State[state].Render(glyphs[state]+" "+v.State.String()) + "  " + st.Bold.Render(v.Name) + st.Muted.Render("  version "+strconv.Itoa(v.Version)))
	// An error comes first: it is what the user looks for.
	if v.Err != nil {
		add("")
		segs = append(segs, errorSegments(v.Err, st)...)
	}
	add("")
	add(st.Title.Render("source"))
	if v.Cell != nil {
		for _, c := range append([]*lang.Cell{v.Cell}, v.Dups...) {
			if c.Pos.File != "" && c.Pos.File != replFile {
				add("  " + st.Muted.Render(c.Pos.String()))
			}
			for _, seg := range appendSegments(nil, c.Source, "  ") {
				add(st.Text.Render(seg))
			}
		}
	}
	add("")
	deps := "none"
	if len(v.Deps) > 0 {
		deps = strings.Join(v.Deps, ", ")
	}
	add(label("uses") + st.Text.Render(deps))
	// Dependents of an event's view may be out of date: ask the store's
	// cells which of them use this one.
	users := dependents(v.Name, s)
	usedBy := "none"
	if len(users) > 0 {
		usedBy = strings.Join(users, ", ")
	}
	add(label("used by") + st.Text.Render(usedBy))
	if v.Where != "" {
		add(label("where") + st.Text.Render(v.Where))
	}
	if !v.Started.IsZero() {
		add(label("started") + st.Text.Render(v.Started.Format("15:04:05.000")))
	}
	if !v.Finished.IsZero() {
		add(label("finished") + st.Text.Render(v.Finished.Format("15:04:05.000")))
	}
	if v.Took > 0 {
		add(label("took") + st.Text.Render(formatDuration(v.Took)))
	}
	add(label("runs") + st.Text.Render(strconv.Itoa(v.Runs)+" of this version"))
	if v.State == reactive.Ready {
		add("")
		add(st.Title.Render("value") + st.Muted.Render("  "+describeValue(v.Value)))
	}
	return segs
}

// errorSegments shows an error: its message, its position and its
// backtrace for a lang error; the failed input for an upstream error; the
// cycle for a cycle.
func errorSegments(err error, st *Styles) []string {
	var segs []string
	es := st.ErrorText
	segs = append(segs, st.Title.Render("error"))
	var (
		le  *lang.Error
		ie  *reactive.InputError
		ce  *reactive.CycleError
		msg = err.Error()
	)
	switch {
	case errors.As(err, &ie):
		for _, s := range appendSegments(nil, msg, "  ") {
			segs = append(segs, es.Render(s))
		}
		root := ie.Root
		if root == "" {
			root = ie.Input
		}
		segs = append(segs, st.Muted.Render("  select "+root+" to see its error"))
		return segs
	case errors.As(err, &ce):
		segs = append(segs, es.Render("  cycle: "+strings.Join(append(ce.Cycle(), ce.Cycle()[0]), " → ")))
		return segs
	case errors.As(err, &le):
		for _, s := range appendSegments(nil, le.Msg, "  ") {
			segs = append(segs, es.Render(s))
		}
		if le.Pos.File != "" || le.Pos.Line != 0 {
			segs = append(segs, st.Muted.Render("  at "+le.Pos.String()))
		}
		if le.Backtrace != "" {
			segs = append(segs, "", st.Title.Render("backtrace"))
			for _, s := range appendSegments(nil, strings.TrimRight(le.Backtrace, "\n"), "  ") {
				segs = append(segs, st.Text.Render(s))
			}
		}
		if msg != le.Error() {
			segs = append(segs, st.Muted.Render("  ("+oneLine(msg)+")"))
		}
		return segs
	}
	for _, s := range appendSegments(nil, msg, "  ") {
		segs = append(segs, es.Render(s))
	}
	return segs
}

// dependents returns the cells of s that use name, in the store's order.
func dependents(name string, s *store) []string {
	var users []string
	for _, it := range s.items {
		if it == nil {
			continue
		}
		for _, d := range it.view.Deps {
			if d == name {
				users = append(users, it.view.Name)
				break
			}
		}
	}
	return users
}

func padRight(s string, w int) string {
	if n := len(s); n < w {
		return s + strings.Repeat(" ", w-n)
	}
	return s + " "
}

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
// or its error with position and backtrace. The value of a big cell is
// made off the update loop (see valueCmd).
type inspector struct {
	keys scrollKeys
	text textView

	shown  inspectKey // the cell and version on show
	header []string   // everything above the value
	value  []string   // the value's segments; nil while being made
	big    bool       // the value is made by a command

	storeGen uint64 // the store's gen when the header was made
}

// inspectKey identifies what the inspector shows: a cell and the run of it.
type inspectKey struct {
	name   string
	gen    uint64 // changes with every change of the cell's view
	styles *Styles
}

func newInspector() inspector { return inspector{keys: newScrollKeys()} }

// SetSize sets the size inside the pane's border.
func (p *inspector) SetSize(w, h int) {
	p.text.SetSize(w, h)
}

// inspectedMsg carries the segments of a big value, made by valueCmd.
type inspectedMsg struct {
	name    string
	version int
	runs    int
	segs    []string
}

// valueCmd makes the segments of a value off the update loop. The value is
// frozen, so reading it from another goroutine is safe.
func valueCmd(v reactive.CellView) tea.Cmd {
	val, name, version, runs := v.Value, v.Name, v.Version, v.Runs
	return func() tea.Msg {
		return inspectedMsg{name: name, version: version, runs: runs, segs: valueSegments(val)}
	}
}

// Show shows it (nil for no cell); it returns a command when the value is
// big and is made off the update loop.
func (p *inspector) Show(it *item, s *store, st *Styles) tea.Cmd {
	if it == nil {
		if p.shown.name != "" || p.header == nil {
			p.shown = inspectKey{}
			p.header = []string{st.Muted.Render("No cell selected.")}
			p.value = nil
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
	if k != p.shown {
		p.shown = k
		p.value, p.big = nil, false
		if it.view.State == reactive.Ready {
			if smallValue(it.view.Value) {
				p.value = valueSegments(it.view.Value)
			} else {
				p.big = true
				cmd = valueCmd(it.view)
			}
		}
	}
	p.text.SetContent(p.content(st), same)
	return cmd
}

// Inspected takes the segments made by valueCmd, if they are still wanted.
func (p *inspector) Inspected(msg inspectedMsg, s *store, st *Styles) {
	it := s.get(msg.name)
	if it == nil || !p.big || p.shown.name != msg.name || it.view.Version != msg.version || it.view.Runs != msg.runs {
		return
	}
	p.value = msg.segs
	p.text.SetContent(p.content(st), true)
}

func (p *inspector) content(st *Styles) []string {
	segs := append([]string(nil), p.header...)
	p.text.indentFrom = len(segs)
	if p.big && p.value == nil {
		return append(segs, st.Muted.Render("  (formatting the value…)"))
	}
	return append(segs, p.value...)
}

// Update scrolls.
func (p *inspector) Update(msg tea.KeyPressMsg) bool {
	return p.keys.scroll(&p.text, msg)
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

// View returns the pane's lines.
func (p *inspector) View() []string { return p.text.View() }

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

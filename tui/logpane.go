package tui

import (
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/sperse/sperse/reactive"
)

// logSize is how many entries the log keeps.
const logSize = 1000

// logEntry is one line of the log: an engine event, or a note of the user
// interface (a file loaded, a server connected). Entries are formatted only
// when shown.
type logEntry struct {
	time  time.Time
	event bool
	kind  reactive.EventKind
	state reactive.State
	name  string
	where string
	took  time.Duration
	err   error
	note  string // for a note: the text
	bad   bool   // the note is an error
}

// logPane shows the most recent entries, newest at the bottom, from a ring
// of logSize.
type logPane struct {
	keys          scrollKeys
	ring          [logSize]logEntry
	next, n       int // where the next entry goes; how many there are
	back          int // how many entries up from the newest the view is scrolled
	width, height int
}

func newLogPane() logPane { return logPane{keys: newScrollKeys()} }

func (p *logPane) SetSize(w, h int) { p.width, p.height = max(w, 1), max(h, 1) }

func (p *logPane) add(e logEntry) {
	p.ring[p.next] = e
	p.next = (p.next + 1) % logSize
	if p.n < logSize {
		p.n++
	}
	if p.back > 0 {
		p.back = min(p.back+1, p.n-1) // keep the view still while scrolled
	}
}

// reset empties the log.
func (p *logPane) reset() { p.next, p.n, p.back = 0, 0, 0 }

// event logs an engine event.
func (p *logPane) event(ev reactive.Event) {
	v := &ev.Cell
	p.add(logEntry{time: ev.Time, event: true, kind: ev.Kind, state: v.State, name: v.Name, where: v.Where, took: v.Took, err: v.Err})
}

// note logs a message of the user interface.
func (p *logPane) note(t time.Time, text string, bad bool) {
	p.add(logEntry{time: t, note: text, bad: bad})
}

// at returns the entry i back from the newest (0 is the newest).
func (p *logPane) at(i int) *logEntry {
	return &p.ring[(p.next-1-i+2*logSize)%logSize]
}

func (p *logPane) Update(msg tea.KeyPressMsg) bool {
	page := max(p.height-1, 1)
	maxBack := max(p.n-p.height, 0)
	switch {
	case key.Matches(msg, p.keys.Up):
		p.back = min(p.back+1, maxBack)
	case key.Matches(msg, p.keys.Down):
		p.back = max(p.back-1, 0)
	case key.Matches(msg, p.keys.PageUp):
		p.back = min(p.back+page, maxBack)
	case key.Matches(msg, p.keys.PageDown):
		p.back = max(p.back-page, 0)
	case key.Matches(msg, p.keys.Top):
		p.back = maxBack
	case key.Matches(msg, p.keys.Bottom):
		p.back = 0
	default:
		return false
	}
	return true
}

func (p *logPane) Title() string {
	if p.back > 0 {
		return "log · scrolled"
	}
	return "log"
}

// View returns exactly height lines of width columns.
func (p *logPane) View(st *Styles) []string {
	out := make([]string, p.height)
	shown := min(p.height, p.n-p.back)
	blank := strings.Repeat(" ", p.width)
	for i := range out {
		out[i] = blank
	}
	for i := 0; i < shown; i++ {
		e := p.at(p.back + shown - 1 - i)
		out[i] = pad(e.render(st), p.width)
	}
	if p.n == 0 {
		out[0] = pad(st.Muted.Render("Nothing yet: events of the cells show here."), p.width)
	}
	return out
}

func (e *logEntry) render(st *Styles) string {
	ts := st.Muted.Render(e.time.Format("15:04:05.000")) + " "
	if !e.event {
		if e.bad {
			return ts + st.ErrorText.Render(oneLine(e.note))
		}
		return ts + st.Text.Render(oneLine(e.note))
	}
	state := stateIndex(e.state)
	var b strings.Builder
	b.WriteString(ts)
	b.WriteString(st.State[state].Render(glyphs[state]))
	b.WriteByte(' ')
	b.WriteString(st.Bold.Render(e.name))
	b.WriteByte(' ')
	switch e.kind {
	case reactive.Defined:
		b.WriteString(st.Text.Render("defined"))
	case reactive.Deleted:
		b.WriteString(st.Text.Render("deleted"))
	default:
		b.WriteString(st.State[state].Render(e.state.String()))
	}
	var extra []string
	if e.where != "" && (e.state == reactive.Running || e.state == reactive.Ready) {
		extra = append(extra, e.where)
	}
	if e.took > 0 && e.state != reactive.Running {
		extra = append(extra, formatDuration(e.took))
	}
	if e.err != nil && e.kind != reactive.Defined {
		extra = append(extra, firstLine(e.err.Error()))
	}
	if len(extra) > 0 {
		b.WriteString(st.Muted.Render(" · " + oneLine(strings.Join(extra, " · "))))
	}
	return b.String()
}

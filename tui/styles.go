package tui

import (
	"image/color"

	"charm.land/bubbles/v2/help"
	"charm.land/lipgloss/v2"

	"github.com/sperse/sperse/reactive"
	"github.com/sperse/sperse/themes"
)

// numStates is the number of cell states (reactive.Queued to
// reactive.Unavailable).
const numStates = int(reactive.Unavailable) + 1

// Styles are the lipgloss styles of the user interface, derived once from a
// themes.Theme (see newStyles); nothing else picks colours.
type Styles struct {
	Theme themes.Theme

	Text      lipgloss.Style
	Bold      lipgloss.Style
	Muted     lipgloss.Style
	Accent    lipgloss.Style
	Title     lipgloss.Style // pane titles
	TitleDim  lipgloss.Style // titles of panes not focused, inactive tabs
	ErrorText lipgloss.Style // error messages in the status line and inspector
	Selected  lipgloss.Style // a selected row (servers, completion)
	Prompt    lipgloss.Style
	TableHead lipgloss.Style // a table's column names

	// Border and BorderFocus draw pane borders; CardBorder the border of a
	// card in each state, CardSelected the border of the selected card.
	Border       lipgloss.Style
	BorderFocus  lipgloss.Style
	CardBorder   [numStates]lipgloss.Style
	CardSelected lipgloss.Style
	CardName     lipgloss.Style
	CardNameSel  lipgloss.Style

	State [numStates]lipgloss.Style // a state's glyph and label

	Help help.Styles
}

// stateColor returns t's colour for state s.
func stateColor(t themes.Theme, s reactive.State) color.Color {
	switch s {
	case reactive.Queued:
		return t.Queued
	case reactive.Running:
		return t.Running
	case reactive.Ready:
		return t.Ready
	case reactive.Error:
		return t.Error
	case reactive.UpstreamError:
		return t.UpstreamError
	case reactive.Cancelled:
		return t.Cancelled
	case reactive.Stale:
		return t.Stale
	case reactive.Unavailable:
		return t.Unavailable
	}
	return t.Text
}

// fg returns a style with foreground c, or the plain style for a nil c (the
// terminal's default).
func fg(c color.Color) lipgloss.Style {
	s := lipgloss.NewStyle()
	if c != nil {
		s = s.Foreground(c)
	}
	return s
}

// newStyles derives the styles of theme t.
func newStyles(t themes.Theme) *Styles {
	s := &Styles{Theme: t}
	s.Text = fg(t.Text)
	s.Bold = fg(t.Text).Bold(true)
	s.Muted = fg(t.Muted)
	s.Accent = fg(t.Accent)
	s.Title = fg(t.Accent).Bold(true)
	s.TitleDim = fg(t.Muted)
	s.ErrorText = fg(t.Error)
	s.Prompt = fg(t.Accent).Bold(true)
	s.TableHead = fg(t.Text).Bold(true)
	s.Border = fg(t.Border)
	s.BorderFocus = fg(t.BorderFocus)
	s.CardName = fg(t.Text).Bold(true)
	s.CardNameSel = fg(t.Accent).Bold(true)
	s.CardSelected = fg(t.BorderFocus).Bold(true)
	if t.Selection != nil {
		s.Selected = lipgloss.NewStyle().Background(t.Selection)
		if t.SelectionText != nil {
			s.Selected = s.Selected.Foreground(t.SelectionText)
		}
	} else {
		s.Selected = lipgloss.NewStyle().Reverse(true)
	}
	for st := range reactive.State(numStates) {
		s.State[st] = fg(stateColor(t, st))
		s.CardBorder[st] = fg(t.Border)
	}
	// States that need attention colour the whole card's border.
	for _, st := range []reactive.State{reactive.Running, reactive.Error, reactive.UpstreamError, reactive.Cancelled, reactive.Stale, reactive.Unavailable} {
		s.CardBorder[st] = fg(stateColor(t, st))
	}
	if t.Mono {
		// No colours: attributes tell the states apart, with the glyphs.
		s.Title = s.Title.Underline(true)
		s.TitleDim = s.TitleDim.Faint(true)
		s.Muted = s.Muted.Faint(true)
		s.ErrorText = s.ErrorText.Bold(true)
		s.CardSelected = lipgloss.NewStyle().Bold(true)
		s.TableHead = s.TableHead.Underline(true)
		s.CardNameSel = lipgloss.NewStyle().Bold(true).Reverse(true)
		s.State[reactive.Queued] = s.State[reactive.Queued].Faint(true)
		s.State[reactive.Running] = s.State[reactive.Running].Bold(true)
		s.State[reactive.Error] = s.State[reactive.Error].Bold(true)
		s.State[reactive.UpstreamError] = s.State[reactive.UpstreamError].Italic(true)
		s.State[reactive.Cancelled] = s.State[reactive.Cancelled].Strikethrough(true)
		s.State[reactive.Stale] = s.State[reactive.Stale].Faint(true).Italic(true)
		s.State[reactive.Unavailable] = s.State[reactive.Unavailable].Faint(true)
		s.CardBorder[reactive.Error] = lipgloss.NewStyle().Bold(true)
		s.BorderFocus = lipgloss.NewStyle().Bold(true)
	}
	s.Help = help.Styles{
		ShortKey:       s.Accent,
		ShortDesc:      s.Muted,
		ShortSeparator: s.Border,
		Ellipsis:       s.Border,
		FullKey:        s.Accent,
		FullDesc:       s.Muted,
		FullSeparator:  s.Border,
	}
	return s
}

// glyphs are the state glyphs of cards, the log and the inspector; a
// running cell shows a spinner frame instead.
var glyphs = [numStates]string{
	reactive.Queued:        "◌",
	reactive.Running:       "◐",
	reactive.Ready:         "●",
	reactive.Error:         "✗",
	reactive.UpstreamError: "⇡",
	reactive.Cancelled:     "⊘",
	reactive.Stale:         "◷",
	reactive.Unavailable:   "∅",
}

// stateLabels are the short state words shown on cards.
var stateLabels = [numStates]string{
	reactive.Queued:        "queued",
	reactive.Running:       "running",
	reactive.Ready:         "ready",
	reactive.Error:         "error",
	reactive.UpstreamError: "upstream",
	reactive.Cancelled:     "cancelled",
	reactive.Stale:         "stale",
	reactive.Unavailable:   "unavailable",
}

// spinnerFrames animate the glyph of a running cell.
var spinnerFrames = [...]string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

func glyphOf(st reactive.State, frame int) string {
	if st == reactive.Running {
		return spinnerFrames[frame%len(spinnerFrames)]
	}
	if st >= 0 && int(st) < numStates {
		return glyphs[st]
	}
	return "?"
}

func stateIndex(st reactive.State) reactive.State {
	if st < 0 || int(st) >= numStates {
		return reactive.Queued
	}
	return st
}

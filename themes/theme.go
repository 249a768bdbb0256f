// Package themes holds the colour themes of sperse-tui: semantic colours
// (text, muted, accent, one colour per cell state, borders, selection) that
// the user interface turns into styles. It knows nothing of cells or
// terminals: a Theme is plain data, a value to pass around.
//
// The built-in themes are dark (the default), light, high-contrast and mono.
// Mono has no colours at all: the states are told apart by glyphs and by
// attributes (bold, italic, faint, strikethrough), which is also what a
// terminal with NO_COLOR set gets (see Default).
//
// A custom theme is a JSON file NAME.json in a themes directory (Find looks
// in DIR/themes, where DIR is the user's sperse config directory). Every
// field is optional and starts from the theme named by "base" (dark by
// default):
//
//	{
//	  "base": "dark",
//	  "text": "#d0d0d0", "muted": "#808080", "accent": "#5fafff",
//	  "border": "#444444", "border-focus": "#5fafff",
//	  "selection": "#303a4a", "selection-text": "#ffffff",
//	  "queued": "#808080", "running": "#5fafff", "ready": "#87d787",
//	  "error": "#ff5f5f", "upstream-error": "#d7875f", "cancelled": "#af87d7",
//	  "stale": "#d7af5f", "unavailable": "#878787"
//	}
//
// A colour is "#RRGGBB", "#RGB", an ANSI colour number 0-255 written as a
// string ("203"), or "" for the terminal's default. A field that is unknown
// or not a colour is an error that names the file and the field.
package themes

import "image/color"

// Theme is a set of semantic colours. A nil colour means the terminal's
// default. Themes are values: copy and change them freely.
type Theme struct {
	Name string

	Text   color.Color // ordinary text
	Muted  color.Color // secondary text: where, took, hints
	Accent color.Color // titles, the prompt, keys in help

	Border      color.Color // pane borders
	BorderFocus color.Color // the border of the focused pane

	Selection     color.Color // background of the selected card or row
	SelectionText color.Color // text on Selection

	// One colour per cell state.
	Queued        color.Color
	Running       color.Color
	Ready         color.Color
	Error         color.Color
	UpstreamError color.Color
	Cancelled     color.Color
	Stale         color.Color
	Unavailable   color.Color

	// Mono says the theme has no colours: the user interface marks states
	// and the selection with attributes (bold, reverse, ...) instead.
	Mono bool
}

// Default returns the theme to use when none is asked for: mono if noColor
// (the NO_COLOR environment variable is set and not empty), dark otherwise.
func Default(noColor bool) Theme {
	if noColor {
		return Mono()
	}
	return Dark()
}

// Names returns the names of the built-in themes, sorted.
func Names() []string {
	return []string{"dark", "high-contrast", "light", "mono"}
}

// Builtin returns the built-in theme called name.
func Builtin(name string) (Theme, bool) {
	switch name {
	case "dark":
		return Dark(), true
	case "light":
		return Light(), true
	case "high-contrast":
		return HighContrast(), true
	case "mono":
		return Mono(), true
	}
	return Theme{}, false
}

// Dark is the default theme, for terminals with a dark background.
func Dark() Theme {
	return Theme{
		Name:          "dark",
		Text:          hex("#d0d0d0"),
		Muted:         hex("#808080"),
		Accent:        hex("#5fafff"),
		Border:        hex("#4e4e4e"),
		BorderFocus:   hex("#5fafff"),
		Selection:     hex("#2a3a50"),
		SelectionText: hex("#ffffff"),
		Queued:        hex("#8a8a8a"),
		Running:       hex("#5fd7ff"),
		Ready:         hex("#87d787"),
		Error:         hex("#ff5f5f"),
		UpstreamError: hex("#d7875f"),
		Cancelled:     hex("#af87d7"),
		Stale:         hex("#d7af5f"),
		Unavailable:   hex("#9e9e9e"),
	}
}

// Light is for terminals with a light background.
func Light() Theme {
	return Theme{
		Name:          "light",
		Text:          hex("#1c1c1c"),
		Muted:         hex("#6c6c6c"),
		Accent:        hex("#005fd7"),
		Border:        hex("#b2b2b2"),
		BorderFocus:   hex("#005fd7"),
		Selection:     hex("#d7e7ff"),
		SelectionText: hex("#000000"),
		Queued:        hex("#767676"),
		Running:       hex("#0087af"),
		Ready:         hex("#008700"),
		Error:         hex("#d70000"),
		UpstreamError: hex("#af5f00"),
		Cancelled:     hex("#8700af"),
		Stale:         hex("#af8700"),
		Unavailable:   hex("#767676"),
	}
}

// HighContrast uses the brightest colours of a 16-colour terminal, so it
// reads on any background and in any palette.
func HighContrast() Theme {
	return Theme{
		Name:          "high-contrast",
		Text:          ansi(15),
		Muted:         ansi(7),
		Accent:        ansi(14),
		Border:        ansi(7),
		BorderFocus:   ansi(11),
		Selection:     ansi(11),
		SelectionText: ansi(0),
		Queued:        ansi(7),
		Running:       ansi(14),
		Ready:         ansi(10),
		Error:         ansi(9),
		UpstreamError: ansi(11),
		Cancelled:     ansi(13),
		Stale:         ansi(3),
		Unavailable:   ansi(7),
	}
}

// Mono has no colours: everything is the terminal's default colour, and
// states are marked by glyphs and attributes.
func Mono() Theme {
	return Theme{Name: "mono", Mono: true}
}

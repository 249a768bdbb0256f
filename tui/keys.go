package tui

import "charm.land/bubbles/v2/key"

// The key maps are values made by these functions: each component owns its
// own, and nothing changes a shared one.

// globalKeys work whatever pane has the focus.
type globalKeys struct {
	Interrupt key.Binding
	Quit      key.Binding
	Next      key.Binding
	Prev      key.Binding
	Help      key.Binding
	Command   key.Binding
}

func newGlobalKeys() globalKeys {
	return globalKeys{
		Interrupt: key.NewBinding(key.WithKeys("ctrl+c"), key.WithHelp("ctrl+c", "cancel selected cell")),
		Quit:      key.NewBinding(key.WithKeys("ctrl+d"), key.WithHelp("ctrl+d", "quit")),
		Next:      key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "next pane")),
		Prev:      key.NewBinding(key.WithKeys("shift+tab"), key.WithHelp("shift+tab", "previous pane")),
		Help:      key.NewBinding(key.WithKeys("?", "f1"), key.WithHelp("?", "all keys")),
		Command:   key.NewBinding(key.WithKeys(":"), key.WithHelp(":", "command")),
	}
}

func (k globalKeys) ShortHelp() []key.Binding {
	return []key.Binding{k.Next, k.Help, k.Interrupt, k.Quit}
}

func (k globalKeys) FullHelp() [][]key.Binding {
	return [][]key.Binding{{k.Next, k.Prev, k.Command, k.Help, k.Interrupt, k.Quit}}
}

// inputKeys are the keys of the input pane (the REPL line).
type inputKeys struct {
	Submit     key.Binding
	Newline    key.Binding
	HistPrev   key.Binding
	HistNext   key.Binding
	Search     key.Binding
	Complete   key.Binding
	Left       key.Binding
	Right      key.Binding
	Home       key.Binding
	End        key.Binding
	WordLeft   key.Binding
	WordRight  key.Binding
	Backspace  key.Binding
	Delete     key.Binding
	DeleteWord key.Binding
	KillLine   key.Binding
	KillStart  key.Binding
	Leave      key.Binding
}

func newInputKeys() inputKeys {
	return inputKeys{
		Submit:     key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "run cell")),
		Newline:    key.NewBinding(key.WithKeys("alt+enter", "ctrl+j"), key.WithHelp("alt+enter", "new line")),
		HistPrev:   key.NewBinding(key.WithKeys("up", "ctrl+p"), key.WithHelp("↑/↓", "history")),
		HistNext:   key.NewBinding(key.WithKeys("down", "ctrl+n"), key.WithHelp("↓", "history")),
		Search:     key.NewBinding(key.WithKeys("ctrl+r"), key.WithHelp("ctrl+r", "search history")),
		Complete:   key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "complete")),
		Left:       key.NewBinding(key.WithKeys("left", "ctrl+b")),
		Right:      key.NewBinding(key.WithKeys("right", "ctrl+f")),
		Home:       key.NewBinding(key.WithKeys("home", "ctrl+a"), key.WithHelp("ctrl+a/e", "start/end of line")),
		End:        key.NewBinding(key.WithKeys("end", "ctrl+e")),
		WordLeft:   key.NewBinding(key.WithKeys("alt+left", "alt+b", "ctrl+left")),
		WordRight:  key.NewBinding(key.WithKeys("alt+right", "alt+f", "ctrl+right")),
		Backspace:  key.NewBinding(key.WithKeys("backspace", "ctrl+h")),
		Delete:     key.NewBinding(key.WithKeys("delete", "ctrl+d")),
		DeleteWord: key.NewBinding(key.WithKeys("ctrl+w", "alt+backspace"), key.WithHelp("ctrl+w", "delete word")),
		KillLine:   key.NewBinding(key.WithKeys("ctrl+k"), key.WithHelp("ctrl+k/u", "delete to end/start")),
		KillStart:  key.NewBinding(key.WithKeys("ctrl+u")),
		Leave:      key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "to the cells")),
	}
}

func (k inputKeys) ShortHelp() []key.Binding {
	return []key.Binding{k.Submit, k.Newline, k.HistPrev, k.Search, k.Complete}
}

func (k inputKeys) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Submit, k.Newline, k.Complete, k.Leave},
		{k.HistPrev, k.Search, k.Home, k.DeleteWord, k.KillLine},
	}
}

// gridKeys are the keys of the cell grid.
type gridKeys struct {
	Up       key.Binding
	Down     key.Binding
	Left     key.Binding
	Right    key.Binding
	PageUp   key.Binding
	PageDown key.Binding
	First    key.Binding
	Last     key.Binding
	Edit     key.Binding
	Inspect  key.Binding
	Rerun    key.Binding
	Delete   key.Binding
	Leave    key.Binding
}

func newGridKeys() gridKeys {
	return gridKeys{
		Up:       key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑↓←→/hjkl", "select")),
		Down:     key.NewBinding(key.WithKeys("down", "j")),
		Left:     key.NewBinding(key.WithKeys("left", "h")),
		Right:    key.NewBinding(key.WithKeys("right", "l")),
		PageUp:   key.NewBinding(key.WithKeys("pgup", "ctrl+u"), key.WithHelp("pgup/pgdn", "page")),
		PageDown: key.NewBinding(key.WithKeys("pgdown", "ctrl+f", "space")),
		First:    key.NewBinding(key.WithKeys("home", "g"), key.WithHelp("g/G", "first/last")),
		Last:     key.NewBinding(key.WithKeys("end", "G")),
		Edit:     key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "edit source")),
		Inspect:  key.NewBinding(key.WithKeys("i"), key.WithHelp("i", "inspect")),
		Rerun:    key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "rerun")),
		Delete:   key.NewBinding(key.WithKeys("delete"), key.WithHelp("del", "delete")),
		Leave:    key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "to the input")),
	}
}

func (k gridKeys) ShortHelp() []key.Binding {
	return []key.Binding{k.Up, k.Edit, k.Inspect, k.Rerun, k.Delete}
}

func (k gridKeys) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Up, k.PageUp, k.First},
		{k.Edit, k.Inspect, k.Rerun, k.Delete, k.Leave},
	}
}

// scrollKeys are the keys of the panes that scroll: inspector and log.
type scrollKeys struct {
	Up       key.Binding
	Down     key.Binding
	PageUp   key.Binding
	PageDown key.Binding
	Top      key.Binding
	Bottom   key.Binding
	Leave    key.Binding
}

func newScrollKeys() scrollKeys {
	return scrollKeys{
		Up:       key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑↓/jk", "scroll")),
		Down:     key.NewBinding(key.WithKeys("down", "j")),
		PageUp:   key.NewBinding(key.WithKeys("pgup", "ctrl+u", "b"), key.WithHelp("pgup/pgdn", "page")),
		PageDown: key.NewBinding(key.WithKeys("pgdown", "ctrl+f", "space")),
		Top:      key.NewBinding(key.WithKeys("home", "g"), key.WithHelp("g/G", "top/bottom")),
		Bottom:   key.NewBinding(key.WithKeys("end", "G")),
		Leave:    key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "to the cells")),
	}
}

func (k scrollKeys) ShortHelp() []key.Binding {
	return []key.Binding{k.Up, k.PageUp, k.Top, k.Leave}
}

func (k scrollKeys) FullHelp() [][]key.Binding {
	return [][]key.Binding{{k.Up, k.PageUp, k.Top, k.Leave}}
}

// inspectorKeys are the keys of the inspector: it scrolls, cycles the
// views of a value, moves in a tree and scrolls a table's columns.
type inspectorKeys struct {
	scrollKeys
	View  key.Binding
	Open  key.Binding // a tree's node
	Close key.Binding
	Left  key.Binding // a table's columns
	Right key.Binding
}

func newInspectorKeys() inspectorKeys {
	return inspectorKeys{
		scrollKeys: newScrollKeys(),
		View:       key.NewBinding(key.WithKeys("v"), key.WithHelp("v", "next view")),
		Open:       key.NewBinding(key.WithKeys("enter", "right", "l"), key.WithHelp("enter/→", "open")),
		Close:      key.NewBinding(key.WithKeys("left", "h"), key.WithHelp("←", "close")),
		Left:       key.NewBinding(key.WithKeys("left", "h"), key.WithHelp("←→", "columns")),
		Right:      key.NewBinding(key.WithKeys("right", "l")),
	}
}

// FullHelp lists each key on its own; k is a copy, so its help is changed
// here alone.
func (k inspectorKeys) FullHelp() [][]key.Binding {
	k.View.SetHelp("v", "next view: table, chart, tree, text, repr")
	k.Open.SetHelp("enter/→", "open a tree's node")
	k.Close.SetHelp("←", "close it, or go to its parent")
	k.Left.SetHelp("←/→", "a table's columns")
	return [][]key.Binding{{k.Up, k.PageUp, k.Top, k.Leave}, {k.View, k.Open, k.Close, k.Left}}
}

// serverKeys are the keys of the servers pane.
type serverKeys struct {
	Up         key.Binding
	Down       key.Binding
	Connect    key.Binding
	Disconnect key.Binding
	Leave      key.Binding
}

func newServerKeys() serverKeys {
	return serverKeys{
		Up:         key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑↓", "select")),
		Down:       key.NewBinding(key.WithKeys("down", "j")),
		Connect:    key.NewBinding(key.WithKeys("c"), key.WithHelp("c", ":connect")),
		Disconnect: key.NewBinding(key.WithKeys("d", "x"), key.WithHelp("d", "disconnect")),
		Leave:      key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "to the cells")),
	}
}

func (k serverKeys) ShortHelp() []key.Binding {
	return []key.Binding{k.Up, k.Connect, k.Disconnect, k.Leave}
}

func (k serverKeys) FullHelp() [][]key.Binding {
	return [][]key.Binding{{k.Up, k.Connect, k.Disconnect, k.Leave}}
}

// replayKeys are the keys of a replay (sperse-tui --replay).
type replayKeys struct {
	Pause      key.Binding
	Faster     key.Binding
	Slower     key.Binding
	Step       key.Binding
	Back       key.Binding
	NextMarker key.Binding
	PrevMarker key.Binding
	Next       key.Binding
	Prev       key.Binding
	Help       key.Binding
	Quit       key.Binding
}

func newReplayKeys() replayKeys {
	return replayKeys{
		Pause:      key.NewBinding(key.WithKeys("space"), key.WithHelp("space", "pause")),
		Faster:     key.NewBinding(key.WithKeys("+", "="), key.WithHelp("+/-", "speed")),
		Slower:     key.NewBinding(key.WithKeys("-", "_"), key.WithHelp("-", "slower")),
		Step:       key.NewBinding(key.WithKeys("."), key.WithHelp("./,", "step")),
		Back:       key.NewBinding(key.WithKeys(","), key.WithHelp(",", "step back")),
		NextMarker: key.NewBinding(key.WithKeys("]"), key.WithHelp("]/[", "marker")),
		PrevMarker: key.NewBinding(key.WithKeys("["), key.WithHelp("[", "previous marker")),
		Next:       key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "pane")),
		Prev:       key.NewBinding(key.WithKeys("shift+tab"), key.WithHelp("shift+tab", "previous pane")),
		Help:       key.NewBinding(key.WithKeys("?", "f1"), key.WithHelp("?", "keys")),
		Quit:       key.NewBinding(key.WithKeys("q", "ctrl+c", "ctrl+d"), key.WithHelp("q", "quit")),
	}
}

func (k replayKeys) ShortHelp() []key.Binding {
	return []key.Binding{k.Pause, k.Faster, k.Step, k.NextMarker, k.Next, k.Help, k.Quit}
}

// FullHelp lists each key on its own; k is a copy, so its help is changed
// here alone.
func (k replayKeys) FullHelp() [][]key.Binding {
	k.Pause.SetHelp("space", "pause, play")
	k.Faster.SetHelp("+", "faster (×2)")
	k.Slower.SetHelp("-", "slower (÷2)")
	k.Step.SetHelp(".", "step forward")
	k.NextMarker.SetHelp("]", "next marker")
	k.Next.SetHelp("tab", "next pane")
	k.Help.SetHelp("?", "all keys")
	return [][]key.Binding{
		{k.Pause, k.Faster, k.Slower, k.Step, k.Back},
		{k.NextMarker, k.PrevMarker, k.Next, k.Prev, k.Help, k.Quit},
	}
}

package tui

import (
	"slices"
	"strings"
	"unicode"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/sperse/sperse/lang"
)

// replFile is the file name of cells typed at the REPL, in their positions.
const replFile = "<repl>"

// input is the REPL: a line that grows into a multi-line editor for def
// blocks and open brackets, with history (Up/Down, Ctrl-R) and completion.
type input struct {
	keys  inputKeys
	lines [][]rune
	row   int // the cursor's line
	col   int // the cursor's rune in the line
	width int
	top   int // the first line shown when there are more than fit

	hist   []string // older first
	histAt int      // the entry shown; len(hist) for the draft
	draft  string   // what was typed before moving into the history

	search *historySearch // non-nil while searching with Ctrl-R
}

// historySearch is the state of a reverse search of the history.
type historySearch struct {
	query  string
	at     int    // the entry matched; -1 for none
	before string // the input before the search, restored by esc
}

func newInput() input {
	return input{keys: newInputKeys(), lines: [][]rune{nil}}
}

// SetWidth sets the width of the text, without the prompt.
func (in *input) SetWidth(w int) { in.width = max(w, 1) }

// Value returns the text.
func (in *input) Value() string {
	parts := make([]string, len(in.lines))
	for i, l := range in.lines {
		parts[i] = string(l)
	}
	return strings.Join(parts, "\n")
}

// Empty reports whether there is no text.
func (in *input) Empty() bool {
	return len(in.lines) == 1 && len(in.lines[0]) == 0
}

// SetValue replaces the text and puts the cursor at its end.
func (in *input) SetValue(s string) {
	in.lines = in.lines[:0]
	for l := range strings.SplitSeq(s, "\n") {
		in.lines = append(in.lines, []rune(l))
	}
	in.row = len(in.lines) - 1
	in.col = len(in.lines[in.row])
	in.top = 0
}

// Reset empties the text and leaves the history.
func (in *input) Reset() {
	in.SetValue("")
	in.histAt = len(in.hist)
	in.draft = ""
	in.search = nil
}

// SetHistory sets the history, older entries first.
func (in *input) SetHistory(h []string) {
	in.hist = h
	in.histAt = len(h)
}

// remember adds an entry to the history (not twice in a row). It reports
// whether it was added.
func (in *input) remember(s string) bool {
	if strings.TrimSpace(s) == "" || len(in.hist) > 0 && in.hist[len(in.hist)-1] == s {
		return false
	}
	in.hist = append(in.hist, s)
	if len(in.hist) > maxHistory {
		in.hist = slices.Delete(in.hist, 0, len(in.hist)-maxHistory)
	}
	return true
}

// Insert inserts text at the cursor; newlines split lines.
func (in *input) Insert(s string) {
	for i, part := range strings.Split(s, "\n") {
		if i > 0 {
			in.splitLine("")
		}
		rs := []rune(sanitize(strings.ReplaceAll(part, "\r", ""), true))
		l := in.lines[in.row]
		l = slices.Insert(l, in.col, rs...)
		in.lines[in.row] = l
		in.col += len(rs)
	}
}

// splitLine breaks the line at the cursor and indents the new line.
func (in *input) splitLine(indent string) {
	l := in.lines[in.row]
	rest := append([]rune(indent), l[in.col:]...)
	in.lines[in.row] = l[:in.col:in.col]
	in.lines = slices.Insert(in.lines, in.row+1, rest)
	in.row++
	in.col = len([]rune(indent))
}

// newline inserts a line break, indented like the line above, and one level
// more after a line that opens a block.
func (in *input) newline() {
	l := in.lines[in.row]
	indent := 0
	for indent < len(l) && (l[indent] == ' ') {
		indent++
	}
	ind := strings.Repeat(" ", indent)
	if strings.HasSuffix(strings.TrimRightFunc(string(l[:in.col]), unicode.IsSpace), ":") {
		ind += "    "
	}
	in.splitLine(ind)
}

// inputAction is what the input asks of the root model.
type inputAction int

const (
	inputNone inputAction = iota
	inputSubmit
	inputComplete
	inputLeave
)

// Update handles a key. It returns inputSubmit when the text is a complete
// cell or a command, inputComplete for Tab, and whether it used the key.
func (in *input) Update(msg tea.KeyPressMsg) (inputAction, bool) {
	if in.search != nil {
		if in.updateSearch(msg) {
			return inputNone, true
		}
	}
	k := in.keys
	switch {
	case key.Matches(msg, k.Submit):
		text := in.Value()
		if strings.TrimSpace(text) == "" {
			return inputNone, true
		}
		if complete(text) {
			return inputSubmit, true
		}
		in.newline()
	case key.Matches(msg, k.Newline):
		in.newline()
	case key.Matches(msg, k.Complete):
		return inputComplete, true
	case key.Matches(msg, k.HistPrev):
		if in.row > 0 {
			in.row--
			in.col = min(in.col, len(in.lines[in.row]))
		} else {
			in.historyMove(-1)
		}
	case key.Matches(msg, k.HistNext):
		if in.row < len(in.lines)-1 {
			in.row++
			in.col = min(in.col, len(in.lines[in.row]))
		} else {
			in.historyMove(1)
		}
	case key.Matches(msg, k.Search):
		in.search = &historySearch{at: -1, before: in.Value()}
		in.findMatch(len(in.hist) - 1)
	case key.Matches(msg, k.Left):
		if in.col > 0 {
			in.col--
		} else if in.row > 0 {
			in.row--
			in.col = len(in.lines[in.row])
		}
	case key.Matches(msg, k.Right):
		if in.col < len(in.lines[in.row]) {
			in.col++
		} else if in.row < len(in.lines)-1 {
			in.row++
			in.col = 0
		}
	case key.Matches(msg, k.Home):
		in.col = 0
	case key.Matches(msg, k.End):
		in.col = len(in.lines[in.row])
	case key.Matches(msg, k.WordLeft):
		in.col = wordStart(in.lines[in.row], in.col)
	case key.Matches(msg, k.WordRight):
		in.col = wordEnd(in.lines[in.row], in.col)
	case key.Matches(msg, k.Backspace):
		in.backspace()
	case key.Matches(msg, k.Delete):
		in.deleteForward()
	case key.Matches(msg, k.DeleteWord):
		start := wordStart(in.lines[in.row], in.col)
		in.lines[in.row] = slices.Delete(in.lines[in.row], start, in.col)
		in.col = start
	case key.Matches(msg, k.KillLine):
		in.lines[in.row] = in.lines[in.row][:in.col]
	case key.Matches(msg, k.KillStart):
		in.lines[in.row] = slices.Delete(in.lines[in.row], 0, in.col)
		in.col = 0
	case key.Matches(msg, k.Leave):
		return inputLeave, true
	default:
		if msg.Text != "" && msg.Mod&(tea.ModCtrl|tea.ModAlt) == 0 {
			in.Insert(msg.Text)
			return inputNone, true
		}
		return inputNone, false
	}
	return inputNone, true
}

func (in *input) backspace() {
	switch {
	case in.col > 0:
		l := in.lines[in.row]
		// Remove a whole level of indentation at once.
		n := 1
		if strings.TrimSpace(string(l[:in.col])) == "" && in.col%4 == 0 {
			n = 4
		}
		in.lines[in.row] = slices.Delete(l, in.col-n, in.col)
		in.col -= n
	case in.row > 0:
		prev := in.lines[in.row-1]
		in.col = len(prev)
		in.lines[in.row-1] = append(prev, in.lines[in.row]...)
		in.lines = slices.Delete(in.lines, in.row, in.row+1)
		in.row--
	}
}

// deleteForward deletes the rune under the cursor, or joins the next line.
func (in *input) deleteForward() {
	l := in.lines[in.row]
	switch {
	case in.col < len(l):
		in.lines[in.row] = slices.Delete(l, in.col, in.col+1)
	case in.row < len(in.lines)-1:
		in.lines[in.row] = append(l, in.lines[in.row+1]...)
		in.lines = slices.Delete(in.lines, in.row+1, in.row+2)
	}
}

// historyMove shows the entry d steps away: -1 older, 1 newer.
func (in *input) historyMove(d int) {
	at := in.histAt + d
	if at < 0 || at > len(in.hist) {
		return
	}
	if in.histAt == len(in.hist) {
		in.draft = in.Value()
	}
	in.histAt = at
	if at == len(in.hist) {
		in.SetValue(in.draft)
	} else {
		in.SetValue(in.hist[at])
	}
}

// updateSearch handles a key during a reverse search. It returns false for a
// key that ends the search and is then handled as usual.
func (in *input) updateSearch(msg tea.KeyPressMsg) bool {
	s := in.search
	switch msg.String() {
	case "ctrl+r":
		in.findMatch(s.at - 1)
		return true
	case "esc", "ctrl+g":
		in.SetValue(s.before)
		in.search = nil
		return true
	case "backspace", "ctrl+h":
		if r := []rune(s.query); len(r) > 0 {
			s.query = string(r[:len(r)-1])
		}
		in.findMatch(len(in.hist) - 1)
		return true
	case "enter":
		in.search = nil // take the match into the editor
		return true
	}
	if msg.Text != "" && msg.Mod&(tea.ModCtrl|tea.ModAlt) == 0 {
		s.query += msg.Text
		in.findMatch(max(s.at, len(in.hist)-1))
		return true
	}
	in.search = nil
	return false
}

// findMatch finds the newest entry at or before from that contains the
// query, and shows it.
func (in *input) findMatch(from int) {
	s := in.search
	for i := min(from, len(in.hist)-1); i >= 0; i-- {
		if strings.Contains(in.hist[i], s.query) {
			s.at = i
			in.SetValue(in.hist[i])
			in.histAt = i
			return
		}
	}
	if s.query == "" {
		s.at = -1
	}
}

// SearchFailed reports whether a search matches nothing.
func (in *input) SearchFailed() bool {
	s := in.search
	return s != nil && (s.at < 0 || !strings.Contains(in.hist[s.at], s.query))
}

// wordStart returns where the word before col starts.
func wordStart(l []rune, col int) int {
	i := col
	for i > 0 && !isWordRune(l[i-1]) {
		i--
	}
	for i > 0 && isWordRune(l[i-1]) {
		i--
	}
	return i
}

func wordEnd(l []rune, col int) int {
	i := col
	for i < len(l) && !isWordRune(l[i]) {
		i++
	}
	for i < len(l) && isWordRune(l[i]) {
		i++
	}
	return i
}

func isWordRune(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

// Word returns the identifier (or command) being typed before the cursor,
// and where it starts.
func (in *input) Word() (string, int) {
	l := in.lines[in.row]
	i := in.col
	for i > 0 && (isWordRune(l[i-1]) || l[i-1] == '-' || l[i-1] == '.' || l[i-1] == '/') {
		i--
	}
	if i > 0 && l[i-1] == ':' && i == 1 && in.row == 0 {
		i--
	}
	return string(l[i:in.col]), i
}

// ReplaceWord replaces the text from start to the cursor with s.
func (in *input) ReplaceWord(start int, s string) {
	l := in.lines[in.row]
	rs := []rune(s)
	l = slices.Replace(l, start, in.col, rs...)
	in.lines[in.row] = l
	in.col = start + len(rs)
}

// Height returns how many lines the input shows, at most max.
func (in *input) Height(limit int) int { return min(len(in.lines), max(limit, 1)) }

// View returns the input's lines (prompt included) for a pane of the given
// width and at most h lines, and the cursor's position in them.
func (in *input) View(st *Styles, width, h int, focused bool) ([]string, int, int) {
	h = in.Height(h)
	if in.row < in.top {
		in.top = in.row
	}
	if in.row >= in.top+h {
		in.top = in.row - h + 1
	}
	in.top = min(in.top, max(len(in.lines)-h, 0))
	textW := max(width-promptWidth, 1)
	lines := make([]string, 0, h)
	cx, cy := 0, 0
	for i := in.top; i < in.top+h && i < len(in.lines); i++ {
		prompt := "… "
		if i == 0 {
			prompt = "› "
		}
		var p string
		switch {
		case in.search != nil && i == 0:
			p = st.Prompt.Render("⌕ ")
		case focused:
			p = st.Prompt.Render(prompt)
		default:
			p = st.Muted.Render(prompt)
		}
		l := in.lines[i]
		start := 0
		if i == in.row && in.col >= textW {
			start = in.col - textW + 1
		}
		end := min(len(l), start+textW)
		text := string(l[start:end])
		if i == in.row {
			cx = promptWidth + ansi.StringWidth(string(l[start:in.col]))
			cy = len(lines)
		}
		lines = append(lines, pad(p+st.Text.Render(text), width))
	}
	return lines, cx, cy
}

// promptWidth is the width of "› ".
const promptWidth = 2

// complete reports whether text is a whole cell that Enter submits: it
// parses, or its error is not one that more lines would fix. Text that
// leaves a bracket or a triple-quoted string open, ends in a backslash, or
// ends a line with ":" (a block with no body yet) is not complete. A block
// (a cell whose first line ends with ":", such as a def) ends with an empty
// line, as in Python's REPL, so its body can have as many lines as it needs.
func complete(text string) bool {
	if strings.HasPrefix(strings.TrimSpace(text), ":") {
		return true
	}
	if lang.Continues(text) {
		return false
	}
	if strings.HasSuffix(codeOf(firstCodeLine(text)), ":") {
		lines := strings.Split(text, "\n")
		return len(lines) > 1 && strings.TrimSpace(lines[len(lines)-1]) == ""
	}
	c := lang.ParseCell(replFile, 1, text)
	if c == nil || c.Err == nil {
		return true
	}
	msg := c.Err.Error()
	if strings.Contains(msg, "want indent") {
		return false
	}
	last := lastCodeLine(text)
	return !strings.HasSuffix(last, ":")
}

// lastCodeLine returns the last line of text that is not blank, without a
// trailing comment or spaces.
func lastCodeLine(text string) string {
	lines := strings.Split(text, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := codeOf(lines[i]); l != "" {
			return l
		}
	}
	return ""
}

// firstCodeLine returns the first line of text that is not blank or a comment.
func firstCodeLine(text string) string {
	for l := range strings.SplitSeq(text, "\n") {
		if codeOf(l) != "" {
			return l
		}
	}
	return ""
}

// codeOf returns line without a trailing comment or spaces.
func codeOf(line string) string {
	if j := strings.IndexByte(line, '#'); j >= 0 {
		line = line[:j] // good enough: a '#' in a string at the end of a block header is rare
	}
	return strings.TrimSpace(line)
}

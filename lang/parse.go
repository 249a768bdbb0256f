package lang

import (
	"bytes"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	"go.starlark.net/resolve"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// MaxFileSize is the largest workspace file ParseFile accepts.
const MaxFileSize = 16 << 20

// fileOptions are the Starlark dialect of sperse: while loops, sets and
// recursion are allowed (fib must be writable); top-level statements are
// single cells, so top-level control flow is not needed.
var fileOptions = &syntax.FileOptions{Set: true, While: true, Recursion: true}

// ParseFile splits a workspace file into cells and parses each one.
//
// A line that starts in column 1 (and is neither blank nor a comment) starts a
// cell; indented lines, lines inside brackets or a triple-quoted string, and
// lines after a trailing backslash belong to the cell above. A cell that does
// not parse is returned with Err set, so the other cells still run. Anonymous
// cells are named _1, _2, ... in order.
//
// The error result is for a file that cannot be read as a workspace at all:
// not UTF-8, too large, or containing NUL bytes.
func ParseFile(filename string, src []byte) ([]*Cell, error) {
	if len(src) > MaxFileSize {
		return nil, fmt.Errorf("%s: file is %d bytes; a workspace may be at most %d", filename, len(src), MaxFileSize)
	}
	if !utf8.Valid(src) {
		line := 1 + bytes.Count(src[:invalidUTF8(src)], []byte("\n"))
		return nil, fmt.Errorf("%s:%d: file is not UTF-8 text", filename, line)
	}
	if i := bytes.IndexByte(src, 0); i >= 0 {
		line := 1 + bytes.Count(src[:i], []byte("\n"))
		return nil, fmt.Errorf("%s:%d: file contains a NUL byte; is it a binary file?", filename, line)
	}
	var cells []*Cell
	anon := 0
	for _, chunk := range splitCells(string(src)) {
		c := ParseCell(filename, chunk.line, chunk.text)
		if c == nil {
			continue
		}
		if c.Kind == AnonCell {
			anon++
			c.Name = fmt.Sprintf("_%d", anon)
		}
		cells = append(cells, c)
	}
	return cells, nil
}

func invalidUTF8(src []byte) int {
	for i := 0; i < len(src); {
		r, n := utf8.DecodeRune(src[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return len(src)
}

// chunk is the text of one cell and the line it starts on.
type chunk struct {
	line int
	text string
}

// splitCells splits src into the text of each cell, following the rules of
// ParseFile. It tracks brackets, strings and comments with a small scanner, so
// that a "#" or a bracket inside a string does not confuse it.
func splitCells(src string) []chunk {
	var (
		chunks []chunk
		cur    *chunk
		lines  []string // lines of cur, trailing blank and comment lines included
		depth  int      // open brackets
		quote  string   // the open string's quote ("'", `"`, "'''" or `"""`), if any
		cont   bool     // the previous line ended with a backslash
	)
	flush := func() {
		if cur == nil {
			return
		}
		// Drop trailing blank and comment-only lines: they separate cells.
		for len(lines) > 0 && blankOrComment(lines[len(lines)-1]) {
			lines = lines[:len(lines)-1]
		}
		cur.text = strings.Join(lines, "\n")
		chunks = append(chunks, *cur)
		cur, lines = nil, nil
	}
	for i, line := range strings.Split(src, "\n") {
		line = strings.TrimRight(line, "\r") // CRLF, or CRCRLF from a file converted twice
		inside := depth > 0 || quote != "" || cont
		starts := !inside && line != "" && line[0] != ' ' && line[0] != '\t' && line[0] != '#'
		if starts {
			flush()
			cur = &chunk{line: i + 1}
			depth = 0
		}
		if cur == nil {
			if blankOrComment(line) {
				continue
			}
			// An indented line with no cell above it: a cell of its own,
			// which will fail to parse with a clear indentation error.
			cur = &chunk{line: i + 1}
		}
		lines = append(lines, line)
		depth, quote, cont = scanLine(line, depth, quote)
	}
	flush()
	return chunks
}

func blankOrComment(line string) bool {
	t := strings.TrimLeft(line, " \t")
	return t == "" || t[0] == '#'
}

// Continues reports whether text needs more lines to be a cell: it leaves a
// bracket or a triple-quoted string open, or ends with a backslash. It is
// the rule by which ParseFile joins lines into cells, for a REPL.
func Continues(text string) bool {
	depth, quote, cont := 0, "", false
	for _, line := range strings.Split(text, "\n") {
		depth, quote, cont = scanLine(line, depth, quote)
	}
	return depth > 0 || quote != "" || cont
}

// scanLine scans one line of Starlark, starting inside the given brackets and
// string, and returns the state at its end: open brackets, the open string's
// quote if a triple-quoted string continues, and whether the line ends with a
// continuation backslash.
func scanLine(line string, depth int, quote string) (int, string, bool) {
	for i := 0; i < len(line); i++ {
		c := line[i]
		if quote != "" {
			switch {
			case c == '\\':
				i++ // the escaped character cannot end the string
			case strings.HasPrefix(line[i:], quote):
				i += len(quote) - 1
				quote = ""
			}
			continue
		}
		switch c {
		case '#':
			return depth, "", false
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			if depth > 0 {
				depth--
			}
		case '\'', '"':
			quote = string(c)
			if strings.HasPrefix(line[i:], strings.Repeat(string(c), 3)) {
				quote = strings.Repeat(string(c), 3)
				i += 2
			}
		case '\\':
			if i == len(line)-1 {
				return depth, "", true
			}
		}
	}
	if len(quote) == 1 {
		quote = "" // an unterminated one-line string: the parser reports it
	}
	return depth, quote, false
}

// remoteHeader matches the start of a remote cell: "name = remote ",
// "name = remote@sel ", or at the REPL a bare "remote expr".
var remoteHeader = regexp.MustCompile(`^(?:([A-Za-z_][A-Za-z0-9_]*)[ \t]*=[ \t]*)?(remote)(?:@([^ \t\n]*))?(?:[ \t]+|$)`)

// validSelector is one name or tag of a selector.
var validSelector = regexp.MustCompile(`^[A-Za-z0-9_.\-]+$`)

// IsSelectorName reports whether s can be one item of a selector
// (remote@a,b or on="a,b"): what a server's name and tags must be so that
// selectors can name them.
func IsSelectorName(s string) bool { return validSelector.MatchString(s) }

// ParseCell parses the text of one cell that starts at the given line of
// filename. It returns nil if text holds only blank and comment lines. An
// anonymous cell is returned with an empty Name; the caller names it before
// sharing the cell.
func ParseCell(filename string, line int, text string) *Cell {
	return parseCell(filename, line, text, false)
}

// parseCell is ParseCell. The tree it parses is kept for the first
// compile (see compile) if the cell is local, or if compiled, which says
// that the cell is about to be compiled here whatever it is (a job's cell
// on a server).
func parseCell(filename string, line int, text string, compiled bool) *Cell {
	if strings.TrimSpace(text) == "" || allBlankOrComment(text) {
		return nil
	}
	c := &Cell{Source: text, Pos: Pos{File: filename, Line: line, Col: 1}, codeCol: 1}
	code, err := c.header()
	if err == nil {
		c.code = code
		var f *syntax.File
		if f, err = parseCode(filename, line, c.codeCol, code); err == nil {
			if err = c.classify(f); err == nil {
				c.Free, c.Err = freeNames(f)
				if c.Err == nil && (compiled || !c.Remote) {
					c.parsed.Store(f)
				}
				return c
			}
		}
	}
	c.Err = err
	c.Kind, c.Name = guessName(text)
	return c
}

func allBlankOrComment(text string) bool {
	for _, line := range strings.Split(text, "\n") {
		if !blankOrComment(line) {
			return false
		}
	}
	return true
}

// namedCell matches the start of a cell that names what it defines.
var namedCell = regexp.MustCompile(`^(?:(def)[ \t]+([A-Za-z_][A-Za-z0-9_]*)|([A-Za-z_][A-Za-z0-9_]*)[ \t]*=[^=])`)

// guessName returns the kind and name of a cell that does not parse, so that
// its error is shown under the name the user meant to define.
func guessName(text string) (Kind, string) {
	m := namedCell.FindStringSubmatch(text)
	switch {
	case m == nil:
		return AnonCell, ""
	case m[1] == "def":
		return FuncCell, m[2]
	}
	return ValueCell, m[3]
}

// header reads the "remote" and "remote@sel" prefix of c.Source, sets
// c.Remote, c.Selector and c.Name (for named remote cells), and returns the
// Starlark code of the cell: the source with the prefix blanked out by spaces,
// so that every position in it is a position in the file.
func (c *Cell) header() (string, error) {
	m := remoteHeader.FindStringSubmatchIndex(c.Source)
	if m == nil {
		return c.Source, nil
	}
	c.Remote = true
	if m[6] >= 0 {
		sel := c.Source[m[6]:m[7]]
		col := c.Pos.Col + utf8.RuneCountInString(c.Source[:m[6]])
		if sel == "" {
			return "", &Error{Pos: Pos{c.Pos.File, c.Pos.Line, col}, Msg: "remote@ needs a server name or tag"}
		}
		for _, s := range strings.Split(sel, ",") {
			if !validSelector.MatchString(s) {
				return "", &Error{Pos: Pos{c.Pos.File, c.Pos.Line, col}, Msg: fmt.Sprintf("bad selector %q: want names or tags (letters, digits, _ . -) joined by commas", sel)}
			}
			c.Selector = append(c.Selector, s)
		}
	}
	if m[2] < 0 {
		// A bare "remote expr": the code is expr, starting further right.
		c.codeCol = 1 + utf8.RuneCountInString(c.Source[:m[1]])
		return c.Source[m[1]:], nil
	}
	// Blank "remote@sel" (m[4] to the end of the selector) with spaces.
	end := m[5]
	if m[7] >= 0 {
		end = m[7]
	}
	return c.Source[:m[4]] + strings.Repeat(" ", utf8.RuneCountInString(c.Source[m[4]:end])) + c.Source[end:], nil
}

// parseCode parses cell code that starts at line and col of filename.
func parseCode(filename string, line, col int, code string) (*syntax.File, error) {
	f, err := fileOptions.Parse(filename, syntax.FilePortion{Content: []byte(code), FirstLine: int32(line), FirstCol: int32(col)}, 0)
	if err != nil {
		return nil, convertError(err)
	}
	return f, nil
}

// classify checks that f is one cell and sets c.Kind and c.Name.
func (c *Cell) classify(f *syntax.File) error {
	if len(f.Stmts) == 0 {
		return &Error{Pos: c.Pos, Msg: "empty cell"}
	}
	if len(f.Stmts) > 1 {
		return &Error{Pos: toPos(syntax.Start(f.Stmts[1])), Msg: "one cell per line: write each definition on its own line"}
	}
	switch s := f.Stmts[0].(type) {
	case *syntax.AssignStmt:
		id, ok := s.LHS.(*syntax.Ident)
		if s.Op != syntax.EQ || !ok {
			return &Error{Pos: toPos(s.OpPos), Msg: "a cell defines one name: write name = expr"}
		}
		c.Kind, c.Name = ValueCell, id.Name
	case *syntax.DefStmt:
		// "remote def f": the definition is local, every call is remote.
		c.Kind, c.Name, c.Pinned, c.Remote = FuncCell, s.Name.Name, c.Remote, false
	case *syntax.ExprStmt:
		c.Kind = AnonCell
	default:
		start, _ := s.Span()
		return &Error{Pos: toPos(start), Msg: fmt.Sprintf("a cell is name = expr, def name(...): ..., or an expression, not a %s statement", stmtKind(s))}
	}
	return nil
}

func stmtKind(s syntax.Stmt) string {
	switch s.(type) {
	case *syntax.ForStmt:
		return "for"
	case *syntax.WhileStmt:
		return "while"
	case *syntax.IfStmt:
		return "if"
	case *syntax.LoadStmt:
		return "load"
	case *syntax.ReturnStmt:
		return "return"
	case *syntax.BranchStmt:
		return "break/continue/pass"
	}
	return fmt.Sprintf("%T", s)
}

// freeNames resolves f and returns its free names, sorted: the names it uses
// that it does not bind itself.
func freeNames(f *syntax.File) ([]string, error) {
	seen := map[string]bool{}
	err := resolve.File(f, func(name string) bool {
		seen[name] = true
		return true
	}, starlark.Universe.Has)
	if err != nil {
		return nil, convertError(err)
	}
	names := make([]string, 0, len(seen))
	for name := range seen {
		names = append(names, name)
	}
	sort.Strings(names)
	return names, nil
}

func toPos(p syntax.Position) Pos {
	return Pos{File: p.Filename(), Line: int(p.Line), Col: int(p.Col)}
}

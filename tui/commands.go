package tui

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/themes"
)

// command is one ":" command.
type command struct {
	name  string
	args  string // for help: the arguments
	help  string
	run   func(m *Model, args []string) tea.Cmd
	nargs int  // arguments wanted; -1 for one or more, -2 for none or one
	arg   byte // what the argument completes to: 'c' cells, 't' themes, 's' servers, 'f' files, 'F' a cell then a file
	rest  bool // the argument is the rest of the line, spaces and all (a path, a text)
}

// commands returns the ":" commands, in the order :help lists them.
func commands() []command {
	return []command{
		{name: "del", args: "NAME...", help: "delete cells", nargs: -1, arg: 'c', run: (*Model).cmdDelete},
		{name: "rerun", args: "NAME...", help: "evaluate cells again", nargs: -1, arg: 'c', run: (*Model).cmdRerun},
		{name: "cancel", args: "[NAME]", help: "cancel a cell's evaluation (the selected cell)", nargs: -2, arg: 'c', run: (*Model).cmdCancel},
		{name: "load", args: "FILE", help: "load a workspace file", nargs: 1, arg: 'f', rest: true, run: (*Model).cmdLoad},
		{name: "save", args: "FILE", help: "save the workspace to a file", nargs: 1, arg: 'f', rest: true, run: (*Model).cmdSave},
		{name: "export", args: "NAME FILE", help: "write a value to FILE: .json, .csv (a table), .txt, .star (repr)", nargs: -1, arg: 'F', rest: true, run: (*Model).cmdExport},
		{name: "publish", args: "[NAME]", help: "publish a function cell to the cluster (the selected cell)", nargs: -2, arg: 'c', run: (*Model).cmdPublish},
		{name: "copy", args: "[NAME]", help: "copy a value's repr to the clipboard (the selected cell's)", nargs: -2, arg: 'c', run: (*Model).cmdCopy},
		{name: "record", args: "FILE|stop", help: "record the session to FILE (:record stop ends it)", nargs: -2, arg: 'f', rest: true, run: (*Model).cmdRecord},
		{name: "mark", args: "TEXT", help: "mark this moment in the recording", nargs: -1, rest: true, run: (*Model).cmdMark},
		{name: "theme", args: "NAME", help: "change the theme", nargs: 1, arg: 't', run: (*Model).cmdTheme},
		{name: "connect", args: "ADDR", help: "connect to a server (HOST:PORT[#sha256:FP])", nargs: 1, run: (*Model).cmdConnect},
		{name: "disconnect", args: "NAME", help: "disconnect a server", nargs: 1, arg: 's', run: (*Model).cmdDisconnect},
		{name: "servers", help: "show the servers", run: (*Model).cmdServers},
		{name: "log", help: "show the log of events", run: (*Model).cmdLog},
		{name: "help", help: "show every key and command", run: (*Model).cmdHelp},
		{name: "quit", help: "quit (the workspace is not kept: :save it first)", run: (*Model).cmdQuit},
	}
}

// findCommand returns the command called name, or the only one it is a
// prefix of ("q" is quit).
func findCommand(name string) (command, bool) {
	cmds := commands()
	for _, c := range cmds {
		if c.name == name {
			return c, true
		}
	}
	var found []command
	for _, c := range cmds {
		if strings.HasPrefix(c.name, name) {
			found = append(found, c)
		}
	}
	if len(found) == 1 {
		return found[0], true
	}
	return command{}, false
}

// runCommand runs the command line text (after its ":").
func (m *Model) runCommand(text string) tea.Cmd {
	fields := strings.Fields(strings.TrimPrefix(strings.TrimSpace(text), ":"))
	if len(fields) == 0 {
		return nil
	}
	c, ok := findCommand(fields[0])
	if !ok {
		m.fail(fmt.Sprintf("no command :%s (:help lists them)", fields[0]))
		return nil
	}
	args := fields[1:]
	if c.rest && len(args) > 1 {
		// A path or a text is the rest of the line: it may have spaces.
		rest := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(text), ":"))
		args = []string{strings.TrimSpace(rest[len(fields[0]):])}
	}
	switch {
	case c.nargs == -1 && len(args) == 0,
		c.nargs == -2 && len(args) > 1,
		c.nargs >= 0 && len(args) != c.nargs:
		m.fail(fmt.Sprintf("usage: :%s %s", c.name, c.args))
		return nil
	}
	return c.run(m, args)
}

func (m *Model) cmdDelete(args []string) tea.Cmd {
	var missing []string
	for _, name := range args {
		if m.engine.Delete(name) {
			m.journalAppend(delRecord(name))
		} else {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		m.fail("no cell " + strings.Join(missing, ", "))
	} else {
		m.inform("deleted " + strings.Join(args, ", "))
	}
	return nil
}

func (m *Model) cmdRerun(args []string) tea.Cmd {
	var missing []string
	for _, name := range args {
		if !m.engine.Rerun(name) {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		m.fail("no cell " + strings.Join(missing, ", "))
	}
	return nil
}

// cellArg returns the cell a command with an optional NAME argument is
// about: the one named, or the selected cell; if there is none, it says so.
func (m *Model) cellArg(args []string) (string, bool) {
	if len(args) == 1 {
		return args[0], true
	}
	if m.selName == "" {
		m.fail("no cell selected")
		return "", false
	}
	return m.selName, true
}

func (m *Model) cmdCancel(args []string) tea.Cmd {
	name, ok := m.cellArg(args)
	if !ok {
		return nil
	}
	if m.engine.Cancel(name) {
		m.inform("cancelled " + name)
	} else {
		m.inform(name + " is not running")
	}
	return nil
}

// loadedMsg is the end of :load: the cells of a file, parsed.
type loadedMsg struct {
	path  string
	cells []*lang.Cell
	err   error
}

func loadCmd(path string) tea.Cmd {
	return func() tea.Msg {
		f, err := os.Open(path)
		if err != nil {
			return loadedMsg{path: path, err: err}
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil && st.Size() > lang.MaxFileSize {
			return loadedMsg{path: path, err: fmt.Errorf("%s: file is %d bytes; a workspace may be at most %d", path, st.Size(), lang.MaxFileSize)}
		}
		data := make([]byte, 0, 4096)
		buf := make([]byte, 32<<10)
		for {
			n, err := f.Read(buf)
			data = append(data, buf[:n]...)
			if len(data) > lang.MaxFileSize {
				return loadedMsg{path: path, err: fmt.Errorf("%s: a workspace may be at most %d bytes", path, lang.MaxFileSize)}
			}
			if err != nil {
				break
			}
		}
		cells, err := lang.ParseFile(path, data)
		return loadedMsg{path: path, cells: cells, err: err}
	}
}

func (m *Model) cmdLoad(args []string) tea.Cmd {
	m.inform("loading " + args[0] + "…")
	return loadCmd(expandHome(args[0]))
}

// savedMsg is the end of :save.
type savedMsg struct {
	path  string
	cells int
	err   error
}

func saveCmd(path string, sources []string) tea.Cmd {
	return func() tea.Msg {
		text := strings.Join(sources, "\n\n")
		if text != "" {
			text += "\n"
		}
		err := writeFileAtomic(path, []byte(text))
		return savedMsg{path: path, cells: len(sources), err: err}
	}
}

func (m *Model) cmdSave(args []string) tea.Cmd {
	sources := make([]string, 0, m.cells.len())
	for _, it := range m.cells.items {
		if c := it.view.Cell; c != nil {
			sources = append(sources, c.Source)
		}
	}
	return saveCmd(expandHome(args[0]), sources)
}

// themeMsg is the end of :theme.
type themeMsg struct {
	theme themes.Theme
	err   error
}

func themeCmd(name, dir string) tea.Cmd {
	return func() tea.Msg {
		t, err := themes.Find(name, dir)
		return themeMsg{theme: t, err: err}
	}
}

func (m *Model) cmdTheme(args []string) tea.Cmd {
	return themeCmd(args[0], m.opts.ThemeDir)
}

func (m *Model) cmdConnect(args []string) tea.Cmd {
	if m.opts.Servers == nil {
		m.fail("no remote client: this workspace evaluates remote cells in process")
		return nil
	}
	m.inform("connecting to " + args[0] + "…")
	return connectCmd(m.opts.Servers, args[0])
}

func (m *Model) cmdDisconnect(args []string) tea.Cmd {
	if m.opts.Servers == nil {
		m.fail("no remote client: this workspace evaluates remote cells in process")
		return nil
	}
	return disconnectCmd(m.opts.Servers, args[0])
}

func (m *Model) cmdServers([]string) tea.Cmd {
	m.setFocus(focusServers)
	if m.opts.Servers != nil {
		return pollServers(m.opts.Servers)
	}
	return nil
}

func (m *Model) cmdLog([]string) tea.Cmd {
	m.setFocus(focusLog)
	return nil
}

func (m *Model) cmdHelp([]string) tea.Cmd {
	m.showHelp = true
	return nil
}

func (m *Model) cmdQuit([]string) tea.Cmd {
	return m.quit()
}

// expandHome expands a leading "~/" to the home directory.
func expandHome(path string) string {
	if rest, ok := strings.CutPrefix(path, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
	}
	return path
}

// builtinNames are the names completion offers besides cells: Starlark's
// builtins and sperse's.
var builtinNames = []string{
	"None", "True", "False", "abs", "all", "any", "bool", "bytes", "chr", "dict", "dir", "enumerate", "fail",
	"float", "getattr", "hasattr", "hash", "int", "json", "len", "list", "mapreduce", "math", "max", "min",
	"ord", "pmap", "print", "range", "repr", "reversed", "set", "sorted", "str", "sum", "tuple", "type",
	"where", "zip", "on", "publish", "versions", "rollback", "unpublish", "remote", "def", "return", "lambda", "while", "for", "if", "else", "elif", "in", "not",
	"and", "or",
}

// completions returns the candidates for the word being typed: ":"
// commands, then a command's argument, or cells and builtins.
func (m *Model) completions(word string) []string {
	line := m.input.Value()
	var cands []string
	switch {
	case strings.HasPrefix(line, ":") && !strings.Contains(line, " "):
		for _, c := range commands() {
			cands = append(cands, ":"+c.name)
		}
	case strings.HasPrefix(line, ":"):
		name := strings.TrimPrefix(strings.Fields(line)[0], ":")
		c, ok := findCommand(name)
		if !ok {
			return nil
		}
		switch c.arg {
		case 'c', 'F':
			cands = m.cellNames()
		case 't':
			cands = themes.Names()
		case 's':
			for _, s := range m.srv.infos {
				cands = append(cands, s.Name)
			}
		}
	default:
		cands = append(m.cellNames(), builtinNames...)
	}
	var out []string
	for _, c := range cands {
		if strings.HasPrefix(c, word) && c != word {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (m *Model) cellNames() []string {
	names := make([]string, 0, m.cells.len())
	for _, it := range m.cells.items {
		names = append(names, it.view.Name)
	}
	return names
}

// completeFile completes a path. It reads a directory, so it runs in a
// tea.Cmd (see fileCompletion), never in Update.
func completeFile(word string) []string {
	dir, base := filepath.Split(word)
	d := dir
	if d == "" {
		d = "."
	}
	entries, err := os.ReadDir(expandHome(d))
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), base) && (base != "" || !strings.HasPrefix(e.Name(), ".")) {
			s := dir + e.Name()
			if e.IsDir() {
				s += "/"
			}
			out = append(out, s)
		}
		if len(out) > 200 {
			break
		}
	}
	slices.Sort(out)
	return out
}

// commonPrefix returns the longest prefix of all of ss.
func commonPrefix(ss []string) string {
	if len(ss) == 0 {
		return ""
	}
	p := ss[0]
	for _, s := range ss[1:] {
		for !strings.HasPrefix(s, p) {
			p = p[:len(p)-1]
		}
	}
	return p
}

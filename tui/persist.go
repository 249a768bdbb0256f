package tui

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	tea "charm.land/bubbletea/v2"

	"github.com/sperse/sperse/lang"
)

// What the user interface keeps in its state directory.
const (
	historyFile = "history"       // the REPL's history: one JSON string a line
	journalFile = "journal.jsonl" // the workspace's journal: one journalRecord a line
	maxHistory  = 1000            // entries of history kept
)

// appender appends lines to a file, in order, from a goroutine of its own,
// so that the update loop never waits for the disk. Append never blocks.
// Close writes what is pending and stops the goroutine; it must be called.
type appender struct {
	path string
	sync bool // fsync after each batch

	mu      sync.Mutex
	pending []string
	closed  bool
	err     error // the first write error

	wake chan struct{} // holds one wake-up
	done chan struct{} // closed by Close
	wg   sync.WaitGroup
}

func newAppender(path string, fsync bool) *appender {
	a := &appender{path: path, sync: fsync, wake: make(chan struct{}, 1), done: make(chan struct{})}
	a.wg.Add(1)
	go a.run()
	return a
}

// Append queues line (without its newline) to be written.
func (a *appender) Append(line string) {
	a.mu.Lock()
	if !a.closed {
		a.pending = append(a.pending, line)
	}
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

func (a *appender) run() {
	defer a.wg.Done()
	for {
		select {
		case <-a.wake:
			a.flush()
		case <-a.done:
			a.flush()
			return
		}
	}
}

func (a *appender) flush() {
	a.mu.Lock()
	lines := a.pending
	a.pending = nil
	a.mu.Unlock()
	if len(lines) == 0 {
		return
	}
	err := appendLines(a.path, lines, a.sync)
	if err != nil {
		a.mu.Lock()
		if a.err == nil {
			a.err = err
		}
		a.mu.Unlock()
	}
}

func appendLines(path string, lines []string, fsync bool) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	_, err = f.WriteString(b.String())
	if err == nil && fsync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Close writes what is pending, stops the goroutine and returns the first
// write error. Close is idempotent.
func (a *appender) Close() error {
	a.mu.Lock()
	if !a.closed {
		a.closed = true
		close(a.done)
	}
	a.mu.Unlock()
	a.wg.Wait()
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

// historyMsg carries the history read at start.
type historyMsg struct {
	entries []string
	err     error
}

// readHistory reads the history file: one JSON string a line, the last
// maxHistory kept. A line that is not one is skipped (a torn write).
func readHistory(path string) tea.Cmd {
	return func() tea.Msg {
		f, err := os.Open(path)
		if errors.Is(err, fs.ErrNotExist) {
			return historyMsg{}
		}
		if err != nil {
			return historyMsg{err: err}
		}
		defer f.Close()
		var entries []string
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), lang.MaxFileSize)
		for sc.Scan() {
			var s string
			if json.Unmarshal(sc.Bytes(), &s) == nil && s != "" {
				entries = append(entries, s)
			}
		}
		if len(entries) > maxHistory {
			entries = entries[len(entries)-maxHistory:]
		}
		return historyMsg{entries: entries, err: sc.Err()}
	}
}

func historyLine(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// journalRecord is one change of the workspace in the journal.
type journalRecord struct {
	Op   string `json:"op"` // "def" or "del"
	Name string `json:"name"`
	File string `json:"file,omitempty"` // where the cell was written: "<repl>" or a file
	Line int    `json:"line,omitempty"`
	Src  string `json:"src,omitempty"`
}

func defRecord(c *lang.Cell) string {
	b, _ := json.Marshal(journalRecord{Op: "def", Name: c.Name, File: c.Pos.File, Line: c.Pos.Line, Src: c.Source})
	return string(b)
}

func delRecord(name string) string {
	b, _ := json.Marshal(journalRecord{Op: "del", Name: name})
	return string(b)
}

// journalMsg carries the cells restored from the journal of an unclean exit.
type journalMsg struct {
	path  string
	cells []*lang.Cell
	err   error
}

// readJournal reads the journal left by a run that did not quit cleanly and
// returns the workspace it describes, as cells in order of definition.
func readJournal(path string) tea.Cmd {
	return func() tea.Msg {
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return journalMsg{path: path}
		}
		if err != nil {
			return journalMsg{path: path, err: err}
		}
		cells, err := replayJournal(data)
		return journalMsg{path: path, cells: cells, err: err}
	}
}

// replayJournal applies the records of a journal in order and returns the
// cells that remain. A torn last line is ignored.
func replayJournal(data []byte) ([]*lang.Cell, error) {
	var (
		order []string
		defs  = map[string]journalRecord{}
	)
	lines := strings.Split(string(data), "\n")
	for i, line := range lines {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var r journalRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil || r.Name == "" {
			if i == len(lines)-1 || i == len(lines)-2 && lines[len(lines)-1] == "" {
				break // torn by the crash
			}
			return nil, fmt.Errorf("journal line %d: not a record", i+1)
		}
		switch r.Op {
		case "def":
			if _, ok := defs[r.Name]; !ok {
				order = append(order, r.Name)
			}
			defs[r.Name] = r
		case "del":
			if _, ok := defs[r.Name]; ok {
				delete(defs, r.Name)
				for j, n := range order {
					if n == r.Name {
						order = append(order[:j], order[j+1:]...)
						break
					}
				}
			}
		}
	}
	cells := make([]*lang.Cell, 0, len(order))
	for _, name := range order {
		r := defs[name]
		c := lang.ParseCell(r.File, max(r.Line, 1), r.Src)
		if c == nil {
			continue
		}
		if c.Name == "" || c.Name != r.Name && c.Err != nil {
			c.Name = r.Name
		}
		cells = append(cells, c)
	}
	return cells, nil
}

// anonNumber returns N for an anonymous cell's name "_N", or 0.
func anonNumber(name string) int {
	if !strings.HasPrefix(name, "_") {
		return 0
	}
	n, err := strconv.Atoi(name[1:])
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// removeFile removes path; a file that is not there is no error.
func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

package tui

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
//
// A write that fails (a full disk, a read-only directory) leaves the file
// as it was, with whole lines only: the lines stay pending, in order, and
// are written with the next batch once the file can be written again.
// watch tells the user interface when writing starts to fail.
type appender struct {
	path string
	sync bool // fsync after each batch

	mu      sync.Mutex
	pending []string
	closed  bool
	err     error      // the error of the last write, if it failed; its lines are pending
	failed  chan error // the first error after a write that did not fail (capacity 1)

	wake chan struct{} // holds one wake-up
	done chan struct{} // closed by Close
	wg   sync.WaitGroup
}

func newAppender(path string, fsync bool) *appender {
	a := &appender{path: path, sync: fsync, failed: make(chan error, 1), wake: make(chan struct{}, 1), done: make(chan struct{})}
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
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		err = fileError(a.path, err)
		// The lines go before those appended meanwhile.
		a.pending = append(lines, a.pending...)
		if a.err == nil {
			select {
			case a.failed <- err:
			default:
			}
		}
	}
	a.err = err
}

// appendLines appends lines to the file path, creating it and its directory
// if need be, and syncs it if fsync. If the write fails, the file is cut
// back to its size before it (a full disk may take part of a write): a line
// written in part would otherwise end up in the middle of the file.
func appendLines(path string, lines []string, fsync bool) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
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
	if err != nil && fi.Mode().IsRegular() {
		f.Truncate(fi.Size()) // at worst the next read ignores a torn last line
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// appendFailedMsg says that an appender's writes started to fail: what it
// is given waits in memory.
type appendFailedMsg struct {
	a    *appender
	what string // "journal" or "history"
	err  error
}

// watch waits until a's writes start to fail (again), and returns an
// appendFailedMsg about what, or nil once a is closed.
func (a *appender) watch(what string) tea.Cmd {
	return func() tea.Msg {
		select {
		case err := <-a.failed:
			return appendFailedMsg{a: a, what: what, err: err}
		case <-a.done:
			return nil
		}
	}
}

// text is what the user is told.
func (msg appendFailedMsg) text() string {
	if msg.what == "journal" {
		return msg.err.Error() + ": the journal is kept in memory until it can be written (a crash now would lose it: :save the workspace)"
	}
	return msg.err.Error() + ": the " + msg.what + " is kept in memory until it can be written"
}

// fileError says that writing path failed with err, naming path once.
func fileError(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("cannot write %s: %w", path, err)
}

// writeFileAtomic writes data to path so that path holds either what it
// held or data, never a part: data goes to a temporary file next to path,
// synced, then renamed over it. If the directory is read-only or the disk
// fills up, the error says so and path is left as it was. A symbolic link
// is followed; a path that is not a regular file (a device, a pipe) is
// written to directly.
func writeFileAtomic(path string, data []byte) error {
	return writeFileAtomicFunc(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// writeFileAtomicFunc is writeFileAtomic of what write writes, buffered.
// If write fails, path is left as it was and its error is returned as it
// is (an error of the file itself is wrapped by fileError).
func writeFileAtomicFunc(path string, write func(io.Writer) error) error {
	var werr error // write's own error: not the file's
	into := func(f *os.File) error {
		bw := &recordingWriter{w: bufio.NewWriterSize(f, 64<<10)}
		if err := write(bw); err != nil {
			if bw.err != nil {
				return bw.err // the file's
			}
			werr = err
			return err
		}
		return bw.w.Flush()
	}
	fi, err := os.Stat(path)
	existed := err == nil
	if existed && !fi.Mode().IsRegular() {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err == nil {
			err = into(f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		switch {
		case werr != nil:
			return werr
		case err != nil:
			return fileError(path, err)
		}
		return nil
	}
	target := path
	if existed {
		if t, err := filepath.EvalSymlinks(path); err == nil {
			target = t
		}
	}
	f, err := os.CreateTemp(filepath.Dir(target), "."+filepath.Base(target)+".*")
	if err == nil {
		err = into(f)
		if err == nil && existed {
			err = f.Chmod(fi.Mode().Perm())
		}
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(f.Name(), target)
		}
		if err != nil {
			os.Remove(f.Name())
		}
	}
	if werr != nil {
		return werr
	}
	if err != nil {
		err = fileError(path, err)
		if existed {
			err = fmt.Errorf("%w (%s is unchanged)", err, filepath.Base(path))
		}
		return err
	}
	return nil
}

// recordingWriter keeps the first error of its writer, to tell it from
// the errors of what writes to it.
type recordingWriter struct {
	w   *bufio.Writer
	err error
}

func (r *recordingWriter) Write(p []byte) (int, error) {
	n, err := r.w.Write(p)
	if err != nil && r.err == nil {
		r.err = err
	}
	return n, err
}

// Close writes what is pending, stops the goroutine and returns the error
// of the last write if it failed: what it was given is not all written.
// Close is idempotent.
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
		entries, err := parseHistory(f)
		return historyMsg{entries: entries, err: err}
	}
}

// parseHistory reads a history file from r: one JSON string a line, the
// last maxHistory kept. A line that is not one is skipped (a torn write).
func parseHistory(r io.Reader) ([]string, error) {
	var entries []string
	sc := bufio.NewScanner(r)
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
	return entries, sc.Err()
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
// cells that remain. A torn last line is ignored. Should two records define
// one name (a record whose source defines another name than its own), the
// later replaces the earlier, as at the prompt.
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
	index := make(map[string]int, len(order)) // where each name is in cells
	for _, name := range order {
		r := defs[name]
		// Lines past 2^30 come from no real file, and would overflow
		// the parser's positions (int32).
		c := lang.ParseCell(r.File, min(max(r.Line, 1), 1<<30), r.Src)
		if c == nil {
			continue
		}
		if c.Name == "" || c.Name != r.Name && c.Err != nil {
			c.Name = r.Name
		}
		if i, ok := index[c.Name]; ok {
			cells[i] = c
			continue
		}
		index[c.Name] = len(cells)
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

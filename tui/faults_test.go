//go:build linux

package tui

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sperse/sperse/internal/asnobody"
	"github.com/sperse/sperse/reactive/record"
)

// Saving a workspace and writing the journal where the disk is full or the
// directory is read-only: a clear error, and the file that was there is
// left as it was.
//
// A full disk is simulated with a file size limit (RLIMIT_FSIZE) in a child
// process: the test runs again there, and a write past the limit fails with
// EFBIG after writing what fits, as a write does on a full disk, with no
// disk to fill. /dev/full fails every write with ENOSPC.

// fileSizeEnv tells the test run in a child process by runFileSizeLimited
// its file size limit and its directory: "LIMIT DIR".
const fileSizeEnv = "SPERSE_TEST_FILE_SIZE_LIMIT"

// fileSizeLimited reports whether this process is the child of
// runFileSizeLimited: if so, it sets the limit and returns the directory to
// work in.
func fileSizeLimited(t *testing.T) (dir string, child bool) {
	t.Helper()
	spec := os.Getenv(fileSizeEnv)
	if spec == "" {
		return "", false
	}
	n, dir, _ := strings.Cut(spec, " ")
	limit, err := strconv.ParseUint(n, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	setFileSizeLimit(t, limit)
	return dir, true
}

// setFileSizeLimit sets the soft limit of this process's file sizes; 0
// lifts it (up to the hard limit).
func setFileSizeLimit(t *testing.T, limit uint64) {
	t.Helper()
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &rl); err != nil {
		t.Fatal(err)
	}
	rl.Cur = limit
	if limit == 0 {
		rl.Cur = rl.Max
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &rl); err != nil {
		t.Fatal(err)
	}
}

// runFileSizeLimited runs the test t again in a child process whose files
// may grow to at most limit bytes, working in dir, and fails t if the child
// fails.
func runFileSizeLimited(t *testing.T, limit int, dir string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v")
	cmd.Env = append(os.Environ(), fileSizeEnv+"="+strconv.Itoa(limit)+" "+dir)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("child process: %v\n%s", err, out)
	}
}

// wantOnly checks that dir holds exactly the files names: no temporary
// file is left behind.
func wantOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	slices.Sort(names)
	if !slices.Equal(got, names) {
		t.Errorf("%s holds %q, want %q", dir, got, names)
	}
}

// badNotes returns the errors the model has logged, oldest first.
func badNotes(m *Model) []string {
	var notes []string
	for i := m.logp.n - 1; i >= 0; i-- {
		if e := m.logp.at(i); !e.event && e.bad {
			notes = append(notes, e.note)
		}
	}
	return notes
}

const previousWorkspace = "a = 1\n\nb = a + 1\n"

func TestSaveDiskFullKeepsPrevious(t *testing.T) {
	if dir, child := fileSizeLimited(t); child {
		path := filepath.Join(dir, "w.sp")
		err := writeFileAtomic(path, []byte(strings.Repeat("x = 1\n\n", 100)))
		want := "cannot write " + path + ": file too large (w.sp is unchanged)"
		if !errors.Is(err, syscall.EFBIG) || err.Error() != want {
			t.Fatalf("saving on a full disk: %v, want %q", err, want)
		}
		return
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "w.sp")
	if err := os.WriteFile(path, []byte(previousWorkspace), 0o644); err != nil {
		t.Fatal(err)
	}
	runFileSizeLimited(t, 100, dir)
	if got, err := os.ReadFile(path); err != nil || string(got) != previousWorkspace {
		t.Errorf("w.sp after a failed save: %q, %v; want it as it was", got, err)
	}
	wantOnly(t, dir, "w.sp")
}

func TestSaveUnwritable(t *testing.T) {
	h := newHarness(t, Options{}, 120, 30)
	h.enter("a = 1")
	h.settle()
	save := func(path string) string {
		t.Helper()
		h.m.status = ""
		h.enter(":save " + path)
		h.until("the save's outcome", func() bool { return strings.HasPrefix(h.m.status, "save") })
		return h.m.status
	}
	// A read-only directory: the save fails and the file there is left as
	// it was.
	readOnly := func() {
		t.Helper()
		dir := t.TempDir()
		path := filepath.Join(dir, "w.sp")
		if err := os.WriteFile(path, []byte(previousWorkspace), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(dir, 0o700)
		if got, want := save(path), "save: cannot write "+path+": permission denied (w.sp is unchanged)"; got != want {
			t.Errorf("status %q, want %q", got, want)
		}
		if got, err := os.ReadFile(path); err != nil || string(got) != previousWorkspace {
			t.Errorf("w.sp after a failed save: %q, %v; want it as it was", got, err)
		}
	}
	// The session goes on, and saving works where it can.
	saves := func() {
		t.Helper()
		path := filepath.Join(t.TempDir(), "w.sp")
		if got := save(path); !strings.HasPrefix(got, "saved 1 cell") {
			t.Errorf("status %q after saving to %s", got, path)
		}
	}
	if asnobody.Child() { // the child process of asnobody.Run below
		readOnly()
		saves()
		return
	}

	// A directory that is a file.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, []byte(previousWorkspace), 0o644); err != nil {
		t.Fatal(err)
	}
	under := filepath.Join(file, "w.sp")
	if got, want := save(under), "save: cannot write "+under+": not a directory"; got != want || !h.m.statusBad {
		t.Errorf("status %q, want the error %q", got, want)
	}

	// A full device is written to (and fails), never replaced.
	if before, err := os.Stat("/dev/full"); err == nil {
		if got, want := save("/dev/full"), "save: cannot write /dev/full: no space left on device"; got != want {
			t.Errorf("status %q, want %q", got, want)
		}
		if after, err := os.Stat("/dev/full"); err != nil || after.Mode() != before.Mode() {
			t.Fatalf("/dev/full is no longer the device: %v %v", after.Mode(), err)
		}
	}
	saves()

	// A read-only directory, which root may write to all the same: as root,
	// in a child process as nobody.
	if os.Geteuid() == 0 {
		asnobody.Run(t)
		return
	}
	readOnly()
	saves()
}

// TestJournalDiskFull fills the disk while the journal is written, in a
// child process: the write fails, the journal keeps its whole records (the
// part written is cut off), and once there is room again the records that
// failed are written, in order, with those that came after.
func TestJournalDiskFull(t *testing.T) {
	records := []string{`{"op":"def","name":"a","src":"a = 1"}`, `{"op":"def","name":"b","src":"b = a + 1"}`}
	more := []string{`{"op":"def","name":"c","src":"c = b * 100000000"}`, `{"op":"def","name":"d","src":"d = c + b"}`}
	before := strings.Join(records, "\n") + "\n"
	if dir, child := fileSizeLimited(t); child {
		path := filepath.Join(dir, journalFile)
		a := newAppender(path, true)
		a.Append(more[0])
		select {
		case err := <-a.failed:
			if !errors.Is(err, syscall.EFBIG) || !strings.HasPrefix(err.Error(), "cannot write "+path+": ") {
				t.Errorf("the journal's error: %v", err)
			}
		case <-time.After(time.Minute):
			t.Fatal("no write error")
		}
		if got, err := os.ReadFile(path); err != nil || string(got) != before {
			t.Errorf("journal after the failed write: %q, %v; want %q", got, err, before)
		}
		setFileSizeLimit(t, 0) // room again
		a.Append(more[1])
		if err := a.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		return
	}
	dir := t.TempDir()
	path := filepath.Join(dir, journalFile)
	if err := os.WriteFile(path, []byte(before), 0o600); err != nil {
		t.Fatal(err)
	}
	runFileSizeLimited(t, len(before)+10, dir)
	data, err := os.ReadFile(path)
	if want := before + strings.Join(more, "\n") + "\n"; err != nil || string(data) != want {
		t.Fatalf("journal: %q, %v; want %q", data, err, want)
	}
	cells, err := replayJournal(data)
	if err != nil || len(cells) != 4 {
		t.Errorf("replaying the journal: %d cells, %v", len(cells), err)
	}
	wantOnly(t, dir, journalFile)
}

// TestJournalUnwritable: a state directory that cannot be created (its
// parent is a file) is an error the user is told about at the first
// definition, and the definitions wait in memory; once the directory can
// be made, they are journaled, in order.
func TestJournalUnwritable(t *testing.T) {
	parent := filepath.Join(t.TempDir(), "state")
	if err := os.WriteFile(parent, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(parent, "sperse")
	journal := filepath.Join(state, journalFile)
	h := newHarness(t, Options{StateDir: state}, 120, 30)
	h.enter("a = 6 * 7")
	h.settle()
	want := "cannot write " + journal + ": not a directory: the journal is kept in memory until it can be written (a crash now would lose it: :save the workspace)"
	h.until("the journal's error", func() bool { return slices.Contains(badNotes(h.m), want) })

	// The disk is writable again: what waited is written with what follows.
	if err := os.Remove(parent); err != nil {
		t.Fatal(err)
	}
	h.enter("b = a + 1")
	h.settle()
	h.stop() // killed: the journal stays
	data, err := os.ReadFile(journal)
	if err != nil {
		t.Fatal(err)
	}
	cells, err := replayJournal(data)
	var names []string
	for _, c := range cells {
		names = append(names, c.Name)
	}
	if err != nil || !slices.Equal(names, []string{"a", "b"}) {
		t.Errorf("journaled cells %q, %v; want a and b\n%s", names, err, data)
	}
}

func TestJournalDevFull(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	a := newAppender("/dev/full", true)
	a.Append(`{"op":"def","name":"a","src":"a = 1"}`)
	select {
	case err := <-a.failed:
		if want := "cannot write /dev/full: no space left on device"; err.Error() != want {
			t.Errorf("error %q, want %q", err, want)
		}
	case <-time.After(time.Minute):
		t.Fatal("no write error")
	}
	if err := a.Close(); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("Close: %v, want ENOSPC: the record is not written", err)
	}
}

// TestRecordDiskFull fills the disk while a session is recorded, in a child
// process: the recording stops, the user is told why, the session goes on,
// and what was recorded before is in the file.
func TestRecordDiskFull(t *testing.T) {
	const name, mark = "s.jsonl", "a marker that takes some room on the disk"
	if dir, child := fileSizeLimited(t); child {
		path := filepath.Join(dir, name)
		h := newHarness(t, Options{}, 200, 30)
		h.enter("a = 6 * 7")
		h.settle()
		h.enter(":record " + path)
		h.until("the recording started", func() bool { return h.m.rec.cur != nil })
		for i := 0; h.m.rec.cur != nil; i++ { // until the recording has ended
			if i == 1000 {
				t.Fatalf("the recording goes on past the limit; status %q", h.m.status)
			}
			h.enter(":mark " + mark)
			h.pump()
		}
		want := "cannot record to " + path + ": file too large; the recording stopped (what came before is in the file)"
		if h.m.status != want || !h.m.statusBad {
			t.Errorf("status %q, want the error %q", h.m.status, want)
		}
		if !slices.Contains(badNotes(h.m), want) {
			t.Errorf("the log has %q, want %q", badNotes(h.m), want)
		}
		if s := h.screen(); !strings.Contains(s, "the recording stopped") || strings.Contains(s, "● rec") {
			t.Errorf("the screen does not say the recording stopped:\n%s", s)
		}
		// The session goes on, unrecorded.
		h.enter("b = a + 1")
		h.settle()
		if it := h.m.cells.get("b"); it == nil || it.view.Value == nil || it.view.Value.String() != "43" {
			t.Errorf("b after the recording stopped: %+v", it)
		}
		h.enter(":record stop")
		if h.m.status != "not recording: nothing to stop" {
			t.Errorf(":record stop after the failure: status %q", h.m.status)
		}
		return
	}
	dir := t.TempDir()
	runFileSizeLimited(t, 4000, dir)
	rec, err := record.Open(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	got := summary(rec, record.Dispatched, record.Changed, record.Resolved)
	if len(got) < 5 || got[0] != "defined a" || got[1] != "typed :mark "+mark || got[2] != "marker "+mark || len(rec.Notes) > 1 {
		t.Errorf("the recording holds %q, notes %q; want a, then the markers that fit and at most a torn line", got, rec.Notes)
	}
	for i, ev := range rec.Events {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("event %d: %+v", i, ev)
		}
	}
	t.Logf("%d events recorded before the disk filled, %d notes", len(rec.Events), len(rec.Notes))
	wantOnly(t, dir, name)
}

//go:build linux

package record

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/sperse/sperse/internal/asnobody"
)

// Recording where the disk is full or the directory read-only: Create fails
// with a clear error and leaves a file already at the path as it was; a
// recording that fills the disk keeps what it wrote readable.

// A full disk is simulated with a file size limit (RLIMIT_FSIZE) in a child
// process: the test runs again there, and a write past the limit fails with
// EFBIG after writing what fits, as a write does on a full disk, with no
// disk to fill.

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
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &rl); err != nil {
		t.Fatal(err)
	}
	rl.Cur = limit
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &rl); err != nil {
		t.Fatal(err)
	}
	return dir, true
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

// previous writes a recording to path, as one left by an earlier session.
func previous(t *testing.T, path string) []byte {
	t.Helper()
	r, err := Create(path, Header{Title: "previous"})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := r.Mark("earlier"); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// wantIntact checks that the file at path holds data, and that nothing else
// is left in its directory.
func wantIntact(t *testing.T, path string, data []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil || string(got) != string(data) {
		t.Errorf("%s after the failure: %v\n%s\nwant it as it was:\n%s", path, err, got, data)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("the directory holds %q, want only %s", names, filepath.Base(path))
	}
}

func TestCreateDiskFullKeepsPrevious(t *testing.T) {
	const name = "session.jsonl"
	if dir, child := fileSizeLimited(t); child {
		// The header does not fit.
		_, err := Create(filepath.Join(dir, name), Header{Title: "new"})
		if !errors.Is(err, syscall.EFBIG) || !strings.HasPrefix(err.Error(), "record: ") {
			t.Fatalf("Create on a full disk: %v, want the write's error", err)
		}
		return
	}
	dir := t.TempDir()
	path := filepath.Join(dir, name)
	data := previous(t, path)
	runFileSizeLimited(t, 32, dir)
	wantIntact(t, path, data)
}

func TestRecordingFillsTheDisk(t *testing.T) {
	const name = "session.jsonl"
	const limit = 2000
	if dir, child := fileSizeLimited(t); child {
		r, err := Create(filepath.Join(dir, name), Header{Title: "filling"})
		if err != nil {
			t.Fatal(err)
		}
		var werr error
		for i := 0; werr == nil && i < limit; i++ {
			werr = r.Mark("a marker that takes some room on the disk")
		}
		if !errors.Is(werr, syscall.EFBIG) {
			t.Fatalf("recording past the limit: %v, want the write's error", werr)
		}
		if err := r.Typed("more"); err == nil || err.Error() != werr.Error() {
			t.Errorf("after a failed write: %v, want %v", err, werr)
		}
		if err := r.Close(); err == nil {
			t.Error("Close after a failed write: nil error")
		}
		return
	}
	dir := t.TempDir()
	runFileSizeLimited(t, limit, dir)
	// What was written reads back: whole events in order, and the torn
	// last line noted (unless the limit fell between two lines).
	rec, err := Open(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	if rec.Header.Title != "filling" || len(rec.Events) < 5 || len(rec.Notes) > 1 {
		t.Errorf("header %+v, %d events, notes %q; want the header, the markers that fit and a torn line", rec.Header, len(rec.Events), rec.Notes)
	}
	for i, ev := range rec.Events {
		if ev.Seq != uint64(i+1) || ev.Kind != Marker {
			t.Fatalf("event %d: %+v", i, ev)
		}
	}
}

func TestCreateUnwritableDirectory(t *testing.T) {
	// A directory that is a file: nothing can be created under it.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, []byte("not a directory\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Create(filepath.Join(file, "s.jsonl"), Header{}); !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("Create under a file: %v, want ENOTDIR", err)
	}

	// A read-only directory, which root may write to all the same: as root,
	// in a child process as nobody.
	t.Run("read-only", func(t *testing.T) {
		if os.Geteuid() == 0 && !asnobody.Child() {
			asnobody.Run(t) // root writes to read-only directories: nobody does not
			return
		}
		dir := t.TempDir()
		path := filepath.Join(dir, "s.jsonl")
		data := previous(t, path)
		if err := os.Chmod(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(dir, 0o700)
		if _, err := Create(path, Header{}); !errors.Is(err, os.ErrPermission) {
			t.Errorf("Create in a read-only directory: %v, want permission denied", err)
		}
		wantIntact(t, path, data)
	})
}

func TestCreateDevice(t *testing.T) {
	// A device is written to, not replaced: /dev/full fails every write.
	const full = "/dev/full"
	before, err := os.Stat(full)
	if err != nil {
		t.Skip("no /dev/full")
	}
	if _, err := Create(full, Header{}); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("Create(%s): %v, want ENOSPC", full, err)
	}
	if after, err := os.Stat(full); err != nil || after.Mode() != before.Mode() {
		t.Fatalf("%s is no longer the device: %v %v", full, after.Mode(), err)
	}
}

//go:build linux

package asnobody

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// Package asnobody runs part of a test as the unprivileged user nobody.
//
// Root writes to a read-only directory all the same, and tests run as root
// in CI. So when a test that needs the permission bits to hold runs as
// root, it runs again in a child process of the test binary as nobody
// (Run), and fails if the child fails; in the child, Child is true.

// asNobodyEnv is set in the child process of Run.
const asNobodyEnv = "SPERSE_TEST_AS_NOBODY"

// nobody is the user and group id of the child process of Run.
const nobody = 65534

// Child reports whether this process is the child of Run, run as nobody to
// do the part of the test that needs permission bits to hold.
func Child() bool { return os.Getenv(asNobodyEnv) != "" }

// Run runs the test t (a subtest too) again in a child process of the
// test binary as the user nobody, where Child is true, and fails t
// if the child fails, with its output. The child works in a directory of
// its own, its TMPDIR and HOME (t.TempDir is there), which is removed
// afterwards. It skips t if this system does not let a process run as
// nobody.
func Run(t *testing.T) {
	t.Helper()
	dir, err := os.MkdirTemp("", "sperse-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chown(dir, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	// The test binary is in a directory of go test's that only root may
	// enter: nobody runs a link to it (or a copy) in its own directory.
	bin := filepath.Join(dir, "test.bin")
	if err := linkOrCopy(bin); err != nil {
		t.Fatal(err)
	}
	var run []string
	for part := range strings.SplitSeq(t.Name(), "/") {
		run = append(run, "^"+regexp.QuoteMeta(part)+"$")
	}
	cmd := exec.Command(bin, "-test.run="+strings.Join(run, "/"), "-test.v", "-test.count=1")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), asNobodyEnv+"=1", "TMPDIR="+dir, "HOME="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) && (errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EINVAL)) {
		t.Skipf("cannot run a process as nobody (uid %d) here, and root writes to read-only directories: %v", nobody, err)
	}
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("child process as nobody (uid %d): %v\n%s", nobody, err, out)
	}
	t.Logf("ran as nobody (uid %d) in a child process", nobody)
}

// linkOrCopy makes the test binary available at path, executable by all.
func linkOrCopy(path string) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	if err := os.Link(exe, path); err == nil {
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o005 == 0o005 {
			return nil
		}
		os.Remove(path)
	}
	src, err := os.Open(exe)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	if err := dst.Chmod(0o755); err != nil { // whatever the umask
		dst.Close()
		return err
	}
	return dst.Close()
}

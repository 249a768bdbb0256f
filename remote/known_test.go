package remote

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// testFP returns a valid fingerprint derived from s.
func testFP(s string) string { return Fingerprint([]byte(s)) }

func TestKnownServersTrust(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config", "sperse", "known_servers")
	k := NewKnownServers(path)

	known, _, err := k.Check("127.0.0.1:7700", testFP("a"))
	if known || err != nil {
		t.Fatalf("Check of an empty file = %v, %v; want false, nil", known, err)
	}
	if err := k.Trust("127.0.0.1:7700", testFP("a")); err != nil {
		t.Fatal(err)
	}
	if err := k.Trust("127.0.0.1:7700", testFP("a")); err != nil { // already there: nothing added
		t.Fatal(err)
	}
	if err := k.Trust("Example.ORG:7701", testFP("b")); err != nil {
		t.Fatal(err)
	}

	dir, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if got := dir.Mode().Perm(); got != 0o700 {
		t.Errorf("directory mode = %v, want 0700", got)
	}
	file, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := file.Mode().Perm(); got != 0o600 {
		t.Errorf("file mode = %v, want 0600", got)
	}
	data, _ := os.ReadFile(path)
	want := "127.0.0.1:7700 " + testFP("a") + "\nexample.org:7701 " + testFP("b") + "\n"
	if string(data) != want {
		t.Errorf("file =\n%s\nwant\n%s", data, want)
	}

	for _, tc := range []struct {
		addr, fp string
		known    bool
	}{
		{"127.0.0.1:7700", testFP("a"), true},
		{"example.org:7701", testFP("b"), true},
		{"EXAMPLE.org:7701", testFP("b"), true},
		{"127.0.0.1:7701", testFP("a"), false},
	} {
		known, _, err := k.Check(tc.addr, tc.fp)
		if known != tc.known || err != nil {
			t.Errorf("Check(%s) = %v, %v; want %v, nil", tc.addr, known, err, tc.known)
		}
	}
}

func TestKnownServersChanged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "known_servers")
	old, new := testFP("old"), testFP("new")
	content := "# servers\n\n10.0.0.1:7700 " + testFP("x") + "\n127.0.0.1:7700 " + old + "  # the lab box\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	k := NewKnownServers(path)
	known, _, err := k.Check("127.0.0.1:7700", new)
	var cerr *CertificateError
	if known || !errors.As(err, &cerr) {
		t.Fatalf("Check = %v, %v; want a *CertificateError", known, err)
	}
	want := fmt.Sprintf("server 127.0.0.1:7700 presented certificate %s but known_servers (%s, line 4) has %s; "+
		"if the server's certificate was replaced on purpose, delete that line, or pin the new one with 127.0.0.1:7700#%s",
		new, path, old, new)
	if err.Error() != want {
		t.Errorf("error =\n%s\nwant\n%s", err, want)
	}
	if err := k.Trust("127.0.0.1:7700", new); !errors.As(err, &cerr) {
		t.Errorf("Trust of a changed certificate = %v, want a *CertificateError", err)
	}
	if data, _ := os.ReadFile(path); string(data) != content {
		t.Errorf("Trust of a changed certificate modified the file:\n%s", data)
	}
}

func TestKnownServersMalformed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "known_servers")
	content := strings.Join([]string{
		"127.0.0.1:7700 " + testFP("a"),
		"just-a-host " + testFP("b"),
		"127.0.0.1:7701",
		"127.0.0.1:7702 md5:abc",
		"127.0.0.1:7703 " + testFP("c") + " extra",
		"[::1]:7704 " + testFP("d"),
	}, "\n") // no final newline
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	k := NewKnownServers(path)
	servers, malformed, err := k.Load()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range servers {
		got = append(got, fmt.Sprintf("%d %s", s.Line, s.Addr))
	}
	if want := []string{"1 127.0.0.1:7700", "6 [::1]:7704"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("servers = %q, want %q", got, want)
	}
	var lines []int
	for _, m := range malformed {
		var lerr *LineError
		if !errors.As(m, &lerr) || lerr.File != path {
			t.Fatalf("malformed line error %v is not a *LineError of %s", m, path)
		}
		if !strings.HasPrefix(m.Error(), fmt.Sprintf("%s:%d: ", path, lerr.Line)) {
			t.Errorf("error %q does not start with file:line", m)
		}
		lines = append(lines, lerr.Line)
	}
	if fmt.Sprint(lines) != "[2 3 4 5]" {
		t.Errorf("malformed lines = %v, want [2 3 4 5]", lines)
	}

	// The good lines still count, and a new line starts on a line of its own.
	if known, _, err := k.Check("[::1]:7704", testFP("d")); !known || err != nil {
		t.Errorf("Check of a good line among bad ones = %v, %v", known, err)
	}
	if err := k.Trust("127.0.0.1:7705", testFP("e")); err != nil {
		t.Fatal(err)
	}
	if known, _, err := k.Check("127.0.0.1:7705", testFP("e")); !known || err != nil {
		t.Errorf("Check after Trust on a file without a final newline = %v, %v", known, err)
	}
	if _, malformed, _ := k.Load(); len(malformed) != 4 {
		t.Errorf("after Trust, %d malformed lines, want 4: %v", len(malformed), malformed)
	}
}

func TestKnownServersConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "known_servers")
	// Two values, as two clients in one process would have.
	a, b := NewKnownServers(path), NewKnownServers(path)
	var wg sync.WaitGroup
	for i := range 40 {
		k := a
		if i%2 == 1 {
			k = b
		}
		wg.Go(func() {
			if err := k.Trust(fmt.Sprintf("127.0.0.1:%d", 8000+i), testFP(fmt.Sprint(i))); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	servers, malformed, err := a.Load()
	if err != nil || len(malformed) > 0 {
		t.Fatalf("Load = %v, %v", malformed, err)
	}
	if len(servers) != 40 {
		t.Errorf("%d servers, want 40", len(servers))
	}
}

func TestNormalizeAddr(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"127.0.0.1:7700", "127.0.0.1:7700"},
		{"LocalHost:1", "localhost:1"},
		{"[::1]:7700", "[::1]:7700"},
		{"host", ""},
		{":7700", ""},
		{"host:", ""},
	} {
		got, err := NormalizeAddr(tc.in)
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("NormalizeAddr(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

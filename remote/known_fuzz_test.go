package remote

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzKnownServers reads arbitrary bytes as a known servers file. Reading
// never panics; every line is either a server, with its address normalized
// and a valid fingerprint, or a *LineError naming the file and the line;
// the servers, written back one a line, read back the same; and Trust
// appends a server to the file without changing what it held before, even
// when its last line has no newline. Run it with
//
//	go test -run XXX -fuzz FuzzKnownServers -fuzztime 60s ./remote/
func FuzzKnownServers(f *testing.F) {
	fp := testFP("a")
	for _, seed := range []string{
		"127.0.0.1:7700 " + fp + "\n",
		"# a comment\n\nExample.ORG:7701 " + fp + " # trusted on first use\n[::1]:7702 " + fp,
		"127.0.0.1:7700\n127.0.0.1 " + fp + "\n127.0.0.1:7700 sha256:short\na b c\n",
		"127.0.0.1:7700 " + fp + "\r\n",
		"x:1 " + fp, // no newline at the end
	} {
		f.Add([]byte(seed))
	}
	dir := f.TempDir() // one file per worker, written again for each input
	f.Fuzz(func(t *testing.T, data []byte) {
		const file = "known_servers"
		lines := strings.Count(string(data), "\n") + 1
		servers, malformed := parseKnown(file, data)
		seen := map[int]bool{}
		for _, s := range servers {
			if norm, err := NormalizeAddr(s.Addr); err != nil || norm != s.Addr || !validFingerprint(s.Fingerprint) {
				t.Fatalf("server %+v: address not normalized (%q, %v) or bad fingerprint", s, norm, err)
			}
			if s.Line < 1 || s.Line > lines || seen[s.Line] {
				t.Fatalf("server %+v: line %d of %d, or twice", s, s.Line, lines)
			}
			seen[s.Line] = true
		}
		for _, m := range malformed {
			var le *LineError
			if !errors.As(m, &le) || le.File != file || le.Line < 1 || le.Line > lines || seen[le.Line] || le.Msg == "" {
				t.Fatalf("malformed line: %v (%T), want a *LineError at a line of its own in 1..%d", m, m, lines)
			}
			seen[le.Line] = true
		}

		// What was read, written back, reads back the same.
		var back strings.Builder
		for _, s := range servers {
			back.WriteString(s.Addr + " " + s.Fingerprint + "\n")
		}
		again, bad := parseKnown(file, []byte(back.String()))
		if len(bad) > 0 || len(again) != len(servers) {
			t.Fatalf("written back: %d servers and %v, want %d servers", len(again), bad, len(servers))
		}
		for i, s := range again {
			if s.Addr != servers[i].Addr || s.Fingerprint != servers[i].Fingerprint {
				t.Fatalf("written back, server %d is %+v, want %+v", i, s, servers[i])
			}
		}

		// Trust adds a line and keeps the others.
		path := filepath.Join(dir, file)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		k := NewKnownServers(path)
		const addr = "fuzz.example:9"
		newFP := testFP("fuzz")
		err := k.Trust(addr, newFP)
		known, _, cerr := k.Check(addr, newFP)
		var certErr *CertificateError
		switch {
		case errors.As(err, &certErr):
			// The file has the address with another fingerprint.
			if certErr.Addr != addr || certErr.Got != newFP || !validFingerprint(certErr.Want) || certErr.Line < 1 {
				t.Fatalf("Trust: %+v", certErr)
			}
			return
		case err != nil:
			t.Fatalf("Trust: %v", err)
		case !known || cerr != nil:
			t.Fatalf("after Trust, Check = %v, %v", known, cerr)
		}
		after, _, err := k.Load()
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range servers {
			if i >= len(after) || after[i] != s {
				t.Fatalf("after Trust, server %d is %+v, want %+v", i, after[i:], s)
			}
		}
	})
}

// TestKnownServersLongLine checks that a line too long to read is reported
// with its own line number, comments and blank lines counted.
func TestKnownServersLongLine(t *testing.T) {
	data := "# comment\n\nh:1 " + testFP("a") + "\n" + strings.Repeat("x", 2<<20) + "\n"
	servers, malformed := parseKnown("f", []byte(data))
	var le *LineError
	if len(servers) != 1 || len(malformed) != 1 || !errors.As(malformed[0], &le) || le.Line != 4 {
		t.Fatalf("parseKnown = %v, %v; want one server and an error at line 4", servers, malformed)
	}
}

// FuzzSplitAddress checks that SplitAddress never panics and that what it
// accepts joins back to what it was given.
func FuzzSplitAddress(f *testing.F) {
	for _, seed := range []string{"127.0.0.1:7700", "h:1#" + testFP("a"), "h:1#sha256:x", "#", "[::1]:2#", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		addr, fp, err := SplitAddress(s)
		if err != nil {
			if !strings.Contains(err.Error(), "server address") {
				t.Fatalf("error %q does not say what it is about", err)
			}
			return
		}
		if addr == "" || fp != "" && !validFingerprint(fp) {
			t.Fatalf("SplitAddress(%q) = %q, %q", s, addr, fp)
		}
		if joined := addr + "#" + fp; joined != s && (fp != "" || addr != strings.TrimSuffix(s, "#")) {
			t.Fatalf("SplitAddress(%q) = %q, %q", s, addr, fp)
		}
	})
}

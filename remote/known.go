package remote

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// KnownServers is the trust-on-first-use file of a client, like SSH's
// known_hosts: the certificate fingerprint each server address presented the
// first time, one server a line:
//
//	# comments and blank lines are ignored
//	127.0.0.1:7700 sha256:Qm9vLi4u...
//	gpu.example.org:7700 sha256:...
//
// The file is read again on every look-up, so a line deleted by hand takes
// effect at the next connection. Lines are added by appending one whole line
// in a single write to a file opened with O_APPEND, so a concurrent reader
// (or another client appending) never sees half a line. A malformed line is
// reported with its file and line number and otherwise ignored. An address
// may have several lines (two clients trusting it at once): a certificate is
// known if any of them has its fingerprint.
//
// A KnownServers is safe for concurrent use.
type KnownServers struct {
	path string
	mu   sync.Mutex // serializes the look-up and append of Trust in this process
}

// NewKnownServers returns the known servers kept in the file at path. The
// file and its directory are created (0600 and 0700) when the first line is
// added.
func NewKnownServers(path string) *KnownServers {
	return &KnownServers{path: path}
}

// DefaultKnownServersPath returns the default path of the known servers
// file: known_servers in the sperse directory of os.UserConfigDir
// ($XDG_CONFIG_HOME/sperse/known_servers on Linux).
func DefaultKnownServersPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("known servers: %w", err)
	}
	return filepath.Join(dir, "sperse", "known_servers"), nil
}

// Path returns the path of the file.
func (k *KnownServers) Path() string { return k.path }

// KnownServer is one line of the known servers file.
type KnownServer struct {
	Addr        string // HOST:PORT, as normalized by NormalizeAddr
	Fingerprint string // sha256:...
	Line        int    // 1-based line number in the file
}

// LineError is a malformed line of the known servers file.
type LineError struct {
	File string
	Line int
	Msg  string
}

func (e *LineError) Error() string {
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// CertificateError is a server certificate that does not match what the
// client expects: the fingerprint pinned in the address, or the one in the
// known servers file. It says how to fix it.
type CertificateError struct {
	Addr string // the server's address, HOST:PORT
	Got  string // the fingerprint of the certificate the server presented
	Want string // the fingerprint expected
	File string // the known servers file holding Want; "" if Want was pinned in the address
	Line int    // the line of File holding Want
}

func (e *CertificateError) Error() string {
	if e.File == "" {
		return fmt.Sprintf("server %s presented certificate %s but the address pins %s; "+
			"check the fingerprint the server printed, or if its certificate was replaced on purpose, pin the new one with %s#%s",
			e.Addr, e.Got, e.Want, e.Addr, e.Got)
	}
	return fmt.Sprintf("server %s presented certificate %s but known_servers (%s, line %d) has %s; "+
		"if the server's certificate was replaced on purpose, delete that line, or pin the new one with %s#%s",
		e.Addr, e.Got, e.File, e.Line, e.Want, e.Addr, e.Got)
}

// NormalizeAddr returns addr ("HOST:PORT") in the form the known servers
// file uses: the host in lower case, an IPv6 host in brackets.
func NormalizeAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("server address %q: %w", addr, err)
	}
	if host == "" || port == "" {
		return "", fmt.Errorf("server address %q: want HOST:PORT", addr)
	}
	return net.JoinHostPort(strings.ToLower(host), port), nil
}

// Load reads the file and returns its servers in file order and its
// malformed lines (each a *LineError). A missing file has no servers; err is
// only for a file that cannot be read.
func (k *KnownServers) Load() (servers []KnownServer, malformed []error, err error) {
	data, err := os.ReadFile(k.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("known servers: %w", err)
	}
	servers, malformed = parseKnown(k.path, data)
	return servers, malformed, nil
}

func parseKnown(file string, data []byte) (servers []KnownServer, malformed []error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		bad := func(format string, args ...any) {
			malformed = append(malformed, &LineError{File: file, Line: n, Msg: fmt.Sprintf(format, args...)})
		}
		if len(fields) != 2 {
			bad("want HOST:PORT sha256:FINGERPRINT, got %d fields", len(fields))
			continue
		}
		addr, err := NormalizeAddr(fields[0])
		if err != nil {
			bad("%v", err)
			continue
		}
		if !validFingerprint(fields[1]) {
			bad("bad fingerprint %q: want sha256: and 43 base64url characters", fields[1])
			continue
		}
		servers = append(servers, KnownServer{Addr: addr, Fingerprint: fields[1], Line: n})
	}
	if err := sc.Err(); err != nil {
		malformed = append(malformed, &LineError{File: file, Line: n + 1, Msg: err.Error()})
	}
	return servers, malformed
}

// Check reports whether the server at addr is known with fingerprint fp. It
// returns known false and no error for an address the file does not have, a
// *CertificateError for an address the file has with other fingerprints, and
// the malformed lines it skipped.
func (k *KnownServers) Check(addr, fp string) (known bool, malformed []error, err error) {
	addr, err = NormalizeAddr(addr)
	if err != nil {
		return false, nil, err
	}
	servers, malformed, err := k.Load()
	if err != nil {
		return false, malformed, err
	}
	var first *KnownServer
	for i, s := range servers {
		if s.Addr != addr {
			continue
		}
		if s.Fingerprint == fp {
			return true, malformed, nil
		}
		if first == nil {
			first = &servers[i]
		}
	}
	if first != nil {
		return false, malformed, &CertificateError{Addr: addr, Got: fp, Want: first.Fingerprint, File: k.path, Line: first.Line}
	}
	return false, malformed, nil
}

// Trust remembers that the server at addr has fingerprint fp, appending a
// line to the file unless the file already has it. If the file has the
// address with another fingerprint (another client trusted it meanwhile),
// Trust adds nothing and returns the *CertificateError of Check.
func (k *KnownServers) Trust(addr, fp string) error {
	if !validFingerprint(fp) {
		return fmt.Errorf("known servers: bad fingerprint %q", fp)
	}
	addr, err := NormalizeAddr(addr)
	if err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	known, _, err := k.Check(addr, fp)
	if err != nil || known {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(k.path), 0o700); err != nil {
		return fmt.Errorf("known servers: %w", err)
	}
	f, err := os.OpenFile(k.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("known servers: %w", err)
	}
	line := addr + " " + fp + "\n"
	// A file edited by hand may lack its last newline: start a line of our own.
	if st, err := f.Stat(); err == nil && st.Size() > 0 && !endsWithNewline(k.path, st.Size()) {
		line = "\n" + line
	}
	_, err = f.WriteString(line)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("known servers: %w", err)
	}
	return nil
}

// endsWithNewline reports whether the file at path, of the given size, ends
// with a newline.
func endsWithNewline(path string, size int64) bool {
	f, err := os.Open(path)
	if err != nil {
		return true
	}
	defer f.Close()
	var b [1]byte
	if _, err := f.ReadAt(b[:], size-1); err != nil {
		return true
	}
	return b[0] == '\n'
}

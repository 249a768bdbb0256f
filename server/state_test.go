package server

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sperse/sperse/remote"
)

func TestLoadOrCreateCertificate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	first, err := LoadOrCreateCertificate(dir)
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadOrCreateCertificate(dir)
	if err != nil {
		t.Fatal(err)
	}
	fp1, fp2 := remote.Fingerprint(first.Certificate[0]), remote.Fingerprint(again.Certificate[0])
	if fp1 != fp2 {
		t.Errorf("fingerprint changed across loads: %s, then %s", fp1, fp2)
	}
	wantMode(t, dir, 0o700)
	wantMode(t, filepath.Join(dir, IdentityFile), 0o600)
	if leaf, err := x509.ParseCertificate(again.Certificate[0]); err != nil || leaf.PublicKeyAlgorithm != x509.ECDSA {
		t.Errorf("certificate: %v, %v; want an ECDSA certificate", leaf, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("state directory holds %d files, want 1 (no temporary files left)", len(entries))
	}

	// A key file others can read is refused.
	if err := os.Chmod(filepath.Join(dir, IdentityFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateCertificate(dir); err == nil || !strings.Contains(err.Error(), "readable by others") {
		t.Errorf("loading a readable key: %v, want an error", err)
	}
	// A damaged file is an error, not silently replaced.
	os.Chmod(filepath.Join(dir, IdentityFile), 0o600)
	os.WriteFile(filepath.Join(dir, IdentityFile), []byte("junk"), 0o600)
	if _, err := LoadOrCreateCertificate(dir); err == nil || !strings.Contains(err.Error(), "remove it") {
		t.Errorf("loading a damaged file: %v, want an error", err)
	}
}

func TestGenerateCertificate(t *testing.T) {
	a, err := GenerateCertificate()
	if err != nil {
		t.Fatal(err)
	}
	b, err := GenerateCertificate()
	if err != nil {
		t.Fatal(err)
	}
	if remote.Fingerprint(a.Certificate[0]) == remote.Fingerprint(b.Certificate[0]) {
		t.Error("two generated certificates have the same fingerprint")
	}
	if a.Leaf == nil || a.PrivateKey == nil {
		t.Error("generated certificate has no leaf or no key")
	}
}

func TestLoadOrCreateToken(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	tok, created, err := LoadOrCreateToken(dir)
	if err != nil || !created {
		t.Fatalf("first LoadOrCreateToken: %q, %v, %v; want a new token", tok, created, err)
	}
	if len(tok) != 43 || checkToken(tok) != nil {
		t.Errorf("token %q: want 43 base64url characters", tok)
	}
	again, created, err := LoadOrCreateToken(dir)
	if err != nil || created || again != tok {
		t.Errorf("second LoadOrCreateToken: %q, %v, %v; want the same token, not created", again, created, err)
	}
	wantMode(t, filepath.Join(dir, TokenFile), 0o600)
	wantMode(t, dir, 0o700)
}

func TestReadTokenFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	path := write("good", "# clients\n\n  alpha-token-1  \nbeta-token-2\n# gamma-token-3\n")
	got, err := ReadTokenFile(path)
	if err != nil || len(got) != 2 || got[0].Secret != "alpha-token-1" || got[1].Secret != "beta-token-2" || got[0].scoped() || got[1].scoped() {
		t.Errorf("ReadTokenFile = %d tokens, %v", len(got), err)
	}

	for _, tc := range []struct{ name, content, want string }{
		{"space", "# x\ngood-token\nbad token secret\n", ":3: field 2 is not tags=... or provides=..."},
		{"control", "ok-token\n\x01secret\n", ":2: token has a space, control or non-ASCII character"},
		{"too long", strings.Repeat("s", 2000) + "\n", ":1: token is 2000 bytes"},
		{"empty", "# nothing\n\n", "no tokens"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := write(tc.name, tc.content)
			_, err := ReadTokenFile(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ReadTokenFile: %v, want an error with %q", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q shows the line", err)
			}
		})
	}
	if _, err := ReadTokenFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("ReadTokenFile of a missing file: no error")
	}
}

func TestDefaultStateDir(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/var/state")
	if got, err := DefaultStateDir("alpha"); err != nil || got != "/var/state/sperse/server-alpha" {
		t.Errorf("DefaultStateDir = %q, %v", got, err)
	}
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("XDG_CONFIG_HOME", "/home/u/.config")
	if got, err := DefaultStateDir("alpha"); err != nil || got != "/home/u/.config/sperse/server-alpha" {
		t.Errorf("DefaultStateDir without XDG_STATE_HOME = %q, %v", got, err)
	}
	if _, err := DefaultStateDir("../x"); err == nil {
		t.Error("DefaultStateDir accepts a name with a path in it")
	}
}

func TestTokenSet(t *testing.T) {
	set := newTokenSet([]string{"first-token", "second-token"})
	for tok, want := range map[string]bool{
		"first-token": true, "second-token": true, "": false, "first-toke": false, "first-tokenx": false,
	} {
		if got := set.has(tok); got != want {
			t.Errorf("has(%q) = %v, want %v", tok, got, want)
		}
	}
}

func wantMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != want {
		t.Errorf("%s has mode %04o, want %04o", path, got, want)
	}
}

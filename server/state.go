package server

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// Files of a state directory.
const (
	// IdentityFile holds the server's certificate and private key, PEM
	// encoded, readable by its owner only.
	IdentityFile = "identity.pem"
	// TokenFile holds the generated client token, readable by its owner only.
	TokenFile = "token"
)

// DefaultStateDir returns where the server named name keeps its certificate
// and generated token: $XDG_STATE_HOME/sperse/server-NAME if XDG_STATE_HOME is
// set, otherwise sperse/server-NAME under os.UserConfigDir.
func DefaultStateDir(name string) (string, error) {
	if !validName(name) {
		return "", fmt.Errorf("server name %q: want 1 to 64 letters, digits, '_', '.' or '-'", name)
	}
	base := os.Getenv("XDG_STATE_HOME")
	if base == "" || !filepath.IsAbs(base) {
		dir, err := os.UserConfigDir()
		if err != nil {
			return "", fmt.Errorf("no state directory: %w (give one with --state-dir)", err)
		}
		base = dir
	}
	return filepath.Join(base, "sperse", "server-"+name), nil
}

// makeStateDir creates dir, readable by its owner only, if it does not exist.
func makeStateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	return nil
}

// createFile writes data to path atomically with mode perm, unless path
// already exists: the data goes to a temporary file in the same directory,
// which is synced and then linked to path, so a reader never sees a partial
// file and two processes creating the same file at once do not overwrite
// each other. It returns an error wrapping fs.ErrExist if path exists.
func createFile(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("create %s: %w", path, fs.ErrExist)
		}
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // make the new name durable; not all systems can sync a directory
		d.Close()
	}
	return nil
}

// readPrivateFile reads path, a file that must be readable by its owner only.
func readPrivateFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if runtime.GOOS != "windows" && info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s is readable by others (mode %04o): run chmod 600 %s", path, info.Mode().Perm(), path)
	}
	const maxPrivateFile = 1 << 20
	data, err := io.ReadAll(io.LimitReader(f, maxPrivateFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxPrivateFile {
		return nil, fmt.Errorf("%s is over %d bytes: too large for a key or token file", path, maxPrivateFile)
	}
	return data, nil
}

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFlags(t *testing.T) {
	config := t.TempDir()
	if err := os.MkdirAll(filepath.Join(config, "themes"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(config, "themes", "ocean.json"), []byte(`{"ready": "#12345g"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--theme", "ocean", "--config-dir", config}, 2, `ocean.json: field "ready": "#12345g" is not a colour`},
		{[]string{"--theme", "nope", "--config-dir", config}, 2, `no theme "nope": the built-in themes are dark, high-contrast, light, mono`},
		{[]string{"--local", "0"}, 2, "usage: sperse-tui"},
		{[]string{"extra"}, 2, "usage: sperse-tui"},
		{[]string{"--bogus"}, 2, "flag provided but not defined"},
	} {
		var stderr bytes.Buffer
		code := run(t.Context(), tc.args, &stderr)
		if code != tc.code || !strings.Contains(stderr.String(), tc.msg) {
			t.Errorf("sperse-tui %s = %d, %q; want %d and %q", strings.Join(tc.args, " "), code, stderr.String(), tc.code, tc.msg)
		}
	}
}

func TestDirs(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/state")
	if got := userStateDir(); got != "/state/sperse" {
		t.Errorf("userStateDir() = %q", got)
	}
	t.Setenv("XDG_STATE_HOME", "relative")
	t.Setenv("HOME", "/home/u")
	if got := userStateDir(); got != "/home/u/.local/state/sperse" {
		t.Errorf("userStateDir() with a relative XDG_STATE_HOME = %q", got)
	}
}

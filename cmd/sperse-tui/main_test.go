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
	recordings := t.TempDir()
	write := func(name, data string) string {
		path := filepath.Join(recordings, name)
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	empty := write("empty.jsonl", "")
	newer := write("newer.jsonl", `{"format":"sperse-recording","version":99,"started":"2026-01-02T03:04:05Z"}`+"\n")
	torn := write("torn.jsonl", `{"format":"sperse-recording","vers`)
	notOne := write("w.sp", "a = 1\n")
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--replay", filepath.Join(recordings, "missing.jsonl")}, 2, "sperse-tui: open " + filepath.Join(recordings, "missing.jsonl") + ": no such file or directory"},
		{[]string{"--replay", empty}, 2, "sperse-tui: " + empty + ": the recording is empty"},
		{[]string{"--replay", newer}, 2, "sperse-tui: " + newer + ": recorded by format version 99; this sperse reads version 1: upgrade sperse"},
		{[]string{"--replay", torn}, 2, "sperse-tui: " + torn + ": not a sperse recording: the first line is not whole"},
		{[]string{"--replay", notOne}, 2, "sperse-tui: " + notOne + ": not a sperse recording: line 1 is not a recording header"},
		{[]string{"--replay", empty, "--speed", "100"}, 2, "--speed 100: the speed is from 0.125 to 64"},
		{[]string{"--replay", empty, "--load", notOne}, 2, "--replay plays a recording with no workspace: --load does not go with it"},
		{[]string{"--replay", empty, "--record", "x.jsonl"}, 2, "--record does not go with it"},
		{[]string{"--speed", "2"}, 2, "--speed goes with --replay"},
		{[]string{"--load", notOne, "--record", notOne}, 2, "--record " + notOne + " would overwrite the workspace loaded"},
		{[]string{"--record", filepath.Join(recordings, "no", "x.jsonl"), "--state-dir", t.TempDir(), "--local", "1"}, 2,
			"sperse-tui: cannot record to " + filepath.Join(recordings, "no", "x.jsonl") + ": no such file or directory"},
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

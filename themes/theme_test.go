package themes

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBuiltins(t *testing.T) {
	want := []string{"dark", "high-contrast", "light", "mono"}
	if got := Names(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
	for _, name := range want {
		th, ok := Builtin(name)
		if !ok || th.Name != name {
			t.Errorf("Builtin(%q) = %q, %v", name, th.Name, ok)
		}
		if name == "mono" {
			if !th.Mono || th.Error != nil {
				t.Errorf("mono has colours: %+v", th)
			}
			continue
		}
		for _, c := range []any{th.Text, th.Muted, th.Accent, th.Queued, th.Running, th.Ready, th.Error, th.UpstreamError, th.Cancelled, th.Stale, th.Unavailable, th.Selection} {
			if c == nil {
				t.Errorf("%s lacks a colour: %+v", name, th)
				break
			}
		}
	}
	if Default(true).Name != "mono" || Default(false).Name != "dark" {
		t.Error("Default: want mono with NO_COLOR, dark without")
	}
}

func TestFind(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name+".json"), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("ocean", `{"base": "light", "accent": "#0af", "error": "196", "muted": ""}`)
	write("badcolour", `{"ready": "#12345g"}`)
	write("badfield", `{"redy": "#123456"}`)
	write("badbase", `{"base": "solarized"}`)
	write("notstring", `{"ready": 12}`)
	write("dark", `{"accent": "#ffffff"}`) // overrides the built-in
	write("broken", `{"ready": `)

	th, err := Find("ocean", dir)
	if err != nil {
		t.Fatal(err)
	}
	light := Light()
	if th.Name != "ocean" || th.Text != light.Text || th.Accent == light.Accent || th.Muted != nil {
		t.Errorf("ocean = %+v", th)
	}
	if th, err := Find("dark", dir); err != nil || th.Accent == Dark().Accent {
		t.Errorf("a file dark.json does not override the built-in: %v", err)
	}
	if th, err := Find("mono", dir); err != nil || !th.Mono {
		t.Errorf("Find(mono) = %+v, %v", th, err)
	}

	for _, tc := range []struct {
		name, field, msg string
	}{
		{"badcolour", "ready", `"#12345g" is not a colour`},
		{"badfield", "redy", "unknown field; the fields are base, text"},
		{"badbase", "base", `no built-in theme "solarized"`},
		{"notstring", "ready", "want a string, got 12"},
	} {
		_, err := Find(tc.name, dir)
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Errorf("Find(%s) = %v, want a *FieldError", tc.name, err)
			continue
		}
		if fe.Field != tc.field || !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), tc.name+".json") {
			t.Errorf("Find(%s) = %q, want field %q and %q", tc.name, err, tc.field, tc.msg)
		}
	}
	if _, err := Find("broken", dir); err == nil || !strings.Contains(err.Error(), "broken.json") {
		t.Errorf("Find(broken) = %v", err)
	}
	_, err = Find("nope", dir)
	var nf *NotFoundError
	if !errors.As(err, &nf) || !strings.Contains(err.Error(), "high-contrast") || !strings.Contains(err.Error(), "nope.json") {
		t.Errorf("Find(nope) = %v", err)
	}
	if _, err := Find("../etc/passwd", dir); err == nil {
		t.Error("a name with a path finds something")
	}
}

func TestParseColor(t *testing.T) {
	for _, s := range []string{"", "#fff", "#a0b1c2", "0", "255"} {
		if _, err := ParseColor(s); err != nil {
			t.Errorf("ParseColor(%q) = %v", s, err)
		}
	}
	for _, s := range []string{"#ffff", "#ggg", "256", "-1", "red", "#", "0x12"} {
		if _, err := ParseColor(s); err == nil {
			t.Errorf("ParseColor(%q) is no error", s)
		}
	}
}

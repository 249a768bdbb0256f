package themes

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"charm.land/lipgloss/v2"
)

// MaxFileSize is the largest theme file Parse accepts.
const MaxFileSize = 64 << 10

// FieldError is the error of a theme file with a bad field: unknown, or not
// a colour.
type FieldError struct {
	File  string // the file's path
	Field string // the JSON field, such as "upstream-error"
	Msg   string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("theme %s: field %q: %s", e.File, e.Field, e.Msg)
}

// NotFoundError is the error of Find for a name that is neither a built-in
// theme nor a file in the themes directory.
type NotFoundError struct {
	Name string
	Dir  string // where Find looked for NAME.json; "" if nowhere
}

func (e *NotFoundError) Error() string {
	msg := fmt.Sprintf("no theme %q: the built-in themes are %s", e.Name, strings.Join(Names(), ", "))
	if e.Dir != "" {
		msg += "; a custom theme is a file " + filepath.Join(e.Dir, e.Name+".json")
	}
	return msg
}

// validName is a theme name that can be a file name.
var validName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.\-]*$`)

// Dir returns the themes directory inside the sperse config directory
// configDir: configDir/themes.
func Dir(configDir string) string {
	if configDir == "" {
		return ""
	}
	return filepath.Join(configDir, "themes")
}

// Find returns the theme called name: a file name.json in dir if there is
// one (so a user may override a built-in theme), the built-in theme of that
// name otherwise. dir may be "" for the built-in themes only. It reads a
// file: call it off the user interface's update loop.
func Find(name, dir string) (Theme, error) {
	if dir != "" && validName.MatchString(name) {
		path := filepath.Join(dir, name+".json")
		data, err := os.ReadFile(path)
		switch {
		case err == nil:
			return Parse(path, data)
		case !errors.Is(err, fs.ErrNotExist):
			return Theme{}, fmt.Errorf("theme %s: %w", path, err)
		}
	}
	if t, ok := Builtin(name); ok {
		return t, nil
	}
	return Theme{}, &NotFoundError{Name: name, Dir: dir}
}

// fields are the colour fields of a theme file, in the order of the
// package documentation, with where each goes in a Theme.
var fields = []struct {
	name string
	ptr  func(*Theme) *color.Color
}{
	{"text", func(t *Theme) *color.Color { return &t.Text }},
	{"muted", func(t *Theme) *color.Color { return &t.Muted }},
	{"accent", func(t *Theme) *color.Color { return &t.Accent }},
	{"border", func(t *Theme) *color.Color { return &t.Border }},
	{"border-focus", func(t *Theme) *color.Color { return &t.BorderFocus }},
	{"selection", func(t *Theme) *color.Color { return &t.Selection }},
	{"selection-text", func(t *Theme) *color.Color { return &t.SelectionText }},
	{"queued", func(t *Theme) *color.Color { return &t.Queued }},
	{"running", func(t *Theme) *color.Color { return &t.Running }},
	{"ready", func(t *Theme) *color.Color { return &t.Ready }},
	{"error", func(t *Theme) *color.Color { return &t.Error }},
	{"upstream-error", func(t *Theme) *color.Color { return &t.UpstreamError }},
	{"cancelled", func(t *Theme) *color.Color { return &t.Cancelled }},
	{"stale", func(t *Theme) *color.Color { return &t.Stale }},
	{"unavailable", func(t *Theme) *color.Color { return &t.Unavailable }},
}

// Parse parses the theme file at path with contents data (see the package
// documentation). The theme's name is the file's name without ".json". A bad
// field is a *FieldError.
func Parse(path string, data []byte) (Theme, error) {
	if len(data) > MaxFileSize {
		return Theme{}, fmt.Errorf("theme %s: file is %d bytes; a theme may be at most %d", path, len(data), MaxFileSize)
	}
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&raw); err != nil {
		return Theme{}, fmt.Errorf("theme %s: not a JSON object: %w", path, err)
	}
	if raw == nil {
		return Theme{}, fmt.Errorf("theme %s: not a JSON object", path)
	}
	if dec.More() {
		return Theme{}, fmt.Errorf("theme %s: more than one JSON value", path)
	}
	str := func(field string) (string, error) {
		var s string
		if err := json.Unmarshal(raw[field], &s); err != nil {
			return "", &FieldError{File: path, Field: field, Msg: "want a string, got " + string(raw[field])}
		}
		return s, nil
	}

	t := Dark()
	if _, ok := raw["base"]; ok {
		base, err := str("base")
		if err != nil {
			return Theme{}, err
		}
		b, ok := Builtin(base)
		if !ok {
			return Theme{}, &FieldError{File: path, Field: "base", Msg: fmt.Sprintf("no built-in theme %q: want one of %s", base, strings.Join(Names(), ", "))}
		}
		t = b
	}
	t.Name = strings.TrimSuffix(filepath.Base(path), ".json")

	known := map[string]bool{"base": true}
	for _, f := range fields {
		known[f.name] = true
		if _, ok := raw[f.name]; !ok {
			continue
		}
		s, err := str(f.name)
		if err != nil {
			return Theme{}, err
		}
		c, err := ParseColor(s)
		if err != nil {
			return Theme{}, &FieldError{File: path, Field: f.name, Msg: err.Error()}
		}
		*f.ptr(&t) = c
		if c != nil {
			t.Mono = false
		}
	}
	var unknown []string
	for name := range raw {
		if !known[name] {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		names := make([]string, 0, len(fields)+1)
		names = append(names, "base")
		for _, f := range fields {
			names = append(names, f.name)
		}
		return Theme{}, &FieldError{File: path, Field: unknown[0], Msg: "unknown field; the fields are " + strings.Join(names, ", ")}
	}
	return t, nil
}

// ParseColor parses a colour of a theme file: "#RRGGBB", "#RGB", an ANSI
// colour number "0" to "255", or "" for the terminal's default (nil).
func ParseColor(s string) (color.Color, error) {
	const want = `want "#RRGGBB", "#RGB", an ANSI colour number "0" to "255", or "" for the terminal's default`
	switch {
	case s == "":
		return nil, nil
	case strings.HasPrefix(s, "#"):
		h := s[1:]
		if len(h) != 3 && len(h) != 6 {
			return nil, fmt.Errorf("%q is not a colour: %s", s, want)
		}
		if _, err := strconv.ParseUint(h, 16, 32); err != nil {
			return nil, fmt.Errorf("%q is not a colour: %s", s, want)
		}
		return lipgloss.Color(s), nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 255 {
		return nil, fmt.Errorf("%q is not a colour: %s", s, want)
	}
	return lipgloss.Color(s), nil
}

func hex(s string) color.Color { return lipgloss.Color(s) }

func ansi(n int) color.Color { return lipgloss.Color(strconv.Itoa(n)) }

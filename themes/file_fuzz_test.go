package themes

import (
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"strconv"
	"strings"
	"testing"

	"charm.land/lipgloss/v2"
	xansi "github.com/charmbracelet/x/ansi"
)

// FuzzParse parses arbitrary bytes as a theme file. Parsing never panics;
// an error names the file (and a bad field's name); a theme it accepts,
// written back as a file with every field, parses to the same colours. Run
// it with
//
//	go test -run XXX -fuzz FuzzParse -fuzztime 60s ./themes/
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		`{"base": "light", "accent": "#0af", "error": "196", "muted": ""}`,
		`{"base": "mono", "ready": "#12345g"}`,
		`{"redy": "#123456"}`,
		`{"base": "solarized"}`,
		`{"ready": 12}`,
		`{"ready": `,
		`{} {}`,
		`null`,
		`{"text": "+7", "muted": "0255", "queued": "#ABCDEF"}`,
		`{"base": "mono", "stale": ""}`,
	} {
		f.Add([]byte(seed))
	}
	const path = "/themes/fuzz.json"
	f.Fuzz(func(t *testing.T, data []byte) {
		th, err := Parse(path, data)
		if err != nil {
			var fe *FieldError
			if errors.As(err, &fe) && (fe.File != path || fe.Msg == "") {
				t.Fatalf("field error %+v lacks the file or a message", fe)
			}
			if !strings.HasPrefix(err.Error(), "theme "+path+": ") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if th.Name != "fuzz" {
			t.Fatalf("name %q, want fuzz", th.Name)
		}
		file := map[string]string{"base": "dark"}
		if th.Mono {
			file["base"] = "mono"
		}
		for _, fd := range fields {
			c := *fd.ptr(&th)
			if _, isNone := c.(lipgloss.NoColor); isNone {
				t.Fatalf("field %s: parsed to no colour", fd.name)
			}
			file[fd.name] = colorString(c)
		}
		text, err := json.Marshal(file)
		if err != nil {
			t.Fatal(err)
		}
		again, err := Parse(path, text)
		if err != nil {
			t.Fatalf("written back as %s: %v", text, err)
		}
		if again.Mono != th.Mono {
			t.Fatalf("written back as %s: mono %v, want %v", text, again.Mono, th.Mono)
		}
		for _, fd := range fields {
			if got, want := colorString(*fd.ptr(&again)), colorString(*fd.ptr(&th)); got != want {
				t.Fatalf("written back as %s: %s is %q, want %q", text, fd.name, got, want)
			}
		}
	})
}

// colorString writes c as a theme file does: "" for none, an ANSI colour's
// number, or "#rrggbb".
func colorString(c color.Color) string {
	switch c := c.(type) {
	case nil:
		return ""
	case xansi.BasicColor:
		return strconv.Itoa(int(c))
	case xansi.IndexedColor:
		return strconv.Itoa(int(c))
	}
	r, g, b, _ := c.RGBA()
	return fmt.Sprintf("#%02x%02x%02x", r>>8, g>>8, b>>8)
}

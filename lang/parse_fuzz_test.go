package lang

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// FuzzParseFile checks that no input makes the parser panic; that an error
// for the whole file names a line of it; that every cell it returns is
// either parsed (a name, no error) or carries an error, starts on a line of
// the file and has its text from there; and that a file whose cells all
// parse, saved as sperse-tui's :save writes it (the cells' texts joined by
// blank lines), parses back to the same cells. Run it with
//
//	go test -run XXX -fuzz FuzzParseFile -fuzztime 60s ./lang/
func FuzzParseFile(f *testing.F) {
	for _, seed := range []string{
		"x = 1\n", "x = remote@a,b y\n", "def f(x):\n    return x\n", "1 +\n", "a = [\n",
		"s = '''\n", "remote\n", "c = a + \\\n  b\n", "\tx = 1\n", "x = 1; y = 2\n",
		"# comment\n\ny = [1,\n  2]  # the end\nz = '''a\n\nb'''\n_1 = 3\n4\n",
		"remote def f(n):\n    return n\n\n\nx = f(2)\n",
		"x = 1\r\ny = 2\r\n", "x = 1\x00", "x = '\xff'\n",
	} {
		f.Add([]byte(seed))
	}
	fileErr := regexp.MustCompile(`^fuzz\.sp:(\d+): `)
	lineEnds := regexp.MustCompile(`\r+(\n|$)`) // a cell's text has none
	f.Fuzz(func(t *testing.T, src []byte) {
		cells, err := ParseFile("fuzz.sp", src)
		lines := strings.Count(string(src), "\n") + 1
		if err != nil {
			m := fileErr.FindStringSubmatch(err.Error())
			if len(src) <= MaxFileSize && m == nil {
				t.Fatalf("error %q names no line", err)
			}
			if n, _ := strconv.Atoi(m[1]); n < 1 || n > lines {
				t.Fatalf("error %q: the file has %d lines", err, lines)
			}
			return
		}
		text := lineEnds.ReplaceAllString(string(src), "$1")
		allParsed := true
		for _, c := range cells {
			if c.Err == nil && c.Name == "" {
				t.Errorf("cell at %s parsed without a name", c.Pos)
			}
			if c.Pos.File != "fuzz.sp" || c.Pos.Line < 1 || c.Pos.Line > lines || !strings.Contains(text, c.Source) {
				t.Fatalf("cell %q at %s: not a line of the file, or not its text", c.Source, c.Pos)
			}
			allParsed = allParsed && c.Err == nil
		}
		if !allParsed {
			return
		}
		sources := make([]string, len(cells))
		for i, c := range cells {
			sources[i] = c.Source
		}
		saved := strings.Join(sources, "\n\n") + "\n"
		again, err := ParseFile("saved.sp", []byte(saved))
		if err != nil || len(again) != len(cells) {
			t.Fatalf("saved as %q: %d cells, %v; want %d", saved, len(again), err, len(cells))
		}
		for i, c := range again {
			want := cells[i]
			if c.Name != want.Name || c.Source != want.Source || c.Kind != want.Kind || c.Remote != want.Remote || c.Err != nil {
				t.Fatalf("saved as %q, cell %d is %q %q (%v), want %q %q", saved, i, c.Name, c.Source, c.Err, want.Name, want.Source)
			}
		}
	})
}

package tui

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/sperse/sperse/lang"
)

// FuzzJournal replays arbitrary bytes as the journal of a session that did
// not quit cleanly. Replaying never panics; an error names a line of the
// file; the cells it restores have names, each once; and written back as a
// journal (defRecord), they replay to the same cells. Run it with
//
//	go test -run XXX -fuzz FuzzJournal -fuzztime 60s ./tui/
func FuzzJournal(f *testing.F) {
	def := func(name, src string, line int) string {
		return defRecord(&lang.Cell{Name: name, Source: src, Pos: lang.Pos{File: "<repl>", Line: line}})
	}
	for _, seed := range []string{
		def("a", "a = 1", 1) + "\n" + def("b", "b = remote a * 2", 2) + "\n" + delRecord("a") + "\n",
		def("f", "def f(n):\n    return n * 2", 1) + "\n" + def("_1", "f(3)", 3) + "\n" + `{"op":"def","name":"c","fi`,
		def("a", "b = 1", 1) + "\n" + def("b", "b = 2", 1) + "\n",
		def("bad", "bad = (1 +", 1) + "\n" + def("w", "w.sp:9: x = 1", 99) + "\n",
		"junk\n" + def("a", "a = 1", 1) + "\n",
		`{"op":"def","name":"x","file":"w.sp","line":2147483647,"src":"x = 1"}` + "\n",
		`{"op":"del","name":"nothing"}` + "\r\n\n",
	} {
		f.Add([]byte(seed))
	}
	lineErr := regexp.MustCompile(`^journal line (\d+): not a record$`)
	f.Fuzz(func(t *testing.T, data []byte) {
		cells, err := replayJournal(data)
		if err != nil {
			m := lineErr.FindStringSubmatch(err.Error())
			if m == nil {
				t.Fatalf("error %q names no line", err)
			}
			if n, _ := strconv.Atoi(m[1]); n < 1 || n > strings.Count(string(data), "\n")+1 {
				t.Fatalf("error %q: the file has %d lines", err, strings.Count(string(data), "\n")+1)
			}
			return
		}
		seen := map[string]bool{}
		var back strings.Builder
		for _, c := range cells {
			if c.Name == "" || seen[c.Name] {
				t.Fatalf("cell %q: no name, or twice", c.Name)
			}
			seen[c.Name] = true
			var le *lang.Error
			if errors.As(c.Err, &le) && le.Pos.Line < 1 {
				t.Fatalf("cell %q: error at %s", c.Name, le.Pos)
			}
			back.WriteString(defRecord(c) + "\n")
		}
		again, err := replayJournal([]byte(back.String()))
		if err != nil || len(again) != len(cells) {
			t.Fatalf("written back: %d cells, %v; want %d\n%s", len(again), err, len(cells), back.String())
		}
		for i, c := range again {
			if want := cells[i]; c.Name != want.Name || c.Source != want.Source || c.Pos != want.Pos || (c.Err == nil) != (want.Err == nil) {
				t.Fatalf("written back, cell %d is %q %q at %s (%v), want %q %q at %s (%v)",
					i, c.Name, c.Source, c.Pos, c.Err, want.Name, want.Source, want.Pos, want.Err)
			}
		}
	})
}

// FuzzHistory reads arbitrary bytes as the history file. Reading never
// panics, keeps at most maxHistory entries, none empty; and the entries,
// written back one a line (historyLine), read back the same.
func FuzzHistory(f *testing.F) {
	for _, seed := range []string{
		historyLine("x = 1") + "\n" + historyLine("def f(n):\n    return n") + "\n",
		historyLine("a") + "\n" + `"torn` + "\n" + historyLine("b"),
		`""` + "\n" + `123` + "\n" + `"\u00e9\ud800"` + "\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := parseHistory(strings.NewReader(string(data)))
		if err != nil {
			t.Fatalf("parseHistory: %v", err) // inputs here are far below the line limit
		}
		if len(entries) > maxHistory {
			t.Fatalf("%d entries, want at most %d", len(entries), maxHistory)
		}
		var back strings.Builder
		for _, e := range entries {
			if e == "" {
				t.Fatal("an empty entry")
			}
			back.WriteString(historyLine(e) + "\n")
		}
		again, err := parseHistory(strings.NewReader(back.String()))
		if err != nil || strings.Join(again, "\x00") != strings.Join(entries, "\x00") {
			t.Fatalf("written back: %q, %v; want %q", again, err, entries)
		}
	})
}

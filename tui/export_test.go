package tui

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
)

// table is a table with what JSON and CSV make hard: ragged rows, a comma,
// quotes and a newline in a cell, None, a nested list, a big int, unicode.
const tableSrc = `[
    {"id": 1, "name": "ann", "score": 3.5, "tags": ["a", "b"], "note": None},
    {"id": 2, "name": 'bob, "the builder"', "score": -0.25, "big": 1 << 70},
    {"name": "cy\nline two", "id": 3, "ok": True, "city": "Zürich"},
]`

func export(t *testing.T, src, file string) (string, exportedMsg) {
	t.Helper()
	path := filepath.Join(t.TempDir(), file)
	f, err := formatOf(path)
	if err != nil {
		t.Fatal(err)
	}
	msg := exportCmd("x", eval(t, src), path, f)().(exportedMsg)
	if msg.err != nil {
		t.Fatalf("export %s: %v", file, msg.err)
	}
	return path, msg
}

func TestExportJSONRoundTrip(t *testing.T) {
	path, msg := export(t, tableSrc, "rows.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var got []map[string]any
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("the JSON does not load: %v\n%s", err, data)
	}
	want := []map[string]any{
		{"id": json.Number("1"), "name": "ann", "score": json.Number("3.5"), "tags": []any{"a", "b"}, "note": nil},
		{"id": json.Number("2"), "name": `bob, "the builder"`, "score": json.Number("-0.25"), "big": json.Number("1180591620717411303424")},
		{"name": "cy\nline two", "id": json.Number("3"), "ok": true, "city": "Zürich"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("loaded back\n%v\nwant\n%v", got, want)
	}
	// A row a line, the keys in the dict's order.
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[3], `  {"name": "cy\nline two", "id": 3,`) {
		t.Errorf("the file is not a row a line in order:\n%s", data)
	}
	if msg.size != int64(len(data)) || msg.what != "list · 3 elements" {
		t.Errorf("exported %q, %d bytes; the file has %d", msg.what, msg.size, len(data))
	}
}

func TestExportCSVRoundTrip(t *testing.T) {
	path, msg := export(t, tableSrc, "rows.csv")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("the CSV does not load: %v", err)
	}
	want := [][]string{
		{"id", "name", "score", "tags", "note", "big", "ok", "city"}, // every key, in the order first seen
		{"1", "ann", "3.5", `["a", "b"]`, "", "", "", ""},
		{"2", `bob, "the builder"`, "-0.25", "", "", "1180591620717411303424", "", ""},
		{"3", "cy\nline two", "", "", "", "", "True", "Zürich"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("loaded back\n%q\nwant\n%q", got, want)
	}
	if msg.what != "3 rows × 8 columns" {
		t.Errorf("exported %q", msg.what)
	}

	// Lists: no header, short rows filled.
	path, _ = export(t, `[(1, "a"), (2, "b", 2.5), [3]]`, "t.csv")
	data, _ := os.ReadFile(path)
	got, err = csv.NewReader(bytes.NewReader(data)).ReadAll()
	if want := [][]string{{"1", "a", ""}, {"2", "b", "2.5"}, {"3", "", ""}}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("lists: %q, %v; want %q", got, err, want)
	}
	// And the JSON of the same table loads to the same rows.
	path, _ = export(t, `[(1, "a"), (2, "b", 2.5), [3]]`, "t.json")
	data, _ = os.ReadFile(path)
	var rows [][]any
	if err := json.Unmarshal(data, &rows); err != nil || !reflect.DeepEqual(rows, [][]any{{1.0, "a"}, {2.0, "b", 2.5}, {3.0}}) {
		t.Errorf("lists as JSON: %v, %v", rows, err)
	}
}

func TestExportTextAndRepr(t *testing.T) {
	path, _ := export(t, `"line one\nline \"two\""`, "note.txt")
	if data, _ := os.ReadFile(path); string(data) != "line one\nline \"two\"" {
		t.Errorf(".txt of a string: %q, want its text", data)
	}
	path, _ = export(t, `"line one\nline \"two\""`, "note.star")
	if data, _ := os.ReadFile(path); string(data) != `"line one\nline \"two\""`+"\n" {
		t.Errorf(".star of a string: %q, want its repr", data)
	}
	path, _ = export(t, `{"a": (1, 2), "b": range(3)}`, "v.txt")
	if data, _ := os.ReadFile(path); string(data) != `{"a": (1, 2), "b": range(3)}`+"\n" {
		t.Errorf(".txt of a dict: %q, want its repr", data)
	}
	path, _ = export(t, `range(5)`, "r.json")
	if data, _ := os.ReadFile(path); string(data) != "[\n  0,\n  1,\n  2,\n  3,\n  4\n]\n" {
		t.Errorf("a range as JSON: %q", data)
	}
}

func TestExportErrors(t *testing.T) {
	h := newHarness(t, Options{}, 120, 30)
	h.enter(`rows = ` + strings.ReplaceAll(tableSrc, "\n", " "))
	h.enter(`counts = {"a": 1, "b": 2}`)
	h.enter(`blob = [1, {"data": b"\x00\x01"}]`)
	h.enter(`keys = [{1: "one"}]`)
	h.enter(`odd = [1, float("nan")]`)
	h.enter(`fns = {"f": len}`)
	h.enter(`mixed = [{"a": 1}, [2]]`)
	h.enter(`huge = range(100000000)`)
	h.enter(`bad = 1 // 0`)
	h.settle()
	dir := t.TempDir()
	keep := filepath.Join(dir, "keep.csv")
	if err := os.WriteFile(keep, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cmd, want string
	}{
		{":export rows " + dir + "/rows.xlsx", "export rows: unknown extension .xlsx: :export writes .json, .csv, .txt or .star"},
		{":export rows " + dir + "/rows", "has no extension"},
		{":export rows", "usage: :export NAME FILE"},
		{":export nope " + dir + "/x.json", "no cell nope"},
		{":export bad " + dir + "/x.json", "bad has no value: it is error"},
		{":export counts " + keep, "export counts: a dict is no table: CSV is written from a list of dicts or of lists"},
		{":export mixed " + keep, "export mixed: row 1 is a list, and rows before it are not"},
		{":export blob " + dir + "/b.json", `export blob: [1]["data"] is a bytes: JSON has no bytes`},
		{":export keys " + dir + "/k.json", "export keys: the key 1 of [0] is an int: JSON keys are strings"},
		{":export odd " + dir + "/o.json", "export odd: [1] is nan: JSON has no nan or inf"},
		{":export fns " + dir + "/f.json", `export fns: ["f"] is a builtin_function_or_method: JSON has no builtin_function_or_method`},
		{":export huge " + dir + "/h.json", "export huge: the value is a range of 100,000,000 elements"},
		{":export rows " + dir + "/missing/dir/rows.json", "export rows: cannot write " + dir + "/missing/dir/rows.json: no such file or directory"},
	} {
		h.m.status = ""
		h.enter(tc.cmd)
		h.until("the status of "+tc.cmd, func() bool {
			return strings.Contains(h.m.status, tc.want) || strings.HasPrefix(h.m.status, "export") && !strings.HasSuffix(h.m.status, "…")
		})
		if !strings.Contains(h.m.status, tc.want) || !h.m.statusBad {
			t.Errorf("%s: status %q (bad %v), want %q", tc.cmd, h.m.status, h.m.statusBad, tc.want)
		}
	}
	// A failed export leaves the file that was there, and no other.
	if data, _ := os.ReadFile(keep); string(data) != "old\n" {
		t.Errorf("a failed export changed %s: %q", keep, data)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("files left behind: %v", names)
	}
	h.enter(":export rows " + keep)
	h.until("the export", func() bool { return strings.HasPrefix(h.m.status, "exported") })
	if want := "exported rows to " + keep + ": 3 rows × 8 columns, "; !strings.HasPrefix(h.m.status, want) {
		t.Errorf("status %q, want %q…", h.m.status, want)
	}
}

func TestCopy(t *testing.T) {
	h := newHarness(t, Options{}, 120, 30)
	h.enter(`point = {"x": 1, "y": [2.5, "three"]}`)
	h.enter(`big = "x" * 200000`)
	h.settle()
	var clip tea.Msg
	h.seen = func(msg tea.Msg) {
		if msg == tea.SetClipboard(`{"x": 1, "y": [2.5, "three"]}`)() {
			clip = msg
		}
	}
	h.enter(":copy point")
	h.until("the clipboard", func() bool { return clip != nil })
	if want := "copied the repr of point to the clipboard (29 bytes)"; h.m.status != want {
		t.Errorf("status %q, want %q", h.m.status, want)
	}
	h.enter(":copy big")
	h.until("the refusal", func() bool { return strings.HasPrefix(h.m.status, "copy big") })
	if want := "copy big: its repr is over 100.0 kB, more than the terminal's clipboard takes: :export big FILE writes it whole"; h.m.status != want || !h.m.statusBad {
		t.Errorf("status %q, want %q", h.m.status, want)
	}
	// With no name, the selected cell.
	h.press("esc", "left")
	clip = nil
	h.enter(":copy")
	h.until("the clipboard", func() bool { return clip != nil })
}

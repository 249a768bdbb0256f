package main

import (
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestValueViews shows a remote cell's table in the real program: its card,
// the inspector cycling through its views, and :export read back.
func TestValueViews(t *testing.T) {
	term := newTerminal(t)
	dir := t.TempDir()
	bin := build(t, dir, "sperse-tui", ".")
	stderr := filepath.Join(dir, "stderr")
	term.start(fmt.Sprintf("exec %s --state-dir %s --config-dir %s --local 1 2>>%s",
		bin, filepath.Join(dir, "state"), filepath.Join(dir, "config"), stderr))
	term.waitFor("the workspace to start", `sperse +0 cells`, `1/1 servers`)

	term.typeText(`rows = remote [{"id": i, "name": "n%d" % i} for i in range(500)]`)
	term.press("Enter")
	term.waitFor("the table's card", state("rows", "ready"), card("id name"), card("500 rows"))
	term.press("Escape") // alone: an Escape followed at once by a key is Alt+key
	term.waitFor("the cells focused", `hjkl select`)
	term.press("i")
	term.waitFor("the table in the inspector", `\[table\]  tree   repr`, `500 rows × 2 columns`)
	term.press("v")
	term.waitFor("the tree", `\[tree\]`, `▾ list · 500 items`, `▸ \[0\] dict · 2 keys`)
	term.press("Down", "Enter")
	term.waitFor("the first row open", `▾ \[0\] dict · 2 keys`, `"name": "n0"`)
	term.press("v", "v")
	term.waitFor("the table again", `\[table\]`)

	path := filepath.Join(dir, "rows.csv")
	term.typeText(":export rows " + path)
	term.press("Enter")
	term.waitFor("the export", `exported rows to .*rows\.csv: 500 rows × 2 columns`)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	records, err := csv.NewReader(f).ReadAll()
	if err != nil || len(records) != 501 || records[0][1] != "name" || records[500][1] != "n499" {
		t.Errorf("the CSV read back: %d records, %v", len(records), err)
	}
	term.typeText(":quit")
	term.press("Enter")
	term.waitExit(":quit")
	noStderr(t, stderr)
}

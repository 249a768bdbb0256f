package tui

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestViewsInSession drives the program as a user would: a table cell is
// selected and inspected, its views cycled, its choice kept while another
// cell is looked at, then it is exported and the file read back.
func TestViewsInSession(t *testing.T) {
	h := newHarness(t, Options{}, 120, 40)
	h.enter(`rows = [{"id": i, "name": "user%d" % i, "score": i / 4.0} for i in range(1000)]`)
	h.enter(`xs = [i * i % 17 for i in range(40)]`)
	h.settle()
	h.press("esc", "left") // select rows
	if h.m.selName != "rows" {
		t.Fatalf("selected %q", h.m.selName)
	}
	s := h.screen()
	for _, want := range []string{"1,000 rows", "id name", "user0"} {
		if !strings.Contains(s, want) {
			t.Errorf("the card of rows shows no %q:\n%s", want, s)
		}
	}
	h.press("i")
	if s := h.screen(); !strings.Contains(s, "[table]  tree   repr") || !strings.Contains(s, "1,000 rows × 3 columns") {
		t.Errorf("the inspector shows no table:\n%s", s)
	}
	h.press("v")
	if s := h.screen(); !strings.Contains(s, "[tree]") || !strings.Contains(s, "▾ list · 1,000 items") || !strings.Contains(s, `▸ [0] dict · 3 keys`) {
		t.Errorf("v did not show the tree:\n%s", s)
	}
	// The tree: down to the first row, open it, and back.
	h.press("down", "enter")
	if s := h.screen(); !strings.Contains(s, `▾ [0] dict · 3 keys`) || !strings.Contains(s, `"name": "user0"`) {
		t.Errorf("enter did not open the first row:\n%s", s)
	}
	h.press("down", "left") // from a leaf to its parent
	if h.m.insp.tree.t.cursor != 1 {
		t.Errorf("left on a leaf: cursor on line %d, want its parent's, 1", h.m.insp.tree.t.cursor)
	}
	h.press("left")
	if s := h.screen(); !strings.Contains(s, `▸ [0] dict · 3 keys`) {
		t.Errorf("left did not close the row:\n%s", s)
	}
	h.press("v")
	if s := h.screen(); !strings.Contains(s, "[repr]") || !strings.Contains(s, `{"id": 0, "name": "user0", "score": 0.0},`) {
		t.Errorf("v did not show the repr:\n%s", s)
	}
	// The choice is kept for rows while xs is looked at.
	h.press("esc", "right", "i")
	if s := h.screen(); !strings.Contains(s, "[chart]") || !strings.Contains(s, "count 40") {
		t.Errorf("xs shows no chart:\n%s", s)
	}
	h.press("esc", "left", "i")
	if s := h.screen(); !strings.Contains(s, "[repr]") {
		t.Errorf("rows is not shown as repr, as chosen:\n%s", s)
	}
	h.press("v") // back to the table
	if h.m.insp.view != viewTable {
		t.Fatalf("view %v, want the table", h.m.insp.view)
	}

	dir := t.TempDir()
	csvPath, jsonPath := filepath.Join(dir, "rows.csv"), filepath.Join(dir, "rows.json")
	h.enter(":export rows " + csvPath)
	h.until("the CSV export", func() bool { return strings.HasPrefix(h.m.status, "exported rows") })
	h.enter(":export rows " + jsonPath)
	h.until("the JSON export", func() bool {
		return strings.Contains(h.m.status, "rows.json") && strings.HasPrefix(h.m.status, "exported")
	})
	f, err := os.Open(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	records, err := csv.NewReader(f).ReadAll()
	if err != nil || len(records) != 1001 || strings.Join(records[0], ",") != "id,name,score" || strings.Join(records[1000], ",") != "999,user999,249.75" {
		t.Errorf("the CSV read back: %d records, %v", len(records), err)
	}
	data, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rows []struct {
		ID    int     `json:"id"`
		Name  string  `json:"name"`
		Score float64 `json:"score"`
	}
	if err := json.Unmarshal(data, &rows); err != nil || len(rows) != 1000 || rows[999].Name != "user999" || rows[999].Score != 249.75 {
		t.Errorf("the JSON read back: %d rows, %v", len(rows), err)
	}
}

// TestTableKeys scrolls a wide table's columns with the arrows, and its
// rows under headers that stay.
func TestTableKeys(t *testing.T) {
	h := newHarness(t, Options{}, 80, 30)
	h.enter(`wide = [{"column_%d" % c: r * c for c in range(12)} for r in range(500)]`)
	h.settle()
	h.press("esc", "i", "v", "v", "v") // through tree and repr back to the table, scrolled to it
	if s := h.screen(); !strings.Contains(s, "column_0") || strings.Contains(s, "column_11") || !strings.Contains(s, "←→ scroll") {
		t.Fatalf("the table does not start at its first column:\n%s", s)
	}
	h.press("right", "right", "l")
	if s := h.screen(); strings.Contains(s, "column_0 ") || !strings.Contains(s, "column_3") {
		t.Errorf("right did not scroll the columns:\n%s", s)
	}
	h.press("pgdown", "pgdown")
	s := h.screen()
	if !strings.Contains(s, "column_3") || !strings.Contains(s, " 40 ") {
		t.Errorf("the header did not stay over the rows:\n%s", s)
	}
	h.press("h", "left", "left")
	if s := h.screen(); !strings.Contains(s, "column_0") {
		t.Errorf("left did not scroll back:\n%s", s)
	}
}

// TestViewKeyOnlyWhereViews: v on a value with one view does nothing, and
// the help line offers it only where it does something.
func TestViewKeyOnlyWhereViews(t *testing.T) {
	h := newHarness(t, Options{}, 100, 30)
	h.enter(`n = 42`)
	h.settle()
	h.press("esc", "i")
	if s := h.screen(); strings.Contains(s, "next view") {
		t.Errorf("the help offers views of an int:\n%s", s)
	}
	h.press("v")
	if h.m.insp.view != viewRepr {
		t.Errorf("v changed the view of an int to %v", h.m.insp.view)
	}
}

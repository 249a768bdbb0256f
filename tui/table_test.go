package tui

import (
	"strings"
	"testing"

	"github.com/sperse/sperse/themes"
)

func TestTableColumns(t *testing.T) {
	st := newStyles(themes.Mono())
	v := eval(t, `[{"id": 1, "name": "ann"}, {"name": "bob", "city": "Oslo", "id": 22}, {"id": 3, "score": 2.5, "name": None}]`)
	tv := newTableView(v.(indexable), st)
	var names []string
	for _, c := range tv.t.cols {
		names = append(names, c.name)
	}
	if got, want := strings.Join(names, " "), "id name city score"; got != want {
		t.Errorf("columns %q, want the keys in the order first seen, %q", got, want)
	}
	var lines []string
	for i := range tv.Len() {
		lines = append(lines, stripped(tv.Seg(i, 40)))
	}
	want := []string{
		"3 rows × 4 columns",
		"   id  name  city  score",
		"   ──  ────  ────  ─────",
		"0   1  ann               ", // a missing cell is empty
		"1  22  bob   Oslo        ",
		"2   3  None          2.5", // numbers to the right
	}
	for i := range want {
		if strings.TrimRight(lines[i], " ") != strings.TrimRight(want[i], " ") {
			t.Errorf("line %d:\n got %q\nwant %q", i, lines[i], want[i])
		}
	}
}

// TestTableSample: the columns come from a bounded sample of the rows.
func TestTableSample(t *testing.T) {
	v := eval(t, `[{"a": i} for i in range(5000)] + [{"a": 0, "late": "x" * 100}]`)
	tb := newTable(v.(indexable), tableSample)
	if len(tb.cols) != 2 {
		// The last row is in the sample (it is spread to the end).
		t.Errorf("columns %d, want 2 (the last row is sampled)", len(tb.cols))
	}
	if tb.cols[1].width != maxColWidth {
		t.Errorf("a wide column is %d wide, want the most, %d", tb.cols[1].width, maxColWidth)
	}
	v = eval(t, `[{"a": i} for i in range(5000)] + [{"a": 0, "hidden": 1}] + [{"a": i} for i in range(5000)]`)
	tb = newTable(v.(indexable), 10)
	if len(tb.cols) != 1 {
		t.Errorf("a key only outside the sample got a column: %d columns", len(tb.cols))
	}
}

func TestTableScroll(t *testing.T) {
	st := newStyles(themes.Mono())
	v := eval(t, `[{"c%d" % c: "v%d" % (r * 100 + c) for c in range(20)} for r in range(3)]`)
	tv := newTableView(v.(indexable), st)
	first := stripped(tv.Seg(1, 40))
	if !strings.Contains(first, "c0") || strings.Contains(first, "c19") {
		t.Fatalf("header %q", first)
	}
	if info := stripped(tv.Seg(0, 40)); !strings.Contains(info, "columns 1–") || !strings.Contains(info, "←→") {
		t.Errorf("info %q does not say which columns show", info)
	}
	for range 30 {
		tv.Scroll(1)
	}
	last := stripped(tv.Seg(1, 40))
	if !strings.Contains(last, "c19") || strings.Contains(last, "c0 ") {
		t.Errorf("scrolled to the end, header %q", last)
	}
	if tv.Scroll(1) {
		t.Errorf("scrolled past the last column")
	}
	// The row numbers stay.
	if row := stripped(tv.Seg(tableTop+2, 40)); !strings.HasPrefix(row, "2  ") || !strings.Contains(row, "v219") {
		t.Errorf("row 2 scrolled: %q", row)
	}
	for range 30 {
		tv.Scroll(-1)
	}
	if tv.colOff != 0 {
		t.Errorf("scrolled back to column %d", tv.colOff)
	}
}

func TestViewsOf(t *testing.T) {
	for _, tc := range []struct {
		src  string
		want string
	}{
		{`[{"a": 1}, {"b": 2}]`, "table tree repr"},
		{`[(1, "a"), (2, "b")]`, "table tree repr"},
		{`[[1, 2], [3]]`, "tree table repr"},
		{`[1, 2.5, -3]`, "chart repr"},
		{`range(10)`, "chart repr"},
		{`range(0)`, "repr"},
		{`[]`, "repr"},
		{`[1, "a"]`, "tree repr"},
		{`{"a": 1, "b": 2.5}`, "chart tree repr"},
		{`{"a": [1]}`, "tree repr"},
		{`"one\ntwo"`, "text repr"},
		{`42`, "repr"},
		{`[True, False]`, "tree repr"},
		{`b"bytes"`, "repr"},
	} {
		var names []string
		for _, k := range viewsOf(eval(t, tc.src)) {
			names = append(names, k.String())
		}
		if got := strings.Join(names, " "); got != tc.want {
			t.Errorf("views of %s: %s, want %s", tc.src, got, tc.want)
		}
	}
}

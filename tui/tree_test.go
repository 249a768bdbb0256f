package tui

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/themes"
)

// eval evaluates a cell's body in a fresh interpreter.
func eval(t testing.TB, src string) lang.Value {
	t.Helper()
	c := lang.ParseCell(replFile, 1, "x = "+src)
	v, err := lang.NewInterp("local").Eval(context.Background(), c, nil)
	if err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	return v
}

// flatten returns the lines of the tree as the open nodes say they are,
// walking the value: what at must find, line by line.
func flatten(nd *treeNode, v lang.Value, out *[]string, label string) {
	*out = append(*out, label)
	if nd == nil || !nd.open {
		return
	}
	for i := range nd.n {
		l, cv := nd.child(i)
		flatten(nd.kids[i], cv, out, label+"/"+l)
	}
}

// label returns the path of line i as at finds it.
func (tr *tree) pathOf(i int) string {
	l := tr.at(i)
	var parts []string
	nd, idx := l.parent, l.index
	for nd != nil {
		lab, _ := nd.child(idx)
		parts = append([]string{lab}, parts...)
		nd, idx = nd.parent, nd.index
	}
	return strings.Join(append([]string{""}, parts...), "/")
}

func TestTreeLines(t *testing.T) {
	v := eval(t, `[{"a": [1, 2, [3, 4, 5]], "b": {"c": {"d": [6, 7]}, "e": 8}}, [9, [10, [11, [12]]]], {"f": [13] * 20}, 14]`)
	rng := rand.New(rand.NewPCG(1, 2))
	tr := newTree(v)
	for step := range 400 {
		// Open or close a random line, then check every line against the
		// value walked with the same nodes open.
		tr.cursor = rng.IntN(tr.Len())
		if rng.IntN(3) == 0 {
			tr.Close()
		} else {
			tr.Open()
		}
		var want []string
		flatten(tr.root, v, &want, "")
		if got := tr.Len(); got != len(want) {
			t.Fatalf("step %d: %d lines, want %d", step, got, len(want))
		}
		for i, w := range want {
			if got := tr.pathOf(i); got != w {
				t.Fatalf("step %d: line %d is %q, want %q", step, i, got, w)
			}
			if l := tr.at(i); l.node != nil && tr.lineOf(l.node) != i {
				t.Fatalf("step %d: lineOf(line %d) = %d", step, i, tr.lineOf(l.node))
			}
		}
	}
}

// TestTreeLazy opens a value of 200,000 dicts (about 40 MB): what is made is what
// is shown, not the elements.
func TestTreeLazy(t *testing.T) {
	v := eval(t, `[{"id": i, "tags": ["x"] * 3} for i in range(200000)]`)
	var tr *tree
	if n := allocated(func() { tr = newTree(v) }); n > 64<<10 {
		t.Errorf("opening the tree allocated %d bytes", n)
	}
	if tr.Len() != 1+200000 {
		t.Fatalf("%d lines, want the root and its 200,000 children", tr.Len())
	}
	if tr.root.kids != nil {
		t.Errorf("children were made before they were opened: %d", len(tr.root.kids))
	}
	tr.cursor = 100001 // the element 100,000
	if !tr.Open() || tr.Len() != 1+200000+2 {
		t.Fatalf("opening the dict at 100000: %d lines", tr.Len())
	}
	tr.cursor = 100003 // its "tags"
	tr.Open()
	if got := tr.pathOf(100004); got != `/[100000]/"tags":/[0]` {
		t.Errorf("line 100004 is %s", got)
	}
	if got := len(tr.root.kids); got != 1 {
		t.Errorf("%d children made, want the one opened", got)
	}
	tr.cursor = 100004
	tr.Close() // a leaf: to its parent
	if tr.cursor != 100003 {
		t.Errorf("left on a leaf went to line %d, want its parent 100003", tr.cursor)
	}
	tr.Close()
	tr.cursor = 100001
	tr.Close()
	if tr.Len() != 1+200000 {
		t.Errorf("closed again: %d lines", tr.Len())
	}
	tr.Open() // opens as it was left: tags closed
	if tr.Len() != 1+200000+2 {
		t.Errorf("opened again: %d lines", tr.Len())
	}
}

func TestTreeView(t *testing.T) {
	st := newStyles(themes.Mono())
	v := eval(t, `{"name": "ann", "orders": [{"id": 1}, {"id": 2}], "empty": [], "n": 3}`)
	tv := newTreeView(v, st)
	var got []string
	for i := range tv.Len() {
		got = append(got, stripped(tv.Seg(i, 40)))
	}
	want := []string{
		`▾ dict · 4 keys`,
		`    "name": "ann"`,
		`  ▸ "orders": list · 2 items  [{"id": 1…`, // cut at the width
		`    "empty": []`,
		`    "n": 3`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("tree:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

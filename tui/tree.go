package tui

import (
	"slices"
	"strconv"
	"strings"

	"github.com/charmbracelet/x/ansi"

	"github.com/sperse/sperse/lang"
)

// treeNode is a list, tuple or dict of the tree that has been opened. Its
// children are not made when it opens: a line of the tree is found from
// the nodes that are open (see at) and drawn from the value when shown, so
// opening a list of a million elements costs what its first screen does.
type treeNode struct {
	v      lang.Value
	depth  int
	open   bool
	n      int          // children
	keys   []lang.Value // a dict's keys, read when it first opens
	parent *treeNode
	index  int // in parent

	// size is the lines of the node and its children when it is open:
	// 1 + n + what its open children add. It is kept while the node is
	// closed, so that opening it again shows it as it was left.
	size     int
	kids     map[int]*treeNode // children opened at least once, by index
	openKids []int             // the indexes of the open children, in order
}

// container reports whether v opens in the tree: a list, tuple or dict
// with elements, or another value with Len and Index (not a string, bytes
// or a range).
func container(v lang.Value) bool {
	if v == nil {
		return false
	}
	switch v.Type() {
	case "string", "bytes", "range":
		return false
	case "dict":
		d, ok := v.(keyed)
		return ok && d.Len() > 0
	}
	x, ok := v.(indexable)
	return ok && x.Len() > 0
}

func newTreeNode(v lang.Value, parent *treeNode, index int) *treeNode {
	nd := &treeNode{v: v, parent: parent, index: index}
	if parent != nil {
		nd.depth = parent.depth + 1
	}
	if l, ok := v.(lener); ok {
		nd.n = l.Len()
	}
	nd.size = 1 + nd.n
	return nd
}

// child returns child i of nd: its label and its value.
func (nd *treeNode) child(i int) (label string, v lang.Value) {
	if d, ok := nd.v.(keyed); ok && nd.v.Type() == "dict" {
		if nd.keys == nil {
			nd.keys = d.Keys()
		}
		if i >= len(nd.keys) {
			return "?", nil
		}
		k := nd.keys[i]
		x, _, _ := d.Get(k)
		return preview(k, 64) + ":", x
	}
	if x, ok := nd.v.(indexable); ok && i < x.Len() {
		return "[" + strconv.Itoa(i) + "]", x.Index(i)
	}
	return "?", nil
}

// lines is the lines the node takes in its parent: all of it when open.
func (nd *treeNode) lines() int {
	if nd.open {
		return nd.size
	}
	return 1
}

// setOpen opens or closes nd, and tells its ancestors how many lines they
// gained or lost.
func (nd *treeNode) setOpen(open bool) {
	if nd.open == open {
		return
	}
	nd.open = open
	if nd.parent == nil {
		return
	}
	p := nd.parent
	i, found := slices.BinarySearch(p.openKids, nd.index)
	delta := nd.size - 1
	if open {
		if !found {
			p.openKids = slices.Insert(p.openKids, i, nd.index)
		}
	} else {
		if found {
			p.openKids = slices.Delete(p.openKids, i, i+1)
		}
		delta = -delta
	}
	for ; p != nil; p = p.parent {
		p.size += delta
		if !p.open {
			break
		}
	}
}

// treeLine is a line of the tree: child index of parent (nil for the
// root), and its node if it has one (it has been opened).
type treeLine struct {
	parent *treeNode
	index  int
	node   *treeNode
}

func (l treeLine) depth() int {
	if l.parent == nil {
		return 0
	}
	return l.parent.depth + 1
}

// tree is a value as a tree of its elements, with a cursor.
type tree struct {
	root   *treeNode
	cursor int // the line of the cursor
}

func newTree(v lang.Value) *tree {
	t := &tree{root: newTreeNode(v, nil, 0)}
	if container(v) {
		t.root.open = true
	}
	return t
}

// Len is the number of lines shown.
func (t *tree) Len() int { return t.root.lines() }

// at returns line i (0 is the root).
func (t *tree) at(i int) treeLine {
	if i <= 0 {
		return treeLine{node: t.root}
	}
	nd, line := t.root, i-1 // line is in nd's children
outer:
	for {
		prev := 0 // the first child after the open ones passed
		for _, c := range nd.openKids {
			if line < c-prev {
				break
			}
			line -= c - prev
			kid := nd.kids[c]
			if line < kid.size {
				if line == 0 {
					return treeLine{parent: nd, index: c, node: kid}
				}
				nd, line = kid, line-1
				continue outer
			}
			line -= kid.size
			prev = c + 1
		}
		j := prev + line
		return treeLine{parent: nd, index: j, node: nd.kids[j]}
	}
}

// lineOf returns the line of nd.
func (t *tree) lineOf(nd *treeNode) int {
	if nd.parent == nil {
		return 0
	}
	p := nd.parent
	line := t.lineOf(p) + 1 + nd.index
	for _, c := range p.openKids {
		if c >= nd.index {
			break
		}
		line += p.kids[c].size - 1
	}
	return line
}

// value returns the label and value of line l.
func (l treeLine) value() (string, lang.Value) {
	if l.parent == nil {
		return "", l.node.v
	}
	return l.parent.child(l.index)
}

// Move moves the cursor d lines, within the tree.
func (t *tree) Move(d int) {
	t.cursor = min(max(t.cursor+d, 0), t.Len()-1)
}

// Open opens the line of the cursor; on a line already open it moves to
// its first child. It reports whether anything changed.
func (t *tree) Open() bool {
	l := t.at(t.cursor)
	nd := l.node
	if nd == nil {
		_, v := l.value()
		if !container(v) {
			return false
		}
		nd = newTreeNode(v, l.parent, l.index)
		if l.parent.kids == nil {
			l.parent.kids = map[int]*treeNode{}
		}
		l.parent.kids[l.index] = nd
	}
	if nd.open {
		if nd.n > 0 {
			t.cursor++
			return true
		}
		return false
	}
	if nd.n == 0 {
		return false
	}
	nd.setOpen(true)
	return true
}

// Close closes the line of the cursor; on a line that is closed, or no
// container, it moves to its parent. It reports whether anything changed.
func (t *tree) Close() bool {
	l := t.at(t.cursor)
	if l.node != nil && l.node.open {
		l.node.setOpen(false)
		return true
	}
	if l.parent == nil {
		return false
	}
	t.cursor = t.lineOf(l.parent)
	return true
}

// sizeOf describes the size of a container: "dict · 3 keys".
func sizeOf(v lang.Value) string {
	l, ok := v.(lener)
	if !ok {
		return v.Type()
	}
	if v.Type() == "dict" {
		return "dict · " + plural(l.Len(), "key")
	}
	return v.Type() + " · " + plural(l.Len(), "item")
}

// treeView is the tree view of the inspector: a line a node, the cursor's
// highlighted while the inspector has the focus.
type treeView struct {
	t       *tree
	st      *Styles
	focused bool
}

func newTreeView(v lang.Value, st *Styles) *treeView {
	return &treeView{t: newTree(v), st: st}
}

func (v *treeView) Len() int { return v.t.Len() }

// Seg draws line i: indented by depth, ▸ or ▾ for a container closed or
// open, its label (an index or a key), and its size and a preview, or a
// leaf's value.
func (v *treeView) Seg(i, width int) string {
	l := v.t.at(i)
	label, val := l.value()
	st := v.st
	in := strings.Repeat("  ", min(l.depth(), max(width/4, 1)))
	open := l.node != nil && l.node.open
	var marker, summary, rest string
	switch {
	case container(val) && open:
		marker, summary = "▾ ", sizeOf(val)
	case container(val):
		marker, summary = "▸ ", sizeOf(val)
		rest = preview(val, max(width, 16)*2)
	default:
		marker, rest = "  ", preview(val, max(width, 16)*2)
	}
	if label != "" {
		label += " "
	}
	if summary != "" && rest != "" {
		summary += "  "
	}
	if i == v.t.cursor && v.focused {
		return st.Selected.Render(ansi.Truncate(in+marker+label+summary+rest, width, "…"))
	}
	room := width - ansi.StringWidth(in+marker+label+summary)
	if room < 1 {
		return ansi.Truncate(in+st.Accent.Render(marker)+st.Accent.Render(label)+st.Muted.Render(summary), width, "…")
	}
	labelStyle := st.Accent
	if l.parent != nil && l.parent.v.Type() != "dict" {
		labelStyle = st.Muted
	}
	return in + st.Accent.Render(marker) + labelStyle.Render(label) + st.Muted.Render(summary) + st.Text.Render(ansi.Truncate(rest, room, "…"))
}

package tui

import (
	"strings"

	"github.com/sperse/sperse/lang"
)

// viewKind is a way of showing a value in the inspector.
type viewKind int

const (
	viewRepr  viewKind = iota // the Starlark representation, an element a line
	viewText                  // a string's text, with its lines
	viewTable                 // rows and columns
	viewChart                 // a chart of numbers
	viewTree                  // a collapsible tree of nested values
)

var viewNames = [...]string{viewRepr: "repr", viewText: "text", viewTable: "table", viewChart: "chart", viewTree: "tree"}

func (k viewKind) String() string { return viewNames[k] }

// shapeSample is how many elements of a value are looked at to tell which
// views fit it: the look costs the same whatever the value's size. An
// element not looked at that does not fit (a string in a list of numbers)
// is shown as it is when its turn comes: a table cell shows its repr, and
// a chart counts it as skipped.
const shapeSample = 64

// maxTableColumns is the most columns a table may have: a list of longer
// lists is no table.
const maxTableColumns = 64

// viewsOf returns the views that fit v, the one to show by default first.
// It looks at a bounded sample of v (see shapeSample), so it is cheap on
// the update loop whatever v's size.
func viewsOf(v lang.Value) []viewKind {
	if v == nil {
		return []viewKind{viewRepr}
	}
	switch v.Type() {
	case "string":
		return []viewKind{viewText, viewRepr}
	case "bytes":
		return []viewKind{viewRepr}
	case "range":
		if _, ok := numericSeq(v); ok {
			return []viewKind{viewChart, viewRepr}
		}
		return []viewKind{viewRepr}
	case "dict":
		d, ok := v.(keyed)
		if !ok || d.Len() == 0 {
			return []viewKind{viewRepr}
		}
		if numericDict(d) {
			return []viewKind{viewChart, viewTree, viewRepr}
		}
		return []viewKind{viewTree, viewRepr}
	}
	x, ok := v.(indexable)
	if !ok || x.Len() == 0 {
		return []viewKind{viewRepr}
	}
	if _, ok := numericSeq(v); ok {
		return []viewKind{viewChart, viewRepr}
	}
	switch tableShape(x) {
	case tableRegular:
		return []viewKind{viewTable, viewTree, viewRepr}
	case tableRagged:
		return []viewKind{viewTree, viewTable, viewRepr}
	}
	return []viewKind{viewTree, viewRepr}
}

// hasView reports whether views has k.
func hasView(views []viewKind, k viewKind) bool {
	for _, v := range views {
		if v == k {
			return true
		}
	}
	return false
}

// numSeq is a sequence of numbers read by index: a list, tuple, range or
// any value with Len and Index whose elements are ints or floats (a
// numeric array).
type numSeq struct {
	x indexable
	n int
	// arith says the elements are start, start+step, ... (a range): what
	// is known of them is computed, never read one by one.
	arith       bool
	start, step float64
}

// at returns element i as a number, if it is one.
func (s numSeq) at(i int) (float64, bool) {
	if s.arith {
		return s.start + float64(i)*s.step, true
	}
	return asNumber(s.x.Index(i))
}

// numericSeq returns v as a sequence of numbers if it is one: a range, or
// an indexable value (not a string or bytes) with at least one element
// whose sampled elements are all numbers.
func numericSeq(v lang.Value) (numSeq, bool) {
	x, ok := v.(indexable)
	if !ok || v.Type() == "string" || v.Type() == "bytes" {
		return numSeq{}, false
	}
	n := x.Len()
	if n == 0 {
		return numSeq{}, false
	}
	s := numSeq{x: x, n: n}
	if v.Type() == "range" {
		first, ok1 := asNumber(x.Index(0))
		second := first
		ok2 := true
		if n > 1 {
			second, ok2 = asNumber(x.Index(1))
		}
		if !ok1 || !ok2 {
			return numSeq{}, false
		}
		s.arith, s.start, s.step = true, first, second-first
		return s, true
	}
	for _, i := range sampleIndexes(n, shapeSample) {
		if !isNumber(x.Index(i)) {
			return numSeq{}, false
		}
	}
	return s, true
}

// dictValues is the values of a dict read by index, in the dict's order.
type dictValues struct {
	d    keyed
	keys []lang.Value
}

func (dv dictValues) Len() int { return len(dv.keys) }

func (dv dictValues) Index(i int) lang.Value {
	x, _, _ := dv.d.Get(dv.keys[i])
	return x
}

// numericDict reports whether the sampled values of d are all numbers (a
// dict of name → number).
func numericDict(d keyed) bool {
	keys := d.Keys()
	for _, i := range sampleIndexes(len(keys), shapeSample) {
		x, _, _ := d.Get(keys[i])
		if !isNumber(x) {
			return false
		}
	}
	return len(keys) > 0
}

// tableKind is what kind of table a list is, if any.
type tableKind int

const (
	tableNone    tableKind = iota
	tableRegular           // dicts, or sequences of one length
	tableRagged            // sequences of different lengths
)

// tableShape tells whether the rows of x make a table: its sampled rows are
// all dicts, or all lists or tuples of at most maxTableColumns elements. A
// list of dicts with different keys is a table all the same (the missing
// cells are empty); a list of lists of different lengths is a ragged one.
func tableShape(x indexable) tableKind {
	n := x.Len()
	if n == 0 {
		return tableNone
	}
	var dicts, seqs int
	minLen, maxLen := -1, 0
	for _, i := range sampleIndexes(n, shapeSample) {
		row := x.Index(i)
		if row == nil {
			return tableNone
		}
		switch row.Type() {
		case "dict":
			d, ok := row.(keyed)
			if !ok || d.Len() > maxTableColumns {
				return tableNone
			}
			dicts++
		case "list", "tuple":
			r, ok := row.(indexable)
			if !ok || r.Len() > maxTableColumns {
				return tableNone
			}
			seqs++
			l := r.Len()
			if minLen < 0 || l < minLen {
				minLen = l
			}
			maxLen = max(maxLen, l)
		default:
			return tableNone
		}
	}
	switch {
	case dicts > 0 && seqs == 0:
		return tableRegular
	case seqs > 0 && dicts == 0 && maxLen > 0:
		if minLen == maxLen {
			return tableRegular
		}
		return tableRagged
	}
	return tableNone
}

// stringLines returns how many lines s has (a last newline ends the last
// line rather than starting another).
func stringLines(s string) int {
	n := strings.Count(s, "\n") + 1
	if strings.HasSuffix(s, "\n") && n > 1 {
		n--
	}
	return n
}

package tui

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	tea "charm.land/bubbletea/v2"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/reactive"
)

// exportFormat is how :export writes a value, chosen by the file's
// extension.
type exportFormat int

const (
	exportJSON exportFormat = iota // .json
	exportCSV                      // .csv: a table
	exportText                     // .txt: a string's text, anything else's repr
	exportRepr                     // .star: the Starlark repr
)

// exportExtensions are the extensions :export knows, for its messages.
const exportExtensions = ".json, .csv, .txt or .star"

// formatOf returns the format of a file by its extension.
func formatOf(path string) (exportFormat, error) {
	ext := strings.ToLower(filepath.Ext(path))
	switch ext {
	case ".json":
		return exportJSON, nil
	case ".csv":
		return exportCSV, nil
	case ".txt":
		return exportText, nil
	case ".star":
		return exportRepr, nil
	case "":
		return 0, fmt.Errorf("%s has no extension: :export writes %s", path, exportExtensions)
	}
	return 0, fmt.Errorf("unknown extension %s: :export writes %s", ext, exportExtensions)
}

// maxExportRange is the longest range written as a JSON array.
const maxExportRange = 10_000_000

// exportedMsg is the end of :export.
type exportedMsg struct {
	name, path string
	what       string // what was written: "250 rows × 5 columns"
	size       int64
	err        error
}

// exportCmd writes v to path in format f, off the update loop (the value
// is frozen). The file is written whole or not at all (writeFileAtomicFunc).
func exportCmd(name string, v lang.Value, path string, f exportFormat) tea.Cmd {
	return func() tea.Msg {
		var what string
		cw := &countingWriter{}
		err := writeFileAtomicFunc(path, func(w io.Writer) error {
			cw.w = w
			var err error
			what, err = writeExport(cw, v, f)
			return err
		})
		return exportedMsg{name: name, path: path, what: what, size: cw.n, err: err}
	}
}

// countingWriter counts what it writes.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// writeExport writes v to w in format f, and says what it wrote.
func writeExport(w io.Writer, v lang.Value, f exportFormat) (string, error) {
	switch f {
	case exportJSON:
		return describeValue(v), writeJSON(w, v)
	case exportCSV:
		return writeCSV(w, v)
	case exportText:
		if gs, ok := v.(goStringer); ok && v != nil && v.Type() == "string" {
			_, err := io.WriteString(w, gs.GoString())
			return describeValue(v), err
		}
	}
	s := "None"
	if v != nil {
		s = v.String()
	}
	_, err := io.WriteString(w, s+"\n")
	return describeValue(v), err
}

// jsonPath is where a value is inside the value written, for errors:
// [3]["name"].
type jsonPath []string

func (p jsonPath) String() string {
	if len(p) == 0 {
		return "the value"
	}
	return strings.Join(p, "")
}

// writeJSON writes v as JSON: None as null, bools, ints (exactly, of any
// size), finite floats, strings (invalid UTF-8 as U+FFFD), lists, tuples,
// ranges (of at most maxExportRange elements) and other sequences as
// arrays, dicts with string keys as objects (in their order). A top-level
// list or dict has an element a line. Anything else (bytes, a set, a
// function, nan, a dict key that is no string) is an error that says
// what it is and where.
func writeJSON(w io.Writer, v lang.Value) error {
	j := &jsonWriter{w: w}
	j.top(v)
	j.write("\n")
	return j.err
}

type jsonWriter struct {
	w    io.Writer
	path jsonPath
	err  error
}

func (j *jsonWriter) write(s string) {
	if j.err == nil {
		_, j.err = io.WriteString(j.w, s)
	}
}

func (j *jsonWriter) fail(format string, args ...any) {
	if j.err == nil {
		j.err = fmt.Errorf(format, args...)
	}
}

// top writes v with an element of a list or dict a line.
func (j *jsonWriter) top(v lang.Value) {
	if d, ok := v.(keyed); ok && v.Type() == "dict" {
		j.object(d, "\n  ", ",\n  ", "\n")
		return
	}
	if x, ok := jsonArray(v); ok {
		j.array(x, "\n  ", ",\n  ", "\n")
		return
	}
	j.value(v)
}

// jsonArray returns v as a sequence if it is written as an array.
func jsonArray(v lang.Value) (indexable, bool) {
	x, ok := v.(indexable)
	if !ok || v.Type() == "string" || v.Type() == "bytes" {
		return nil, false
	}
	return x, true
}

// array writes x: first before its first element, sep between elements,
// end after the last.
func (j *jsonWriter) array(x indexable, first, sep, end string) {
	n := x.Len()
	if v, ok := x.(lang.Value); ok && v.Type() == "range" && n > maxExportRange {
		j.fail("%s is a range of %s elements: JSON export writes ranges of at most %s", j.path, fmtInt(n), fmtInt(maxExportRange))
		return
	}
	if n == 0 {
		j.write("[]")
		return
	}
	j.write("[")
	for i := range n {
		if j.err != nil {
			return
		}
		if i > 0 {
			j.write(sep)
		} else {
			j.write(first)
		}
		j.path = append(j.path, "["+strconv.Itoa(i)+"]")
		j.value(x.Index(i))
		j.path = j.path[:len(j.path)-1]
	}
	j.write(end + "]")
}

// object writes d as array writes a sequence.
func (j *jsonWriter) object(d keyed, first, sep, end string) {
	keys := d.Keys()
	if len(keys) == 0 {
		j.write("{}")
		return
	}
	j.write("{")
	for i, k := range keys {
		if j.err != nil {
			return
		}
		ks, ok := k.(goStringer)
		if !ok || k.Type() != "string" {
			j.fail("the key %s of %s is %s: JSON keys are strings", preview(k, 40), j.path, article(k.Type()))
			return
		}
		if i > 0 {
			j.write(sep)
		} else {
			j.write(first)
		}
		j.write(jsonQuote(ks.GoString()))
		j.write(": ")
		x, _, _ := d.Get(k)
		j.path = append(j.path, "["+jsonQuote(ks.GoString())+"]")
		j.value(x)
		j.path = j.path[:len(j.path)-1]
	}
	j.write(end + "}")
}

// maxJSONDepth bounds the nesting written (a list can hold itself).
const maxJSONDepth = 256

func (j *jsonWriter) value(v lang.Value) {
	if j.err != nil {
		return
	}
	if len(j.path) > maxJSONDepth {
		j.fail("%s is nested more than %d deep", j.path, maxJSONDepth)
		return
	}
	if v == nil {
		j.write("null")
		return
	}
	switch t := v.Type(); t {
	case "NoneType":
		j.write("null")
		return
	case "bool":
		j.write(strings.ToLower(v.String()))
		return
	case "int":
		j.write(v.String())
		return
	case "float":
		f, _ := asNumber(v)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			j.fail("%s is %s: JSON has no nan or inf", j.path, v.String())
			return
		}
		j.write(v.String()) // Starlark's repr of a finite float is JSON: 2.0, 1e+100
		return
	case "string":
		if gs, ok := v.(goStringer); ok {
			j.write(jsonQuote(gs.GoString()))
			return
		}
	case "dict":
		if d, ok := v.(keyed); ok {
			j.object(d, "", ", ", "")
			return
		}
	}
	if x, ok := jsonArray(v); ok {
		j.array(x, "", ", ", "")
		return
	}
	j.fail("%s is %s: JSON has no %s (write a .txt or .star file for its repr)", j.path, article(v.Type()), v.Type())
}

// article returns a type's name with "a" or "an".
func article(t string) string {
	if t != "" && strings.ContainsRune("aeiou", rune(t[0])) {
		return "an " + t
	}
	return "a " + t
}

// jsonQuote returns s as a JSON string: quotes, backslashes and control
// characters escaped, invalid UTF-8 as U+FFFD, and nothing else (no HTML
// escapes).
func jsonQuote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case c == '\n':
				b.WriteString(`\n`)
			case c == '\r':
				b.WriteString(`\r`)
			case c == '\t':
				b.WriteString(`\t`)
			case c < 0x20 || c == 0x7f:
				fmt.Fprintf(&b, `\u%04x`, c)
			default:
				b.WriteByte(c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString(`\ufffd`)
		} else if r == '\u2028' || r == '\u2029' {
			fmt.Fprintf(&b, `\u%04x`, r)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	b.WriteByte('"')
	return b.String()
}

// writeCSV writes a table as CSV: a list (or tuple) of dicts has a header
// line, the union of their keys in the order they are first seen, and a
// row a dict with its missing cells empty; a list of lists (or tuples) has
// no header, and a shorter row is filled with empty cells to the longest's
// length. A cell is a string's text, nothing for None, and anything else's
// repr. It says how many rows and columns it wrote.
func writeCSV(w io.Writer, v lang.Value) (string, error) {
	x, ok := v.(indexable)
	if !ok || v.Type() != "list" && v.Type() != "tuple" {
		return "", fmt.Errorf("%s is no table: CSV is written from a list of dicts or of lists (write a .json file instead)", article(typeOf(v)))
	}
	n := x.Len()
	var dicts, seqs, width int
	var header []lang.Value
	col := map[string]int{}
	for i := range n {
		row := x.Index(i)
		t := typeOf(row)
		switch t {
		case "dict":
			dicts++
			for _, k := range row.(keyed).Keys() {
				ks := k.String()
				if _, ok := col[ks]; !ok {
					col[ks] = len(header)
					header = append(header, k)
				}
			}
		case "list", "tuple":
			seqs++
			width = max(width, row.(indexable).Len())
		default:
			return "", fmt.Errorf("row %d is %s: CSV is written from a list of dicts or of lists", i, article(t))
		}
		if dicts > 0 && seqs > 0 {
			return "", fmt.Errorf("row %d is %s, and rows before it are not: CSV is written from a list of dicts or of lists", i, article(t))
		}
	}
	cw := csv.NewWriter(w)
	record := make([]string, max(len(header), width))
	if dicts > 0 {
		for i, k := range header {
			record[i] = csvCell(k)
		}
		if err := cw.Write(record); err != nil {
			return "", err
		}
	}
	for i := range n {
		clear(record)
		switch row := x.Index(i).(type) {
		case keyed:
			for _, k := range row.Keys() {
				cell, _, _ := row.Get(k)
				record[col[k.String()]] = csvCell(cell)
			}
		case indexable:
			for c := range row.Len() {
				record[c] = csvCell(row.Index(c))
			}
		}
		if err := cw.Write(record); err != nil {
			return "", err
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return "", err
	}
	return plural(n, "row") + " × " + plural(len(record), "column"), nil
}

// csvCell is how a value is written in a CSV cell.
func csvCell(v lang.Value) string {
	if v == nil || v.Type() == "NoneType" {
		return ""
	}
	if gs, ok := v.(goStringer); ok && v.Type() == "string" {
		return gs.GoString()
	}
	return v.String()
}

func typeOf(v lang.Value) string {
	if v == nil {
		return "NoneType"
	}
	return v.Type()
}

// cmdExport is :export NAME FILE.
func (m *Model) cmdExport(args []string) tea.Cmd {
	name, path, _ := strings.Cut(strings.TrimSpace(args[0]), " ")
	path = strings.TrimSpace(path)
	if path == "" {
		m.fail("usage: :export NAME FILE (" + exportExtensions + ")")
		return nil
	}
	v, ok := m.readyValue(name)
	if !ok {
		return nil
	}
	f, err := formatOf(path)
	if err != nil {
		m.fail("export " + name + ": " + err.Error())
		return nil
	}
	m.inform("exporting " + name + " to " + path + "…")
	return exportCmd(name, v, expandHome(path), f)
}

// readyValue returns the value of cell name, or says why there is none.
func (m *Model) readyValue(name string) (lang.Value, bool) {
	it := m.cells.get(name)
	switch {
	case it == nil:
		m.fail("no cell " + name)
		return nil, false
	case it.view.State != reactive.Ready:
		m.fail(name + " has no value: it is " + it.view.State.String())
		return nil, false
	}
	return it.view.Value, true
}

// exported reports the end of :export.
func (m *Model) exported(msg exportedMsg) {
	if msg.err != nil {
		m.fail("export " + msg.name + ": " + msg.err.Error())
		return
	}
	m.inform(fmt.Sprintf("exported %s to %s: %s, %s", msg.name, msg.path, msg.what, fmtBytes(msg.size)))
}

// fmtBytes formats a size: 812 bytes, 12.3 kB, 4.5 MB.
func fmtBytes(n int64) string {
	switch {
	case n < 1000:
		return plural(int(n), "byte")
	case n < 1_000_000:
		return strconv.FormatFloat(float64(n)/1e3, 'f', 1, 64) + " kB"
	case n < 1_000_000_000:
		return strconv.FormatFloat(float64(n)/1e6, 'f', 1, 64) + " MB"
	}
	return strconv.FormatFloat(float64(n)/1e9, 'f', 1, 64) + " GB"
}

package tui

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sperse/sperse/lang"
)

// Values are shown through the methods Starlark values have, matched by
// small interfaces, so that a huge value is never printed whole to show a
// line of it: a preview stops writing at its limit.
type (
	goStringer interface{ GoString() string }
	lener      interface{ Len() int }
	indexable  interface {
		Len() int
		Index(int) lang.Value
	}
	keyed interface {
		Len() int
		Keys() []lang.Value
		Get(lang.Value) (lang.Value, bool, error)
	}
)

// previewMax bounds the preview of a value on a card, in bytes.
const previewMax = 256

// preview returns a one-line representation of v of at most about max
// bytes, ending in "…" if cut.
func preview(v lang.Value, max int) string {
	w := reprWriter{max: max}
	w.value(v, 0)
	s := w.b.String()
	if w.cut {
		s += "…"
	}
	return oneLine(s)
}

// reprWriter writes the Starlark representation of a value, up to max bytes.
type reprWriter struct {
	b   strings.Builder
	max int
	cut bool
}

func (w *reprWriter) full() bool {
	if w.b.Len() >= w.max {
		w.cut = true
		return true
	}
	return false
}

func (w *reprWriter) str(s string) {
	if w.full() {
		return
	}
	if room := w.max - w.b.Len(); len(s) > room {
		s = cutUTF8(s, room)
		w.cut = true
	}
	w.b.WriteString(s)
}

func (w *reprWriter) value(v lang.Value, depth int) {
	if w.full() {
		return
	}
	if v == nil {
		w.str("None")
		return
	}
	switch v.Type() {
	case "string":
		if gs, ok := v.(goStringer); ok {
			s := gs.GoString()
			if len(s) > w.max {
				q := strconv.Quote(cutUTF8(s, w.max))
				w.str(q[:len(q)-1])
				w.cut = true
				return
			}
		}
	case "bytes":
		if l, ok := v.(lener); ok && l.Len() > w.max {
			w.str("b\"")
			w.str(strconv.Itoa(l.Len()) + " bytes")
			w.cut = true
			return
		}
	case "list", "tuple":
		if x, ok := v.(indexable); ok && depth < 8 {
			open, close := "[", "]"
			if v.Type() == "tuple" {
				open, close = "(", ")"
			}
			w.str(open)
			n := x.Len()
			for i := 0; i < n && !w.full(); i++ {
				if i > 0 {
					w.str(", ")
				}
				w.value(x.Index(i), depth+1)
			}
			if n == 1 && v.Type() == "tuple" {
				w.str(",")
			}
			w.str(close)
			return
		}
	case "dict":
		if d, ok := v.(keyed); ok && depth < 8 {
			w.str("{")
			for i, k := range d.Keys() {
				if w.full() {
					break
				}
				if i > 0 {
					w.str(", ")
				}
				w.value(k, depth+1)
				w.str(": ")
				x, _, _ := d.Get(k)
				w.value(x, depth+1)
			}
			w.str("}")
			return
		}
	case "set":
		if l, ok := v.(lener); ok && l.Len() > w.max {
			w.str("set(" + strconv.Itoa(l.Len()) + " elements)")
			w.cut = true
			return
		}
	}
	w.str(v.String())
}

// cutUTF8 returns the longest prefix of s of at most n bytes that does not
// split a rune.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// oneLine returns s on one line, with control characters made visible.
func oneLine(s string) string {
	return sanitize(s, true)
}

// sanitize replaces control characters with their Unicode pictures (so that
// no escape sequence in a value or an error reaches the terminal) and tabs
// with spaces; newlines too if oneLine.
func sanitize(s string, oneLine bool) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for _, r := range s {
		switch {
		case r == '\t':
			b.WriteString("    ")
		case r == '\n' && !oneLine:
			b.WriteByte('\n')
		case r == '\n':
			b.WriteString("⏎")
		case r < 0x20:
			b.WriteRune(0x2400 + r)
		case r == 0x7f:
			b.WriteRune('␡')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// segMax bounds the segments of a text view, in bytes: long lines are cut
// into segments so that wrapping one never costs more than this.
const segMax = 512

// appendSegments appends the lines of s to segs, each line cut into
// segments of at most segMax bytes, with control characters made visible.
func appendSegments(segs []string, s string, indent string) []string {
	for line := range strings.SplitSeq(s, "\n") {
		line = sanitize(line, true)
		if indent != "" {
			line = indent + line
		}
		if line == "" {
			segs = append(segs, "")
			continue
		}
		for len(line) > segMax {
			part := cutUTF8(line, segMax)
			segs = append(segs, part)
			line = line[len(part):]
		}
		if line != "" {
			segs = append(segs, line)
		}
	}
	return segs
}

// smallValue reports whether the full view of v is cheap enough to make on
// the update loop; a bigger one is made by a tea.Cmd.
func smallValue(v lang.Value) bool {
	if v == nil {
		return true
	}
	switch v.Type() {
	case "string":
		if gs, ok := v.(goStringer); ok {
			return len(gs.GoString()) <= 64<<10
		}
	case "list", "tuple", "dict", "set", "bytes":
		if l, ok := v.(lener); ok {
			return l.Len() <= 2000
		}
	}
	return true
}

// valueSegments returns the whole of v as segments for the inspector: a
// string as its text (segments of it share its memory), a list, tuple or dict one
// element a line, anything else as its representation.
func valueSegments(v lang.Value) []string {
	if v == nil {
		return []string{"None"}
	}
	var segs []string
	switch v.Type() {
	case "string":
		if gs, ok := v.(goStringer); ok {
			return appendSegments(segs, gs.GoString(), "")
		}
	case "list", "tuple":
		if x, ok := v.(indexable); ok && x.Len() > 1 {
			open, close := "[", "]"
			if v.Type() == "tuple" {
				open, close = "(", ")"
			}
			segs = append(segs, open)
			for i := range x.Len() {
				segs = appendSegments(segs, x.Index(i).String()+",", "  ")
			}
			return append(segs, close)
		}
	case "dict":
		if d, ok := v.(keyed); ok && d.Len() > 1 {
			segs = append(segs, "{")
			for _, k := range d.Keys() {
				x, _, _ := d.Get(k)
				segs = appendSegments(segs, k.String()+": "+x.String()+",", "  ")
			}
			return append(segs, "}")
		}
	}
	return appendSegments(segs, v.String(), "")
}

// describeValue returns the type of v and its size when it has one, such as
// "list · 3 elements" or "string · 12 bytes".
func describeValue(v lang.Value) string {
	if v == nil {
		return "None"
	}
	t := v.Type()
	switch t {
	case "string":
		if gs, ok := v.(goStringer); ok {
			s := gs.GoString()
			if len(s) <= 1<<20 { // count the lines of a string of up to a megabyte
				if n := stringLines(s); n > 1 {
					return t + " · " + plural(n, "line") + " · " + plural(len(s), "byte")
				}
			}
			return t + " · " + plural(len(s), "byte")
		}
	case "bytes":
		if l, ok := v.(lener); ok {
			return t + " · " + plural(l.Len(), "byte")
		}
	case "list", "tuple", "set":
		if l, ok := v.(lener); ok {
			return t + " · " + plural(l.Len(), "element")
		}
	case "dict":
		if l, ok := v.(lener); ok {
			return t + " · " + plural(l.Len(), "entry")
		}
	}
	return t
}

func plural(n int, what string) string {
	s := fmtInt(n) + " " + what
	if n == 1 {
		return s
	}
	if l := len(what); l >= 2 && what[l-1] == 'y' && !strings.ContainsRune("aeiou", rune(what[l-2])) {
		return s[:len(s)-1] + "ies" // entry, entries
	}
	return s + "s"
}

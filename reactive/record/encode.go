package record

import (
	"encoding/base64"
	"strconv"
	"time"
	"unicode/utf8"

	"go.starlark.net/starlark"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/reactive"
)

// The JSON of a recording is written by hand into reused buffers: the
// recorder formats tens of thousands of events a second and must not cost
// the engine it follows (see BenchmarkRecord). An engine's events are
// formatted as Subscription.Take gives them, in the subscription's memory,
// without an allocation (appendEngineEvent, some 35 ns an event; an int
// value without making its display form aside). The reader has a fast
// parser for these lines and falls back to encoding/json (see parse.go).

// appendHeader appends h as one JSON object, without a newline.
func appendHeader(dst []byte, h *Header) []byte {
	dst = append(dst, `{"format":"`+formatName+`","version":`...)
	dst = strconv.AppendInt(dst, int64(h.Version), 10)
	dst = appendField(dst, "program", h.Program)
	dst = append(dst, `,"started":`...)
	dst = appendString(dst, h.Started.UTC().Format(time.RFC3339Nano))
	dst = append(dst, `,"width":`...)
	dst = strconv.AppendInt(dst, int64(h.Width), 10)
	dst = append(dst, `,"height":`...)
	dst = strconv.AppendInt(dst, int64(h.Height), 10)
	dst = appendField(dst, "title", h.Title)
	dst = append(dst, `,"servers":[`...)
	for i := range h.Servers {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendServer(dst, &h.Servers[i])
	}
	return append(dst, "]}"...)
}

// appendEvent appends ev as one JSON object, without a newline. Empty fields
// are left out.
func appendEvent(dst []byte, ev *Event) []byte {
	dst = append(dst, `{"seq":`...)
	dst = strconv.AppendUint(dst, ev.Seq, 10)
	dst = append(dst, `,"t":`...)
	dst = appendMillis(dst, ev.Offset)
	dst = append(dst, `,"kind":`...)
	dst = appendString(dst, string(ev.Kind))
	if ev.Kind.IsCell() {
		dst = append(dst, `,"cell":`...)
		dst = appendString(dst, ev.Cell)
		dst = append(dst, `,"version":`...)
		dst = strconv.AppendInt(dst, int64(ev.Version), 10)
		dst = append(dst, `,"state":`...)
		dst = appendString(dst, ev.State.String())
	}
	dst = appendRun(dst, ev.Where, ev.Took, ev.Attempts, ev.Progress)
	dst = appendField(dst, "source", ev.Source)
	dst = appendPosField(dst, "pos", ev.Pos)
	if len(ev.Dups) > 0 {
		dst = append(dst, `,"dups":[`...)
		for i, d := range ev.Dups {
			dst = appendDefinition(dst, i, d.Source, d.Pos)
		}
		dst = append(dst, ']')
	}
	if ev.Value != nil {
		dst = append(dst, `,"value":`...)
		dst = appendValue(dst, ev.Value)
	}
	dst = appendError(dst, ev.Error, ev.ErrorPos, ev.Backtrace, ev.Input, ev.Root)
	if ev.Server != nil {
		dst = append(dst, `,"server":`...)
		dst = appendServer(dst, ev.Server)
	}
	dst = appendField(dst, "text", ev.Text)
	return append(dst, '}')
}

// appendEngineEvent appends the line of the engine's event rev, with seq
// and t the text of its number and offset (appendMillis), without a
// newline: the line of the event FromEngine returns, as appendEvent writes
// it, but formatted from rev where it is, without converting it first.
// cbuf is scratch for the encoding of the value, returned for reuse.
// TestAppendEngineEvent checks that both write the same.
func appendEngineEvent(dst, seq, t []byte, rev *reactive.Event, cbuf []byte) (line, cbufOut []byte) {
	v := &rev.Cell
	kind := kindOf(rev)
	dst = append(dst, `{"seq":`...)
	dst = append(dst, seq...)
	dst = append(dst, `,"t":`...)
	dst = append(dst, t...)
	dst = append(dst, kindCell(kind)...)
	dst = appendString(dst, v.Name)
	dst = append(dst, `,"version":`...)
	dst = appendInt(dst, v.Version)
	dst = append(dst, stateField(v.State)...)
	if kind == Deleted {
		return append(dst, '}'), cbuf
	}
	dst = appendRun(dst, v.Where, v.Took, v.Attempts, v.Progress)
	if kind == Defined {
		if v.Cell != nil {
			dst = appendField(dst, "source", v.Cell.Source)
			dst = appendPosField(dst, "pos", v.Cell.Pos)
		}
		if len(v.Dups) > 0 {
			dst = append(dst, `,"dups":[`...)
			for i, d := range v.Dups {
				dst = appendDefinition(dst, i, d.Source, d.Pos)
			}
			dst = append(dst, ']')
		}
	}
	if v.State == reactive.Ready && v.Value != nil {
		dst, cbuf = appendValueField(dst, v.Value, cbuf)
	}
	if v.Err != nil {
		text, pos, backtrace, input, root := errorFields(v.Err)
		dst = appendError(dst, text, pos, backtrace, input, root)
	}
	return append(dst, '}'), cbuf
}

// appendValueField appends `,"value":` and v as appendValue writes
// NewValue(v), encoding v into cbuf, which it returns for reuse. An int,
// the commonest value, is written without making its display form aside.
func appendValueField(dst []byte, v lang.Value, cbuf []byte) (line, cbufOut []byte) {
	if x, ok := v.(starlark.Int); ok {
		if i, ok := x.Int64(); ok {
			if i >= smallIntMin && i < smallIntMin+int64(len(smallIntFields)) {
				return append(dst, smallIntFields[i-smallIntMin]...), cbuf
			}
			if enc, err := lang.AppendValue(cbuf[:0], x); err == nil {
				dst = append(dst, `,"value":{"type":"int","repr":"`...)
				dst = strconv.AppendInt(dst, i, 10)
				dst = append(dst, `","cbor":"`...)
				dst = base64.StdEncoding.AppendEncode(dst, enc)
				return append(dst, `"}`...), enc
			}
		}
	}
	var val Value
	cbuf = val.fill(v, cbuf)
	dst = append(dst, `,"value":`...)
	return appendValue(dst, &val), cbuf
}

// smallIntFields are the value fields of the ints whose encoding is one
// byte, from smallIntMin, as the generic path writes them.
var smallIntFields = func() []string {
	fields := make([]string, 48)
	for i := range fields {
		fields[i] = string(appendValue([]byte(`,"value":`), NewValue(starlark.MakeInt(smallIntMin+i))))
	}
	return fields
}()

const smallIntMin = -24

// appendRun appends the fields of where a cell runs or ran: where, took_ms,
// attempts and progress, those that are not empty.
func appendRun(dst []byte, where string, took time.Duration, attempts int, p reactive.Progress) []byte {
	switch where {
	case "":
	case "local": // the engine's own places
		dst = append(dst, `,"where":"local"`...)
	case "remote":
		dst = append(dst, `,"where":"remote"`...)
	default:
		dst = append(dst, `,"where":`...)
		dst = appendString(dst, where)
	}
	if took > 0 {
		// Under a microsecond is written as one: 0 would read as no time.
		dst = append(dst, `,"took_ms":`...)
		dst = appendMillis(dst, max(took, time.Microsecond))
	}
	if attempts != 0 {
		dst = append(dst, `,"attempts":`...)
		dst = appendInt(dst, attempts)
	}
	if p != (reactive.Progress{}) {
		dst = append(dst, `,"progress":{"done":`...)
		dst = appendInt(dst, p.Done)
		dst = append(dst, `,"total":`...)
		dst = appendInt(dst, p.Total)
		dst = append(dst, '}')
	}
	return dst
}

// appendDefinition appends the i-th element of a list of definitions.
func appendDefinition(dst []byte, i int, source string, pos lang.Pos) []byte {
	if i > 0 {
		dst = append(dst, ',')
	}
	dst = append(dst, `{"source":`...)
	dst = appendString(dst, source)
	dst = appendPosField(dst, "pos", pos)
	return append(dst, '}')
}

// appendError appends the fields of an error (see errorFields), those that
// are not empty.
func appendError(dst []byte, text string, pos lang.Pos, backtrace, input, root string) []byte {
	dst = appendField(dst, "error", text)
	dst = appendPosField(dst, "error_pos", pos)
	dst = appendField(dst, "backtrace", backtrace)
	dst = appendField(dst, "input", input)
	return appendField(dst, "root", root)
}

// kindCell returns the JSON between an event's offset and its cell's name
// for kind k: `,"kind":"K","cell":`.
func kindCell(k Kind) string {
	switch k {
	case Defined:
		return `,"kind":"` + string(Defined) + `","cell":`
	case Changed:
		return `,"kind":"` + string(Changed) + `","cell":`
	case Deleted:
		return `,"kind":"` + string(Deleted) + `","cell":`
	case Dispatched:
		return `,"kind":"` + string(Dispatched) + `","cell":`
	case Progressed:
		return `,"kind":"` + string(Progressed) + `","cell":`
	case Resolved:
		return `,"kind":"` + string(Resolved) + `","cell":`
	case Failed:
		return `,"kind":"` + string(Failed) + `","cell":`
	case Cancelled:
		return `,"kind":"` + string(Cancelled) + `","cell":`
	}
	return `,"kind":` + string(appendString(nil, string(k))) + `,"cell":`
}

// stateField returns the JSON of the state field of a cell in state st:
// `,"state":"S"`.
func stateField(st reactive.State) string {
	switch st {
	case reactive.Queued:
		return `,"state":"queued"`
	case reactive.Running:
		return `,"state":"running"`
	case reactive.Ready:
		return `,"state":"ready"`
	case reactive.Error:
		return `,"state":"error"`
	case reactive.UpstreamError:
		return `,"state":"upstream-error"`
	case reactive.Cancelled:
		return `,"state":"cancelled"`
	case reactive.Stale:
		return `,"state":"stale"`
	case reactive.Unavailable:
		return `,"state":"unavailable"`
	}
	return `,"state":` + string(appendString(nil, st.String()))
}

// appendInt appends n in decimal; a digit without strconv's call.
func appendInt(dst []byte, n int) []byte { return appendInt64(dst, int64(n)) }

func appendInt64(dst []byte, n int64) []byte {
	if n >= 0 && n < 10 {
		return append(dst, byte('0'+n))
	}
	return strconv.AppendInt(dst, n, 10)
}

func appendValue(dst []byte, v *Value) []byte {
	dst = append(dst, `{"type":`...)
	dst = appendString(dst, v.Type)
	dst = append(dst, `,"repr":`...)
	dst = appendString(dst, v.Repr)
	if v.ReprLen > 0 {
		dst = append(dst, `,"repr_len":`...)
		dst = strconv.AppendInt(dst, int64(v.ReprLen), 10)
	}
	if v.CBOR != nil {
		dst = append(dst, `,"cbor":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, v.CBOR)
		dst = append(dst, '"')
	}
	dst = appendField(dst, "no_cbor", v.NoCBOR)
	return append(dst, '}')
}

func appendServer(dst []byte, s *Server) []byte {
	dst = append(dst, `{"name":`...)
	dst = appendString(dst, s.Name)
	dst = append(dst, `,"addr":`...)
	dst = appendString(dst, s.Addr)
	dst = appendStrings(dst, "tags", s.Tags)
	dst = appendStrings(dst, "provides", s.Provides)
	if s.Connected {
		dst = append(dst, `,"connected":true`...)
	}
	dst = appendField(dst, "error", s.Error)
	return append(dst, '}')
}

func appendStrings(dst []byte, name string, ss []string) []byte {
	if len(ss) == 0 {
		return dst
	}
	dst = append(dst, ',', '"')
	dst = append(dst, name...)
	dst = append(dst, `":[`...)
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, s)
	}
	return append(dst, ']')
}

// appendField appends `,"name":"value"`, or nothing if value is empty.
func appendField(dst []byte, name, value string) []byte {
	if value == "" {
		return dst
	}
	dst = append(dst, ',', '"')
	dst = append(dst, name...)
	dst = append(dst, '"', ':')
	return appendString(dst, value)
}

// appendPosField appends `,"name":{"file":...,"line":...,"col":...}`, or
// nothing for the zero position.
func appendPosField(dst []byte, name string, p lang.Pos) []byte {
	if p == (lang.Pos{}) {
		return dst
	}
	dst = append(dst, ',', '"')
	dst = append(dst, name...)
	dst = append(dst, `":{"file":`...)
	dst = appendString(dst, p.File)
	dst = append(dst, `,"line":`...)
	dst = strconv.AppendInt(dst, int64(p.Line), 10)
	dst = append(dst, `,"col":`...)
	dst = strconv.AppendInt(dst, int64(p.Col), 10)
	return append(dst, '}')
}

// appendMillis appends d in milliseconds with up to three decimals
// (microseconds), without trailing zeros: 1.5, 12, 0.001. A negative d is 0.
func appendMillis(dst []byte, d time.Duration) []byte {
	us := int64(d / time.Microsecond)
	if us < 0 {
		us = 0
	}
	dst = appendInt64(dst, us/1000)
	frac := us % 1000
	if frac == 0 {
		return dst
	}
	digits := [4]byte{'.', byte('0' + frac/100), byte('0' + frac/10%10), byte('0' + frac%10)}
	n := 4
	for digits[n-1] == '0' {
		n--
	}
	return append(dst, digits[:n]...)
}

const hexDigits = "0123456789abcdef"

// verbatim reports whether a JSON string holds b as it is: printable ASCII but
// the quote and the backslash.
func verbatim(b byte) bool { return b >= 0x20 && b < utf8.RuneSelf && b != '"' && b != '\\' }

// appendString appends s as a JSON string, as encoding/json writes it except
// that <, > and & are not escaped. Invalid UTF-8 becomes U+FFFD.
func appendString(dst []byte, s string) []byte {
	i := 0
	for i < len(s) && verbatim(s[i]) {
		i++
	}
	dst = append(dst, '"')
	if i == len(s) { // the common case: names, places, kinds
		dst = append(dst, s...)
		return append(dst, '"')
	}
	start := 0
	for i < len(s) {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// MarshalJSON returns h as a recording's first line holds it.
func (h Header) MarshalJSON() ([]byte, error) { return appendHeader(nil, &h), nil }

// MarshalJSON returns ev as a line of a recording holds it.
func (ev Event) MarshalJSON() ([]byte, error) { return appendEvent(nil, &ev), nil }

// MarshalJSON returns v as an event of a recording holds it.
func (v Value) MarshalJSON() ([]byte, error) { return appendValue(nil, &v), nil }

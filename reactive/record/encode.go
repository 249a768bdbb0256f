package record

import (
	"encoding/base64"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/reactive"
)

// The JSON of a recording is written by hand into reused buffers: the
// recorder formats tens of thousands of events a second and must not cost
// the engine it follows (see BenchmarkRecord). The reader has a fast parser
// for these lines and falls back to encoding/json (see parse.go).

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
	dst = appendField(dst, "where", ev.Where)
	if ev.Took > 0 {
		dst = append(dst, `,"took_ms":`...)
		dst = appendMillis(dst, ev.Took)
	}
	if ev.Attempts != 0 {
		dst = append(dst, `,"attempts":`...)
		dst = strconv.AppendInt(dst, int64(ev.Attempts), 10)
	}
	if ev.Progress != (reactive.Progress{}) {
		dst = append(dst, `,"progress":{"done":`...)
		dst = strconv.AppendInt(dst, int64(ev.Progress.Done), 10)
		dst = append(dst, `,"total":`...)
		dst = strconv.AppendInt(dst, int64(ev.Progress.Total), 10)
		dst = append(dst, '}')
	}
	dst = appendField(dst, "source", ev.Source)
	dst = appendPosField(dst, "pos", ev.Pos)
	if len(ev.Dups) > 0 {
		dst = append(dst, `,"dups":[`...)
		for i, d := range ev.Dups {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"source":`...)
			dst = appendString(dst, d.Source)
			dst = appendPosField(dst, "pos", d.Pos)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	if ev.Value != nil {
		dst = append(dst, `,"value":`...)
		dst = appendValue(dst, ev.Value)
	}
	dst = appendField(dst, "error", ev.Error)
	dst = appendPosField(dst, "error_pos", ev.ErrorPos)
	dst = appendField(dst, "backtrace", ev.Backtrace)
	dst = appendField(dst, "input", ev.Input)
	dst = appendField(dst, "root", ev.Root)
	if ev.Server != nil {
		dst = append(dst, `,"server":`...)
		dst = appendServer(dst, ev.Server)
	}
	dst = appendField(dst, "text", ev.Text)
	return append(dst, '}')
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
	dst = strconv.AppendInt(dst, us/1000, 10)
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

// appendString appends s as a JSON string, as encoding/json writes it except
// that <, > and & are not escaped. Invalid UTF-8 becomes U+FFFD.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
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

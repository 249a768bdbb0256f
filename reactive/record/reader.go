package record

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/reactive"
)

// MaxLine is the longest line a reader accepts, in bytes: room for a value
// whose encoding is MaxCBOR bytes, in base64, with its display form.
const MaxLine = 32 << 20

// maxMillis bounds offsets and durations on reading, so that they fit a
// time.Duration: about 31 years.
const maxMillis = 1e12

// Errors of reading a recording.
var (
	// ErrEmpty is the error of an empty recording.
	ErrEmpty = errors.New("the recording is empty")
	// ErrNoHeader is the error of a recording that does not start with a
	// whole header line: not a recording, or one cut short before its
	// header was written.
	ErrNoHeader = errors.New("not a sperse recording")
)

// VersionError is the error of a recording in a format newer than this
// package reads.
type VersionError struct {
	Version int // the recording's format version
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("recorded by format version %d; this sperse reads version %d: upgrade sperse", e.Version, FormatVersion)
}

// LineError is the error of a line that is not what a recording holds
// there. Everything before the line was read.
type LineError struct {
	Line int    // 1-based; the header is line 1
	Text string // the start of the line, cut
	Err  error
}

func (e *LineError) Error() string {
	if e.Text == "" {
		return fmt.Sprintf("line %d: %v", e.Line, e.Err)
	}
	return fmt.Sprintf("line %d: %v: %s", e.Line, e.Err, e.Text)
}

func (e *LineError) Unwrap() error { return e.Err }

// Recording is a whole recording in memory.
type Recording struct {
	Header Header
	Events []Event
	// Notes says what reading let pass: a torn last line, which a crash
	// leaves behind.
	Notes []string
}

// Open reads the recording in the file path (see Read). Its errors name
// the file.
func Open(path string) (*Recording, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	rec, err := read(bytes.NewReader(data), bytes.Count(data, []byte{'\n'}))
	if err != nil {
		err = fmt.Errorf("%s: %w", path, err)
	}
	return rec, err
}

// Read reads a whole recording. A torn last line (without its newline, or
// one that does not parse with nothing after it) is left out, with a note.
// A line that does not parse in the middle is a *LineError: Read returns it
// with the recording read up to that line. A recording in a newer format
// is a *VersionError; an empty one ErrEmpty; one whose first line is no
// header an error wrapping ErrNoHeader.
func Read(r io.Reader) (*Recording, error) { return read(r, 0) }

// read is Read, with room made for events events.
func read(r io.Reader, events int) (*Recording, error) {
	rd, err := NewReader(r)
	if err != nil {
		return nil, err
	}
	rec := &Recording{Header: rd.Header(), Events: make([]Event, 0, events)}
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return rec, err
		}
		rec.Events = append(rec.Events, ev)
	}
	if torn := rd.Torn(); torn != "" {
		rec.Notes = append(rec.Notes, "ignored the torn last line: "+torn)
	}
	return rec, nil
}

// Reader reads a recording one event at a time. It reads whole lines only,
// so it can follow a file that is being written: at the end of what is
// written so far, Next returns io.EOF, and a later call returns the events
// written since. A Reader is not safe for concurrent use.
type Reader struct {
	r      io.Reader
	buf    []byte // buf[off:] is read and not consumed
	off    int
	scan   int // how much of buf[off:] has no newline
	line   int // the lines consumed
	header Header
	seq    uint64
	last   time.Duration
	bad    *LineError // a line that does not parse, held back until a line follows it
	err    error      // sticky

	intern map[string]string // strings shared among events (see parseLine)
	t      float64           // storage for parsing
}

// NewReader reads the header of the recording in r.
func NewReader(r io.Reader) (*Reader, error) {
	rd := &Reader{r: r, buf: make([]byte, 0, 64<<10), intern: make(map[string]string)}
	line, err := rd.readLine()
	switch {
	case err == io.EOF && len(rd.buf) == rd.off:
		return nil, ErrEmpty
	case err == io.EOF:
		return nil, fmt.Errorf("%w: the first line is not whole (%d bytes and no newline); a crash before the header was written?", ErrNoHeader, len(rd.buf)-rd.off)
	case err != nil:
		return nil, err
	}
	if err := parseHeader(line, &rd.header); err != nil {
		return nil, err
	}
	return rd, nil
}

// Header returns the recording's header.
func (rd *Reader) Header() Header { return rd.header }

// Line returns the line number of the last line read; the header is line 1.
func (rd *Reader) Line() int { return rd.line }

// Next returns the next event. At the end of the whole lines written so far
// it returns io.EOF. A line that does not parse is returned as a
// *LineError once a line follows it; while it is the last, Next returns
// io.EOF and Torn describes it. Any other error ends the reading: Next
// returns it again.
func (rd *Reader) Next() (Event, error) {
	if rd.err != nil {
		return Event{}, rd.err
	}
	for {
		line, err := rd.readLine()
		if err == io.EOF {
			return Event{}, io.EOF
		}
		if err != nil {
			rd.err = err
			return Event{}, err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue // a blank line, as an editor may leave at the end
		}
		if rd.bad != nil { // a line follows it: it is in the middle
			rd.err = rd.bad
			return Event{}, rd.err
		}
		ev, err := rd.parseEvent(line)
		if err != nil {
			rd.bad = &LineError{Line: rd.line, Text: excerpt(line), Err: err}
			continue
		}
		rd.seq, rd.last = ev.Seq, ev.Offset
		return ev, nil
	}
}

// Torn describes what follows the last whole event read so far: a line
// without its newline (torn by a crash, or being written), or a line that
// does not parse with nothing after it. It is "" if there is nothing.
func (rd *Reader) Torn() string {
	pending := len(rd.buf) - rd.off
	switch {
	case rd.err != nil:
		return ""
	case rd.bad != nil && pending > 0:
		return fmt.Sprintf("line %d does not parse (%v) and line %d is not whole (%d bytes and no newline)", rd.bad.Line, rd.bad.Err, rd.line+1, pending)
	case rd.bad != nil:
		return fmt.Sprintf("line %d does not parse: %v", rd.bad.Line, rd.bad.Err)
	case pending > 0:
		return fmt.Sprintf("line %d is not whole (%d bytes and no newline)", rd.line+1, pending)
	}
	return ""
}

// readLine returns the next whole line, without its newline, valid until
// the next call. At the end of the input it returns io.EOF and keeps what
// follows the last newline, so that a call after the input grows goes on.
func (rd *Reader) readLine() ([]byte, error) {
	zeros := 0
	for {
		if i := bytes.IndexByte(rd.buf[rd.off+rd.scan:], '\n'); i >= 0 {
			end := rd.off + rd.scan + i
			line := rd.buf[rd.off:end]
			rd.off, rd.scan = end+1, 0
			rd.line++
			return line, nil
		}
		rd.scan = len(rd.buf) - rd.off
		if rd.scan > MaxLine {
			return nil, &LineError{Line: rd.line + 1, Err: fmt.Errorf("longer than %d bytes", MaxLine)}
		}
		if rd.off > 0 && len(rd.buf) == cap(rd.buf) {
			rd.buf = rd.buf[:copy(rd.buf, rd.buf[rd.off:])]
			rd.off = 0
		}
		if len(rd.buf) == cap(rd.buf) {
			rd.buf = append(rd.buf, make([]byte, cap(rd.buf))...)[:len(rd.buf)]
		}
		n, err := rd.r.Read(rd.buf[len(rd.buf):cap(rd.buf)])
		rd.buf = rd.buf[:len(rd.buf)+n]
		switch {
		case n > 0:
			zeros = 0
		case err == io.EOF:
			return nil, io.EOF
		case err != nil:
			return nil, err
		default:
			if zeros++; zeros > 100 {
				return nil, io.ErrNoProgress
			}
		}
	}
}

// excerpt returns the start of a line that does not parse, quoted.
func excerpt(line []byte) string {
	const n = 40
	if len(line) <= n {
		return strconv.Quote(string(line))
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(line[cut]) {
		cut--
	}
	return strconv.Quote(string(line[:cut])) + "..."
}

// The JSON forms of a recording's lines, for reading.
type (
	wireHeader struct {
		Format  string       `json:"format"`
		Version int          `json:"version"`
		Program string       `json:"program"`
		Started time.Time    `json:"started"`
		Width   int          `json:"width"`
		Height  int          `json:"height"`
		Title   string       `json:"title"`
		Servers []wireServer `json:"servers"`
	}
	wireServer struct {
		Name      string   `json:"name"`
		Addr      string   `json:"addr"`
		Tags      []string `json:"tags"`
		Provides  []string `json:"provides"`
		Connected bool     `json:"connected"`
		Error     string   `json:"error"`
	}
	wireEvent struct {
		Seq       uint64        `json:"seq"`
		T         *float64      `json:"t"`
		Kind      string        `json:"kind"`
		Cell      string        `json:"cell"`
		Version   int           `json:"version"`
		State     string        `json:"state"`
		Where     string        `json:"where"`
		TookMS    float64       `json:"took_ms"`
		Attempts  int           `json:"attempts"`
		Progress  *wireProgress `json:"progress"`
		Source    string        `json:"source"`
		Pos       *wirePos      `json:"pos"`
		Dups      []wireDef     `json:"dups"`
		Value     *wireValue    `json:"value"`
		Error     string        `json:"error"`
		ErrorPos  *wirePos      `json:"error_pos"`
		Backtrace string        `json:"backtrace"`
		Input     string        `json:"input"`
		Root      string        `json:"root"`
		Server    *wireServer   `json:"server"`
		Text      string        `json:"text"`
	}
	wireProgress struct {
		Done  int `json:"done"`
		Total int `json:"total"`
	}
	wirePos struct {
		File string `json:"file"`
		Line int    `json:"line"`
		Col  int    `json:"col"`
	}
	wireDef struct {
		Source string   `json:"source"`
		Pos    *wirePos `json:"pos"`
	}
	wireValue struct {
		Type    string `json:"type"`
		Repr    string `json:"repr"`
		ReprLen int    `json:"repr_len"`
		CBOR    []byte `json:"cbor"`
		NoCBOR  string `json:"no_cbor"`
	}
)

func parseHeader(line []byte, h *Header) error {
	var probe struct {
		Format  string `json:"format"`
		Version *int   `json:"version"`
	}
	if err := json.Unmarshal(line, &probe); err != nil || probe.Format != formatName || probe.Version == nil {
		return fmt.Errorf("%w: line 1 is not a recording header: %s", ErrNoHeader, excerpt(line))
	}
	switch v := *probe.Version; {
	case v > FormatVersion:
		return &VersionError{Version: v}
	case v < 1:
		return fmt.Errorf("%w: line 1: format version %d", ErrNoHeader, v)
	}
	var w wireHeader
	if err := json.Unmarshal(line, &w); err != nil {
		return &LineError{Line: 1, Err: fmt.Errorf("bad header: %v", err)}
	}
	if w.Width < 0 || w.Height < 0 {
		return &LineError{Line: 1, Err: fmt.Errorf("bad header: terminal size %dx%d", w.Width, w.Height)}
	}
	*h = Header{
		Version: w.Version,
		Program: w.Program,
		Started: w.Started,
		Width:   w.Width,
		Height:  w.Height,
		Title:   w.Title,
	}
	for _, s := range w.Servers {
		h.Servers = append(h.Servers, s.server())
	}
	return nil
}

func (s *wireServer) server() Server {
	return Server{Name: s.Name, Addr: s.Addr, Tags: s.Tags, Provides: s.Provides, Connected: s.Connected, Error: s.Error}
}

func (p *wirePos) pos() lang.Pos {
	if p == nil {
		return lang.Pos{}
	}
	return lang.Pos{File: p.File, Line: p.Line, Col: p.Col}
}

// parseEvent parses one event line, checking it against the line before.
func (rd *Reader) parseEvent(line []byte) (Event, error) {
	var w wireEvent
	if err := rd.parseLine(line, &w); err != nil {
		return Event{}, fmt.Errorf("not an event (%v)", err)
	}
	switch {
	case w.Seq == 0:
		return Event{}, errors.New("an event without its seq")
	case w.Seq <= rd.seq:
		return Event{}, fmt.Errorf("seq %d after seq %d", w.Seq, rd.seq)
	case w.T == nil:
		return Event{}, errors.New("an event without its time offset t")
	}
	offset, err := millis("t", *w.T)
	if err != nil {
		return Event{}, err
	}
	offset = max(offset, rd.last)
	took, err := millis("took_ms", w.TookMS)
	if err != nil {
		return Event{}, err
	}
	ev := Event{
		Seq:       w.Seq,
		Offset:    offset,
		Kind:      Kind(w.Kind),
		Cell:      w.Cell,
		Version:   w.Version,
		Where:     w.Where,
		Took:      took,
		Attempts:  w.Attempts,
		Source:    w.Source,
		Pos:       w.Pos.pos(),
		Error:     w.Error,
		ErrorPos:  w.ErrorPos.pos(),
		Backtrace: w.Backtrace,
		Input:     w.Input,
		Root:      w.Root,
		Text:      w.Text,
	}
	if !ev.Kind.known() {
		return Event{}, fmt.Errorf("unknown kind %q", w.Kind)
	}
	if ev.Kind.IsCell() {
		if w.Cell == "" {
			return Event{}, fmt.Errorf("a %s event without its cell", w.Kind)
		}
		s, ok := states[w.State]
		if !ok {
			return Event{}, fmt.Errorf("unknown state %q", w.State)
		}
		ev.State = s
	}
	if (ev.Kind == ServerJoined || ev.Kind == ServerLeft) && w.Server == nil {
		return Event{}, fmt.Errorf("a %s event without its server", w.Kind)
	}
	if w.Progress != nil {
		ev.Progress = reactive.Progress{Done: w.Progress.Done, Total: w.Progress.Total}
	}
	if w.Server != nil {
		s := w.Server.server()
		ev.Server = &s
	}
	for _, d := range w.Dups {
		ev.Dups = append(ev.Dups, Definition{Source: d.Source, Pos: d.Pos.pos()})
	}
	if v := w.Value; v != nil {
		if v.ReprLen < 0 {
			return Event{}, fmt.Errorf("repr_len %d", v.ReprLen)
		}
		ev.Value = &Value{Type: v.Type, Repr: v.Repr, ReprLen: v.ReprLen, CBOR: v.CBOR, NoCBOR: v.NoCBOR}
	}
	return ev, nil
}

// millis converts a field in milliseconds to a duration, to the microsecond.
func millis(field string, ms float64) (time.Duration, error) {
	if math.IsNaN(ms) || ms < 0 || ms > maxMillis {
		return 0, fmt.Errorf("%s %v is out of range", field, ms)
	}
	return time.Duration(math.Round(ms*1000)) * time.Microsecond, nil
}

// states are the names of the states, as written.
var states = func() map[string]reactive.State {
	m := make(map[string]reactive.State)
	for s := reactive.Queued; ; s++ {
		name := s.String()
		if _, ok := m[name]; ok || name == "State("+strconv.Itoa(int(s))+")" {
			return m
		}
		m[name] = s
	}
}()

package record

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/reactive"
)

// ErrClosed is returned by a Recorder's methods after Close.
var ErrClosed = errors.New("record: the recorder is closed")

// Recorder writes a recording: a header line, then one line per event. Every
// method returns only once the lines it was given are written to the
// underlying writer in whole (with one write call per line, or per 64 KiB
// of lines for a batch from an engine), so a crash of the program loses no
// line that a method returned for, and leaves at most one torn line at the
// end, which readers ignore. The recorder keeps nothing buffered between
// calls; it does not sync the file to disk.
//
// A Recorder is safe to use from any goroutine; events are numbered in the
// order their calls take its lock. After a write fails, every method returns
// that error.
type Recorder struct {
	mu     sync.Mutex
	w      io.Writer
	file   *os.File // closed by Close, when Create opened it
	sync   bool     // Close syncs file: a regular file
	header Header
	seq    uint64
	last   time.Duration // the offset of the last event written
	closed bool
	err    error // the first write error

	batch   int       // a batch from an engine is written whenever this many bytes are formatted
	buf     []byte    // the lines being formatted
	cbuf    []byte    // the encoding of the value being formatted
	seqText []byte    // the text of seq
	tText   []byte    // the text of the offset last, for the events that share it
	tTime   time.Time // the time of the last engine event, whose offset is last
}

// batchBytes is how much of a batch of engine events is formatted before it
// is written.
const batchBytes = 64 << 10

// Create creates the file path and starts a recording in it with header h
// (see New). A file already at path is replaced only once the header is on
// disk: the recording starts in a temporary file next to path, which is
// synced and renamed to path, so that if the directory is read-only or the
// disk is full, Create fails and the file at path is left as it was. (A
// path that is not a regular file, such as a pipe or /dev/stdout, is
// written to directly.) Close syncs and closes the file.
func Create(path string, h Header) (*Recorder, error) {
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return nil, fmt.Errorf("record: %w", err)
		}
		r, err := New(f, h)
		if err != nil {
			f.Close()
			return nil, err
		}
		r.file = f
		return r, nil
	}
	if target, err := filepath.EvalSymlinks(path); err == nil {
		path = target
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return nil, createError(path, err)
	}
	r, err := New(f, h)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, createError(path, err)
	}
	r.file, r.sync = f, true
	return r, nil
}

// createError is the error of Create(path) that failed with err in the
// temporary file: it names path, not the temporary file.
func createError(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = &fs.PathError{Op: pe.Op, Path: path, Err: pe.Err}
	}
	return fmt.Errorf("record: %w", err)
}

// New starts a recording on w and writes its header h: Version is set to
// FormatVersion, an empty Program to this program's name and version, and a
// zero Started to now. Close does not close w.
func New(w io.Writer, h Header) (*Recorder, error) {
	h.Version = FormatVersion
	if h.Program == "" {
		h.Program = programVersion()
	}
	if h.Started.IsZero() {
		h.Started = time.Now()
	}
	r := &Recorder{w: w, header: h, batch: batchBytes, seqText: []byte{'0'}}
	r.buf = append(appendHeader(r.buf, &r.header), '\n')
	if err := r.flushLocked(); err != nil {
		return nil, err
	}
	return r, nil
}

// programVersion is "sperse" and the version of the main module.
func programVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return "sperse " + bi.Main.Version
	}
	return "sperse (devel)"
}

// Header returns the header the recording started with.
func (r *Recorder) Header() Header { return r.header }

// Offset returns the offset of an event that happens at t.
func (r *Recorder) Offset(t time.Time) time.Duration { return t.Sub(r.header.Started) }

// Record writes ev. Its Seq is set to the next number, and its Offset is
// raised to the last event's if it is less (events are written in order).
// An event that a reader would reject (an unknown kind or state, a cell
// event without its cell, a server event without its server) is an error,
// and nothing is written.
func (r *Recorder) Record(ev Event) error {
	if err := ev.check(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.usableLocked(); err != nil {
		return err
	}
	r.appendLocked(&ev)
	return r.flushLocked()
}

// RecordEngine writes events of an engine, in order (see FromEngine for how
// each is recorded). The events of one call are written together.
func (r *Recorder) RecordEngine(evs ...reactive.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.usableLocked(); err != nil {
		return err
	}
	if err := r.appendEngineLocked(evs); err != nil {
		return err
	}
	return r.flushLocked()
}

// recordNext writes the events waiting in sub together, as RecordEngine
// does, formatting them as Take gives them, and returns how many it took.
func (r *Recorder) recordNext(sub *reactive.Subscription) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.usableLocked(); err != nil {
		return 0, err
	}
	n := 0
	var err error
	sub.Take(func(evs []reactive.Event) {
		n += len(evs)
		if err == nil {
			err = r.appendEngineLocked(evs)
		}
	})
	if err != nil {
		return n, err
	}
	return n, r.flushLocked()
}

// appendEngineLocked formats evs, writing whenever a batch is formatted.
func (r *Recorder) appendEngineLocked(evs []reactive.Event) error {
	for i := range evs {
		r.appendEngineEventLocked(&evs[i])
		if len(r.buf) >= r.batch {
			if err := r.flushLocked(); err != nil {
				return err
			}
		}
	}
	return nil
}

// RecordCells writes a defined event for each cell of views, with its
// state, value or error: a recording started in a workspace that has cells
// begins with them. To miss nothing, subscribe first, then take the views
// with Engine.Cells, record them, and Follow the subscription.
func (r *Recorder) RecordCells(views []reactive.CellView) error {
	now := time.Now()
	evs := make([]reactive.Event, len(views))
	for i, v := range views {
		evs[i] = reactive.Event{Time: now, Kind: reactive.Defined, Cell: v}
	}
	return r.RecordEngine(evs...)
}

// Mark writes a marker with text, now.
func (r *Recorder) Mark(text string) error {
	return r.Record(Event{Kind: Marker, Offset: r.Offset(time.Now()), Text: text})
}

// Typed writes what the user typed, now.
func (r *Recorder) Typed(text string) error {
	return r.Record(Event{Kind: Typed, Offset: r.Offset(time.Now()), Text: text})
}

// ServerJoined writes that server s connected, now.
func (r *Recorder) ServerJoined(s Server) error {
	return r.Record(Event{Kind: ServerJoined, Offset: r.Offset(time.Now()), Server: &s})
}

// ServerLeft writes that server s disconnected or was removed, now;
// s.Error says why, if known.
func (r *Recorder) ServerLeft(s Server) error {
	return r.Record(Event{Kind: ServerLeft, Offset: r.Offset(time.Now()), Server: &s})
}

// Follow writes every event of sub, in order, as they come, until sub's
// channel is closed (by Subscription.Close or the engine's Close: the events
// published before are written first), ctx is done (what is waiting is
// written first), or a write fails. It returns nil, ctx.Err() or the write
// error. The caller runs Follow in a goroutine it owns and waits for it
// before Close; Follow does not close sub. Follow has sub wake it every
// WakeDelay while the engine is busy (Subscription.SetWakeDelay).
func (r *Recorder) Follow(ctx context.Context, sub *reactive.Subscription) error {
	return r.follow(ctx, sub, nil)
}

// WakeDelay is how long Follow lets events wait while the engine is busy;
// a recorder that takes events another way should set it too.
// A recorder's work is per event, and it keeps up better in small batches
// taken soon than in large ones taken seldom: with the subscription's
// default of half a millisecond, recording a burst of trivial cells takes
// some 10% longer (BenchmarkRecord/sum). The events also reach the file
// sooner.
const WakeDelay = 100 * time.Microsecond

// follow is Follow; it calls wrote, if not nil, with the number of events of
// each batch it writes.
func (r *Recorder) follow(ctx context.Context, sub *reactive.Subscription, wrote func(int)) error {
	sub.SetWakeDelay(WakeDelay)
	record := func() error {
		n, err := r.recordNext(sub)
		if wrote != nil {
			wrote(n)
		}
		return err
	}
	for {
		select {
		case <-ctx.Done():
			if err := record(); err != nil {
				return err
			}
			return ctx.Err()
		case _, ok := <-sub.C():
			if err := record(); err != nil {
				return err
			}
			if !ok {
				return nil
			}
		}
	}
}

// Close ends the recording, closing the file if Create opened it. It returns
// the first write error, if any. Close is idempotent.
func (r *Recorder) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return r.err
	}
	r.closed = true
	if r.sync && r.err == nil {
		if err := r.file.Sync(); err != nil {
			r.err = fmt.Errorf("record: %w", err)
		}
	}
	if r.file != nil {
		if err := r.file.Close(); err != nil && r.err == nil {
			r.err = fmt.Errorf("record: %w", err)
		}
	}
	r.buf, r.cbuf = nil, nil
	return r.err
}

func (r *Recorder) usableLocked() error {
	if r.closed {
		return ErrClosed
	}
	return r.err
}

// appendLocked numbers ev and appends its line to r.buf.
func (r *Recorder) appendLocked(ev *Event) {
	r.numberLocked()
	ev.Seq = r.seq
	ev.Offset = max(ev.Offset, r.last)
	r.last, r.tText = ev.Offset, r.tText[:0]
	r.buf = appendEvent(r.buf, ev)
	r.buf = append(r.buf, '\n')
}

// appendEngineEventLocked numbers the engine's event ev and appends its line
// to r.buf. The events of a change share their time: the text of the last
// offset is kept for the next.
func (r *Recorder) appendEngineEventLocked(ev *reactive.Event) {
	r.numberLocked()
	if ev.Time != r.tTime || len(r.tText) == 0 { // not the time of the event before
		r.tTime = ev.Time
		if off := max(ev.Time.Sub(r.header.Started), r.last); off != r.last || len(r.tText) == 0 {
			r.last = off
			r.tText = appendMillis(r.tText[:0], off)
		}
	}
	r.buf, r.cbuf = appendEngineEvent(r.buf, r.seqText, r.tText, ev, r.cbuf)
	r.buf = append(r.buf, '\n')
}

// numberLocked counts an event in r.seq, and in its text: each event adds
// one to the last digit rather than formatting the number.
func (r *Recorder) numberLocked() {
	r.seq++
	for i := len(r.seqText) - 1; i >= 0; i-- {
		if r.seqText[i] < '9' {
			r.seqText[i]++
			return
		}
		r.seqText[i] = '0'
	}
	r.seqText = append([]byte{'1'}, r.seqText...)
}

// flushLocked writes r.buf.
func (r *Recorder) flushLocked() error {
	if len(r.buf) == 0 {
		return nil
	}
	_, err := r.w.Write(r.buf)
	if cap(r.buf) > 4*batchBytes {
		r.buf = nil // the room of a huge value
	} else {
		r.buf = r.buf[:0]
	}
	if cap(r.cbuf) > 4*batchBytes {
		r.cbuf = nil
	}
	if err != nil {
		r.err = fmt.Errorf("record: %w", err)
	}
	return r.err
}

// FromEngine returns the event of a recording that records the engine's
// event ev, with its offset from started:
//
//	reactive.Defined                 defined
//	reactive.Deleted                 deleted
//	reactive.ValueChanged            resolved
//	reactive.StateChanged, Running   dispatched, or progress if it has progress
//	reactive.StateChanged, Error     failed
//	reactive.StateChanged, Cancelled cancelled
//	reactive.StateChanged, others    changed
//
// The event carries the cell's state just after the change. Its Seq is 0.
func FromEngine(ev reactive.Event, started time.Time) Event {
	v := &ev.Cell
	out := Event{Offset: ev.Time.Sub(started), Kind: kindOf(&ev), Cell: v.Name, Version: v.Version, State: v.State}
	switch out.Kind {
	case Defined:
		if v.Cell != nil {
			out.Source, out.Pos = v.Cell.Source, v.Cell.Pos
		}
		for _, d := range v.Dups {
			out.Dups = append(out.Dups, Definition{Source: d.Source, Pos: d.Pos})
		}
	case Deleted:
		return out
	}
	out.Where, out.Took, out.Attempts, out.Progress = v.Where, v.Took, v.Attempts, v.Progress
	if v.State == reactive.Ready && v.Value != nil {
		out.Value = NewValue(v.Value)
	}
	if v.Err != nil {
		out.setError(v.Err)
	}
	return out
}

// kindOf returns the kind of the recorded event of the engine's event ev
// (see FromEngine).
func kindOf(ev *reactive.Event) Kind {
	switch ev.Kind {
	case reactive.Defined:
		return Defined
	case reactive.Deleted:
		return Deleted
	case reactive.ValueChanged:
		return Resolved
	}
	switch v := &ev.Cell; {
	case v.State == reactive.Running && v.Progress != (reactive.Progress{}):
		return Progressed // a start has no progress yet
	case v.State == reactive.Running:
		return Dispatched
	case v.State == reactive.Error:
		return Failed
	case v.State == reactive.Cancelled:
		return Cancelled
	}
	return Changed
}

// check reports what makes ev an event that a reader rejects.
func (ev *Event) check() error {
	switch {
	case !ev.Kind.known():
		return fmt.Errorf("record: unknown kind %q", ev.Kind)
	case ev.Kind.IsCell() && ev.Cell == "":
		return fmt.Errorf("record: a %s event without its cell", ev.Kind)
	case ev.Kind.IsCell() && states[ev.State.String()] != ev.State:
		return fmt.Errorf("record: unknown state %v", ev.State)
	case (ev.Kind == ServerJoined || ev.Kind == ServerLeft) && ev.Server == nil:
		return fmt.Errorf("record: a %s event without its server", ev.Kind)
	}
	return nil
}

// setError sets the error fields of ev from err.
func (ev *Event) setError(err error) {
	ev.Error, ev.ErrorPos, ev.Backtrace, ev.Input, ev.Root = errorFields(err)
}

// errorFields returns what a recorded event keeps of err: its text, and
// where a code error is and its backtrace, and the input and root of an
// upstream error.
func errorFields(err error) (text string, pos lang.Pos, backtrace, input, root string) {
	text = err.Error()
	var le *lang.Error
	if errors.As(err, &le) {
		if le.Pos.File != "" || le.Pos.Line != 0 {
			pos = le.Pos
		}
		backtrace = le.Backtrace
	}
	var ie *reactive.InputError
	if errors.As(err, &ie) {
		input = ie.Input
		if ie.Root != ie.Input {
			root = ie.Root
		}
	}
	return text, pos, backtrace, input, root
}

// NewValue returns v as a recording keeps it.
func NewValue(v lang.Value) *Value {
	val := new(Value)
	enc := val.fill(v, nil)
	if val.CBOR != nil {
		val.CBOR = enc[:len(enc):len(enc)]
	}
	return val
}

// fill sets val to v, encoding v into buf; val.CBOR may alias buf, which is
// returned for reuse.
func (val *Value) fill(v lang.Value, buf []byte) []byte {
	val.Type = v.Type()
	val.Repr, val.ReprLen = cut(v.String(), MaxRepr)
	val.CBOR, val.NoCBOR = nil, ""
	enc, err := lang.AppendValue(buf[:0], v)
	switch {
	case err != nil:
		val.NoCBOR = err.Error()
	case len(enc) > MaxCBOR:
		val.NoCBOR = fmt.Sprintf("its encoding is %d bytes; a recording keeps encodings of at most %d", len(enc), MaxCBOR)
	default:
		val.CBOR = enc
	}
	return enc
}

// cut returns s cut to at most max bytes on a rune boundary, and the length
// of s if it was cut, else 0.
func cut(s string, max int) (string, int) {
	if len(s) <= max {
		return s, 0
	}
	n := max
	for n > 0 && n < len(s) && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n], len(s)
}

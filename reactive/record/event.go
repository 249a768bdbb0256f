package record

import (
	"time"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/reactive"
)

// FormatVersion is the version of the format this package writes, and the
// newest it reads. Adding an optional field keeps the version; adding a kind,
// a state, or changing what a field means makes a new one.
const FormatVersion = 1

// formatName is the value of the header's "format" field.
const formatName = "sperse-recording"

// Kind says what an event records.
type Kind string

// The kinds of events. Cell events (see Kind.IsCell) carry the cell's name,
// version and state just after the change; the kind names the change.
const (
	Typed        Kind = "typed"         // Text: what the user typed at the prompt (the TUI)
	Defined      Kind = "defined"       // a cell was defined or redefined: Source, Pos, Dups
	Changed      Kind = "changed"       // a cell's state changed (queued, upstream-error, stale, unavailable)
	Deleted      Kind = "deleted"       // a cell was deleted; State is its last
	Dispatched   Kind = "dispatched"    // a cell started running: Where is "local", or "remote" until it resolves
	Progressed   Kind = "progress"      // a running cell's split work (pmap, mapreduce) advanced: Progress
	Resolved     Kind = "resolved"      // a cell has a value: Value, Where, Took, Attempts
	Failed       Kind = "failed"        // a cell failed with its own error: Error, ErrorPos, Backtrace
	Cancelled    Kind = "cancelled"     // a cell's evaluation was cancelled
	ServerJoined Kind = "server-joined" // Server: a server connected
	ServerLeft   Kind = "server-left"   // Server: a server disconnected or was removed; Server.Error says why
	Marker       Kind = "marker"        // Text: a mark the user set (":mark TEXT")
)

// IsCell reports whether events of kind k are about a cell.
func (k Kind) IsCell() bool {
	switch k {
	case Defined, Changed, Deleted, Dispatched, Progressed, Resolved, Failed, Cancelled:
		return true
	}
	return false
}

func (k Kind) known() bool {
	switch k {
	case Typed, ServerJoined, ServerLeft, Marker:
		return true
	}
	return k.IsCell()
}

// Header is the first line of a recording.
type Header struct {
	Version int       // the format version; New writes FormatVersion whatever it is given
	Program string    // the program and its version, e.g. "sperse v0.3.0"; New fills it in if empty
	Started time.Time // when the recording started: event offsets count from it; New uses now if zero
	Width   int       // the terminal's size in cells, 0 if unknown or headless
	Height  int
	Title   string   // what was recorded, e.g. "sperse run w.sp"; may be empty
	Servers []Server // the servers known when the recording started
}

// Server is an evaluation server, as the recording saw it.
type Server struct {
	Name      string
	Addr      string // HOST:PORT
	Tags      []string
	Provides  []string // names the server provides beyond the builtins
	Connected bool     // in the header: connected when the recording started
	Error     string   // in server-left: why it left, if known
}

// Event is one line of a recording after the header. Which fields are set
// depends on Kind (see the constants); cell events carry the cell's state
// just after the change: State, Where, Took, and Value or Error.
type Event struct {
	Seq    uint64        // 1 for the first event, one more for each next one
	Offset time.Duration // since Header.Started; never less than the event before's
	Kind   Kind

	// Cell events.
	Cell    string
	Version int
	State   reactive.State
	Source  string       // defined: the cell's text as written
	Pos     lang.Pos     // defined: where the cell starts
	Dups    []Definition // defined: the other definitions of a name defined more than once by one load
	Where   string       // where it runs or ran: "local", "remote" while running remotely, or a server's name
	Took    time.Duration
	// Attempts is how many times the last evaluation was started: more
	// than 1 when its server was lost and it ran again on another; 0 while
	// it runs.
	Attempts int
	Progress reactive.Progress // how far the split work of the last evaluation is, if it split any
	Value    *Value            // in state ready
	Error    string            // the error's text, position included
	// ErrorPos is the position of a code error (a *lang.Error), zero if none.
	ErrorPos  lang.Pos
	Backtrace string // the Starlark call stack of a runtime error
	Input     string // upstream-error: the failed input
	Root      string // upstream-error: the cell whose own error it is, if not Input

	Server *Server // server-joined, server-left
	Text   string  // typed, marker
}

// Definition is one definition of a cell: its text and where it starts.
type Definition struct {
	Source string
	Pos    lang.Pos
}

// Value is a cell's value as recorded: its display form and its exact
// encoding.
type Value struct {
	Type string // the Starlark type: "int", "list", "function", ...
	// Repr is the value's display form, cut to MaxRepr bytes (on a rune
	// boundary) for a huge value; ReprLen is then the full length in
	// bytes, and 0 when Repr is whole.
	Repr    string
	ReprLen int
	// CBOR is lang.Encode of the value. It is nil when the value cannot be
	// encoded (a builtin method, ...) or its encoding is over MaxCBOR bytes;
	// NoCBOR then says why.
	CBOR   []byte
	NoCBOR string
}

// Limits of what a recording keeps of a value.
const (
	MaxRepr = 4 << 10  // the longest display form kept, in bytes
	MaxCBOR = 16 << 20 // the longest encoding kept, in bytes
)

// Truncated reports whether Repr is cut.
func (v *Value) Truncated() bool { return v.ReprLen > len(v.Repr) }

// Decode decodes the value's encoding in interpreter in (functions are made
// there). It fails if the value has no encoding.
func (v *Value) Decode(in *lang.Interp) (lang.Value, error) {
	if v.CBOR == nil {
		return nil, &NoEncodingError{Reason: v.NoCBOR}
	}
	return in.Decode(v.CBOR)
}

// NoEncodingError is the error of decoding a recorded value that has no
// encoding.
type NoEncodingError struct{ Reason string }

func (e *NoEncodingError) Error() string {
	if e.Reason == "" {
		return "the value was recorded without its encoding"
	}
	return "the value was recorded without its encoding: " + e.Reason
}

// Equal reports whether v and w are the same value: the same encoding when
// both have one, else the same display form and length.
func (v *Value) Equal(w *Value) bool {
	if v == nil || w == nil {
		return v == w
	}
	if v.CBOR != nil && w.CBOR != nil {
		return string(v.CBOR) == string(w.CBOR)
	}
	return v.Repr == w.Repr && v.ReprLen == w.ReprLen
}

package reactive

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/sperse/sperse/lang"
)

// State is where a cell is in its life: waiting, running, or settled with a
// value or an error.
type State int

const (
	// Queued: the cell waits for its inputs, or for a local worker once they
	// are ready. A cell whose input is Stale or Unavailable stays Queued until
	// that input runs again.
	Queued State = iota
	// Running: the cell is being evaluated (CellView.Where says where).
	Running
	// Ready: the cell has a value.
	Ready
	// Error: the cell's own error: in its code, a syntax error, a name
	// defined twice in one Load (*DuplicateError), or a cycle (*CycleError).
	Error
	// UpstreamError: an input failed, so the cell did not run (*InputError).
	UpstreamError
	// Cancelled: the evaluation was cancelled (Cancel, Close), or an input was
	// cancelled so the cell did not run.
	Cancelled
	// Stale: the server evaluating the cell was lost; it runs again on
	// RetryStale.
	Stale
	// Unavailable: no server can run the cell; it runs again on RetryStale.
	Unavailable
)

var stateNames = [...]string{
	Queued:        "queued",
	Running:       "running",
	Ready:         "ready",
	Error:         "error",
	UpstreamError: "upstream-error",
	Cancelled:     "cancelled",
	Stale:         "stale",
	Unavailable:   "unavailable",
}

func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// settled reports whether a cell in state s has finished for now, so that its
// dependents can go on: with a value, or by failing or being cancelled. A
// Stale or Unavailable cell is not settled: its dependents wait for it.
func (s State) settled() bool {
	switch s {
	case Ready, Error, UpstreamError, Cancelled:
		return true
	}
	return false
}

// failed reports whether dependents of a cell in state s fail with
// UpstreamError.
func (s State) failed() bool { return s == Error || s == UpstreamError }

// InputError is the error of a cell in state UpstreamError: an input of the
// cell failed, so it did not run.
type InputError struct {
	Input string // the failed input: a cell the cell uses
	Root  string // the cell whose own error it is; Input if the input failed itself
}

func (e *InputError) Error() string {
	if e.Root == e.Input {
		return "depends on failed " + e.Input
	}
	return "depends on failed " + e.Root + " (via " + e.Input + ")"
}

// CycleError is the error of every cell in a dependency cycle. Cycle returns
// the cycle starting at the cell itself, following what each cell uses.
type CycleError struct {
	path []string // a cycle, shared by the cells on it; the cell is path[at]
	at   int
}

// Cycle returns the names of the cells on the cycle, starting with the cell
// whose error it is: a cycle a -> b -> a is []string{"a", "b"}.
func (e *CycleError) Cycle() []string {
	return append(append([]string(nil), e.path[e.at:]...), e.path[:e.at]...)
}

func (e *CycleError) Error() string {
	var b strings.Builder
	b.WriteString("cycle: ")
	for i := range e.path {
		b.WriteString(e.path[(e.at+i)%len(e.path)])
		b.WriteString(" -> ")
	}
	b.WriteString(e.path[e.at])
	return b.String()
}

// DuplicateError is the error of a name defined more than once in one Load.
type DuplicateError struct {
	Name string
	Pos  []lang.Pos // where each definition starts, in the order loaded
}

func (e *DuplicateError) Error() string {
	var b strings.Builder
	b.WriteString(e.Name)
	if len(e.Pos) == 2 {
		b.WriteString(" is defined twice: at ")
	} else {
		fmt.Fprintf(&b, " is defined %d times: at ", len(e.Pos))
	}
	for i, p := range e.Pos {
		switch {
		case i == 0:
		case i == len(e.Pos)-1:
			b.WriteString(" and ")
		default:
			b.WriteString(", ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

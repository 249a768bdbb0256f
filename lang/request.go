package lang

import "time"

// Request is one evaluation of a cell: its code and the values of the cells
// it uses, by name. It is what an executor (the local interpreter, or a
// server through the remote client) is given. (An evaluation's progress
// reporter, if any, travels in its context: see WithProgress.)
type Request struct {
	Cell  *Cell
	Scope map[string]Value
}

// Result is the outcome of an evaluation. Exactly one of Value and Err is set.
type Result struct {
	Value Value
	Err   error
	Where string        // where it ran: "local" or a server's name
	Took  time.Duration // how long the evaluation took where it ran

	// Attempts is how many times the executor started the evaluation: 1,
	// or more when it ran it again on another server after losing one
	// (remote cells are hermetic, so that is safe). 0 means it never
	// started (no server could run it, or its code could not be sent), or
	// that the executor does not count.
	Attempts int
}

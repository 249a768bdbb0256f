package lang

// Interp evaluates cells. Where is what where() returns in code it runs:
// "local" on the client, the server's name on a server. An Interp is safe for
// concurrent use.
type Interp struct {
	Where    string
	MaxSteps uint64 // Starlark steps one evaluation may take; 0 means DefaultMaxSteps
}

// DefaultMaxSteps bounds an evaluation when Interp.MaxSteps is 0.
const DefaultMaxSteps = 1 << 32

// NewInterp returns an interpreter whose where() is where.
func NewInterp(where string) *Interp {
	return &Interp{Where: where}
}

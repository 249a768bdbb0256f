package lang

// compiled is a cell's compiled code.
type compiled struct{}

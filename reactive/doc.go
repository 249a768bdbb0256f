// Package reactive is the dependency graph of a workspace's cells: it decides
// what runs when, evaluates cells through an Executor (the local interpreter,
// or servers), propagates changes and cancels what a change makes useless. It
// knows nothing of networks or terminals.
//
// # The graph
//
// A cell depends on the cells named by its free names (lang.Cell.Free),
// except itself: a self-reference is not a dependency. The engine also
// remembers the free names that are no cell (builtins, undefined names), so
// that defining a cell with such a name later reaches every cell that uses
// it: "undefined: x" clears by itself, and a cell named like a builtin
// shadows it. Whether a name is undefined is the executor's to say.
//
// # Changes
//
// Define, Load, Rerun and Delete change the graph. A change cancels the
// evaluations in flight of the changed cells and of everything downstream
// (the context given to the executor is cancelled, remote evaluations
// included), and marks them Queued; then each runs exactly once, as soon as
// its inputs are Ready, so in topological order. Cells not downstream are
// untouched: they do not run and get no event. Every evaluation carries a run
// id, and a result that arrives for a run the cell no longer waits for is
// dropped without a trace.
//
// A cell whose input failed (Error or UpstreamError) does not run: it is in
// state UpstreamError with an *InputError naming the input, and the root
// when the input itself failed upstream. A cell whose input was Cancelled is
// Cancelled. A cell whose input is Stale or Unavailable stays Queued until
// RetryStale runs that input again. A cycle is an Error (*CycleError) on each
// cell on it; cells downstream of it get UpstreamError; redefining a cell of
// the cycle so that it is broken clears them all.
//
// A name defined more than once by one Load is one cell whose definitions
// are CellView.Cell and CellView.Dups, in state Error with a
// *DuplicateError; a later Define of the name replaces them all.
//
// # Execution
//
// Local evaluations run on at most Config.MaxLocal worker goroutines,
// started on demand; a worker that finishes a cell takes the next runnable
// one itself, and workers exit when there is nothing to do. Remote
// evaluations each get a goroutine: the remote executor limits itself. The
// engine never holds its lock while calling an executor. Close cancels
// everything and waits for every goroutine.
//
// # Events
//
// Every change of a cell is published as an Event to every Subscription,
// without ever blocking the engine: events queue in the subscription, and
// its channel holds at most one wake-up, so a burst costs a slow reader one
// wake-up and Next returns all of it. A busy engine wakes its subscribers at
// most every half millisecond (or as often as each asks, SetWakeDelay), from
// a timer, and a quiet one at once: a fast reader takes a burst in a few
// large batches, and the goroutines that evaluate never pay for waking it.
// Publishing writes each event once, in place, into the subscription's
// queue; Take lets a subscriber (such as a recorder) read the events where
// they are.
package reactive

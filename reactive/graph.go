package reactive

import (
	"slices"
	"time"

	"github.com/sperse/sperse/lang"
)

// node is a defined cell: one per name. A redefinition keeps the node and
// replaces its cell; a deleted name's node is dropped, and a new definition of
// the name makes a new node. All fields are guarded by Engine.mu.
type node struct {
	name string
	ent  *entry // Engine.names[name]
	idx  int    // position in Engine.order

	cell    *lang.Cell
	dups    []*lang.Cell // the other definitions of the name in one Load
	static  error        // the cell's error that no evaluation can change: syntax or duplicate
	version int

	// The graph. free is what the node is registered under (cell.Free,
	// deduplicated, without its own name; nil for a static error) and
	// freeIdx the node's position in each entry's users. deps are the nodes
	// of the names in free that are defined, in order; depNames their names,
	// never changed in place (views share it).
	free       []string
	freeIdx    []int32
	deps       []*node
	depNames   []string
	dependents []string   // sorted names of ent.users; nil when it must be rebuilt
	ident      *viewIdent // shared by the node's events; nil once cell, dups, version, depNames or dependents change

	state    State
	value    lang.Value
	err      error
	where    string
	took     time.Duration
	started  time.Time
	finished time.Time
	runs     int
	attempts int      // of the last evaluation, as its executor counted them
	progress Progress // of the last evaluation's split work

	progSent  time.Time   // when the progress was last published
	progTimer *time.Timer // publishes the progress when it is due; nil if none is pending

	run     uint64   // the evaluation in flight (queued for a worker or running); 0 if none
	eval    *evalCtx // the context of the running evaluation
	waiting int      // while Queued: the deps not settled yet

	// Promise pipelining: promise is that of the remote evaluation in
	// flight, if remote cells use n; pipelined says that the evaluation in
	// flight started before every input had settled.
	promise   *lang.Promise
	pipelined bool

	// Scratch for propagate and findCycles.
	mark    uint64 // the propagation that last reached the node
	flags   uint8
	prev    State
	peel    int
	tIndex  int
	tLow    int
	onStack bool
	tok     uint64
}

const (
	flagDefined uint8 = 1 << iota // propagate publishes Defined for the node
	flagForce                     // propagate publishes the node even if its state is unchanged
	flagResolve                   // the node's deps must be resolved again
)

// entry is everything about one name: the cell defining it, if any, and the
// cells whose code uses it, whether or not it is defined (so that defining
// it later reaches them: that is how "undefined: x" clears, and how a cell
// shadows a builtin).
type entry struct {
	node  *node
	users []*node
}

func (n *node) view() CellView {
	var v CellView
	n.viewInto(&v)
	return v
}

// viewInto sets *v to a snapshot of n, field by field: assigning a CellView
// literal would build it aside and copy it.
func (n *node) viewInto(v *CellView) {
	v.Cell = n.cell
	v.Dups = n.dups
	v.Name = n.name
	v.Version = n.version
	v.State = n.state
	v.Value = n.value
	v.Err = n.err
	v.Where = n.where
	v.Took = n.took
	v.Started = n.started
	v.Finished = n.finished
	v.Runs = n.runs
	v.Attempts = n.attempts
	v.Progress = n.progress
	v.Deps = n.depNames
	v.Dependents = n.dependentNames()
}

func (n *node) dependentNames() []string {
	if n.dependents == nil && len(n.ent.users) > 0 {
		names := make([]string, len(n.ent.users))
		for i, u := range n.ent.users {
			names[i] = u.name
		}
		slices.Sort(names)
		n.dependents = names
	}
	return n.dependents
}

func (e *Engine) entryLocked(name string) *entry {
	ent := e.names[name]
	if ent == nil {
		ent = &entry{}
		e.names[name] = ent
	}
	return ent
}

// dropEntryLocked forgets ent if nothing defines or uses its name.
func (e *Engine) dropEntryLocked(name string, ent *entry) {
	if ent.node == nil && len(ent.users) == 0 {
		delete(e.names, name)
	}
}

// registerLocked adds n to the users of every name its cell uses.
func (e *Engine) registerLocked(n *node) {
	if n.static != nil {
		return
	}
	free := n.cell.Free // shared with the cell when it is sorted, without repeats or self-reference
	if !strictlySorted(free) {
		free = slices.Compact(slices.Sorted(slices.Values(free)))
	}
	if i, ok := slices.BinarySearch(free, n.name); ok {
		free = slices.Delete(slices.Clone(free), i, i+1) // a self-reference is not a dependency
	}
	n.free = free
	n.freeIdx = make([]int32, len(free))
	for i, name := range free {
		ent := e.entryLocked(name)
		n.freeIdx[i] = int32(len(ent.users))
		ent.users = append(ent.users, n)
		if ent.node != nil {
			ent.node.dependents, ent.node.ident = nil, nil
		}
	}
}

func strictlySorted(s []string) bool {
	for i := 1; i < len(s); i++ {
		if s[i-1] >= s[i] {
			return false
		}
	}
	return true
}

// unregisterLocked undoes registerLocked.
func (e *Engine) unregisterLocked(n *node) {
	for i, name := range n.free {
		ent := e.names[name]
		at, last := n.freeIdx[i], len(ent.users)-1
		moved := ent.users[last]
		ent.users[at] = moved
		ent.users[last] = nil
		ent.users = ent.users[:last]
		if moved != n {
			j, _ := slices.BinarySearch(moved.free, name)
			moved.freeIdx[j] = at
		}
		if ent.node != nil {
			ent.node.dependents, ent.node.ident = nil, nil
		}
		e.dropEntryLocked(name, ent)
	}
	n.free, n.freeIdx = nil, nil
}

// resolveLocked finds the nodes n depends on.
func (e *Engine) resolveLocked(n *node) {
	n.deps = n.deps[:0]
	var names []string
	for _, name := range n.free {
		if d := e.names[name].node; d != nil {
			n.deps = append(n.deps, d)
			names = append(names, name)
		}
	}
	n.depNames, n.ident = names, nil
}

// needResolveLocked schedules n's deps to be resolved again, once.
func (e *Engine) needResolveLocked(n *node) {
	if n.flags&flagResolve == 0 {
		n.flags |= flagResolve
		e.resolve = append(e.resolve, n)
	}
}

// defineLocked defines the cells of one name: one cell, or several when a
// Load defines the name more than once. It returns the node, flagged Defined.
func (e *Engine) defineLocked(cells []*lang.Cell) *node {
	c := cells[0]
	ent := e.entryLocked(c.Name)
	n := ent.node
	if n == nil {
		n = &node{name: c.Name, ent: ent, idx: len(e.order), version: e.deleted[c.Name]}
		delete(e.deleted, c.Name)
		ent.node = n
		e.order = append(e.order, n)
		// The users of the name now depend on n.
		for _, u := range ent.users {
			e.needResolveLocked(u)
			u.flags |= flagForce
		}
	} else {
		e.stopLocked(n)
		e.unregisterLocked(n)
	}
	n.version++
	n.cell, n.dups, n.static, n.runs = c, nil, nil, 0
	n.ident = nil // the view's cell, version and dups change
	n.attempts, n.progress = 0, Progress{}
	switch {
	case len(cells) > 1:
		n.dups = cells[1:]
		d := &DuplicateError{Name: c.Name}
		for _, c := range cells {
			d.Pos = append(d.Pos, c.Pos)
		}
		n.static = d
	case c.Err != nil:
		n.static = c.Err
	}
	e.registerLocked(n)
	e.needResolveLocked(n)
	n.flags |= flagDefined
	return n
}

// deleteLocked removes n; its users must be resolved again and propagated.
func (e *Engine) deleteLocked(n *node) {
	e.stopLocked(n)
	e.publishLocked(Deleted, n)
	e.unregisterLocked(n)
	ent := n.ent
	ent.node = nil
	for _, u := range ent.users {
		e.needResolveLocked(u)
		u.flags |= flagForce
	}
	e.dropEntryLocked(n.name, ent)
	e.order = slices.Delete(e.order, n.idx, n.idx+1)
	for i := n.idx; i < len(e.order); i++ {
		e.order[i].idx = i
	}
	e.deleted[n.name] = n.version
}

// resolvePendingLocked resolves the deps of every node that needs it.
func (e *Engine) resolvePendingLocked() {
	for _, n := range e.resolve {
		n.flags &^= flagResolve
		e.resolveLocked(n)
	}
	clear(e.resolve)
	e.resolve = e.resolve[:0]
}

// stopLocked forgets n's evaluation in flight, cancelling it if it runs: its
// result will be dropped.
func (e *Engine) stopLocked(n *node) {
	n.run = 0
	n.promise, n.pipelined = nil, false
	e.stopProgressLocked(n)
	if n.eval != nil {
		n.eval.cancel()
		n.eval = nil
	}
}

// propagateLocked marks roots and everything downstream of them Queued
// (cancelling what they have in flight), finds the cycles among them,
// publishes their changes, and decides what runs. The work is proportional to
// the number of cells reached and their edges.
func (e *Engine) propagateLocked(roots []*node) {
	e.resolvePendingLocked()
	e.epoch++
	ep := e.epoch

	// Mark what is downstream.
	aff, stack := e.aff[:0], e.stack[:0]
	for _, r := range roots {
		if r.mark != ep {
			r.mark = ep
			stack = append(stack, r)
		}
	}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		aff = append(aff, n)
		for _, u := range n.ent.users {
			if u.mark != ep {
				u.mark = ep
				stack = append(stack, u)
			}
		}
	}

	// Reset them, and order them: static errors first, then topologically
	// (Kahn), then what is in or downstream of a cycle.
	order := e.order2[:0]
	evals := 0
	for _, n := range aff {
		n.prev = n.state
		e.stopLocked(n)
		n.value, n.err, n.where, n.took = nil, nil, "", 0
		n.started, n.finished = time.Time{}, time.Time{}
		if n.static != nil {
			n.state, n.err = Error, n.static
			order = append(order, n)
			continue
		}
		n.state = Queued
		evals++
		n.peel = 0
		for _, d := range n.deps {
			if d.mark == ep && d.static == nil {
				n.peel++
			}
		}
	}
	first := len(order)
	for _, n := range aff {
		if n.static == nil && n.peel == 0 {
			order = append(order, n)
		}
	}
	for i := first; i < len(order); i++ {
		for _, u := range order[i].ent.users {
			if u.mark == ep {
				if u.peel--; u.peel == 0 {
					order = append(order, u)
				}
			}
		}
	}
	if len(order)-first < evals {
		rest := len(order)
		for _, n := range aff {
			if n.static == nil && n.peel > 0 {
				order = append(order, n)
			}
		}
		e.findCyclesLocked(order[rest:], ep)
	}

	// Publish, count what each waits for, and start what can start.
	for _, n := range order {
		switch {
		case n.flags&flagDefined != 0:
			e.publishLocked(Defined, n)
		case n.state != n.prev || n.flags&flagForce != 0:
			e.publishLocked(StateChanged, n)
		}
		n.flags &^= flagDefined | flagForce
	}
	for _, n := range order {
		if n.state != Queued {
			continue
		}
		e.awaitInputsLocked(n)
	}
	clear(aff)
	clear(order)
	e.aff, e.stack, e.order2 = aff[:0], stack[:0], order[:0]
	e.drainLocked()
}

// findCyclesLocked finds the strongly connected components among nodes (the
// cells of one propagation that are in or downstream of a cycle; Tarjan's
// algorithm) and gives every cell on a cycle its error.
func (e *Engine) findCyclesLocked(nodes []*node, ep uint64) {
	in := func(d *node) bool { return d.mark == ep && d.static == nil && d.peel > 0 }
	for _, n := range nodes {
		n.tIndex = -1
	}
	index := 0
	var stack []*node
	var connect func(v *node)
	connect = func(v *node) {
		v.tIndex, v.tLow = index, index
		index++
		stack = append(stack, v)
		v.onStack = true
		for _, w := range v.deps {
			switch {
			case !in(w):
			case w.tIndex < 0:
				connect(w)
				v.tLow = min(v.tLow, w.tLow)
			case w.onStack:
				v.tLow = min(v.tLow, w.tIndex)
			}
		}
		if v.tLow != v.tIndex {
			return
		}
		i := len(stack) - 1
		for stack[i] != v {
			i--
		}
		scc := stack[i:]
		stack = stack[:i]
		for _, w := range scc {
			w.onStack = false
		}
		if len(scc) > 1 {
			e.cycleErrorsLocked(scc)
		}
	}
	for _, n := range nodes {
		if n.tIndex < 0 {
			connect(n)
		}
	}
}

// cycleErrorsLocked gives every cell of scc, a strongly connected component,
// the error of a cycle through it.
func (e *Engine) cycleErrorsLocked(scc []*node) {
	e.tok++
	tok := e.tok
	for _, n := range scc {
		n.tok = tok
	}
	next := func(n *node) *node {
		for _, d := range n.deps {
			if d.tok == tok {
				return d
			}
		}
		panic("reactive: a cell of a cycle uses no cell of it")
	}
	// One cycle: walk from a cell until a cell repeats. Its cells share it.
	at := map[*node]int{}
	var path []*node
	for n := scc[0]; ; n = next(n) {
		if i, ok := at[n]; ok {
			path = path[i:]
			break
		}
		at[n] = len(path)
		path = append(path, n)
	}
	setCycle(path)
	// The others: a shortest cycle through each, breadth first.
	for _, n := range scc {
		if n.state == Error {
			continue
		}
		from := map[*node]*node{}
		queue := []*node{n}
	search:
		for len(queue) > 0 {
			v := queue[0]
			queue = queue[1:]
			for _, d := range v.deps {
				if d.tok != tok || from[d] != nil {
					continue
				}
				from[d] = v
				if d == n {
					break search
				}
				queue = append(queue, d)
			}
		}
		path = path[:0]
		for v := from[n]; v != n; v = from[v] {
			path = append(path, v)
		}
		path = append(path, n)
		slices.Reverse(path)
		cycle := make([]string, len(path))
		for i, v := range path {
			cycle[i] = v.name
		}
		n.state, n.err = Error, &CycleError{path: cycle}
	}
}

// setCycle gives each cell of path, a cycle, its error.
func setCycle(path []*node) {
	if len(path) == 0 {
		return
	}
	names := make([]string, len(path))
	for i, n := range path {
		names[i] = n.name
	}
	for i, n := range path {
		n.state, n.err = Error, &CycleError{path: names, at: i}
	}
}

// awaitInputsLocked counts the inputs of the queued cell n that have not
// settled, and puts n up for a decision if there are none.
func (e *Engine) awaitInputsLocked(n *node) {
	n.waiting = 0
	for _, d := range n.deps {
		if !d.state.settled() {
			n.waiting++
		}
	}
	if n.waiting == 0 {
		e.decide = append(e.decide, n)
	}
}

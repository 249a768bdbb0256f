package reactive

import (
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sperse/sperse/lang"
)

// EventKind says what happened to a cell.
type EventKind int

const (
	Defined      EventKind = iota // the cell was defined or redefined: a new version
	StateChanged                  // the cell's state changed, or its inputs did, or its progress (CellView.Progress)
	ValueChanged                  // the cell has a new value (state Ready)
	Deleted                       // the cell was deleted; the view is its last state
)

var eventKindNames = [...]string{
	Defined:      "defined",
	StateChanged: "state",
	ValueChanged: "value",
	Deleted:      "deleted",
}

func (k EventKind) String() string {
	if k >= 0 && int(k) < len(eventKindNames) {
		return eventKindNames[k]
	}
	return "EventKind(" + strconv.Itoa(int(k)) + ")"
}

// Event is a change of one cell.
type Event struct {
	Seq  uint64    // one more than the event before: a subscriber sees no gaps
	Time time.Time // when the engine made the change; changes made together share it
	Kind EventKind
	Cell CellView // the cell just after the change
}

// Subscription receives the events of an Engine, every one, in order. Its
// methods are safe to call from any goroutine. Events wait in the
// subscription until Next or Take takes them, so a subscriber must take them
// when C signals, or Close the subscription.
type Subscription struct {
	e *Engine
	c chan struct{}

	// The events wait in a list of chunks, which the engine writes holding
	// e.mu and the subscriber reads holding mu. Each chunk counts its events
	// in an atomic that the engine sets before it unlocks e.mu (see
	// commitLocked): publishing an event costs the engine no other lock, and
	// taking events never waits for the engine. The chunks read go back to
	// the engine through free.
	//
	// What the engine writes and what the subscriber writes are kept on
	// separate cache lines (pad), and apart from the objects next to the
	// subscription: a line written on both sides would go back and forth
	// between their processors.
	_     pad
	tail  *chunk        // guarded by e.mu
	tailN int           // events written in tail; guarded by e.mu
	timer *time.Timer   // wakes the subscriber while the engine is busy; guarded by e.mu
	delay time.Duration // how long the timer waits; guarded by e.mu
	_     pad

	mu   sync.Mutex
	head *chunk  // nil once closed
	read int     // events of head taken
	run  []Event // the events Take gives f, made of the published ones
	_    pad

	freeMu sync.Mutex
	free   []*chunk // in the order read, at most maxFree
	_      pad

	// late says that events wait for the timer's wake-up, armed that the
	// timer is set. signal and closeChan hold sigMu.
	late   atomic.Bool
	armed  atomic.Bool
	sigMu  sync.Mutex
	closed bool
	_      pad
}

// pad separates fields written on different processors: it is as long as
// a cache line.
type pad [64]byte

// chunk is a run of events in a subscription. The engine writes events[i],
// and sets n to i+1 before it unlocks; the subscriber reads the events below
// n. Once the chunk is full, the engine links the next one. first is the Seq
// of events[0], set before the chunk is linked: a subscription's events are
// numbered without gaps.
type chunk struct {
	first  uint64
	n      atomic.Int32
	next   atomic.Pointer[chunk]
	_      [32]byte // events start a cache line after Go's 8-byte header of the allocation
	events [chunkLen]published
}

// published is an event as it waits in a subscription: what the Event
// holds, in two thirds of its room, written in place by the engine while it
// holds e.mu. The parts of the view that change only when the cell is
// defined again or its graph changes are a pointer to the node's ident,
// shared by its events. Take and Next make the Event of it on the
// subscriber's side: the engine copies less, and the subscriber reads less
// of what the engine wrote.
//
// It takes three cache lines: the first holds what every event has, the
// others what a cell has while it runs or once it ran. The engine fills a
// chunk that is all zeros (chunks are cleared before they are filled again),
// so it writes a line only if the cell has something for it: a queued
// cell's event writes one.
type published struct {
	time     time.Time
	id       *viewIdent
	took     time.Duration
	runs     int
	attempts int
	kind     uint8 // an EventKind, which fits
	state    uint8 // a State, which fits

	value    lang.Value
	err      error
	where    string
	progress Progress

	started  time.Time
	finished time.Time
	_        [16]byte
}

// viewIdent is what a view holds of a cell that changes only when the cell
// is defined again or its graph changes: never modified once made, so that
// events share it.
type viewIdent struct {
	cell       *lang.Cell
	dups       []*lang.Cell
	name       string
	version    int
	deps       []string
	dependents []string
}

// identLocked returns n's ident, made again if what it holds has changed
// (whatever changes it sets n.ident to nil).
func (n *node) identLocked() *viewIdent {
	if n.ident == nil {
		n.ident = &viewIdent{cell: n.cell, dups: n.dups, name: n.name, version: n.version, deps: n.depNames, dependents: n.dependentNames()}
	}
	return n.ident
}

// eventInto sets *ev to the event p, numbered seq.
func (p *published) eventInto(ev *Event, seq uint64) {
	ev.Seq, ev.Time, ev.Kind = seq, p.time, EventKind(p.kind)
	v, id := &ev.Cell, p.id
	v.Cell, v.Dups, v.Name, v.Version = id.cell, id.dups, id.name, id.version
	v.State, v.Value, v.Err, v.Where, v.Took = State(p.state), p.value, p.err, p.where, p.took
	v.Started, v.Finished, v.Runs, v.Attempts, v.Progress = p.started, p.finished, p.runs, p.attempts, p.progress
	v.Deps, v.Dependents = id.deps, id.dependents
}

// chunkLen is how many events a chunk holds: a chunk stays under 16 KiB, a
// size that Go allocates from a shared span.
const chunkLen = 64

// maxFree is how many chunks read a subscription keeps for the engine to
// fill again: 32,768 events, some 7 MB. A subscriber that falls further
// behind (one not scheduled for a few milliseconds of a busy engine) makes
// the engine allocate chunks, and the garbage collector work, while it
// catches up.
const maxFree = 512

// wakeDelay is how long events wait for their wake-up while the engine is
// busy, unless the subscriber sets another (SetWakeDelay): however fast the
// subscriber, a burst of events wakes it at most once every wakeDelay, and
// once more as soon as the engine is quiet. A busy engine's wake-ups come
// from a timer rather than from the goroutine that publishes, which would
// pay for waking an idle processor.
const wakeDelay = 500 * time.Microsecond

// Subscribe returns a subscription to every event from now on. To follow
// the whole workspace, subscribe first and then take a snapshot with Cells:
// events older than the snapshot may follow it, and applying them in order
// ends in the current state.
func (e *Engine) Subscribe() *Subscription {
	c := new(chunk)
	s := &Subscription{e: e, c: make(chan struct{}, 1), tail: c, head: c, delay: wakeDelay}
	e.mu.Lock()
	defer e.mu.Unlock()
	c.first = e.seq + 1
	if e.closed {
		s.closeChan()
	} else {
		e.subs = append(e.subs, s)
	}
	return s
}

// C returns a channel that receives a value when events are waiting: at
// once if the engine is quiet (no evaluation queued or running), else within
// half a millisecond or the delay set with SetWakeDelay, so that a burst of
// events makes few wake-ups. The channel holds at most one value, and a
// wake-up may find that an earlier Next took its events already. C is
// closed when the subscription or the engine is closed; events published
// before the engine closed still wait for Next.
func (s *Subscription) C() <-chan struct{} { return s.c }

// SetWakeDelay sets how long events wait for their wake-up while the engine
// is busy (see C) to d, or back to half a millisecond if d is not positive.
// A subscriber whose work is per wake-up, such as a terminal that redraws,
// keeps the default. One whose work is per event, such as a recorder, keeps
// up better with a shorter delay: smaller batches, taken sooner, cost it and
// the engine less (see BenchmarkRecord in reactive/record).
func (s *Subscription) SetWakeDelay(d time.Duration) {
	if d <= 0 {
		d = wakeDelay
	}
	s.e.mu.Lock()
	defer s.e.mu.Unlock()
	s.delay = d
}

// Next returns the events published since the last call, in order; the
// caller owns the slice. It returns nil if there are none.
func (s *Subscription) Next() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.waitingLocked()
	if n == 0 {
		return nil
	}
	evs := make([]Event, n)
	i := 0
	s.takeLocked(n, func(c *chunk, from, to int) {
		for j := from; j < to; j++ {
			c.events[j].eventInto(&evs[i], c.first+uint64(j))
			i++
		}
	})
	return evs[:i]
}

// Take is Next without a copy: it calls f with the events published since
// the last call, in order, in one or more runs. The runs are the
// subscription's own memory, valid only until f returns: f must neither keep
// nor modify them, nor call the subscription's methods.
func (s *Subscription) Take(f func(evs []Event)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.waitingLocked()
	if n == 0 {
		return
	}
	if s.run == nil {
		s.run = make([]Event, chunkLen)
	}
	used := 0
	s.takeLocked(n, func(c *chunk, from, to int) {
		run := s.run[:to-from]
		for j := range run {
			c.events[from+j].eventInto(&run[j], c.first+uint64(from+j))
		}
		used = max(used, len(run))
		f(run[:len(run):len(run)])
	})
	clear(s.run[:used]) // what f was given is not kept alive
}

// waitingLocked returns how many events wait.
func (s *Subscription) waitingLocked() int {
	n, read := 0, s.read
	for c := s.head; c != nil; c = c.next.Load() {
		n += int(c.n.Load()) - read
		read = 0
	}
	return n
}

// takeLocked calls f with the next max waiting events, in runs: those of
// chunk c from index from to index to. It gives the chunks it empties back
// to the engine. max is what waited when the take began: a subscriber slower
// than the engine would never see the end.
func (s *Subscription) takeLocked(max int, f func(c *chunk, from, to int)) {
	for s.head != nil && max > 0 {
		c := s.head
		n := min(int(c.n.Load()), s.read+max)
		if n > s.read {
			f(c, s.read, n)
			max -= n - s.read
			s.read = n
		}
		if n < chunkLen {
			return
		}
		next := c.next.Load()
		if next == nil {
			return // the engine links it when it publishes the next event
		}
		s.head, s.read = next, 0
		clear(c.events[:]) // what the subscriber took is not kept alive
		c.n.Store(0)
		c.next.Store(nil)
		s.freeMu.Lock()
		if len(s.free) < maxFree {
			s.free = append(s.free, c)
		}
		s.freeMu.Unlock()
	}
}

// newChunk returns a chunk for the engine to fill: the one read the longest
// ago, whose memory has likely left the subscriber's processor cache (taking
// a line from another processor's cache is slow), or a new one.
func (s *Subscription) newChunk() *chunk {
	s.freeMu.Lock()
	defer s.freeMu.Unlock()
	if len(s.free) == 0 {
		return new(chunk)
	}
	c := s.free[0]
	s.free[0] = nil
	s.free = s.free[1:]
	return c
}

// Close ends the subscription: it gets no more events, and its channel is
// closed. Close is idempotent.
func (s *Subscription) Close() {
	s.e.mu.Lock()
	if i := slices.Index(s.e.subs, s); i >= 0 {
		s.e.subs = slices.Delete(s.e.subs, i, i+1)
	}
	s.stopTimerLocked()
	s.e.mu.Unlock()
	s.closeChan()
	s.mu.Lock()
	s.head, s.run = nil, nil
	s.mu.Unlock()
}

func (s *Subscription) closeChan() {
	s.sigMu.Lock()
	defer s.sigMu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.c)
	}
}

// signal wakes the subscriber.
func (s *Subscription) signal() {
	s.sigMu.Lock()
	defer s.sigMu.Unlock()
	if !s.closed {
		select {
		case s.c <- struct{}{}:
		default:
		}
	}
}

// publishLocked publishes a change of n to every subscription, without
// blocking: the event is written in place, at the end of each subscription's
// list, for commitLocked to show.
func (e *Engine) publishLocked(kind EventKind, n *node) {
	if len(e.subs) == 0 {
		return
	}
	e.seq++
	e.uncommitted = true
	id, now := n.identLocked(), e.nowLocked()
	for _, s := range e.subs {
		if s.tailN == chunkLen {
			c := s.newChunk()
			c.first = e.seq
			s.tail.n.Store(chunkLen)
			s.tail.next.Store(c)
			s.tail, s.tailN = c, 0
		}
		// Field by field: a literal would be built aside and copied. The
		// chunk is all zeros: the lines the cell has nothing for are left.
		p := &s.tail.events[s.tailN]
		p.time, p.id, p.took, p.runs, p.attempts = now, id, n.took, n.runs, n.attempts
		p.kind, p.state = uint8(kind), uint8(n.state)
		if n.value != nil || n.err != nil || n.where != "" || n.progress != (Progress{}) {
			p.value, p.err, p.where, p.progress = n.value, n.err, n.where, n.progress
		}
		if n.started != (time.Time{}) || n.finished != (time.Time{}) {
			p.started, p.finished = n.started, n.finished
		}
		s.tailN++
	}
}

// commitLocked shows the subscribers the events published since e.mu was
// taken, and if the engine is busy, sets their timers to wake them (if it is
// quiet, wakeQuietLocked wakes them). The engine calls it before it unlocks
// e.mu, so that a subscriber sees every change made before it looks, at the
// cost of one atomic write a subscription for all the events of a change.
func (e *Engine) commitLocked() {
	if !e.uncommitted {
		return
	}
	e.uncommitted = false
	busy := e.inflight > 0
	for _, s := range e.subs {
		s.tail.n.Store(int32(s.tailN))
		if !s.late.Load() {
			s.late.Store(true)
		}
		if busy && !s.armed.Load() {
			s.armed.Store(true)
			if s.timer == nil {
				s.timer = time.AfterFunc(s.delay, s.wakeDue)
			} else {
				s.timer.Reset(s.delay)
			}
		}
	}
}

// wakeQuietLocked wakes at once the subscribers whose events wait for a
// wake-up: the engine is quiet.
func (e *Engine) wakeQuietLocked() {
	for _, s := range e.subs {
		if s.late.Load() && s.late.Swap(false) {
			s.stopTimerLocked()
			s.signal()
		}
	}
}

// wakeDue is the function of s.timer.
func (s *Subscription) wakeDue() {
	s.armed.Store(false)
	if s.late.Swap(false) {
		s.signal()
	}
}

// stopTimerLocked stops s.timer if it is set; e.mu is held.
func (s *Subscription) stopTimerLocked() {
	if s.timer != nil && s.timer.Stop() {
		s.armed.Store(false)
	}
}

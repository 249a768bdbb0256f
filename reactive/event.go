package reactive

import (
	"slices"
	"strconv"
	"sync"
	"time"
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
// subscription until Next takes them, so a subscriber must call Next when C
// signals, or Close the subscription.
type Subscription struct {
	e      *Engine
	c      chan struct{}
	mu     sync.Mutex
	events []Event // the events waiting; its array is kept from one Next to the next
	small  int     // how many Next calls in a row used under a quarter of the array
	closed bool
}

// Subscribe returns a subscription to every event from now on. To follow
// the whole workspace, subscribe first and then take a snapshot with Cells:
// events older than the snapshot may follow it, and applying them in order
// ends in the current state.
func (e *Engine) Subscribe() *Subscription {
	s := &Subscription{e: e, c: make(chan struct{}, 1)}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		s.closeChan()
	} else {
		e.subs = append(e.subs, s)
	}
	return s
}

// C returns a channel that receives a value when events are waiting. A burst
// of events makes one wake-up: the channel holds at most one value, and a
// wake-up may find that an earlier Next took its events already. C is closed
// when the subscription or the engine is closed; events published before the
// engine closed still wait for Next.
func (s *Subscription) C() <-chan struct{} { return s.c }

// Next returns the events published since the last call, in order; the
// caller owns the slice. It returns nil if there are none.
func (s *Subscription) Next() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.events) == 0 {
		return nil
	}
	// Copy out, so the buffer is allocated once rather than grown again
	// from nothing after each burst.
	evs := slices.Clone(s.events)
	clear(s.events)
	s.events = s.events[:0]
	if len(evs) >= cap(s.events)/4 {
		s.small = 0
	} else if s.small++; s.small > 64 && cap(s.events) > 1024 {
		s.events, s.small = nil, 0 // the room of a burst long gone
	}
	return evs
}

// Close ends the subscription: it gets no more events, and its channel is
// closed. Close is idempotent.
func (s *Subscription) Close() {
	s.e.mu.Lock()
	if i := slices.Index(s.e.subs, s); i >= 0 {
		s.e.subs = slices.Delete(s.e.subs, i, i+1)
	}
	s.e.mu.Unlock()
	s.closeChan()
	s.mu.Lock()
	s.events = nil
	s.mu.Unlock()
}

func (s *Subscription) closeChan() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.c)
	}
}

// publishLocked publishes a change of n to every subscription, without
// blocking.
func (e *Engine) publishLocked(kind EventKind, n *node) {
	if len(e.subs) == 0 {
		return
	}
	e.seq++
	ev := Event{Seq: e.seq, Time: e.nowLocked(), Kind: kind, Cell: n.view()}
	for _, s := range e.subs {
		s.mu.Lock()
		if !s.closed {
			s.events = append(s.events, ev)
			select {
			case s.c <- struct{}{}:
			default:
			}
		}
		s.mu.Unlock()
	}
}

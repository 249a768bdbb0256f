package server

import (
	"context"
	"errors"
	"sync"

	"github.com/sperse/sperse/remote"
)

// errOverloaded is acquire's error when the queue is full.
var errOverloaded = errors.New("overloaded")

// limiter bounds how many evaluations run at once, and how many wait.
// Waiters are served in the order they came (a Go channel's senders are).
type limiter struct {
	slots    chan struct{} // a value in it is a running evaluation
	maxQueue int
	changed  func() // called, without locks held, when the load changes

	mu      sync.Mutex
	running int
	queued  int
	peak    int // the most evaluations that ever ran at once (for tests)
}

func newLimiter(concurrency, maxQueue int, changed func()) *limiter {
	return &limiter{slots: make(chan struct{}, concurrency), maxQueue: maxQueue, changed: changed}
}

// acquire waits for a slot, or for ctx to end (with its cause), and returns
// the function that frees the slot. If maxQueue evaluations already wait, it
// returns errOverloaded at once.
func (l *limiter) acquire(ctx context.Context) (release func(), err error) {
	select {
	case l.slots <- struct{}{}:
		l.add(1, 0)
		return l.release, nil
	default:
	}
	l.mu.Lock()
	if l.queued >= l.maxQueue {
		l.mu.Unlock()
		return nil, errOverloaded
	}
	l.queued++
	l.mu.Unlock()
	l.changed()
	select {
	case l.slots <- struct{}{}:
		l.add(1, -1)
		return l.release, nil
	case <-ctx.Done():
		l.add(0, -1)
		return nil, context.Cause(ctx)
	}
}

// release frees a slot. The count goes down before the slot is free, so a
// waiter taking it never makes the count (and the load clients see) exceed
// the limit.
func (l *limiter) release() {
	l.add(-1, 0)
	<-l.slots
}

func (l *limiter) add(running, queued int) {
	l.mu.Lock()
	l.running += running
	l.queued += queued
	l.peak = max(l.peak, l.running)
	l.mu.Unlock()
	l.changed()
}

// status returns the current load.
func (l *limiter) status() remote.Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	return remote.Status{InFlight: l.running, Queued: l.queued}
}

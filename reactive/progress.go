package reactive

import (
	"strconv"
	"time"
)

// Progress is how far a cell's split work (pmap, mapreduce) is: chunks done
// of total.
type Progress struct {
	Done, Total int
}

// String returns "done/total", such as "7/16"; "" for the zero Progress.
func (p Progress) String() string {
	if p == (Progress{}) {
		return ""
	}
	return strconv.Itoa(p.Done) + "/" + strconv.Itoa(p.Total)
}

// progressInterval is the least time between two progress events of one
// cell: at most 20 a second.
const progressInterval = 50 * time.Millisecond

// progressed records the progress of evaluation run of n, if it is still
// running, and publishes it: at once if the last publication is
// progressInterval old, else when it is.
func (e *Engine) progressed(n *node, run uint64, done, total int) {
	e.mu.Lock()
	defer e.unlock()
	if e.closed || n.run != run {
		return
	}
	n.progress = Progress{Done: done, Total: total}
	if n.progTimer != nil {
		return // the pending publication will show it
	}
	wait := time.Until(n.progSent.Add(progressInterval))
	if wait <= 0 {
		e.publishProgressLocked(n)
		return
	}
	e.wg.Add(1)
	n.progTimer = time.AfterFunc(wait, func() {
		defer e.wg.Done()
		e.mu.Lock()
		defer e.unlock()
		if e.closed || n.run != run {
			return // stopped, but too late to stop the timer
		}
		n.progTimer = nil
		e.publishProgressLocked(n)
	})
}

// publishProgressLocked publishes the progress of n.
func (e *Engine) publishProgressLocked(n *node) {
	n.progSent = time.Now()
	e.publishLocked(StateChanged, n)
}

// stopProgressLocked stops the pending publication of n's progress, if any:
// its evaluation ended or was stopped.
func (e *Engine) stopProgressLocked(n *node) {
	if n.progTimer == nil {
		return
	}
	if n.progTimer.Stop() {
		e.wg.Done() // its function will not run
	}
	n.progTimer = nil
}

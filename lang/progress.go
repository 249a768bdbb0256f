package lang

import (
	"context"
	"sync"
)

// ProgressKey is the context key of an evaluation's progress reporter
// (WithProgress). A context type of its own can carry a reporter, without
// the allocations of context.WithValue, by answering Value(ProgressKey{})
// with a reporter made by NewReporter, the same one on every call.
type ProgressKey struct{}

// NewReporter returns a progress reporter that reports to report, for a
// context's Value(ProgressKey{}) (see WithProgress).
func NewReporter(report func(done, total int)) any { return &progress{report: report} }

// WithProgress returns a copy of ctx with which an evaluation (Interp.Eval,
// Interp.Call) reports the progress of its split work (pmap, mapreduce) to
// report, as chunks done of total. The count runs over every split of the
// evaluation: a cell that calls pmap twice, with four chunks each, reports
// 0/4 ... 4/4, then 4/8 ... 8/8. Calls of report are never made at once and
// done never goes back; they come from the goroutines that run the chunks,
// so report must return quickly. Give each evaluation a context of its own.
// A nil report removes the reporter: splits nested in the chunks of a split
// report nothing.
func WithProgress(ctx context.Context, report func(done, total int)) context.Context {
	if report == nil {
		if progressFrom(ctx) == nil {
			return ctx
		}
		return context.WithValue(ctx, ProgressKey{}, (*progress)(nil))
	}
	return context.WithValue(ctx, ProgressKey{}, &progress{report: report})
}

// progress is the reporter of one evaluation.
type progress struct {
	report func(done, total int)

	mu          sync.Mutex
	base        int // the chunks of the evaluation's earlier splits
	done, total int // as last reported
}

// progressFrom returns the reporter in ctx, or nil.
func progressFrom(ctx context.Context) *progress {
	p, _ := ctx.Value(ProgressKey{}).(*progress)
	return p
}

// begin starts a split and returns its SplitJob.Progress.
func (p *progress) begin() func(done, total int) {
	p.mu.Lock()
	base := p.base
	p.mu.Unlock()
	return func(done, total int) {
		p.mu.Lock()
		defer p.mu.Unlock()
		d, t := base+done, base+total
		if done < 0 || done > total || d < p.done || d == p.done && t == p.total {
			return
		}
		p.done, p.total = d, t
		p.report(d, t)
	}
}

// end ends the split begun last: its chunks count as done in what follows.
func (p *progress) end() {
	p.mu.Lock()
	p.base, p.done = p.total, p.total
	p.mu.Unlock()
}

package server

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/remote"
)

// The results a client asked a connection to keep (Eval.ID), for the jobs
// that refer to them with a lang.Ref: promise pipelining.

const (
	// maxKept bounds the entries of a connection's table: past it, an
	// Eval's result is not kept, and a Ref to it is answered CodeNoRef.
	maxKept = 4096
	// refGrace is how long a Ref to an ID the server has not seen waits for
	// its Eval, which travels on another stream and may come second.
	refGrace = time.Second
)

// kept is the result of an evaluation kept under its ID, or one a Ref
// waits for.
type kept struct {
	done  chan struct{} // closed when the evaluation ends
	seen  bool          // its Eval arrived; false while only Refs wait for it
	value lang.Value    // when done: the value, or
	err   *remote.Error // the error
}

// keptTable is a connection's kept results.
type keptTable struct {
	mu    sync.Mutex
	m     map[uint64]*kept
	ended []endedAt // the IDs in the order their evaluations ended
}

type endedAt struct {
	id uint64
	at time.Time
}

// keep makes the entry of an Eval with the given ID, which end resolves. It
// returns nil if the table is full, and an error if the ID is in use.
func (t *keptTable) keep(id uint64) (*kept, *remote.Error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sweepLocked(time.Now())
	k := t.m[id]
	switch {
	case k != nil && k.seen:
		return nil, badRequest(fmt.Sprintf("bad eval message: id %d is in use on this connection", id))
	case k != nil:
		k.seen = true // Refs came first, and wait for it
		return k, nil
	case len(t.m) >= maxKept:
		return nil, nil
	}
	if t.m == nil {
		t.m = make(map[uint64]*kept)
	}
	k = &kept{done: make(chan struct{}), seen: true}
	t.m[id] = k
	return k, nil
}

// end resolves k, the entry of id, with the outcome of its evaluation.
func (t *keptTable) end(id uint64, k *kept, v lang.Value, err *remote.Error) {
	k.value, k.err = v, err
	close(k.done)
	t.mu.Lock()
	t.ended = append(t.ended, endedAt{id, time.Now()})
	t.mu.Unlock()
}

// sweepLocked forgets the results that ended more than KeepResults ago.
func (t *keptTable) sweepLocked(now time.Time) {
	i := 0
	for ; i < len(t.ended) && now.Sub(t.ended[i].at) > remote.KeepResults; i++ {
		delete(t.m, t.ended[i].id)
	}
	t.ended = t.ended[i:]
}

// resolve replaces the Refs in t's scope by the values they refer to,
// waiting for them, and returns how many there were. It fails with
// CodeNoRef for a Ref to an ID that is not kept (and does not arrive within
// refGrace), with CodeFailed if one of the evaluations referred to failed,
// and as an evaluation does if ctx ends. An evaluation with an ID (id) may
// refer only to earlier ones (smaller IDs, as a client gives them in
// order), so that no two wait for each other.
func (c *conn) resolve(ctx context.Context, t *task, id uint64) (int, *remote.Error) {
	n := 0
	for name, v := range t.scope {
		ref, ok := v.(lang.Ref)
		if !ok {
			continue
		}
		if id != 0 && uint64(ref) >= id {
			return n, badRequest(fmt.Sprintf("bad eval message: evaluation %d refers to %d, which is not an earlier one", id, ref))
		}
		k := c.kept.wait(uint64(ref))
		if k == nil {
			return n, &remote.Error{Code: remote.CodeNoRef, Message: fmt.Sprintf(
				"evaluation %d is not kept: the server keeps at most %d results a connection; send the value", ref, maxKept)}
		}
		if err := c.awaitKept(ctx, uint64(ref), k); err != nil {
			return n, err
		}
		if k.err != nil {
			return n, &remote.Error{Code: remote.CodeFailed, Message: fmt.Sprintf("depends on failed %s: %s", name, k.err.Message)}
		}
		t.scope[name] = k.value
		n++
	}
	return n, nil
}

// wait returns the entry of id, making one for its Eval to fill if there is
// none, or nil if there is none and the table is full.
func (t *keptTable) wait(id uint64) *kept {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := t.m[id]
	if k == nil {
		if len(t.m) >= maxKept {
			return nil
		}
		if t.m == nil {
			t.m = make(map[uint64]*kept)
		}
		k = &kept{done: make(chan struct{})}
		t.m[id] = k
	}
	return k
}

// awaitKept waits for k, the entry of id, to end. If its Eval does not
// arrive within refGrace, it fails with CodeNoRef.
func (c *conn) awaitKept(ctx context.Context, id uint64, k *kept) *remote.Error {
	grace := time.NewTimer(refGrace)
	defer grace.Stop()
	for {
		select {
		case <-k.done:
			return nil
		case <-ctx.Done():
			return c.srv.failure(ctx, ctx, context.Cause(ctx))
		case <-grace.C:
			c.kept.mu.Lock()
			seen := k.seen
			if !seen && c.kept.m[id] == k {
				delete(c.kept.m, id)
			}
			c.kept.mu.Unlock()
			if !seen {
				return &remote.Error{Code: remote.CodeNoRef, Message: fmt.Sprintf(
					"no evaluation %d on this connection: it ended more than %s ago, or never came; send the value", id, remote.KeepResults)}
			}
		}
	}
}

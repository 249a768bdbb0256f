package remote

import (
	"container/list"
	"errors"
	"sync"

	"github.com/sperse/sperse/lang"
)

// maxKnownValues bounds the hashes a client remembers for one server,
// whatever the server's Limits.ValueCache.
const maxKnownValues = 4096

// knownValues is what a client knows a server keeps of the big values it
// sent there (see SharedValueMin): the hashes the server acknowledged, by
// answering a job that held the value with a value or the code's own
// error. It mirrors the server's cache: least recently used out past the
// ValueCache bytes the server advertises (or maxKnownValues hashes), so
// that a hash the server has dropped is rarely sent. A hash the server
// does not keep after all is answered CodeNoValue, and forgotten. Its
// methods are safe to call from any goroutine.
type knownValues struct {
	mu    sync.Mutex
	m     map[lang.ValueRef]*list.Element // of *knownValue
	lru   list.List                       // most recently used first
	bytes int64
}

type knownValue struct {
	ref  lang.ValueRef
	size int64
}

// has reports whether the server is known to keep r, and marks it used.
func (k *knownValues) has(r lang.ValueRef) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	el := k.m[r]
	if el != nil {
		k.lru.MoveToFront(el)
	}
	return el != nil
}

// acknowledged records that a server that keeps limit bytes of values
// decoded a job with the big values shared.
func (k *knownValues) acknowledged(shared []lang.SharedValue, limit int64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, sv := range shared {
		if !sv.Inline || int64(sv.Size) > limit {
			continue
		}
		if el := k.m[sv.Ref]; el != nil {
			k.lru.MoveToFront(el)
			continue
		}
		if k.m == nil {
			k.m = make(map[lang.ValueRef]*list.Element)
		}
		k.m[sv.Ref] = k.lru.PushFront(&knownValue{ref: sv.Ref, size: int64(sv.Size)})
		k.bytes += int64(sv.Size)
	}
	for k.lru.Len() > maxKnownValues || k.bytes > limit {
		old := k.lru.Remove(k.lru.Back()).(*knownValue)
		delete(k.m, old.ref)
		k.bytes -= old.size
	}
}

// forget forgets the values of shared sent by reference: the server
// answered that it lacks one of them.
func (k *knownValues) forget(shared []lang.SharedValue) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, sv := range shared {
		if el := k.m[sv.Ref]; el != nil && !sv.Inline {
			k.lru.Remove(el)
			delete(k.m, sv.Ref)
			k.bytes -= el.Value.(*knownValue).size
		}
	}
}

// cellJob returns the job of cell with scope (values, no Refs) for s: if
// s keeps values, with a lang.ValueRef for each big value s is known to
// keep, unless inline; otherwise *plain, encoded on first use. It returns
// the big values of the job, and s's ValueCache (0 if it keeps none).
func (c *Client) cellJob(cell *lang.Cell, scope map[string]lang.Value, s *server, plain *[]byte, inline bool) ([]byte, []lang.SharedValue, int64, error) {
	c.mu.Lock()
	limit := s.welcome.Limits.ValueCache
	c.mu.Unlock()
	if limit <= 0 {
		if *plain == nil {
			job, err := lang.EncodeJob(cell, scope)
			if err != nil {
				return nil, nil, 0, err
			}
			*plain = job
		}
		return *plain, nil, 0, nil
	}
	has := s.values.has
	if inline {
		has = nil
	}
	job, shared, err := lang.EncodeJobSharing(cell, scope, SharedValueMin, has)
	return job, shared, limit, err
}

// noteShared updates what the client knows s keeps after res, the result
// of a job with the big values shared: it reports whether the server
// lacked one of those sent by reference (CodeNoValue), so the job is to be
// sent again with the values.
func (s *server) noteShared(res lang.Result, shared []lang.SharedValue, limit int64) (resend bool) {
	if len(shared) == 0 {
		return false
	}
	var serr *ServerError
	var lerr *lang.Error
	switch {
	case errors.As(res.Err, &serr) && serr.Code == CodeNoValue:
		s.values.forget(shared)
		return true
	case res.Err == nil || errors.As(res.Err, &lerr):
		// The server decoded the job: it keeps its values now.
		s.values.acknowledged(shared, limit)
	}
	return false
}

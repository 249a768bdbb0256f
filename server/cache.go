package server

import (
	"container/list"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/remote"
)

// The big values of jobs, kept by the content hash of their encoding for
// the jobs that refer to them with a lang.ValueRef (see
// remote.SharedValueMin): a client that runs a cell capturing a large
// value again sends 32 bytes instead of the value, and the server decodes
// it once.
//
// Values are kept apart for each interpreter that decodes jobs: one for
// each token scope (and each version of its published functions). A value
// may hold functions, made in the interpreter that decoded it with the
// names that interpreter provides; and a client can refer only to values
// sent with a token of its own scope. (The hashes are SHA-256: a client
// cannot guess one it has not seen. Keeping scopes apart also means one
// cannot learn whether a client with another token sent a given value.)

// valueKey identifies a kept value: the interpreter that decoded it and
// the hash of its encoding.
type valueKey struct {
	in  *lang.Interp
	ref lang.ValueRef
}

// valueCache holds the values of a server, least recently used out past
// limit bytes, counting each value by the size of its encoding (a decoded
// value takes more memory: up to some 16 times for a list of small ints,
// see lang.DecodeLimits). Values are frozen, and shared by the evaluations
// that use them. The zero valueCache keeps nothing; its methods are safe to
// call from any goroutine.
type valueCache struct {
	limit int64 // set before use

	mu    sync.Mutex
	m     map[valueKey]*list.Element // of *keptValue
	lru   list.List                  // most recently used first
	bytes int64

	hits, misses atomic.Int64 // ValueRefs resolved, and not: for tests
}

type keptValue struct {
	key   valueKey
	value lang.Value
	size  int64
}

// resolve takes the big values of t, a cell's task decoded in in: it keeps
// those that came inline, and replaces each ValueRef in t's scope by the
// value it refers to. It returns how many it replaced, or CodeNoValue naming
// the values it does not keep.
func (vc *valueCache) resolve(in *lang.Interp, t *task) (int, *remote.Error) {
	var missing []string
	n := 0
	for _, sv := range t.shared {
		if sv.Inline {
			vc.put(valueKey{in, sv.Ref}, sv.Value, int64(sv.Size))
			continue
		}
		v := vc.get(valueKey{in, sv.Ref})
		if v == nil {
			vc.misses.Add(1)
			missing = append(missing, fmt.Sprintf("%s (sha256:%x)", sv.Name, sv.Ref[:]))
			continue
		}
		vc.hits.Add(1)
		t.scope[sv.Name] = v
		n++
	}
	if len(missing) > 0 {
		return n, &remote.Error{Code: remote.CodeNoValue, Message: fmt.Sprintf(
			"the server does not keep the value of %s: send the value", strings.Join(missing, ", "))}
	}
	return n, nil
}

// get returns the value kept under k, or nil.
func (vc *valueCache) get(k valueKey) lang.Value {
	vc.mu.Lock()
	defer vc.mu.Unlock()
	el := vc.m[k]
	if el == nil {
		return nil
	}
	vc.lru.MoveToFront(el)
	return el.Value.(*keptValue).value
}

// put keeps v, whose encoding takes size bytes, under k, dropping the least
// recently used values past the limit. A value larger than the limit is
// not kept.
func (vc *valueCache) put(k valueKey, v lang.Value, size int64) {
	vc.mu.Lock()
	defer vc.mu.Unlock()
	if el := vc.m[k]; el != nil {
		vc.lru.MoveToFront(el)
		return
	}
	if size > vc.limit {
		return
	}
	if vc.m == nil {
		vc.m = make(map[valueKey]*list.Element)
	}
	vc.m[k] = vc.lru.PushFront(&keptValue{key: k, value: v, size: size})
	vc.bytes += size
	for vc.bytes > vc.limit {
		old := vc.lru.Remove(vc.lru.Back()).(*keptValue)
		delete(vc.m, old.key)
		vc.bytes -= old.size
	}
}

// size returns how many values are kept, and the bytes of their encodings.
func (vc *valueCache) size() (int, int64) {
	vc.mu.Lock()
	defer vc.mu.Unlock()
	return vc.lru.Len(), vc.bytes
}

package lang

import (
	"container/list"
	"crypto/sha256"
	"sync"
)

// Bounds of the cells an Interp keeps for DecodeJob (see cellCache).
const (
	maxJobCells     = 1024     // cells
	maxJobCellBytes = 16 << 20 // bytes of source
)

// cellKey identifies the code of a job: the SHA-256 of the encoding of
// its source, file, line and name, as the job holds them. Two jobs with the
// same key parse to the same cell.
type cellKey [sha256.Size]byte

// cellCache keeps the parsed cells of the jobs an Interp decoded, each
// with its compiled code once it has run, by the content hash of their code
// (cellKey): a server that sees the same cell again neither parses nor
// compiles it again. It holds at most maxJobCells cells and
// maxJobCellBytes of their source; past either, the least recently used
// go. Its methods are safe to call from any goroutine.
type cellCache struct {
	mu    sync.Mutex
	m     map[cellKey]*list.Element // of *cachedCell
	lru   list.List                 // most recently used first
	bytes int                       // the source bytes of the cells kept
}

type cachedCell struct {
	key  cellKey
	cell *Cell
	size int
}

// get returns the cell kept under k, or nil.
func (cc *cellCache) get(k cellKey) *Cell {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	el := cc.m[k]
	if el == nil {
		return nil
	}
	cc.lru.MoveToFront(el)
	return el.Value.(*cachedCell).cell
}

// put keeps c, whose source takes size bytes, under k, and returns the cell
// kept there: c, or one another goroutine put first. A cell larger than
// the whole cache is not kept.
func (cc *cellCache) put(k cellKey, c *Cell, size int) *Cell {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if el := cc.m[k]; el != nil {
		cc.lru.MoveToFront(el)
		return el.Value.(*cachedCell).cell
	}
	if size > maxJobCellBytes {
		return c
	}
	if cc.m == nil {
		cc.m = make(map[cellKey]*list.Element)
	}
	cc.m[k] = cc.lru.PushFront(&cachedCell{key: k, cell: c, size: size})
	cc.bytes += size
	for cc.lru.Len() > maxJobCells || cc.bytes > maxJobCellBytes {
		old := cc.lru.Remove(cc.lru.Back()).(*cachedCell)
		delete(cc.m, old.key)
		cc.bytes -= old.size
	}
	return c
}

// len returns the number of cells kept, and their bytes of source.
func (cc *cellCache) len() (int, int) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.lru.Len(), cc.bytes
}

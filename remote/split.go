package remote

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/sperse/sperse/lang"
)

// chunksPerSlot is how many chunks Split makes per evaluation slot
// (Limits.MaxConcurrency) of the servers it uses. More than one, so that a
// slow server (busy with others' work, or on a slower machine) holds up
// only a small part of the work while the others take the rest, and a slot
// that ends early waits for at most a small chunk at the end; few, because
// each chunk costs a round trip and the encoding and compiling of its
// functions (about 0.4 ms on loopback), and above all because a server
// spends more on its garbage collector the smaller its chunks: a chunk's
// list of results is most of the server's live heap, and the collector
// runs once each time the heap grows by about the live heap, so chunks
// half as large make about twice as many collections.
// mapreduce(lambda x: x % 7, sum, range(10_000_000)) on one sperse-server
// of one core took 1.75 s in 4 chunks, 1.9 s in 8 and 2.1 s in 16; on two,
// 1.0 s in 4 chunks, 0.96 s in 8, 1.0 s in 16 and 1.1 s in 32 (the best of
// 5 runs each on a shared 2-core machine: cmd/sperse's
// BenchmarkMapreduceProcesses). With 2 servers of 2 slots, a list of 100
// items is cut into 16 chunks.
const chunksPerSlot = 4

// Split implements lang.Splitter: it runs the chunks of pmap and mapreduce
// on the servers, in parallel. Set it as the client's lang.Interp.Splitter.
//
// The servers are those that can run the work now: connected, not going
// away, matching job.On (as a cell's remote@sel) and providing the names
// the functions need (lang.FuncNeeds). The items are cut by lang.SplitItems
// (a range into ranges, never expanded; a vec into vecs) into chunksPerSlot
// (4) chunks per slot of those servers' MaxConcurrency, in order, or into
// more if a vec needs more for each chunk to fit in half the smallest of
// their messages. Each server runs as many
// chunks at once as it has slots, and takes the next one from the shared
// queue when one ends, so a faster server takes more of them. Each chunk is
// an EvalChunk evaluation on a stream of its own, counted in the server's
// load; the results are returned in the order of the items.
//
// With no server connected, if job.On is empty and the functions need no
// provided names, the work runs in this process (lang.InProcess, as with no
// client), so that pmap works without servers. Otherwise, with no server to
// run it, the error's Unavailable is true and it names the selector (on=)
// or the names missing.
//
// A chunk whose server is lost (an error whose ServerLost is true:
// disconnected, shut down, overloaded) is run again by another server of the
// split; the lost server takes no more chunks of this split. A chunk is started at most
// maxAttempts (3) times. If it fails that often, or no server of the split
// is left, Split returns the last such error: its ServerLost is true, so the
// cell is stale and runs again when a server is back. Any other failure of a
// chunk, the code's own error first of all (a *lang.Error, as it reads
// locally), cancels every other chunk at once and is returned. Cancelling
// ctx cancels every chunk in flight.
func (c *Client) Split(ctx context.Context, job lang.SplitJob) ([]lang.Value, error) {
	r := route{
		what:    "split work",
		sel:     job.On,
		selText: fmt.Sprintf("on=%q", strings.Join(job.On, ",")),
		need:    union(lang.FuncNeeds(job.Map), lang.FuncNeeds(job.Reduce)),
	}
	servers, err := c.splitServers(r)
	if err != nil {
		return nil, err
	}
	if servers == nil {
		c.log.Debug("no server connected: splitting in-process")
		in := c.cfg.Interp
		return lang.InProcess{Where: in.Where, MaxSteps: in.MaxSteps}.Split(ctx, job)
	}

	// The workers, one per slot, taking the servers in turn so that the
	// first chunks spread over all of them.
	var workers []*server
	for round := 0; ; round++ {
		added := false
		for _, s := range servers {
			if round < s.slots {
				workers = append(workers, s.server)
				added = true
			}
		}
		if !added {
			break
		}
	}
	// Enough chunks for each to travel in half a message of the server
	// with the smallest limit, when the items' size is known (a vec).
	maxMessage := DefaultMaxMessage
	for i, s := range servers {
		if i == 0 || s.maxMessage < maxMessage {
			maxMessage = s.maxMessage
		}
	}
	n := max(len(workers)*chunksPerSlot, lang.MinChunks(job.Items, maxMessage/2))
	items, err := lang.SplitItems(job.Items, n)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sp := &splitRun{
		c:        c,
		job:      job,
		ctx:      ctx,
		cancel:   cancel,
		items:    items,
		jobs:     make([][]byte, len(items)),
		results:  make([]lang.Value, len(items)),
		attempts: make([]int, len(items)),
		todo:     make(chan int, len(items)),
		finished: make(chan struct{}),
		dead:     map[*server]bool{},
		alive:    len(workers),
	}
	report := job.Progress
	if report == nil {
		report = func(int, int) {}
	}
	sp.report = report
	report(0, len(items))
	for i := len(workers); i < len(items); i++ {
		sp.todo <- i
	}
	var wg sync.WaitGroup
	for i, s := range workers {
		first := -1
		if i < len(items) {
			first = i
		}
		wg.Go(func() { sp.work(s, first) })
	}
	wg.Wait()
	if sp.err != nil {
		return nil, sp.err
	}
	return sp.results, nil
}

// splitServer is a server a split uses, with its number of slots and the
// largest message it takes.
type splitServer struct {
	*server
	slots      int
	maxMessage int
}

// splitServers returns the servers that can run split work r, or nil (and
// no error) if the work is to run in-process: no server is connected, and r
// has neither a selector nor needed names.
func (c *Client) splitServers(r route) ([]splitServer, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(r.sel) == 0 && len(r.need) == 0 && !c.closed && !slices.ContainsFunc(c.servers, func(s *server) bool {
		return s.sess != nil && !s.goingAway
	}) {
		return nil, nil
	}
	candidates, err := c.eligibleLocked(r)
	if err != nil {
		return nil, err
	}
	servers := make([]splitServer, len(candidates))
	for i, s := range candidates {
		servers[i] = splitServer{s, max(1, s.welcome.Limits.MaxConcurrency), s.welcome.maxMessage()}
	}
	return servers, nil
}

// union returns the names in a or b, sorted, without duplicates.
func union(a, b []string) []string {
	names := slices.Concat(a, b)
	slices.Sort(names)
	return slices.Compact(names)
}

// splitRun is one Split in progress. Each chunk is held by one worker at a
// time: the worker that starts it, then (through todo) the one that runs it
// again. Its fields after mu are guarded by mu.
type splitRun struct {
	c      *Client
	job    lang.SplitJob
	ctx    context.Context // the split's: cancelled when it fails
	cancel context.CancelFunc
	report func(done, total int) // called under mu, so in order

	items    []lang.Value // the items of each chunk
	jobs     [][]byte     // the encoded job of each chunk, made by its first worker
	results  []lang.Value // written by the worker that completes the chunk
	todo     chan int     // chunks waiting for a worker; room for all of them
	finished chan struct{}

	mu       sync.Mutex
	attempts []int            // of each chunk, the times it was started
	done     int              // chunks completed
	alive    int              // workers still running
	dead     map[*server]bool // servers lost during the split
	lost     error            // the last ServerLost error
	err      error            // why the split failed; set once, then finished is closed
}

// work is a worker: it runs chunks on s, first the chunk first (-1 for
// none), then those it takes from the queue, until the split is finished or
// s is lost.
func (sp *splitRun) work(s *server, first int) {
	defer sp.exit()
	i := first
	for {
		if i < 0 {
			select {
			case i = <-sp.todo:
			case <-sp.finished:
				return
			}
		}
		if !sp.run(s, i) {
			return
		}
		i = -1
	}
}

// run runs chunk i on s and reports whether the worker goes on. A chunk
// lost with its server goes back to the queue.
func (sp *splitRun) run(s *server, i int) bool {
	n := len(sp.items)
	what := fmt.Sprintf("chunk %d of %d", i+1, n)
	if sp.jobs[i] == nil {
		ch := sp.job.Chunk
		ch.Items = sp.items[i]
		var err error
		if sp.jobs[i], err = lang.EncodeChunk(ch); err != nil {
			sp.fail(err)
			return false
		}
	}
	sess := sp.claim(s, i)
	if sess == nil { // s is gone: leave the chunk to the others
		sp.todo <- i
		return false
	}
	res := sp.c.evalCounted(sp.ctx, s, sess, what, Eval{Kind: EvalChunk, Job: sp.jobs[i]})
	switch {
	case res.Err == nil:
		sp.mu.Lock()
		sp.results[i] = res.Value
		sp.done++
		sp.report(sp.done, n)
		if sp.done == n {
			close(sp.finished)
		}
		sp.mu.Unlock()
		return true
	case sp.ctx.Err() == nil && isLost(res.Err):
		sp.c.log.Info("server lost during split work; running the chunk elsewhere", "server", res.Where, "chunk", i+1, "err", res.Err)
		sp.mu.Lock()
		sp.dead[s] = true
		sp.lost = res.Err
		again := sp.attempts[i] < maxAttempts
		sp.mu.Unlock()
		if !again {
			sp.fail(res.Err)
			return false
		}
		sp.todo <- i
		return false
	}
	sp.fail(res.Err)
	return false
}

// claim returns the connection through which to start chunk i on s,
// counting the attempt and the evaluation in s's load, or nil if s was
// lost, is going away or is disconnected.
func (sp *splitRun) claim(s *server, i int) *session {
	c := sp.c
	c.mu.Lock()
	defer c.mu.Unlock()
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.dead[s] || s.sess == nil || s.goingAway || c.closed {
		sp.dead[s] = true
		return nil
	}
	sp.attempts[i]++
	s.ours++
	return s.sess
}

// fail ends the split with err, unless it has ended: the chunks in flight
// are cancelled and the idle workers stop.
func (sp *splitRun) fail(err error) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	sp.failLocked(err)
}

func (sp *splitRun) failLocked(err error) {
	if sp.err != nil || sp.done == len(sp.items) {
		return
	}
	sp.err = err
	sp.cancel()
	close(sp.finished)
}

// exit counts a worker out. The last one out of a split that is not
// finished fails it: every server it had was lost (so the error's
// ServerLost is true).
func (sp *splitRun) exit() {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	sp.alive--
	if sp.alive > 0 {
		return
	}
	err := sp.lost
	if err == nil {
		err = &ServerError{Code: CodeDisconnected, Message: "every server of the split work was lost or is going away"}
	}
	sp.failLocked(err)
}

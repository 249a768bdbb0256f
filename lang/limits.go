package lang

import (
	"bytes"
	"fmt"
	"maps"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.starlark.net/lib/json"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
	"go.starlark.net/syntax"
)

// Beyond its step limit and its context, an evaluation is stopped when its
// calls nest deeper than MaxCallDepth, or when the process's live heap is
// over its memory limit (Interp.MaxMemory); and a single step that would
// build a value taking the heap over that limit (list(range(n)), l * n) is
// refused before it allocates (see Memory, and alloc.go).
//
// Why: Starlark allows recursion here (fib must be writable), and every
// Starlark call takes a few kilobytes of Go stack; a recursion that does not
// end would otherwise reach Go's stack limit, which ends the whole process
// (a server with every evaluation in it), not the evaluation. And Starlark
// keeps no account of memory: a loop that builds a list takes a step per
// element but gigabytes in all, well within the step limit, a builtin such
// as list(range(n)) or a repetition l * n takes gigabytes in one step, and
// `s = s + s` doubles a string in one step.

// MaxCallDepth is how deeply the calls of one evaluation may nest: about 20
// MiB of Go stack. Deeper, the evaluation is stopped with an error.
const MaxCallDepth = 10_000

// checkEvery is how many steps an evaluation takes between two checks of
// its call depth (about 0.1 ms of work). A Starlark call takes at least 3
// steps, so calls nest at most MaxCallDepth+checkEvery/3 deep.
const checkEvery = 1 << 12

// limits are what a running thread is held to.
type limits struct {
	maxSteps  uint64
	maxMemory uint64 // math.MaxUint64 for none
	deep      string // why check stopped the thread, "" if it did not; the thread's own
	memory    string // why the memory watch stopped it, "" if it did not; guarded by memWatch.mu
}

// watched reports whether the evaluation has a memory limit.
func (l *limits) watched() bool { return l.maxMemory != math.MaxUint64 }

// check is the thread's OnMaxSteps hook: it runs every checkEvery steps
// (checkSoon in an evaluation with vecs: see meter.go) and at the step
// limit, in the thread's goroutine, and stops the thread (Cancel) past a
// limit.
func (pt *pooledThread) check(thread *starlark.Thread) {
	l := &pt.limits
	metered := pt.takeMetered() // the steps of vec operators, if it has a meter (meter.go)
	if thread.Steps >= l.maxSteps {
		thread.Cancel("too many steps")
		return
	}
	if depth := thread.CallStackDepth(); depth > MaxCallDepth {
		l.deep = fmt.Sprintf("stopped at %d nested calls: the evaluation's limit is %d (a recursion that does not end?)", depth, MaxCallDepth)
		thread.Cancel(l.deep)
		return
	}
	next := uint64(checkEvery)
	if metered {
		next = checkSoon
	}
	thread.SetMaxExecutionSteps(min(l.maxSteps, thread.Steps+next))
}

// trimBacktrace shortens the backtrace of a deep recursion to its first and
// last calls.
func trimBacktrace(bt string) string {
	const keep = 8
	lines := strings.Split(bt, "\n")
	if len(lines) <= 2*keep+3 {
		return bt
	}
	// The first line is the "Traceback" header, the last the error.
	head, calls, tail := lines[0], lines[1:len(lines)-1], lines[len(lines)-1]
	out := []string{head}
	out = append(out, calls[:keep]...)
	out = append(out, fmt.Sprintf("  ... %d more calls ...", len(calls)-2*keep))
	out = append(out, calls[len(calls)-keep:]...)
	return strings.Join(append(out, tail), "\n")
}

// Memory.
//
// The limit is on the Go heap of the whole process: Starlark does not say
// which evaluation allocated what. While evaluations with a limit run, a
// goroutine (memoryWatch) samples the heap every memoryInterval. When the
// heap is over a limit, it collects garbage, and if the live heap is still
// over it, it stops one evaluation running under that limit (Cancel: at
// its next step): the one that built the most, by the sizes of the values
// it built in single steps (the builtins and repetitions checked before
// they allocate count what they allow, see alloc.go), or, if none built
// any, the oldest, the likeliest to hold the memory: one that started a
// moment ago has had no time to take much. It waits for that one to end
// (or at most stopWait), collects again, and stops the next only if the
// heap is still over. So an evaluation that takes too much is stopped; an
// innocent one is stopped before it only if the one taking the memory
// built it step by step (a comprehension, append in a loop) and the
// innocent one is older and counted nothing either, or counted more.
//
// The watch sees the heap only between two steps, and one step can take
// much memory: so the steps that build a value of a size known in advance
// check it first (see alloc.go and repeatGuard), and are refused with an
// error if it would take the heap over the limit.

// memoryInterval is how often the heap is sampled while evaluations run.
const memoryInterval = 5 * time.Millisecond

// minGCInterval bounds how often the watch collects garbage: a heap that
// stays over the limit, held by code that is not stopped at once (in a
// builtin), would otherwise be collected at every sample.
const minGCInterval = 100 * time.Millisecond

// stopWait is how long the watch waits for an evaluation it stopped to end
// (it may be in a long builtin) before it stops another.
const stopWait = time.Second

// memWatch is the registry of the evaluations the memory watch looks
// after. It is global as the heap is.
var memWatch struct {
	mu      sync.Mutex
	threads map[*pooledThread]watchEntry
	running bool   // memoryWatch is running
	ended   uint64 // the collections completed when an evaluation last ended
	lowest  uint64 // the lowest limit of an evaluation watched so far, 0 before the first
}

// watchEntry is what the memory watch knows of one evaluation.
type watchEntry struct {
	started time.Time
	counted uint64 // bytes of the values it built in single steps (countAlloc)
}

// watchMemory puts pt, starting an evaluation with a memory limit, under
// the memory watch, until unwatchMemory.
func watchMemory(pt *pooledThread) {
	memWatch.mu.Lock()
	defer memWatch.mu.Unlock()
	if memWatch.threads == nil {
		memWatch.threads = map[*pooledThread]watchEntry{}
	}
	memWatch.threads[pt] = watchEntry{started: time.Now()}
	if l := pt.limits.maxMemory; memWatch.lowest == 0 || l < memWatch.lowest {
		memWatch.lowest = l
	}
	if !memWatch.running {
		memWatch.running = true
		go memoryWatch()
	}
}

// unwatchMemory takes pt off the memory watch and returns why the watch
// stopped it, "" if it did not.
func unwatchMemory(pt *pooledThread) string {
	memWatch.mu.Lock()
	defer memWatch.mu.Unlock()
	delete(memWatch.threads, pt)
	if memWatch.running {
		s := [1]metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
		metrics.Read(s[:])
		memWatch.ended = s[0].Value.Uint64()
	}
	why := pt.limits.memory
	pt.limits.memory = ""
	return why
}

// countAlloc counts n bytes, of a value built in one step, against the
// evaluation running in thread, if the memory watch looks after it.
func countAlloc(thread *starlark.Thread, n uint64) {
	memWatch.mu.Lock()
	defer memWatch.mu.Unlock()
	for pt, e := range memWatch.threads {
		if &pt.thread == thread {
			e.counted += n
			memWatch.threads[pt] = e
			return
		}
	}
}

// processLimit returns the memory limit for a check that has no thread,
// hence no Interp (an operator, a formula): the lowest limit of the
// evaluations the watch looks after now, or if there are none, the lowest
// it has looked after, or if none, DefaultMaxMemory().
func processLimit() uint64 {
	memWatch.mu.Lock()
	defer memWatch.mu.Unlock()
	lowest := uint64(math.MaxUint64)
	for pt := range memWatch.threads {
		lowest = min(lowest, pt.limits.maxMemory)
	}
	switch {
	case lowest != math.MaxUint64:
		return lowest
	case memWatch.lowest != 0:
		return memWatch.lowest
	}
	return DefaultMaxMemory()
}

// memoryWatch samples the heap while there are evaluations to watch, and
// stops them while the live heap is over their limit, the one that counted
// the most first, else the oldest (see Memory). It returns when there are
// none left.
func memoryWatch() {
	tick := time.NewTicker(memoryInterval)
	defer tick.Stop()
	var lastGC, lastStop time.Time
	for range tick.C {
		memWatch.mu.Lock()
		if len(memWatch.threads) == 0 {
			memWatch.running = false
			memWatch.mu.Unlock()
			return
		}
		lowest, stopping, ended := uint64(math.MaxUint64), false, memWatch.ended
		for pt := range memWatch.threads {
			if pt.limits.memory != "" {
				stopping = true
			} else {
				lowest = min(lowest, pt.limits.maxMemory)
			}
		}
		memWatch.mu.Unlock()
		// Until the evaluation stopped last has ended, what it holds is
		// not garbage yet.
		if stopping && time.Since(lastStop) < stopWait {
			continue
		}
		h := readHeap()
		if h.objects <= lowest {
			continue
		}
		// The live bytes of the last collection are the answer, unless an
		// evaluation ended since (what it held may be garbage now): then
		// collect again, to stop no one for garbage.
		if h.live <= lowest || ended >= h.cycles {
			if time.Since(lastGC) < minGCInterval {
				continue
			}
			runtime.GC()
			lastGC = time.Now()
			h = readHeap()
		}
		memWatch.mu.Lock()
		var (
			stop *pooledThread
			best watchEntry
		)
		for pt, e := range memWatch.threads {
			if l := &pt.limits; l.memory == "" && h.live > l.maxMemory && (stop == nil || heavier(e, best)) {
				stop, best = pt, e
			}
		}
		if stop != nil {
			l := &stop.limits
			l.memory = fmt.Sprintf("stopped with %s of memory in use: the limit is %s for all evaluations in this process",
				sizeString(h.live), sizeString(l.maxMemory))
			stop.thread.Cancel(l.memory)
			lastStop = time.Now()
		}
		memWatch.mu.Unlock()
	}
}

// heavier reports whether the watch stops the evaluation of a before that
// of b: it counted more, or as much and started earlier.
func heavier(a, b watchEntry) bool {
	if a.counted != b.counted {
		return a.counted > b.counted
	}
	return a.started.Before(b.started)
}

// heap is what readHeap reads.
type heap struct {
	objects uint64 // bytes of heap objects, live or not yet swept
	live    uint64 // bytes found live by the last collection
	cycles  uint64 // collections completed
}

func readHeap() heap {
	s := [3]metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/gc/heap/live:bytes"},
		{Name: "/gc/cycles/total:gc-cycles"},
	}
	metrics.Read(s[:])
	return heap{s[0].Value.Uint64(), s[1].Value.Uint64(), s[2].Value.Uint64()}
}

// sizeString formats a number of bytes: "512 B", "3.0 KiB", "1.5 GiB".
func sizeString(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// DefaultMaxMemory returns the memory limit of an Interp whose MaxMemory is
// 0: the process's Go memory limit if one is set (GOMEMLIMIT), or else
// three quarters of the memory the process may use (the machine's, or its
// cgroup's if less), or else none (math.MaxUint64).
func DefaultMaxMemory() uint64 { return defaultMaxMemory() }

var defaultMaxMemory = sync.OnceValue(func() uint64 {
	if l := debug.SetMemoryLimit(-1); l > 0 && l < math.MaxInt64 {
		return uint64(l)
	}
	total := systemMemory()
	if total == 0 {
		return math.MaxUint64
	}
	return total / 4 * 3
})

// systemMemory returns the memory the process may use, as Linux reports it
// (MemTotal, or a cgroup v2 limit if lower), or 0 if unknown.
func systemMemory() uint64 {
	var total uint64
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range bytes.Lines(data) {
			if rest, ok := bytes.CutPrefix(line, []byte("MemTotal:")); ok {
				f := strings.Fields(string(rest))
				if len(f) == 2 && f[1] == "kB" {
					if kb, err := strconv.ParseUint(f[0], 10, 64); err == nil {
						total = kb << 10
					}
				}
				break
			}
		}
	}
	if data, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if n, err := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64); err == nil && n > 0 && (total == 0 || n < total) {
			total = n
		}
	}
	return total
}

// maxMemory returns the memory limit of in's evaluations.
func (in *Interp) maxMemory() uint64 {
	if in.MaxMemory == 0 {
		return DefaultMaxMemory()
	}
	return in.MaxMemory
}

// Repetition.
//
// Starlark allows a repetition of up to 2^30 elements in one step: [0] * n
// with n = 10**9 takes 16 GiB at once, before the memory watch can see it.
// So the compiler rewrites each repetition of a literal ([0] * n, "ab" * n,
// (x,) * n, and n * [0]) to check the size first: the count n becomes
// repeatKey(n, len, kind), with the literal's length and type, and the
// builtin repeatGuard refuses a count whose result would take the process
// over the memory limit. Repetitions of anything else (s * n) are checked
// by a wrapper of an operand (see guardOperands in alloc.go).

// repeatKey is the name of repeatGuard in the code the compiler rewrites.
// It is no identifier, so code cannot name it.
const repeatKey = "repeat*"

// repeatCheck is the size from which a repetition looks at the heap: below
// it, repeatGuard costs only its call.
const repeatCheck = 1 << 20

var repeatGuard = guardValue{starlark.NewBuiltin("repeat", func(thread *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
	var (
		count starlark.Value
		each  int
		kind  string
	)
	if err := starlark.UnpackPositionalArgs("repeat", args, nil, 3, &count, &each, &kind); err != nil {
		return nil, err
	}
	n, ok := count.(starlark.Int)
	if !ok {
		return count, nil // not a count: the operator says so
	}
	times, ok := n.Uint64()
	if !ok || times > 1<<31 {
		return count, nil // none, or more than Starlark allows: it says so
	}
	elems := times * uint64(each)
	need := elems
	what := "bytes"
	if kind == "list" || kind == "tuple" {
		need *= 16 // a Starlark value
		what = "elements"
	}
	if need < repeatCheck {
		return count, nil
	}
	limit := state(thread).in.maxMemory()
	if over, inUse := overMemory(need, limit); over {
		return nil, fmt.Errorf("a %s of %d %s would take %s%s: the memory limit is %s for all evaluations in this process",
			kind, elems, what, sizeString(need), inUse, sizeString(limit))
	}
	countAlloc(thread, need)
	return count, nil
})}

// overMemory reports whether need more bytes would take the live heap over
// limit, collecting garbage first if the heap looks too full, and then
// says how much is in use (", with X in use"), for an error.
func overMemory(need, limit uint64) (over bool, inUse string) {
	if need > limit {
		return true, ""
	}
	if h := readHeap(); h.objects+need > limit {
		runtime.GC()
		h = readHeap()
		return h.live+need > limit, ", with " + sizeString(h.live) + " in use"
	}
	return false, ""
}

// guardRepeats rewrites the repetitions of literals in f (see repeatKey),
// and the operands of other repetitions (see guardOperands). It runs
// before f is resolved.
func guardRepeats(f *syntax.File) {
	syntax.Walk(f, func(n syntax.Node) bool {
		guardOperands(n)
		b, ok := n.(*syntax.BinaryExpr)
		if !ok || b.Op != syntax.STAR {
			return true
		}
		if each, kind := literalSeq(b.X); each > 0 {
			b.Y = guardCount(b.Y, b.OpPos, each, kind)
		} else if each, kind := literalSeq(b.Y); each > 0 {
			b.X = guardCount(b.X, b.OpPos, each, kind)
		}
		return true
	})
}

// literalSeq returns the length and type of e if e is a literal sequence,
// 0 otherwise.
func literalSeq(e syntax.Expr) (int, string) {
	switch e := e.(type) {
	case *syntax.ParenExpr:
		return literalSeq(e.X)
	case *syntax.ListExpr:
		return len(e.List), "list"
	case *syntax.TupleExpr:
		return len(e.List), "tuple"
	case *syntax.Literal:
		if v, ok := e.Value.(string); ok {
			if e.Token == syntax.BYTES {
				return len(v), "bytes value"
			}
			return len(v), "string"
		}
	}
	return 0, ""
}

// guardCount wraps the count of a repetition in a call of repeatGuard, at
// the position of the operator but with the count's span, so that the
// source text of a function (see newUnit) still ends where it did.
func guardCount(count syntax.Expr, at syntax.Position, each int, kind string) syntax.Expr {
	start, end := count.Span()
	end.Col-- // a call ends after its Rparen
	return &syntax.CallExpr{
		Fn:     &syntax.Ident{NamePos: start, Name: repeatKey},
		Lparen: at,
		Args: []syntax.Expr{
			count,
			&syntax.Literal{Token: syntax.INT, TokenPos: at, Raw: strconv.Itoa(each), Value: int64(each)},
			&syntax.Literal{Token: syntax.STRING, TokenPos: at, Raw: strconv.Quote(kind), Value: kind},
		},
		Rparen: end,
	}
}

// JSON.

// maxJSONDepth bounds the nesting of what json.decode reads. Its decoder
// recurses once a level: a string of a few tens of MB of brackets, one
// step to build, would otherwise reach Go's stack limit, which ends the
// process.
const maxJSONDepth = 10_000

// jsonModule is Starlark's json module, with a decode that checks the
// nesting of its input first.
var jsonModule = func() *starlarkstruct.Module {
	members := maps.Clone(json.Module.Members)
	decode := members["decode"].(*starlark.Builtin)
	members["decode"] = starlark.NewBuiltin(decode.Name(), func(thread *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if len(args) > 0 {
			if s, ok := args[0].(starlark.String); ok && jsonDeeper(string(s), maxJSONDepth) {
				return nil, fmt.Errorf("%s: nested deeper than %d levels", decode.Name(), maxJSONDepth)
			}
		}
		return decode.CallInternal(thread, args, kwargs)
	})
	return &starlarkstruct.Module{Name: json.Module.Name, Members: members}
}()

// jsonDeeper reports whether the JSON text s has arrays and objects nested
// deeper than max (brackets inside strings aside).
func jsonDeeper(s string, max int) bool {
	depth, inString := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '[' || c == '{':
			if depth++; depth > max {
				return true
			}
		case c == ']' || c == '}':
			depth--
		}
	}
	return false
}

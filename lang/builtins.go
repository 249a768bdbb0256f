package lang

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// builtinSum is sum(iterable, start=0): the total of the iterable's elements
// added to start with +, from left to right. A range of ints is added in
// closed form, and a vec or a list of numbers in native loops (native.go).
func builtinSum(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var (
		iterable starlark.Iterable
		acc      starlark.Value = starlark.MakeInt(0)
	)
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &iterable, &acc); err != nil {
		return nil, err
	}
	if r, ok := asRange(iterable); ok {
		return sumRange(thread, r, acc)
	}
	if v, ok := iterable.(*Vec); ok {
		return sumVec(thread, b.Name(), v, acc)
	}
	var a adder
	a.set(acc)
	if err := a.addAll(iterable); err != nil {
		return nil, fmt.Errorf("sum: %v", err)
	}
	return a.total(), nil
}

// rangeBounds are the start, stop and step of a range.
type rangeBounds struct{ start, stop, step int }

// asRange returns the bounds of v if v is a range. Starlark's range type is
// unexported, so its bounds are read from its String, which is exact:
// "range(stop)", "range(start, stop)" or "range(start, stop, step)".
func asRange(v starlark.Value) (rangeBounds, bool) {
	if v.Type() != "range" {
		return rangeBounds{}, false
	}
	s := v.String()
	if !strings.HasPrefix(s, "range(") || !strings.HasSuffix(s, ")") {
		return rangeBounds{}, false
	}
	parts := strings.Split(s[len("range("):len(s)-1], ", ")
	nums := make([]int, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			return rangeBounds{}, false
		}
		nums[i] = n
	}
	switch len(nums) {
	case 1:
		return rangeBounds{0, nums[0], 1}, true
	case 2:
		return rangeBounds{nums[0], nums[1], 1}, true
	case 3:
		return rangeBounds{nums[0], nums[1], nums[2]}, true
	}
	return rangeBounds{}, false
}

// makeRange returns range(start, stop, step).
func makeRange(r rangeBounds) (starlark.Value, error) {
	return starlark.Call(&starlark.Thread{}, starlark.Universe["range"], starlark.Tuple{starlark.MakeInt(r.start), starlark.MakeInt(r.stop), starlark.MakeInt(r.step)}, nil)
}

// sumRange adds the elements of a range to acc: in closed form if acc is
// an int, else one by one, as + adds them (a float total rounds at each),
// charging the steps of that loop as vec work (see charge).
func sumRange(thread *starlark.Thread, r rangeBounds, acc starlark.Value) (starlark.Value, error) {
	n := rangeLen(r)
	if n == 0 {
		return acc, nil
	}
	if _, ok := acc.(starlark.Int); !ok {
		if err := charge(thread, n); err != nil {
			return nil, err
		}
		var a adder
		a.set(acc)
		for i := range n {
			if err := a.add(starlark.MakeInt(r.start + i*r.step)); err != nil {
				return nil, fmt.Errorf("sum: %v", err)
			}
		}
		return a.total(), nil
	}
	// n*start + step*n*(n-1)/2, in big arithmetic: it can exceed int64.
	first, step, count := starlark.MakeInt(r.start), starlark.MakeInt(r.step), starlark.MakeInt(n)
	total := count.Mul(first).Add(step.Mul(count.Mul(count.Sub(starlark.MakeInt(1)))).Div(starlark.MakeInt(2)))
	return starlark.Binary(syntax.PLUS, acc, total)
}

func rangeLen(r rangeBounds) int {
	switch {
	case r.step > 0 && r.start < r.stop:
		return (r.stop-r.start-1)/r.step + 1
	case r.step < 0 && r.start > r.stop:
		return (r.start-r.stop-1)/(-r.step) + 1
	}
	return 0
}

// builtinWhere is where(): "local", or the name of the server the code runs on.
func builtinWhere(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 0); err != nil {
		return nil, err
	}
	return starlark.String(state(thread).in.Where), nil
}

// Chunk is one piece of split work: Map applied to each element of Items (a
// list, tuple, range or vec), then, if Reduce is not None, Reduce applied to
// the list of results. If Whole, Map is applied to Items itself, once, and
// its result is the chunk's (pmap and mapreduce with chunks=True).
type Chunk struct {
	Map    Value
	Reduce Value // starlark.None for pmap
	Items  Value
	Whole  bool
}

// EncodeChunk encodes ch as it travels to a server in an EvalChunk: the
// tuple (map, reduce, items), or (map, reduce, items, True) if ch.Whole.
func EncodeChunk(ch Chunk) ([]byte, error) {
	if ch.Whole {
		return Encode(starlark.Tuple{ch.Map, ch.Reduce, ch.Items, starlark.True})
	}
	return Encode(starlark.Tuple{ch.Map, ch.Reduce, ch.Items})
}

// DecodeChunk decodes a chunk encoded by EncodeChunk, within limits, making
// its functions in in.
func (in *Interp) DecodeChunk(data []byte, limits DecodeLimits) (Chunk, error) {
	v, err := in.DecodeLimited(data, limits)
	if err != nil {
		return Chunk{}, err
	}
	t, ok := v.(starlark.Tuple)
	if !ok || len(t) != 3 && (len(t) != 4 || t[3] != starlark.True) {
		what := "a " + v.Type()
		if x, ok := v.(starlark.Indexable); ok {
			what = fmt.Sprintf("a %s of %d", v.Type(), x.Len())
		}
		return Chunk{}, fmt.Errorf("got %s, want the tuple (map, reduce, items) or (map, reduce, items, True)", what)
	}
	return Chunk{Map: t[0], Reduce: t[1], Items: t[2], Whole: len(t) == 4}, nil
}

// SplitJob is the work of one call of pmap or mapreduce, as a Splitter gets
// it: the Chunk of all the items, and what the call asks of the places that
// run it.
type SplitJob struct {
	Chunk

	// On is the selector given with on=: names or tags all of which a server
	// must match, as in remote@sel; nil means any server. A Splitter that
	// has no servers to choose from (InProcess) ignores it.
	On []string

	// Progress is called with 0 and the number of chunks once the work is
	// split, and then each time a chunk completes. It is never nil, is safe
	// to call from any goroutine, and ignores a call that would make done
	// go back.
	Progress func(done, total int)
}

// Splitter runs split work. Split divides job.Items into chunks, runs every
// chunk (with RunChunk, wherever it chooses) and returns the chunks' results
// in order. Implementations are safe for concurrent use. An error in the
// code of the functions is returned as the *Error RunChunk gives; other
// errors say what went wrong where (and are classified by their methods, as
// an executor's are).
type Splitter interface {
	Split(ctx context.Context, job SplitJob) ([]Value, error)
}

// RunChunk runs one chunk of split work in in.
func (in *Interp) RunChunk(ctx context.Context, ch Chunk) (Value, error) {
	var result Value
	_, err := in.run(ctx, "chunk", func(thread *starlark.Thread) (starlark.StringDict, error) {
		if ch.Whole {
			items := ch.Items
			if v, ok := items.(*Vec); ok {
				items = made(thread, v)
			}
			v, err := starlark.Call(thread, ch.Map, starlark.Tuple{items}, nil)
			result = v
			return nil, err
		}
		iterable, ok := ch.Items.(starlark.Iterable)
		if !ok {
			return nil, fmt.Errorf("cannot split %s: not iterable", ch.Items.Type())
		}
		// The mapped values are reduced with sum as they come, as sum would
		// add them: there is no list of them to keep.
		sum := ch.Reduce == builtins["sum"]
		var (
			out []starlark.Value
			acc adder
		)
		acc.set(starlark.MakeInt(0))
		if n := starlark.Len(ch.Items); n > 0 && !sum {
			out = make([]starlark.Value, 0, n)
		}
		it := iterable.Iterate()
		defer it.Done()
		// A Starlark function keeps no reference to its arguments' tuple
		// (its interpreter reuses one too), so one tuple serves every call.
		_, reuse := ch.Map.(*starlark.Function)
		args := starlark.Tuple{nil}
		// A lambda whose body is a formula is applied without a call. Its
		// steps are counted every batch of elements. Where it fails, the
		// call is made: the formula gives the interpreter's values, and a
		// failing element fails the same way, with the error and backtrace
		// of the call.
		lf := lambdaFormula(ch.Map)
		const batch = 256
		var (
			x    starlark.Value
			done int
		)
		for it.Next(&x) {
			var y starlark.Value
			if _, vec := x.(*Vec); lf != nil && !vec {
				if done++; done%batch == 0 {
					if err := charge(thread, batch*lf.steps*elemsPerStep); err != nil {
						return nil, err
					}
				}
				y, _ = lf.x.eval(fenv{arg: x}) // failing, y is nil: the call fails as it would
			}
			if y == nil {
				if !reuse {
					args = starlark.Tuple{nil}
				}
				args[0] = x
				var err error
				if y, err = starlark.Call(thread, ch.Map, args, nil); err != nil {
					return nil, err
				}
			}
			if !sum {
				out = append(out, y)
			} else if err := acc.add(y); err != nil {
				return nil, fmt.Errorf("sum: %v", err)
			}
		}
		if sum {
			result = acc.total()
			return nil, nil
		}
		result = starlark.NewList(out)
		if ch.Reduce != nil && ch.Reduce != starlark.None {
			v, err := starlark.Call(thread, ch.Reduce, starlark.Tuple{result}, nil)
			if err != nil {
				return nil, err
			}
			result = v
		}
		return nil, nil
	})
	if err != nil {
		return nil, err
	}
	result.Freeze()
	return result, nil
}

// SplitItems divides items (a list, tuple, range or vec, or any iterable,
// which is made a list) into at most n chunks of nearly equal length, in
// order. A range is split into ranges, never expanded, and a vec into vecs
// that share its elements.
func SplitItems(items Value, n int) ([]Value, error) {
	if n < 1 {
		n = 1
	}
	if v, ok := items.(*Vec); ok {
		total := v.Len()
		var chunks []Value
		for i, from := 0, 0; i < n && from < total; i++ {
			size := (total - from + (n - i) - 1) / (n - i)
			chunks = append(chunks, v.sub(from, from+size))
			from += size
		}
		return chunks, nil
	}
	if r, ok := asRange(items); ok {
		total := rangeLen(r)
		var chunks []Value
		for i, from := 0, 0; i < n && from < total; i++ {
			size := (total - from + (n - i) - 1) / (n - i)
			part := rangeBounds{r.start + from*r.step, r.start + (from+size)*r.step, r.step}
			v, err := makeRange(part)
			if err != nil {
				return nil, err
			}
			chunks = append(chunks, v)
			from += size
		}
		return chunks, nil
	}
	var elems []starlark.Value
	switch v := items.(type) {
	case *starlark.List:
		elems = make([]starlark.Value, v.Len())
		for i := range elems {
			elems[i] = v.Index(i)
		}
	case starlark.Tuple:
		elems = v
	case starlark.Iterable:
		it := v.Iterate()
		var x starlark.Value
		for it.Next(&x) {
			elems = append(elems, x)
		}
		it.Done()
	default:
		return nil, fmt.Errorf("cannot split %s: not iterable", items.Type())
	}
	var chunks []Value
	for i, from := 0, 0; i < n && from < len(elems); i++ {
		size := (len(elems) - from + (n - i) - 1) / (n - i)
		chunks = append(chunks, starlark.NewList(elems[from:from+size:from+size]))
		from += size
	}
	return chunks, nil
}

// MinChunks returns the fewest chunks SplitItems must cut items into for
// each chunk to encode in at most maxBytes, when that is known without
// encoding them (items is a vec); 1 otherwise.
func MinChunks(items Value, maxBytes int) int {
	v, ok := items.(*Vec)
	if !ok || maxBytes <= 0 {
		return 1
	}
	size := 8
	if v.kind == boolVec {
		size = 1
	}
	return max(1, (v.Len()*size+maxBytes-1)/maxBytes)
}

// InProcess is the Splitter used when an Interp has none: it splits work into
// one chunk per CPU and runs each chunk in a fresh interpreter on its own
// goroutine, after sending the chunk through the codec and before sending the
// result back the same way, exactly as a server would. So whatever cannot
// travel fails here too. It has no servers to choose from: it ignores
// SplitJob.On.
type InProcess struct {
	Where    string              // what where() returns in the chunks
	MaxSteps uint64              // each chunk's step limit
	Provided starlark.StringDict // the names provided where the chunks run (see Interp.Provided)
}

// Split implements Splitter. The first chunk to fail cancels the others, and
// its error is returned.
func (p InProcess) Split(ctx context.Context, job SplitJob) ([]Value, error) {
	chunks, err := SplitItems(job.Items, runtime.GOMAXPROCS(0))
	if err != nil {
		return nil, err
	}
	if len(chunks) == 0 {
		return nil, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	report := job.Progress
	if report == nil {
		report = func(int, int) {}
	}
	report(0, len(chunks))
	results := make([]Value, len(chunks))
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		done     int
		firstErr error
	)
	for i, items := range chunks {
		wg.Go(func() {
			ch := job.Chunk
			ch.Items = items
			v, err := p.run(ctx, ch)
			mu.Lock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
					cancel()
				}
				mu.Unlock()
				return
			}
			results[i] = v
			done++
			report(done, len(chunks))
			mu.Unlock()
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return results, nil
}

// run sends ch through the codec to a fresh interpreter, runs it there, and
// brings the result back through the codec.
func (p InProcess) run(ctx context.Context, ch Chunk) (Value, error) {
	data, err := EncodeChunk(ch)
	if err != nil {
		return nil, err
	}
	remote := &Interp{Where: p.Where, MaxSteps: p.MaxSteps, Splitter: p, Provided: p.Provided}
	chunk, err := remote.DecodeChunk(data, DecodeLimits{})
	if err != nil {
		return nil, err
	}
	result, err := remote.RunChunk(ctx, chunk)
	if err != nil {
		return nil, err
	}
	if data, err = Encode(result); err != nil {
		return nil, err
	}
	return (&Interp{Where: p.Where, Provided: p.Provided}).Decode(data)
}

// splitter returns in's Splitter, or an in-process one.
func (in *Interp) splitter() Splitter {
	if in.Splitter != nil {
		return in.Splitter
	}
	return InProcess{Where: in.Where, MaxSteps: in.MaxSteps, Provided: in.Provided}
}

// builtinPmap is pmap(f, xs, on=None, chunks=False): [f(x) for x in xs],
// computed in chunks in parallel by the interpreter's Splitter; on selects
// the servers (see SplitJob.On). With chunks=True, f is called once per
// chunk, with the chunk itself (a range, vec or list of xs), and returns
// a list, tuple or vec of its results; they are joined in order, into a
// vec if they are all vecs.
func builtinPmap(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var f, xs, on starlark.Value
	var whole bool
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "f", &f, "xs", &xs, "on?", &on, "chunks?", &whole); err != nil {
		return nil, err
	}
	if err := checkCallable(b.Name(), f); err != nil {
		return nil, err
	}
	parts, err := split(thread, b.Name(), Chunk{Map: f, Reduce: starlark.None, Items: xs, Whole: whole}, on)
	if err != nil {
		return nil, err
	}
	if whole {
		return joinChunks(thread, parts)
	}
	var out []starlark.Value
	for _, p := range parts {
		l, ok := p.(*starlark.List)
		if !ok {
			return nil, fmt.Errorf("pmap: a chunk returned %s, want list", p.Type())
		}
		for i := 0; i < l.Len(); i++ {
			out = append(out, l.Index(i))
		}
	}
	return starlark.NewList(out), nil
}

// builtinMapreduce is mapreduce(mapper, reducer, xs, on=None, chunks=False):
// reducer applied to the partial results, each of which is reducer applied
// to the list of mapper(x) for the xs of one chunk; on selects the servers
// (see SplitJob.On). With chunks=True, each partial result is mapper
// applied to the chunk itself (a range, vec or list of xs):
// mapreduce(vec.sum, sum, v, chunks=True) sums v in native loops on each
// server.
func builtinMapreduce(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var mapper, reducer, xs, on starlark.Value
	var whole bool
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "mapper", &mapper, "reducer", &reducer, "xs", &xs, "on?", &on, "chunks?", &whole); err != nil {
		return nil, err
	}
	for _, f := range []starlark.Value{mapper, reducer} {
		if err := checkCallable(b.Name(), f); err != nil {
			return nil, err
		}
	}
	ch := Chunk{Map: mapper, Reduce: reducer, Items: xs}
	if whole {
		ch = Chunk{Map: mapper, Reduce: starlark.None, Items: xs, Whole: true}
	}
	parts, err := split(thread, b.Name(), ch, on)
	if err != nil {
		return nil, err
	}
	return starlark.Call(thread, reducer, starlark.Tuple{starlark.NewList(parts)}, nil)
}

// joinChunks joins the results of pmap's chunks with chunks=True: lists,
// tuples or vecs, into a vec if all are vecs, else into a list.
func joinChunks(thread *starlark.Thread, parts []Value) (starlark.Value, error) {
	vecs := true
	for _, p := range parts {
		switch p.(type) {
		case *Vec:
		case *starlark.List, starlark.Tuple:
			vecs = false
		default:
			return nil, fmt.Errorf("pmap: a chunk returned %s, want list, tuple or vec", p.Type())
		}
	}
	if vecs && len(parts) > 0 {
		return vecConcat(thread, vecModule.Members["concat"].(*starlark.Builtin), starlark.Tuple{starlark.NewList(parts)}, nil)
	}
	var out []starlark.Value
	for _, p := range parts {
		it := starlark.Iterate(p)
		var x starlark.Value
		for it.Next(&x) {
			out = append(out, x)
		}
		it.Done()
	}
	return starlark.NewList(out), nil
}

// split runs the split work of the builtin fname with the interpreter's
// Splitter, reporting its progress to the evaluation's reporter (see
// WithProgress). The Splitter's ctx carries no reporter: evaluations nested
// in the chunks report nothing of their own. An error that is not the
// code's own is prefixed with fname.
func split(thread *starlark.Thread, fname string, ch Chunk, on starlark.Value) ([]Value, error) {
	sel, err := selectorArg(fname, on)
	if err != nil {
		return nil, err
	}
	s := state(thread)
	job := SplitJob{Chunk: ch, On: sel, Progress: func(int, int) {}}
	r := progressFrom(s.ctx)
	if r != nil {
		job.Progress = r.begin()
		defer r.end()
	}
	parts, err := s.in.splitter().Split(WithProgress(s.ctx, nil), job)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return nil, err
		}
		return nil, fmt.Errorf("%s: %w", fname, err)
	}
	return parts, nil
}

// selectorArg returns the selector in the on= argument of fname: a string
// of names or tags joined by commas, as in remote@sel; None or no argument
// is nil.
func selectorArg(fname string, on starlark.Value) ([]string, error) {
	if on == nil || on == starlark.None {
		return nil, nil
	}
	text, ok := starlark.AsString(on)
	if !ok {
		return nil, fmt.Errorf("%s: on= is %s, want a string such as \"gpu\" or \"eu,db\"", fname, on.Type())
	}
	sel := strings.Split(text, ",")
	for _, item := range sel {
		if !validSelector.MatchString(item) {
			return nil, fmt.Errorf("%s: bad selector on=%q: want names or tags (letters, digits, _ . -) joined by commas", fname, text)
		}
	}
	return sel, nil
}

func checkCallable(fname string, f starlark.Value) error {
	if _, ok := f.(starlark.Callable); !ok {
		return fmt.Errorf("%s: %s is not a function", fname, f.Type())
	}
	return nil
}

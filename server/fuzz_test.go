package server

import (
	"bufio"
	"bytes"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go/quicvarint"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/remote"
)

// FuzzServerFrame feeds arbitrary bytes, as the content of an evaluation
// stream, to what the server runs on one (readEval, then decodeTask),
// without the network, and checks that it never panics, that whatever it
// refuses is answered by a bad-request, too-large or no-such-value error that fits in a
// frame, and that whatever it accepts is a task that can run. (It does not
// run tasks: code can take any amount of memory within its step limit.)
// Run it with
//
//	go test -run XXX -fuzz FuzzServerFrame -fuzztime 60s ./server/
//
// Seeds are fuzzSeeds (good evaluations of each kind, and bad input) and the
// files in testdata/fuzz/FuzzServerFrame (the same seeds as first written,
// and inputs that once failed).
func FuzzServerFrame(f *testing.F) {
	s, err := New(Config{Name: "fuzz", Tokens: []string{testToken}, MaxMessage: MinMaxMessage})
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range fuzzSeeds(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, rerr := readFuzzed(data, s.cfg.MaxMessage)
		var tk *task
		if rerr == nil {
			tk, rerr = s.decodeTask(ev, nil)
		}
		if rerr != nil {
			if rerr.Code != remote.CodeBadRequest && rerr.Code != remote.CodeTooLarge && rerr.Code != remote.CodeNoValue || rerr.Message == "" {
				t.Fatalf("refused with %s %q, want bad request, too large or no such value with a message", rerr.Code, rerr.Message)
			}
			answer, err := remote.AppendFrame(nil, remote.MsgResult, remote.Result{Error: rerr})
			if err != nil || len(answer) > s.cfg.MaxMessage {
				t.Fatalf("the answer does not fit in a frame: %d bytes, %v", len(answer), err)
			}
			return
		}
		switch tk.kind {
		case remote.EvalCell:
			if tk.cell == nil || tk.scope == nil || tk.name != tk.cell.Name {
				t.Fatalf("cell task %+v is incomplete", tk)
			}
		case remote.EvalChunk:
			if tk.chunk.Map == nil || tk.chunk.Reduce == nil || tk.chunk.Items == nil {
				t.Fatalf("chunk task %+v is incomplete", tk)
			}
		case remote.EvalPublish:
			if !lang.IsIdentifier(tk.publish.Name) || (tk.publish.Op == remote.OpPublish) != (len(tk.publish.Func) > 0) {
				t.Fatalf("publish task %+v is incomplete", tk)
			}
		default:
			t.Fatalf("task of kind %d", tk.kind)
		}
	})
}

// readFuzzed reads an Eval or a Call from data as the server reads the
// first message of a stream.
func readFuzzed(data []byte, max int) (remote.Eval, *remote.Error) {
	br := bufio.NewReader(bytes.NewReader(data))
	t, body, rerr := readMessage(noDeadline{}, br, max, time.Now())
	switch {
	case rerr != nil:
		return remote.Eval{}, rerr
	case t == remote.MsgCall:
		ev, err := decodeCall(body)
		if err != nil {
			return remote.Eval{}, badRequest(err.Error())
		}
		return ev, nil
	}
	return decodeEval(t, body, br)
}

// noDeadline is a stream whose deadlines do nothing.
type noDeadline struct{}

func (noDeadline) SetReadDeadline(time.Time) error { return nil }

// fuzzSeeds returns seeds for FuzzServerFrame, by name.
func fuzzSeeds(t testing.TB) map[string][]byte {
	t.Helper()
	fib := localValue(t, "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)", nil)
	cell := func(src string, scope map[string]lang.Value) []byte {
		b, err := remote.AppendFrame(nil, remote.MsgEval, remote.Eval{Kind: remote.EvalCell, Job: cellJob(t, src, scope)})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	chunk := func(src string) []byte {
		b, err := remote.AppendFrame(nil, remote.MsgEval, remote.Eval{Kind: remote.EvalChunk, Job: encode(t, localValue(t, src, nil))})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	publish := func(job remote.PublishJob) []byte {
		data, err := remote.EncodePublishJob(job)
		if err != nil {
			t.Fatal(err)
		}
		b, err := remote.AppendFrame(nil, remote.MsgEval, remote.Eval{Kind: remote.EvalPublish, Job: data})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	call := func(ev remote.Eval) []byte {
		b, err := remote.AppendFrame(nil, remote.MsgCall, ev)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return map[string][]byte{
		"cell":          cell("y = x * 2", map[string]lang.Value{"x": localValue(t, "x = 21", nil)}),
		"cell_function": cell("f = fib(10)", map[string]lang.Value{"fib": fib}),
		"cell_def":      cell("def g(a, b=2):\n    return a + b", nil),
		"cell_valueref": cell("y = len(x)", map[string]lang.Value{"x": lang.RefTo([]byte("a value the server does not keep"))}),
		"chunk":         chunk("job = (lambda x: x * x, lambda xs: sum(xs), range(10))"),
		"chunk_pmap":    chunk("job = (lambda x: [x], None, [1, 'a', (2, 3)])"),
		"call":          call(remote.Eval{Kind: remote.EvalCell, Job: cellJob(t, "y = x + 1", map[string]lang.Value{"x": localValue(t, "x = 1", nil)}), Tag: 1}),
		"call_no_tag":   call(remote.Eval{Kind: remote.EvalCell, Job: cellJob(t, "y = 1", nil)}),
		"publish":       publish(remote.PublishJob{Op: remote.OpPublish, Name: "f", Func: encode(t, fib)}),
		"versions":      publish(remote.PublishJob{Op: remote.OpVersions, Name: "f"}),
		"garbage":       []byte("this is not a frame"),
		"oversized":     {0xc0, 0, 0, 1, 0, 0, 0, 0},
		"nested_frame":  frame(append([]byte{0x82, 0x08}, nested(40)...)),
		"unknown_type":  frame([]byte{0x82, 0x18, 99, 0xa0}),
	}
}

// TestReadEvalMemory checks that a frame announcing a large length makes
// the server allocate in proportion to what arrives, not to the length.
func TestReadEvalMemory(t *testing.T) {
	const announced = 60 << 20
	data := append(quicvarint.Append(nil, announced), "only a few bytes"...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 10 {
		if _, rerr := readFuzzed(data, 64<<20); rerr == nil || !strings.Contains(rerr.Message, "unexpected EOF") {
			t.Fatalf("readMessage: %v, want unexpected EOF", rerr)
		}
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 10<<20 {
		t.Errorf("10 reads of a frame announcing %d bytes allocated %d bytes", announced, n)
	}
}

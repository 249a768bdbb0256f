package remote

import (
	"bufio"
	"bytes"
	"math"
	"reflect"
	"testing"
	"time"
)

// libraryBody encodes body with the CBOR library, as every other message is.
func libraryBody(t testing.TB, body any) []byte {
	t.Helper()
	enc, _ := wireModes()
	b, err := enc.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFastPathMatchesLibrary checks that the hand-written encoders of Eval
// and Result write the CBOR library's bytes, in frames ReadFrame reads, and
// that their decoders read them back as the library does.
func TestFastPathMatchesLibrary(t *testing.T) {
	sizes := []int{0, 1, 23, 24, 255, 256, 65535, 65536, 70000}
	var evals []Eval
	var results []Result
	for _, n := range sizes {
		b := bytes.Repeat([]byte{0x5a}, n)
		evals = append(evals, Eval{Kind: EvalCell, Job: b}, Eval{Kind: EvalKind(200), Job: b},
			Eval{Kind: EvalCell, Job: b, ID: uint64(n) + 1}, Eval{Kind: EvalCell, Job: b, ID: math.MaxUint64},
			Eval{Kind: EvalCell, Job: b, Tag: uint64(n) + 1}, Eval{Kind: EvalChunk, Job: b, ID: 7, Tag: math.MaxUint64})
		if n > 0 {
			results = append(results, Result{Value: b, Took: time.Duration(n)}, Result{Value: b, Took: 1, Tag: uint64(n)})
		}
	}
	for _, d := range []time.Duration{0, 1, 23, 24, 1 << 20, math.MaxInt64, -1, -24, -25, math.MinInt64} {
		results = append(results, Result{Took: d}, Result{Value: []byte{0x01}, Took: d},
			Result{Took: d, Tag: 1}, Result{Value: []byte{0x01}, Took: d, Tag: 1 << 40})
	}
	for _, ev := range evals {
		checkFastPath(t, MsgEval, ev, appendEval(nil, ev), func(b []byte) (any, bool) {
			var got Eval
			return got, parseEval(b, &got)
		})
	}
	for _, res := range results {
		checkFastPath(t, MsgResult, res, appendResult(nil, res), func(b []byte) (any, bool) {
			var got Result
			ok := parseResult(b, &got)
			return got, ok
		})
	}
}

func checkFastPath(t *testing.T, typ MsgType, msg any, fast []byte, parse func([]byte) (any, bool)) {
	t.Helper()
	want := libraryBody(t, msg)
	if !bytes.Equal(fast, want) {
		t.Fatalf("%s %.40v: hand-written %x, library %x", typ, msg, fast[:min(len(fast), 40)], want[:min(len(want), 40)])
	}
	got, ok := parse(want)
	if !ok || !reflect.DeepEqual(normal(got), normal(msg)) {
		t.Fatalf("%s: parsed %.40v, %v; want %.40v", typ, got, ok, msg)
	}
	frame, err := AppendFrame([]byte("prefix"), typ, msg)
	if err != nil {
		t.Fatal(err)
	}
	gotT, body, err := ReadFrame(bufio.NewReader(bytes.NewReader(frame[len("prefix"):])), 1<<20)
	if err != nil || gotT != typ || !bytes.Equal(body, want) || !bytes.HasPrefix(frame, []byte("prefix")) {
		t.Fatalf("frame of %s: %v, %s, %x", typ, err, gotT, body[:min(len(body), 40)])
	}
}

// normal makes empty byte slices nil, as the library decodes them.
func normal(m any) any {
	switch m := m.(type) {
	case Eval:
		if len(m.Job) == 0 {
			m.Job = nil
		}
		return m
	case Result:
		if len(m.Value) == 0 {
			m.Value = nil
		}
		return m
	}
	return m
}

// FuzzFastPath checks that whatever the hand-written decoders accept, the
// library decodes to the same message.
func FuzzFastPath(f *testing.F) {
	f.Add(appendEval(nil, Eval{Kind: EvalCell, Job: []byte("job")}))
	f.Add(appendEval(nil, Eval{Kind: EvalCell, Job: []byte("job"), ID: 300}))
	f.Add(appendResult(nil, Result{Value: []byte{0x18, 42}, Took: 1234}))
	f.Add(appendResult(nil, Result{Took: -5}))
	f.Add(appendEval(nil, Eval{Kind: EvalChunk, Job: []byte("job"), ID: 3, Tag: 9}))
	f.Add(appendResult(nil, Result{Value: []byte{0x01}, Took: 7, Tag: 1 << 33}))
	f.Add(libraryBody(f, Result{Error: &Error{Code: CodeFailed, Message: "boom"}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var ev Eval
		if parseEval(b, &ev) {
			var lib Eval
			_, dec := wireModes()
			if err := dec.Unmarshal(b, &lib); err != nil || !reflect.DeepEqual(normal(lib), normal(ev)) {
				t.Fatalf("parseEval(%x) = %+v; library: %+v, %v", b, ev, lib, err)
			}
		}
		var res Result
		if parseResult(b, &res) {
			var lib Result
			_, dec := wireModes()
			if err := dec.Unmarshal(b, &lib); err != nil || !reflect.DeepEqual(normal(lib), normal(res)) {
				t.Fatalf("parseResult(%x) = %+v; library: %+v, %v", b, res, lib, err)
			}
		}
	})
}

// TestEvalFrameSize checks the length evalCounted weighs an Eval's frame by.
func TestEvalFrameSize(t *testing.T) {
	for _, n := range []int{0, 23, 24, 255, 256, 65535, 65536, 70000} {
		for _, ev := range []Eval{{Kind: EvalCell, Job: make([]byte, n)}, {Kind: EvalPublish, Job: make([]byte, n), ID: 1 << 20, Tag: 7}} {
			frame, err := AppendFrame(nil, MsgEval, ev)
			if err != nil {
				t.Fatal(err)
			}
			if got := evalFrameSize(ev); got != len(frame) {
				t.Errorf("evalFrameSize of a job of %d bytes, ID %d, Tag %d = %d, want %d", n, ev.ID, ev.Tag, got, len(frame))
			}
		}
	}
}

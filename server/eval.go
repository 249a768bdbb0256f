package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
	"github.com/quic-go/quic-go"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/remote"
)

// Causes with which an evaluation's context is cancelled.
var (
	errClientCancelled = errors.New("cancelled by the client")
	errTrailingBytes   = errors.New("unexpected bytes after the eval message")
)

// resultOverhead is how many bytes a Result frame takes beyond its value: the
// CBOR of [type, {1: value, 3: took}] is at most 32 bytes more than the
// value's bytes; the rest is margin.
const resultOverhead = 64

// maxErrorText bounds an error's message and its backtrace as sent: code can
// raise an error with a message of any size.
const maxErrorText = 4 << 10

// task is a decoded Eval: what to run.
type task struct {
	kind    remote.EvalKind
	in      *lang.Interp // where it runs
	name    string       // the cell's name, "chunk", or "publish f" (the operation and its name)
	cell    *lang.Cell
	scope   map[string]lang.Value
	chunk   lang.Chunk
	publish remote.PublishJob
	shared  []lang.SharedValue // a cell's big values, and its lang.ValueRefs (see valueCache)
	cached  int                // the values of its scope taken from the value cache
}

// kindName names an EvalKind in logs.
func kindName(k remote.EvalKind) string {
	switch k {
	case remote.EvalCell:
		return "cell"
	case remote.EvalChunk:
		return "chunk"
	case remote.EvalPublish:
		return "publish"
	}
	return fmt.Sprintf("EvalKind(%d)", uint8(k))
}

// readMessage reads a message of an evaluation or call stream from br,
// which reads str: a frame of at most max bytes, of which at least a byte
// has arrived. The rest must arrive within evalReadTimeout of start. Errors
// are to answer with, but for a stream the client cancelled
// (CodeCancelled), which gets no answer.
func readMessage(str readDeadliner, br *bufio.Reader, max int, start time.Time) (remote.MsgType, cbor.RawMessage, *remote.Error) {
	// (Setting a deadline costs more than the rest of reading a small
	// message.)
	wait := !remote.FrameBuffered(br)
	if wait {
		str.SetReadDeadline(start.Add(evalReadTimeout))
	}
	t, body, err := remote.ReadFrame(br, max)
	if wait {
		str.SetReadDeadline(time.Time{})
	}
	var serr *quic.StreamError
	switch {
	case errors.As(err, &serr) && serr.Remote:
		return 0, nil, &remote.Error{Code: remote.CodeCancelled, Message: "evaluation cancelled by the client"}
	case errors.Is(err, remote.ErrTooLarge):
		return 0, nil, &remote.Error{Code: remote.CodeTooLarge, Message: "eval message too large: " + err.Error()}
	case errors.Is(err, io.EOF):
		return 0, nil, badRequest("no eval message: the stream ended before one")
	case errors.Is(err, os.ErrDeadlineExceeded):
		return 0, nil, badRequest(fmt.Sprintf("no complete eval message within %s of its start", evalReadTimeout))
	case err != nil:
		return 0, nil, badRequest("bad eval message: " + err.Error())
	}
	return t, body, nil
}

// readDeadliner is a stream's receive side, as readMessage uses it.
type readDeadliner interface {
	SetReadDeadline(t time.Time) error
}

// decodeEval decodes the one message of an evaluation stream, of type t
// with body: an Eval, with nothing after it in br.
func decodeEval(t remote.MsgType, body cbor.RawMessage, br *bufio.Reader) (remote.Eval, *remote.Error) {
	switch {
	case t != remote.MsgEval:
		return remote.Eval{}, badRequest(fmt.Sprintf("bad eval message: got %s, want eval on an evaluation stream", t))
	case br.Buffered() > 0:
		// The client sends the next Eval only once it has this one's
		// Result. (Bytes that arrive later are read as the next message.)
		return remote.Eval{}, badRequest("bad eval message: " + errTrailingBytes.Error())
	}
	return decodeEvalBody(t, body)
}

// decodeEvalBody decodes the body of an Eval or a Call.
func decodeEvalBody(t remote.MsgType, body cbor.RawMessage) (remote.Eval, *remote.Error) {
	var ev remote.Eval
	if err := remote.DecodeBody(t, body, &ev); err != nil {
		return remote.Eval{}, badRequest(fmt.Sprintf("bad %s message: %v", t, err))
	}
	if ev.Kind != remote.EvalCell && ev.Kind != remote.EvalChunk && ev.Kind != remote.EvalPublish {
		return remote.Eval{}, badRequest(fmt.Sprintf("bad %s message: unknown kind %d", t, ev.Kind))
	}
	return ev, nil
}

func badRequest(msg string) *remote.Error {
	return &remote.Error{Code: remote.CodeBadRequest, Message: msg}
}

// decodeTask decodes the job of ev for a client whose token allows g (nil
// means everything): with only the provided names g allows, and checks
// that the task is within g (CodeNotPermitted). The task runs in g's
// interpreter.
func (s *Server) decodeTask(ev remote.Eval, g *grant) (*task, *remote.Error) {
	if g == nil {
		g = s.access.full
	}
	v := g.current() // the evaluation keeps it to its end
	t, rerr := decodeTaskIn(v.dec, ev, s.cfg.MaxMessage, s.cfg.ValueCache > 0)
	if rerr != nil {
		if perr := s.explainDecode(ev, v); perr != nil {
			return nil, perr
		}
		return nil, rerr
	}
	if t.cached, rerr = s.values.resolve(v.dec, t); rerr != nil {
		return nil, rerr
	}
	if perr := g.permit(s.cfg.Name, v, t); perr != nil {
		return nil, perr
	}
	t.in = v.in
	return t, nil
}

// decodeTaskIn decodes the job of ev in interpreter in. If share, the task
// lists a cell's big values and its lang.ValueRefs (see valueCache);
// otherwise only its ValueRefs.
func decodeTaskIn(in *lang.Interp, ev remote.Eval, maxMessage int, share bool) (*task, *remote.Error) {
	switch ev.Kind {
	case remote.EvalCell:
		min := remote.SharedValueMin
		if !share {
			min = maxMessage + 1 // no value is that big
		}
		cell, scope, shared, err := in.DecodeJobSharing(ev.Job, min)
		if err != nil {
			return nil, badRequest("bad cell job: " + err.Error())
		}
		return &task{kind: ev.Kind, name: cell.Name, cell: cell, scope: scope, shared: shared}, nil
	case remote.EvalChunk:
		chunk, err := in.DecodeChunk(ev.Job, lang.DecodeLimits{MaxSize: maxMessage})
		if err != nil {
			return nil, badRequest("bad chunk job: " + err.Error())
		}
		return &task{kind: ev.Kind, name: "chunk", chunk: chunk}, nil
	case remote.EvalPublish:
		job, err := remote.DecodePublishJob(ev.Job)
		if err != nil {
			return nil, badRequest("bad publish job: " + err.Error())
		}
		return &task{kind: ev.Kind, name: job.Op.String() + " " + job.Name, publish: job}, nil
	}
	return nil, badRequest(fmt.Sprintf("bad eval message: unknown kind %d", ev.Kind))
}

// evaluate runs t within the server's limits: it waits for a slot (unless
// the queue is full), runs t with the step and time limits, and returns the
// Result to send, and the value if there is one. ctx is the evaluation's context: it is cancelled when the
// client cancels or the connection closes.
func (s *Server) evaluate(ctx context.Context, t *task) (remote.Result, lang.Value) {
	release, err := s.limiter.acquire(ctx)
	if errors.Is(err, errOverloaded) {
		st := s.limiter.status()
		return remote.Result{Error: &remote.Error{Code: remote.CodeOverloaded, Message: fmt.Sprintf(
			"server %s is busy: %d evaluations running and %d waiting; retry later", s.cfg.Name, st.InFlight, st.Queued)}}, nil
	}
	if err != nil {
		return remote.Result{Error: s.failure(ctx, ctx, err)}, nil
	}
	runCtx, cancel := context.WithTimeoutCause(ctx, s.cfg.Timeout, s.errTimeout)
	start := time.Now()
	var data []byte
	v, err := s.run(runCtx, t)
	if err == nil {
		if data, err = lang.Encode(v); err != nil {
			err = fmt.Errorf("result of %s: %w", t.name, err)
		}
	}
	took := time.Since(start)
	cancel()
	release()
	if err != nil {
		return remote.Result{Error: s.failure(ctx, runCtx, err), Took: took}, nil
	}
	if limit := s.cfg.MaxMessage; len(data) > limit-resultOverhead {
		return remote.Result{Took: took, Error: &remote.Error{Code: remote.CodeTooLarge, Message: fmt.Sprintf(
			"result is %d bytes; the server's limit is %d", len(data), limit)}}, nil
	}
	return remote.Result{Value: data, Took: took}, v
}

// run runs t in its interpreter.
func (s *Server) run(ctx context.Context, t *task) (lang.Value, error) {
	if s.testHookRun != nil {
		s.testHookRun(ctx, t.name)
	}
	switch t.kind {
	case remote.EvalChunk:
		return t.in.RunChunk(ctx, t.chunk)
	case remote.EvalPublish:
		return s.runPublish(t.publish)
	}
	return t.in.Eval(ctx, t.cell, t.scope)
}

// failure turns the error of an evaluation into the error to send. ctx is
// the evaluation's context and runCtx the one it ran with (with the time
// limit).
func (s *Server) failure(ctx, runCtx context.Context, err error) *remote.Error {
	if cancelledByClient(ctx) {
		return &remote.Error{Code: remote.CodeCancelled, Message: "evaluation cancelled by the client"}
	}
	if errors.Is(context.Cause(ctx), errTrailingBytes) {
		return badRequest("bad eval message: " + errTrailingBytes.Error())
	}
	if ctx.Err() != nil {
		return &remote.Error{Code: remote.CodeDisconnected, Message: "evaluation stopped: the connection closed"}
	}
	e := &remote.Error{Code: remote.CodeFailed, Message: err.Error()}
	var le *lang.Error
	if errors.As(err, &le) {
		e.Message, e.Backtrace = le.Msg, le.Backtrace
		e.File, e.Line, e.Col = le.Pos.File, le.Pos.Line, le.Pos.Col
	}
	if errors.Is(context.Cause(runCtx), s.errTimeout) {
		e.Message = s.errTimeout.Error()
	}
	e.Message = truncate(e.Message, maxErrorText)
	e.Backtrace = truncate(e.Backtrace, maxErrorText)
	return e
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "... (truncated)"
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}

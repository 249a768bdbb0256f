package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/quicvarint"

	"github.com/sperse/sperse/remote"
)

// callStream is a call stream being served (see the protocol in remote's
// wire.go): its Calls run at once, each on a worker of its own, and each
// answers with a Reply when it ends.
type callStream struct {
	s   *Server
	c   *conn
	str *quic.Stream
	w   *remote.FrameWriter // writes the Replies; each, once written, ends its evaluation's count

	mu      sync.Mutex
	running map[uint64]context.CancelCauseFunc // the Calls not yet answered, by Tag
	wg      sync.WaitGroup                     // the workers
	broken  atomic.Bool                        // the stream failed: no Reply can go

	// Calls run on workers that wait for the next Call once one is
	// answered, until the stream ends: a new goroutine for each grew its
	// stack, copying it, in every Call (the parser's recursion is deep).
	// A worker starts when a Call finds none waiting, so there are about
	// as many as Calls ran at once: MaxCalls at most. (A waiting worker's
	// stack shrinks at the next garbage collection.)
	jobs  chan call     // to a waiting worker
	ended chan struct{} // closed when the stream is done: the workers return
}

// call is a Call for a worker to run.
type call struct {
	ctx   context.Context
	ev    remote.Eval
	start time.Time
}

// serveCalls serves the call stream str, whose first Call (first) arrived
// at start, until the client closes its side or the stream fails.
func (s *Server) serveCalls(c *conn, str *quic.Stream, br *bufio.Reader, first cbor.RawMessage, start time.Time) {
	cs := &callStream{s: s, c: c, str: str, running: make(map[uint64]context.CancelCauseFunc),
		jobs: make(chan call), ended: make(chan struct{})}
	cs.w = remote.NewFrameWriter(str, resultWriteTimeout, cs.written)
	t, body := remote.MsgCall, first
	var err error
	for {
		if err = cs.handle(t, body, start); err != nil {
			break
		}
		if _, err = br.Peek(1); err != nil {
			break // an idle call stream waits as long as the connection lives
		}
		start = time.Now()
		var rerr *remote.Error
		if t, body, rerr = readMessage(str, br, min(s.cfg.MaxMessage, remote.MaxCallFrame), start); rerr != nil {
			err = errors.New(rerr.Message)
			if rerr.Code == remote.CodeCancelled {
				err = errClientCancelled
			}
			break
		}
	}
	close(cs.ended) // no more Calls: a worker returns once it is done
	var serr *quic.StreamError
	switch {
	case errors.Is(err, io.EOF):
		// The client closed its side: answer the Calls in flight, then
		// close ours.
		cs.wg.Wait()
		cs.w.Close()
		str.Close()
		return
	case errors.Is(err, errClientCancelled), errors.As(err, &serr) && serr.Remote, c.qc.Context().Err() != nil:
		// The client cancelled the stream, or the connection closed.
		cs.broken.Store(true)
		cs.stopAll()
		str.CancelWrite(remote.StreamCancelled)
	default:
		s.log.Warn("bad call stream", "remote", c.remote, "client", c.client, "error", err.Error())
		cs.broken.Store(true)
		cs.stopAll()
		str.CancelRead(remote.StreamBadRequest)
		str.CancelWrite(remote.StreamBadRequest)
	}
	cs.wg.Wait()
	cs.w.Close()
}

// handle handles a message of type t on cs, which arrived at start. An error
// ends the stream.
func (cs *callStream) handle(t remote.MsgType, body cbor.RawMessage, start time.Time) error {
	switch t {
	case remote.MsgCall:
		ev, err := decodeCall(body)
		if err != nil {
			return err
		}
		cs.mu.Lock()
		defer cs.mu.Unlock()
		if _, ok := cs.running[ev.Tag]; ok {
			return fmt.Errorf("call %d is in flight already", ev.Tag)
		}
		if len(cs.running) >= remote.MaxCalls {
			return fmt.Errorf("more than %d calls in flight", remote.MaxCalls)
		}
		ctx, cancel := context.WithCancelCause(cs.c.qc.Context())
		cs.running[ev.Tag] = cancel
		cl := call{ctx, ev, start}
		select {
		case cs.jobs <- cl:
		default:
			cs.wg.Go(func() { cs.work(cl) })
		}
		return nil
	case remote.MsgCancel:
		var m remote.Cancel
		if err := remote.DecodeBody(t, body, &m); err != nil {
			return err
		}
		cs.mu.Lock()
		cancel := cs.running[m.Tag] // none if it has been answered
		cs.mu.Unlock()
		if cancel != nil {
			cancel(errClientCancelled)
		}
		return nil
	}
	return fmt.Errorf("got %s, want call or cancel on a call stream", t)
}

// decodeCall decodes the body of a Call.
func decodeCall(body cbor.RawMessage) (remote.Eval, error) {
	// MaxCallFrame bounds the frame: the body, after the item's length,
	// its array header and its type (a byte each, as AppendFrame writes them).
	n := 2 + len(body)
	if size := quicvarint.Len(uint64(n)) + n; size > remote.MaxCallFrame {
		return remote.Eval{}, fmt.Errorf("a call of %d bytes, over the limit of %d for a call stream", size, remote.MaxCallFrame)
	}
	ev, rerr := decodeEvalBody(remote.MsgCall, body)
	if rerr != nil {
		return remote.Eval{}, errors.New(rerr.Message)
	}
	if ev.Tag == 0 {
		return remote.Eval{}, errors.New("bad call message: no tag")
	}
	return ev, nil
}

// stopAll stops every Call of cs that runs, as the client's cancelling
// would: the stream that would carry their Replies is gone.
func (cs *callStream) stopAll() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for _, cancel := range cs.running {
		cancel(errClientCancelled)
	}
}

// work runs cl, then the Calls it is handed, until the stream ends.
func (cs *callStream) work(cl call) {
	for {
		cs.run(cl.ctx, cl.ev, cl.start)
		select {
		case cl = <-cs.jobs:
		case <-cs.ended:
			return
		}
	}
}

// run runs the Call ev, which arrived at start, with ctx, and answers it.
func (cs *callStream) run(ctx context.Context, ev remote.Eval, start time.Time) {
	s, c := cs.s, cs.c
	// The answer counts as an evaluation until it is sent, so that
	// Shutdown waits for it: see written.
	var res remote.Result
	if s.beginEval() {
		res, _ = s.runEval(ctx, c, ev, start)
	} else {
		s.holdEval()
		res.Error = &remote.Error{Code: remote.CodeShutdown,
			Message: fmt.Sprintf("server %s is shutting down: retry on another server", s.cfg.Name)}
	}
	cs.mu.Lock()
	cancel := cs.running[ev.Tag]
	delete(cs.running, ev.Tag)
	cs.mu.Unlock()
	cancel(nil)
	if cs.broken.Load() || c.qc.Context().Err() != nil {
		s.endEval() // no Reply can go
		return
	}
	res.Tag = ev.Tag
	frame, err := remote.AppendFrame(nil, remote.MsgReply, res)
	if err == nil && len(frame) <= remote.MaxCallFrame {
		if cs.w.Add(frame) != nil {
			s.endEval() // the writer failed, and said so
		}
		return
	}
	if err == nil {
		err = cs.replyApart(frame)
	}
	cs.written(1, err)
}

// written ends the count of n evaluations whose Replies were sent, or
// failed to be with err; then the stream is cancelled.
func (cs *callStream) written(n int, err error) {
	s, c := cs.s, cs.c
	s.endEvals(n)
	if err == nil {
		c.lastResult.Store(time.Now().UnixNano())
		return
	}
	if c.qc.Context().Err() == nil && !cs.broken.Load() {
		s.log.Warn("sending result failed", "remote", c.remote, "client", c.client, "error", err)
	}
	cs.str.CancelRead(remote.StreamCancelled)
	cs.str.CancelWrite(remote.StreamCancelled)
}

// replyApart sends frame, a big Reply, on a stream of its own.
func (cs *callStream) replyApart(frame []byte) error {
	ctx, cancel := context.WithTimeout(cs.c.qc.Context(), resultWriteTimeout)
	defer cancel()
	str, err := cs.c.qc.OpenUniStreamSync(ctx)
	if err != nil {
		return err
	}
	str.SetWriteDeadline(time.Now().Add(resultWriteTimeout))
	if _, err := str.Write(frame); err != nil {
		str.CancelWrite(remote.StreamCancelled)
		return err
	}
	return str.Close()
}

package remote

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/sperse/sperse/lang"
)

// Small evaluations travel as Calls on a call stream that a session keeps,
// and their Replies come back on it in whatever order they end (see the
// protocol in wire.go). Many in flight then share the stream's frames and
// packets, where a stream of their own each would cost each its own: the
// server answers about twice as many tiny cells a second.

// callWriteTimeout is the longest a write of Calls may wait for a server
// that does not read them: then the call stream fails, and its Calls with it.
const callWriteTimeout = 30 * time.Second

// maxReplyStreams is how many reply streams (each with a big Reply) a server
// may have open to the client at once.
const maxReplyStreams = 64

// callStream is a session's call stream.
type callStream struct {
	str *quic.Stream
	w   *FrameWriter

	// slots holds a token for each Call without a Reply: at most MaxCalls.
	slots chan struct{}

	mu sync.Mutex
	// pending are the Calls without a Reply, by Tag, each with the channel
	// its Reply goes to: nil for a Call cancelled, whose Reply is dropped.
	pending map[uint64]chan<- callReply
	err     error // why the stream failed; it then takes no Call
}

// callReply is what a Call gets: its Reply, or why it will have none.
type callReply struct {
	res Result
	err error
}

// callStream returns sess's call stream, and opens one if there is none or
// the last one failed.
func (c *Client) callStream(ctx context.Context, sess *session) (*callStream, error) {
	sess.callMu.Lock()
	defer sess.callMu.Unlock()
	if cs := sess.calls; cs != nil && cs.ok() {
		return cs, nil
	}
	str, err := sess.conn.OpenStreamSync(ctx)
	if err != nil {
		return nil, err
	}
	cs := &callStream{str: str, slots: make(chan struct{}, MaxCalls), pending: make(map[uint64]chan<- callReply)}
	cs.w = NewFrameWriter(str, callWriteTimeout, func(_ int, err error) {
		if err != nil {
			cs.fail(err)
		}
	})
	sess.calls = cs
	c.wg.Go(func() { cs.read(sess.maxMessage) })
	return cs, nil
}

// ok reports whether cs has not failed.
func (cs *callStream) ok() bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.err == nil
}

// start sends ev as a Call and returns the channel its Reply comes on. It
// waits while MaxCalls Calls are without a Reply.
func (cs *callStream) start(ctx context.Context, ev Eval) (<-chan callReply, error) {
	select {
	case cs.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	ch := make(chan callReply, 1)
	cs.mu.Lock()
	if cs.err != nil {
		cs.mu.Unlock()
		<-cs.slots
		return nil, cs.err
	}
	cs.pending[ev.Tag] = ch
	cs.mu.Unlock()
	// If this fails, cs has failed (the writer failed, or fail stopped it)
	// or is failing, and fail answers ch with why.
	cs.w.Add(appendFrameFunc(nil, MsgCall, ev, appendEval, 24+len(ev.Job)))
	return ch, nil
}

// cancel asks the server to stop the Call tag, unless its Reply came
// already; the Reply it still gets is dropped.
func (cs *callStream) cancel(tag uint64) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if _, ok := cs.pending[tag]; ok {
		cs.pending[tag] = nil
		frame, _ := AppendFrame(nil, MsgCancel, Cancel{Tag: tag})
		cs.w.Add(frame) // if cs failed, the server stops the Call anyway
	}
}

// deliver hands res to the Call it answers, if that still waits.
func (cs *callStream) deliver(res Result) {
	cs.mu.Lock()
	ch, ok := cs.pending[res.Tag]
	delete(cs.pending, res.Tag)
	cs.mu.Unlock()
	if !ok {
		return // a Tag the server made up
	}
	<-cs.slots
	if ch != nil {
		ch <- callReply{res: res}
	}
}

// fail ends cs for err: every Call waiting gets err, the stream is
// cancelled both ways, and the next Call opens another stream.
func (cs *callStream) fail(err error) {
	cs.mu.Lock()
	if cs.err != nil {
		cs.mu.Unlock()
		return
	}
	cs.err = err
	pending := cs.pending
	cs.pending = nil
	cs.mu.Unlock()
	for _, ch := range pending {
		<-cs.slots
		if ch != nil {
			ch <- callReply{err: err}
		}
	}
	code := quic.StreamErrorCode(StreamCancelled)
	if errors.Is(err, errBadReply) {
		code = StreamBadRequest
	}
	cs.str.CancelRead(code)
	cs.str.CancelWrite(code)
	cs.w.Stop()
}

// errBadReply marks a Reply that could not be understood.
var errBadReply = errors.New("bad reply")

// read reads the Replies on cs until it fails, and delivers them.
func (cs *callStream) read(maxMessage int) {
	br := bufio.NewReaderSize(cs.str, 16<<10)
	for {
		res, err := readReply(br, maxMessage)
		if err != nil {
			cs.fail(err)
			return
		}
		cs.deliver(res)
	}
}

// readReply reads a Reply from br.
func readReply(br *bufio.Reader, maxMessage int) (Result, error) {
	t, body, err := ReadFrame(br, maxMessage)
	if err != nil {
		return Result{}, err
	}
	if t != MsgReply {
		return Result{}, fmt.Errorf("%w: got %s, want reply", errBadReply, t)
	}
	var res Result
	if err := DecodeBody(t, body, &res); err != nil {
		return Result{}, fmt.Errorf("%w: %w", errBadReply, err)
	}
	if res.Tag == 0 {
		return Result{}, fmt.Errorf("%w: a reply without a tag", errBadReply)
	}
	return res, nil
}

// acceptReplies reads the Replies that come on streams of their own (big
// ones), until sess's connection closes.
func (c *Client) acceptReplies(sess *session) {
	ctx := sess.conn.Context()
	for {
		str, err := sess.conn.AcceptUniStream(ctx)
		if err != nil {
			return
		}
		c.wg.Go(func() {
			res, err := readReply(bufio.NewReaderSize(str, 64<<10), sess.maxMessage)
			sess.callMu.Lock()
			cs := sess.calls
			sess.callMu.Unlock()
			switch {
			case err != nil && ctx.Err() == nil:
				// Some Call will never have its Reply: fail them all.
				str.CancelRead(StreamBadRequest)
				if cs != nil {
					cs.fail(fmt.Errorf("reply stream: %w", err))
				}
			case err == nil && cs != nil:
				cs.deliver(res)
			}
		})
	}
}

// callOn sends ev, the Eval of what, as a Call on the call stream of sess
// to the server called name, and waits for its Reply.
func (c *Client) callOn(ctx context.Context, name string, sess *session, what string, ev Eval) lang.Result {
	cs, err := c.callStream(ctx, sess)
	if err != nil {
		return c.evalFailure(ctx, name, what, err)
	}
	ev.Tag = sess.nextTag.Add(1)
	ch, err := cs.start(ctx, ev)
	if err != nil {
		return c.evalFailure(ctx, name, what, err)
	}
	select {
	case r := <-ch:
		if r.err != nil {
			return c.evalFailure(ctx, name, what, r.err)
		}
		return c.evalResult(ctx, name, what, sess, r.res)
	case <-ctx.Done():
		cs.cancel(ev.Tag)
		return c.evalFailure(ctx, name, what, ctx.Err())
	}
}

package remote

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/quicvarint"

	"github.com/sperse/sperse/lang"
)

// maxAttempts bounds the servers one evaluation is started on: a remote
// cell, or one chunk of split work, whose server is lost is run again on
// another, at most this many times in all.
const maxAttempts = 3

// Eval evaluates a remote cell on a server and returns its result, decoded
// into the client's interpreter. It satisfies reactive.Executor.
//
// The server is one that is connected, not going away, matches every item of
// the cell's selector (its name or one of its tags) and provides the names
// the cell uses that are neither in its scope nor builtins; among those, the
// least loaded (evaluations in flight relative to its MaxConcurrency), then
// the nearest (RTT). If a server matches but none provides such a name, the
// cell is sent to a matching server anyway, which reports the name as
// undefined, unless a disconnected server would provide it.
//
// Failover: if the server is lost during the evaluation (disconnected, shut
// down, overloaded: an error whose ServerLost is true), the cell is run
// again on another eligible server, one not tried yet for this call; cells
// are hermetic, so that is safe. At most maxAttempts (3) servers are tried;
// Result.Attempts says how many were. Eval returns once, with the result of
// the last attempt: a lost server's evaluation never shows.
//
// A big value of the cell's scope that the server is known to keep travels
// as its hash (see SharedValueMin); if the server no longer keeps it, the
// cell is sent again with the value, and this is no attempt.
//
// A slow evaluation never holds up another: each is a stream of its own,
// or a Call answered when it ends (see evalCounted). Errors:
//
//   - the cell's own error (in its code, or a value that cannot travel) is
//     returned as it would be locally: a *lang.Error with the position in the
//     cell's file, or the encoding error;
//   - no server can run the cell: a *ServerError whose Unavailable is true,
//     naming the selector and the servers known;
//   - the cell calls a published function in a way that matches the
//     signature of none of the servers that provide it (too many arguments,
//     an unknown keyword, ...): the *lang.Error of lang.Call.Check, at the
//     call, and nothing is sent;
//   - the server was lost during the evaluation, is shutting down or is
//     overloaded, and no other eligible server is left to try (or the
//     attempts are used up): the last such *ServerError, whose ServerLost
//     is true;
//   - ctx done: the evaluation is cancelled on the server at once, and the
//     error wraps ctx's error (context.Canceled).
func (c *Client) Eval(ctx context.Context, req lang.Request) lang.Result {
	cell := req.Cell
	if cell.Err != nil {
		return lang.Result{Err: cell.Err}
	}
	var valueJob []byte // the job with every input a value, once encoded
	r := route{what: "remote cell " + cell.Name, sel: cell.Selector, selText: selectorText(cell.Selector), need: c.needs(req)}
	r.calls = c.publishedCalls(cell, r.need)
	what := "cell " + cell.Name
	var (
		tried  []*server
		last   lang.Result        // the last attempt's, lost
		shared []lang.SharedValue // the big values of job
		limit  int64              // the ValueCache of the server job goes to
		inline bool               // send every value, none by reference (after CodeNoValue)
	)
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		if err := ctx.Err(); err != nil {
			return lang.Result{Err: fmt.Errorf("cell %s: %w", cell.Name, err), Where: last.Where, Attempts: attempt - 1}
		}
		var job []byte
		s, sess, refScope, err := c.pipeline(ctx, req, r, tried)
		if err == nil && refScope != nil {
			var refJob []byte
			if job, shared, limit, err = c.cellJob(cell, refScope, s, &refJob, inline); err != nil {
				c.release(s)
				return lang.Result{Err: err}
			}
		}
		if err == nil && refScope == nil {
			// No pipelining: the inputs travel as values.
			if len(req.Pending) > 0 {
				if req, err = req.Await(ctx); err != nil {
					return lang.Result{Err: err, Attempts: attempt - 1}
				}
			}
			s, sess, err = c.pick(r, tried)
			if err != nil && valueJob == nil {
				// A value that cannot travel is the cell's error first.
				if _, eerr := lang.EncodeJob(cell, req.Scope); eerr != nil {
					return lang.Result{Err: eerr}
				}
			}
			if err == nil {
				if job, shared, limit, err = c.cellJob(cell, req.Scope, s, &valueJob, inline); err != nil {
					c.release(s)
					return lang.Result{Err: err}
				}
			}
		}
		if err != nil {
			if attempt > 1 {
				return last // no other server: the cell is stale until one is back
			}
			return lang.Result{Err: err}
		}
		ev := Eval{Kind: EvalCell, Job: job}
		if req.Promise != nil {
			ev.ID = sess.nextID.Add(1)
			req.Promise.SetPlace(&placement{srv: s, sess: sess, id: ev.ID})
		}
		res := c.evalCounted(ctx, s, sess, what, ev)
		res.Attempts = attempt
		if s.noteShared(res, shared, limit) && !inline {
			// The server no longer keeps a value it was sent a reference
			// to: send the values (this attempt does not count).
			c.log.Info("value gone from the server's cache; sending values", "cell", cell.Name, "server", res.Where)
			inline = true
			attempt--
			continue
		}
		shared = nil
		var serr *ServerError
		if errors.As(res.Err, &serr) && serr.Code == CodeNoRef {
			// The server no longer has an input it was sent a reference
			// to: send the values (this attempt does not count).
			c.log.Info("pipelined input gone from the server; sending values", "cell", cell.Name, "server", res.Where)
			if req, err = req.Await(ctx); err != nil {
				return lang.Result{Err: err, Where: res.Where, Attempts: attempt}
			}
			attempt--
			continue
		}
		if !isLost(res.Err) || ctx.Err() != nil {
			return res
		}
		c.log.Info("server lost during an evaluation; trying another", "cell", cell.Name, "server", res.Where, "attempt", attempt, "err", res.Err)
		tried = append(tried, s)
		last = res
	}
	return last
}

// Pipelines reports that Eval takes requests with pending inputs
// (reactive.Pipeliner): when they all run on one server that can run the
// cell, it is sent there at once with references to them (Eval.ID, a
// lang.Ref in the job); otherwise Eval waits for their values.
func (c *Client) Pipelines() bool { return true }

// placement is where an evaluation with a promise runs: its server, the
// connection, and its ID there (Eval.ID).
type placement struct {
	srv  *server
	sess *session
	id   uint64
}

// pipeline returns the server to send req to with references to its
// pending inputs, and the scope to send (with a lang.Ref for each), if they
// all run on one server that can run req (promise pipelining). Otherwise it
// returns a nil scope: req's inputs are to be sent as values. Like pick, it
// counts the evaluation in the server's load.
func (c *Client) pipeline(ctx context.Context, req lang.Request, r route, exclude []*server) (*server, *session, map[string]lang.Value, error) {
	if len(req.Pending) == 0 {
		return nil, nil, nil, nil
	}
	scope := make(map[string]lang.Value, len(req.Scope)+len(req.Pending))
	for name, v := range req.Scope {
		scope[name] = v
	}
	var at *placement
	for name, p := range req.Pending {
		// The evaluation of an input starts just before this one: wait
		// for it to be placed.
		select {
		case <-p.Placed():
		case <-p.Done():
		case <-ctx.Done():
			return nil, nil, nil, nil
		}
		if p.Resolved() {
			res := p.Result()
			if res.Err != nil {
				return nil, nil, nil, nil // Await reports it
			}
			scope[name] = res.Value
			continue
		}
		pl, ok := p.Place().(*placement)
		if !ok || at != nil && pl.sess != at.sess {
			return nil, nil, nil, nil
		}
		at = pl
		scope[name] = lang.Ref(pl.id)
	}
	if at == nil {
		return nil, nil, nil, nil // every input is here
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := at.srv
	if s.sess != at.sess || slices.Contains(exclude, s) {
		return nil, nil, nil, nil
	}
	if eligible, err := c.eligibleLocked(r); err != nil || !slices.Contains(eligible, s) {
		return nil, nil, nil, nil
	}
	s.ours++
	return s, at.sess, scope, nil
}

// evalCounted evaluates ev, the Eval of what, on s through sess, counting
// it in s's load while it runs: pick counted it, and it releases it.
//
// An evaluation alone in flight on sess goes on an evaluation stream, the
// quickest way for one; with others in flight, a small one goes as a Call
// on the call stream, where many share frames and packets; a big one always
// goes on a stream of its own.
func (c *Client) evalCounted(ctx context.Context, s *server, sess *session, what string, ev Eval) lang.Result {
	defer c.release(s)
	c.mu.Lock()
	name := s.name
	c.mu.Unlock()
	alone := sess.evals.Add(1) == 1
	defer sess.evals.Add(-1)
	start := time.Now()
	var res lang.Result
	if size := evalFrameSize(ev); size > sess.maxMessage {
		return lang.Result{Where: name, Err: fmt.Errorf("%s takes %d bytes to send (code and data), over server %s's message limit of %d",
			what, size, name, sess.maxMessage)}
	} else if !alone && size+callTagSize <= min(MaxCallFrame, sess.maxMessage) {
		res = c.callOn(ctx, name, sess, what, ev)
	} else {
		frame, _ := AppendFrame(nil, MsgEval, ev) // an Eval always encodes
		res = c.evalOn(ctx, name, sess, what, frame)
	}
	res.Where = name
	if res.Took == 0 {
		res.Took = time.Since(start)
	}
	return res
}

// callTagSize is the most a Call's frame takes beyond its Eval's: the tag.
const callTagSize = 10

// evalFrameSize is the length of the frame of ev.
func evalFrameSize(ev Eval) int {
	n := 1 + 2 + 1 + 1 + len(ev.Job) // [type, {1: kind, 2: job (its bytes)
	n += len(appendHead(nil, 0x00, uint64(ev.Kind))) + len(appendHead(nil, 0x40, uint64(len(ev.Job))))
	if ev.ID != 0 {
		n += 1 + len(appendHead(nil, 0x00, ev.ID))
	}
	if ev.Tag != 0 {
		n += 1 + len(appendHead(nil, 0x00, ev.Tag))
	}
	return quicvarint.Len(uint64(n)) + n
}

// release ends the count of an evaluation in the load of s.
func (c *Client) release(s *server) {
	c.mu.Lock()
	s.ours--
	c.mu.Unlock()
}

// isLost reports whether err says the server was lost: running again
// elsewhere is safe and expected.
func isLost(err error) bool {
	var serr *ServerError
	return errors.As(err, &serr) && serr.ServerLost()
}

// needs returns the names req's cell uses that are neither in its scope nor
// builtins of the client's interpreter: names a server must provide.
func (c *Client) needs(req lang.Request) []string {
	var need []string
	for _, name := range req.Cell.Free {
		if name == req.Cell.Name || c.cfg.Interp.IsBuiltin(name) {
			continue
		}
		if _, ok := req.Scope[name]; ok {
			continue
		}
		if _, ok := req.Pending[name]; ok {
			continue
		}
		need = append(need, name)
	}
	return need
}

// route is what a server must be to run some work, and how errors name it.
type route struct {
	what    string   // the work, for errors: "remote cell x", "split work"
	sel     []string // the selector: names or tags all of which the server must match
	selText string   // the selector as written: "remote@a,b", `on="a,b"`
	need    []string // the names the server must provide

	// calls are the calls of published functions in the cell (see
	// publishedCalls): a server runs it only if they match the signatures
	// it advertises.
	calls []lang.Call
}

// pick chooses the server for r among those not in exclude, and counts the
// evaluation in its load (the caller decrements s.ours when it ends). It
// returns the server and its connection.
func (c *Client) pick(r route, exclude []*server) (*server, *session, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	candidates, err := c.eligibleLocked(r)
	if err != nil {
		return nil, nil, err
	}
	candidates = slices.DeleteFunc(candidates, func(s *server) bool { return slices.Contains(exclude, s) })
	if len(candidates) == 0 {
		return nil, nil, &ServerError{Code: CodeUnavailable, Message: fmt.Sprintf("no other server can run %s", r.what)}
	}
	best := slices.MinFunc(candidates, func(a, b *server) int {
		if la, lb := a.load(), b.load(); la != lb {
			if la < lb {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.rtt, b.rtt)
	})
	best.ours++
	return best, best.sess, nil
}

// eligibleLocked returns the servers that can run r now: connected, not
// going away, matching its selector, and providing the names it needs. If
// there are none, the error says why (its Unavailable is true).
func (c *Client) eligibleLocked(r route) ([]*server, error) {
	if c.closed {
		return nil, &ServerError{Code: CodeUnavailable, Message: "cannot run " + r.what + ": the client is closed", Err: ErrClientClosed}
	}
	var (
		matching  []*server // connected, not going away, matching the selector
		providing []*server // of those, the ones that provide need
		somewhere bool      // a server matching the selector provides need, connected or not
	)
	for _, s := range c.servers {
		if !s.matches(r.sel) {
			continue
		}
		provides := s.provides(r.need)
		somewhere = somewhere || provides && s.fp != "" // Provides is known after a handshake
		if s.sess == nil || s.goingAway {
			continue
		}
		matching = append(matching, s)
		if provides {
			providing = append(providing, s)
		}
	}
	candidates := providing
	if len(r.calls) > 0 && len(candidates) > 0 {
		// The calls must match the signatures the server advertises: a
		// cell whose calls match none is failed here, and sent nowhere.
		var mismatch error
		candidates = slices.DeleteFunc(candidates, func(s *server) bool {
			err := s.checkCalls(r.calls)
			if err != nil && mismatch == nil {
				mismatch = err
			}
			return err != nil
		})
		if len(candidates) == 0 {
			return nil, mismatch
		}
	}
	if len(candidates) == 0 {
		// Work no server can run itself goes to one whose cluster has a
		// member that can: it forwards it.
		for _, s := range c.servers {
			if s.sess != nil && !s.goingAway && s.forwardsLocked(r) {
				candidates = append(candidates, s)
			}
		}
	}
	if len(candidates) == 0 && len(r.need) > 0 && (somewhere || len(matching) > 0) {
		// No server provides a name the code needs: the cell waits for one
		// (a name that is nowhere, a typo, is reported the same way).
		return nil, c.unavailableLocked(fmt.Sprintf("no connected server provides %s", strings.Join(r.need, ", ")))
	}
	if len(candidates) == 0 {
		if len(c.servers) == 0 {
			return nil, &ServerError{Code: CodeUnavailable,
				Message: fmt.Sprintf("no server to run %s: the client has no servers", r.selText)}
		}
		what := "no server is connected"
		if len(r.sel) > 0 {
			what = "no connected server matches " + r.selText
		}
		return nil, c.unavailableLocked(what)
	}
	return candidates, nil
}

// selectorText is the selector as written in a cell: "remote@a,b".
func selectorText(sel []string) string {
	if len(sel) == 0 {
		return "remote cells"
	}
	return "remote@" + strings.Join(sel, ",")
}

// matches reports whether every item of sel is s's name or one of its tags.
func (s *server) matches(sel []string) bool {
	for _, item := range sel {
		if item != s.name && !slices.Contains(s.welcome.Tags, item) {
			return false
		}
	}
	return true
}

// provides reports whether s provides every name in need.
func (s *server) provides(need []string) bool {
	for _, name := range need {
		if !slices.Contains(s.welcome.Provides, name) {
			return false
		}
	}
	return true
}

// load is how busy s is: its evaluations in flight (ours, or all it reported,
// whichever is more) relative to how many it runs at once.
func (s *server) load() float64 {
	n := max(s.ours, s.status.InFlight+s.status.Queued)
	return float64(n) / float64(max(1, s.welcome.Limits.MaxConcurrency))
}

// evalFailure is the result of the evaluation of what on the server called
// name that failed with err, the error of a stream or of ctx.
func (c *Client) evalFailure(ctx context.Context, name, what string, err error) lang.Result {
	switch {
	case ctx.Err() != nil:
		return lang.Result{Err: fmt.Errorf("%s on server %s: %w", what, name, ctx.Err())}
	case isConnLoss(err):
		return lang.Result{Err: &ServerError{Code: CodeDisconnected, Server: name,
			Message: fmt.Sprintf("server %s was lost during the evaluation: %s", name, describeLoss(err)), Err: err}}
	}
	var serr *quic.StreamError
	if errors.As(err, &serr) && serr.Remote && serr.ErrorCode == StreamBadRequest {
		return lang.Result{Err: &ServerError{Code: CodeBadRequest, Server: name,
			Message: fmt.Sprintf("server %s could not understand the evaluation of %s", name, what), Err: err}}
	}
	if errors.As(err, &serr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return lang.Result{Err: &ServerError{Code: CodeDisconnected, Server: name,
			Message: fmt.Sprintf("server %s ended the evaluation without a result: %s", name, describeLoss(err)), Err: err}}
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return lang.Result{Err: &ServerError{Code: CodeDisconnected, Server: name,
			Message: fmt.Sprintf("server %s stopped reading evaluations", name), Err: err}}
	}
	code := CodeBadRequest
	if errors.Is(err, ErrTooLarge) {
		code = CodeTooLarge
	}
	return lang.Result{Err: &ServerError{Code: code, Server: name,
		Message: fmt.Sprintf("server %s sent a bad result for %s: %v", name, what, err), Err: err}}
}

// evalOn sends frame, an Eval of what ("cell x", "chunk 3 of 16"), to the
// server called name on an evaluation stream of sess (an idle one, or a new
// one), and waits for the Result.
func (c *Client) evalOn(ctx context.Context, name string, sess *session, what string, frame []byte) lang.Result {
	failed := func(err error) lang.Result { return c.evalFailure(ctx, name, what, err) }
	es, err := sess.stream(ctx)
	if err != nil {
		return failed(err)
	}
	str := es.str
	cancelStream := func() {
		str.CancelRead(StreamCancelled)
		str.CancelWrite(StreamCancelled)
	}
	stop := context.AfterFunc(ctx, cancelStream)
	reuse := false
	defer func() {
		// A stream goes back to the idle list only after a whole exchange
		// that the cancellation did not touch; any other is cancelled both
		// ways and dropped.
		switch {
		case !stop() || !reuse:
			cancelStream()
		case !sess.putStream(es):
			str.Close() // the idle list is full: the server closes its side
			str.CancelRead(StreamCancelled)
		}
	}()
	// The server may stop reading (STOP_SENDING) as soon as it has the Eval,
	// to refuse it: its Result follows, so such a write error is no failure.
	var stopped *quic.StreamError
	if _, err := str.Write(frame); err != nil && (!errors.As(err, &stopped) || !stopped.Remote) {
		return failed(err)
	}
	t, body, err := ReadFrame(es.br, sess.maxMessage)
	if err != nil {
		return failed(err)
	}
	res, err := decodeResult(t, body)
	if err != nil {
		str.CancelRead(StreamBadRequest)
		return failed(err)
	}
	// The server keeps the stream for the next Eval after a value or the
	// code's own error; after any other Result it closes it.
	reuse = stopped == nil && (res.Error == nil || res.Error.Code == CodeFailed)
	return c.evalResult(ctx, name, what, sess, res)
}

// evalResult is the result of the evaluation of what on the server called
// name through sess, which answered res.
func (c *Client) evalResult(ctx context.Context, name, what string, sess *session, res Result) lang.Result {
	switch {
	case res.Error != nil && ctx.Err() != nil:
		// The server's error may be of our cancellation.
		return c.evalFailure(ctx, name, what, ctx.Err())
	case res.Error != nil:
		return lang.Result{Err: resultError(name, what, res.Error), Took: res.Took}
	}
	v, err := c.decoder.DecodeLimited(res.Value, lang.DecodeLimits{MaxSize: sess.maxMessage})
	if err != nil {
		return c.evalFailure(ctx, name, what, err)
	}
	return lang.Result{Value: v, Took: res.Took}
}

// decodeResult decodes a server's answer to an Eval, a message of type t: a
// Result with a value (still encoded) or an error.
func decodeResult(t MsgType, body cbor.RawMessage) (Result, error) {
	if t != MsgResult {
		return Result{}, fmt.Errorf("got %s, want result", t)
	}
	var res Result
	if err := DecodeBody(t, body, &res); err != nil {
		return Result{}, err
	}
	if res.Error == nil && len(res.Value) == 0 {
		return Result{}, errors.New("a result with neither value nor error")
	}
	return res, nil
}

// resultError converts the error in a Result of what from the server called name.
func resultError(name, what string, e *Error) error {
	if e.Code == CodeFailed {
		return &lang.Error{Pos: lang.Pos{File: e.File, Line: e.Line, Col: e.Col}, Msg: e.Message, Backtrace: e.Backtrace}
	}
	msg := e.Message
	if msg == "" {
		msg = e.Code.String()
	}
	return &ServerError{Code: e.Code, Server: name,
		Message: fmt.Sprintf("server %s could not run %s: %s", name, what, msg)}
}

// describe returns s as the lists of servers in errors show it:
// "name [tags: a, b; provides: x; disconnected]".
func (s *server) describe() string {
	var notes []string
	if len(s.welcome.Tags) > 0 {
		notes = append(notes, "tags: "+strings.Join(s.welcome.Tags, ", "))
	}
	if len(s.welcome.Provides) > 0 {
		notes = append(notes, "provides: "+strings.Join(s.welcome.Provides, ", "))
	}
	switch {
	case s.sess == nil:
		notes = append(notes, "disconnected")
	case s.goingAway:
		notes = append(notes, "going away")
	}
	if len(notes) == 0 {
		return s.name
	}
	return s.name + " [" + strings.Join(notes, "; ") + "]"
}

// maxIdleStreams bounds the evaluation streams a session keeps open and unused.
const maxIdleStreams = 64

// evalStream is an evaluation stream, reused for one evaluation after another.
type evalStream struct {
	str *quic.Stream
	br  *bufio.Reader // reads str
}

// stream returns an idle evaluation stream of sess, or opens a new one.
func (sess *session) stream(ctx context.Context) (*evalStream, error) {
	sess.idleMu.Lock()
	if n := len(sess.idle); n > 0 {
		es := sess.idle[n-1]
		sess.idle[n-1] = nil
		sess.idle = sess.idle[:n-1]
		sess.idleMu.Unlock()
		return es, nil
	}
	sess.idleMu.Unlock()
	str, err := sess.conn.OpenStreamSync(ctx)
	if err != nil {
		return nil, err
	}
	return &evalStream{str: str, br: bufio.NewReaderSize(str, 4096)}, nil
}

// putStream returns es, whose last exchange is complete, to the idle list of
// sess. It reports false, leaving es to the caller to close, if the list is
// full or the connection has closed.
func (sess *session) putStream(es *evalStream) bool {
	if sess.conn.Context().Err() != nil {
		return false
	}
	sess.idleMu.Lock()
	defer sess.idleMu.Unlock()
	if len(sess.idle) >= maxIdleStreams {
		return false
	}
	sess.idle = append(sess.idle, es)
	return true
}

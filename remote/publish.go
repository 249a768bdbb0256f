package remote

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sperse/sperse/lang"
)

// Published functions, as a client sees them: the client is the Publisher
// of its interpreter (lang.Publisher), which sends each operation to a
// server as an EvalPublish; a server advertises the signatures of the
// functions it provides so (Welcome.Signatures, and Update when they
// change), and the client checks the calls of a cell against them before it
// sends the cell (see eligibleLocked).

var _ lang.Publisher = (*Client)(nil)

// advertWait bounds how long an operation on published functions waits for
// its server to advertise the outcome (see awaitAdvert).
const advertWait = 5 * time.Second

// Publish implements lang.Publisher: it sends fn to a connected server,
// which stores it under name with a new version (and spreads it to its
// cluster), and returns the version. It returns once that server advertises
// it, so that a cell sent next can call it.
func (c *Client) Publish(ctx context.Context, name string, fn lang.Value) (int, error) {
	code, err := lang.Encode(fn)
	if err != nil {
		return 0, err
	}
	return c.makeCurrent(ctx, PublishJob{Op: OpPublish, Name: name, Func: code})
}

// Versions implements lang.Publisher.
func (c *Client) Versions(ctx context.Context, name string) ([]lang.PublishedVersion, error) {
	v, s, err := c.publishOp(ctx, PublishJob{Op: OpVersions, Name: name})
	if err != nil {
		return nil, err
	}
	vs, err := lang.VersionsFromValue(v)
	if err != nil {
		return nil, fmt.Errorf("server %s: %w", c.nameOf(s), err)
	}
	return vs, nil
}

// Rollback implements lang.Publisher. Like Publish, it returns once the
// server advertises the version it made current.
func (c *Client) Rollback(ctx context.Context, name string) (int, error) {
	return c.makeCurrent(ctx, PublishJob{Op: OpRollback, Name: name})
}

// makeCurrent runs job, which makes a version of job.Name current, and
// returns that version once the server advertises it.
func (c *Client) makeCurrent(ctx context.Context, job PublishJob) (int, error) {
	v, s, err := c.publishOp(ctx, job)
	if err != nil {
		return 0, err
	}
	n, err := c.versionOf(s, v)
	if err != nil {
		return 0, err
	}
	c.awaitAdvert(ctx, s, func(w *Welcome) bool { sig, ok := w.Signatures[job.Name]; return ok && sig.Version == n })
	return n, nil
}

// Unpublish implements lang.Publisher. It returns once the server no longer
// advertises name.
func (c *Client) Unpublish(ctx context.Context, name string) error {
	_, s, err := c.publishOp(ctx, PublishJob{Op: OpUnpublish, Name: name})
	if err != nil {
		return err
	}
	c.awaitAdvert(ctx, s, func(w *Welcome) bool { _, ok := w.Signatures[name]; return !ok })
	return nil
}

// publishOp sends job to a connected server (one that provides the name,
// if there is one) and returns the value of its Result, and the server.
// An operation a server refused to start (overloaded, shutting down) is
// sent to another; one whose server was lost is not sent again: it may
// have been done.
func (c *Client) publishOp(ctx context.Context, job PublishJob) (lang.Value, *server, error) {
	data, err := EncodePublishJob(job)
	if err != nil {
		return nil, nil, err
	}
	what := fmt.Sprintf("%s %s", job.Op, job.Name)
	var (
		tried []*server
		last  error
	)
	for range maxAttempts {
		s, sess, err := c.pick(route{what: what, selText: "it", need: []string{job.Name}}, tried)
		if err != nil {
			s, sess, err = c.pick(route{what: what, selText: "it"}, tried)
		}
		if err != nil {
			if last != nil {
				return nil, nil, last
			}
			return nil, nil, err
		}
		res := c.evalCounted(ctx, s, sess, what, Eval{Kind: EvalPublish, Job: data})
		if res.Err == nil {
			return res.Value, s, nil
		}
		var serr *ServerError
		if ctx.Err() != nil || !errors.As(res.Err, &serr) || serr.Code != CodeOverloaded && serr.Code != CodeShutdown {
			return nil, s, res.Err
		}
		tried, last = append(tried, s), res.Err
	}
	return nil, nil, last
}

// versionOf returns the version in v, the value a server answered an
// operation with.
func (c *Client) versionOf(s *server, v lang.Value) (int, error) {
	i, ok := lang.ToGo(v).(int64)
	if !ok || i < 1 || i > 1<<31-1 {
		return 0, fmt.Errorf("server %s answered %s, want a version (a positive int)", c.nameOf(s), shortRepr(v))
	}
	return int(i), nil
}

// nameOf returns the name of s.
func (c *Client) nameOf(s *server) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return s.name
}

// awaitAdvert waits until s advertises what ok looks for (an Update that
// follows an operation), s is disconnected, ctx ends, or advertWait passes.
// The server advertises the outcome of an operation to all its clients on
// their control streams, which the Result does not wait for.
func (c *Client) awaitAdvert(ctx context.Context, s *server, ok func(*Welcome) bool) {
	t := time.NewTimer(advertWait)
	defer t.Stop()
	for {
		c.mu.Lock()
		if s.sess == nil || ok(&s.welcome) {
			c.mu.Unlock()
			return
		}
		if s.advertised == nil {
			s.advertised = make(chan struct{})
		}
		ch := s.advertised
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return
		case <-s.ctx.Done():
			return
		case <-t.C:
			c.log.Warn("server did not advertise the outcome of an operation on published functions", "server", c.nameOf(s))
			return
		}
	}
}

// update is an Update message: a Welcome with the server's new
// advertisement.
type update Welcome

// update takes the provided names and signatures of u, sent by s on sess.
func (c *Client) update(s *server, sess *session, u update) {
	c.mu.Lock()
	if s.sess != sess {
		c.mu.Unlock()
		return
	}
	s.welcome.Tags, s.welcome.Provides, s.welcome.Signatures = u.Tags, u.Provides, u.Signatures
	if s.advertised != nil {
		close(s.advertised)
		s.advertised = nil
	}
	name := s.name
	c.mu.Unlock()
	c.log.Info("server's provided names changed", "server", name, "provides", len(u.Provides), "published", len(u.Signatures))
	c.changed() // cells unavailable for want of a name may run now
}

// publishedCalls returns the calls in cell of the names in need that some
// server advertises as published functions (see lang.FindCalls): those
// that eligibleLocked checks.
func (c *Client) publishedCalls(cell *lang.Cell, need []string) []lang.Call {
	if len(need) == 0 {
		return nil
	}
	published := map[string]bool{}
	c.mu.Lock()
	for _, s := range c.servers {
		for _, name := range need {
			if _, ok := s.welcome.Signatures[name]; ok {
				published[name] = true
			}
		}
	}
	c.mu.Unlock()
	if len(published) == 0 {
		return nil
	}
	return lang.FindCalls(cell, func(name string) bool { return published[name] })
}

// checkCalls returns the error of the first of calls that does not match
// the signature s advertises for its function, or nil.
func (s *server) checkCalls(calls []lang.Call) error {
	for _, call := range calls {
		sig, ok := s.welcome.Signatures[call.Name]
		if !ok {
			continue
		}
		if err := call.Check(sig.Lang(call.Name)); err != nil {
			return err
		}
	}
	return nil
}

// WireSignature returns sig as a server advertises it.
func WireSignature(sig lang.Signature) Signature {
	w := Signature{Version: sig.Version, Varargs: sig.Varargs, Kwargs: sig.Kwargs}
	for _, p := range sig.Params {
		w.Params = append(w.Params, Param{Name: p.Name, Default: p.Default, KwOnly: p.KwOnly})
	}
	return w
}

// Lang returns s, the signature of the published function name, as lang
// has it.
func (s Signature) Lang(name string) lang.Signature {
	sig := lang.Signature{Name: name, Version: s.Version, Varargs: s.Varargs, Kwargs: s.Kwargs}
	for _, p := range s.Params {
		sig.Params = append(sig.Params, lang.Param{Name: p.Name, Default: p.Default, KwOnly: p.KwOnly})
	}
	return sig
}

// EncodePublishJob encodes job as the Job of an EvalPublish.
func EncodePublishJob(job PublishJob) ([]byte, error) {
	enc, _ := wireModes()
	data, err := enc.Marshal(job)
	if err != nil {
		return nil, fmt.Errorf("encode publish job: %w", err)
	}
	return data, nil
}

// DecodePublishJob decodes the Job of an EvalPublish, within the limits of
// the protocol's messages, and checks its operation and name.
func DecodePublishJob(data []byte) (PublishJob, error) {
	_, dec := wireModes()
	var job PublishJob
	if err := dec.Unmarshal(data, &job); err != nil {
		return PublishJob{}, fmt.Errorf("decode publish job: %w", err)
	}
	switch {
	case job.Op < OpPublish || job.Op > OpUnpublish:
		return PublishJob{}, fmt.Errorf("decode publish job: unknown operation %d", job.Op)
	case !lang.IsIdentifier(job.Name):
		return PublishJob{}, fmt.Errorf("decode publish job: %q is not a name", truncateName(job.Name))
	case job.Op == OpPublish && len(job.Func) == 0:
		return PublishJob{}, errors.New("decode publish job: publish without a function")
	case job.Op != OpPublish && len(job.Func) > 0:
		return PublishJob{}, fmt.Errorf("decode publish job: %s with a function", job.Op)
	}
	return job, nil
}

// shortRepr is the repr of v, from a peer, cut for an error message.
func shortRepr(v lang.Value) string { return truncateName(v.String()) }

// truncateName cuts a name from a peer for an error message.
func truncateName(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

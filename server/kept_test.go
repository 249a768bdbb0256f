package server

import (
	"strings"
	"testing"

	"github.com/quic-go/quic-go"
	"go.starlark.net/starlark"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/remote"
)

// startKept sends an Eval of src with scope, asking the server to keep its
// result under id.
func (c *testClient) startKept(id uint64, src string, scope map[string]lang.Value) *quic.Stream {
	c.t.Helper()
	str := c.open()
	frame, err := remote.AppendFrame(nil, remote.MsgEval, remote.Eval{Kind: remote.EvalCell, Job: cellJob(c.t, src, scope), ID: id})
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := str.Write(frame); err != nil {
		c.t.Fatal(err)
	}
	str.Close()
	return str
}

// TestPipelining checks that a job may refer to the results of others on
// the same connection (kept under their IDs), even one that arrives after
// it, and that what cannot be resolved is answered clearly.
func TestPipelining(t *testing.T) {
	g := newGate()
	ts := startServer(t, Config{}, func(s *Server) { s.testHookRun = g.hook })
	c := connect(t, ts)

	// b refers to a, which has not arrived: it waits for it.
	b := c.startKept(2, "b = a + 1", map[string]lang.Value{"a": lang.Ref(1)})
	a := c.startKept(1, "slow_a = 41", nil)
	g.wait(t)
	d := c.startKept(3, "d = a * b", map[string]lang.Value{"a": lang.Ref(1), "b": lang.Ref(2)})
	close(g.open)
	if got := value(t, c.result(a)); got != "41" {
		t.Errorf("a = %s", got)
	}
	if got := value(t, c.result(b)); got != "42" {
		t.Errorf("b = %s", got)
	}
	if got := value(t, c.result(d)); got != "1722" {
		t.Errorf("d = %s", got)
	}
	if logs := ts.logs.String(); !strings.Contains(logs, "cell=b kind=cell") || !strings.Contains(logs, "pipelined=2") {
		t.Errorf("the log does not show the pipelined evaluations:\n%s", logs)
	}

	// A failed input fails the job that refers to it, naming it.
	wantError(t, c.result(c.startKept(4, "f = 1 // 0", nil)), remote.CodeFailed, "division by zero")
	wantError(t, c.result(c.startKept(0, "g = f + 1", map[string]lang.Value{"f": lang.Ref(4)})), remote.CodeFailed, "depends on failed f: ")

	// A reference to nothing is answered with CodeNoRef after the grace
	// period; an ID in use is a bad request.
	wantError(t, c.result(c.startKept(0, "h = x", map[string]lang.Value{"x": lang.Ref(99)})), remote.CodeNoRef, "no evaluation 99 on this connection")
	wantError(t, c.result(c.startKept(1, "i = 1", nil)), remote.CodeBadRequest, "id 1 is in use")
	// An evaluation refers only to earlier ones: none waits for itself.
	wantError(t, c.result(c.startKept(50, "self = s", map[string]lang.Value{"s": lang.Ref(50)})), remote.CodeBadRequest, "refers to 50, which is not an earlier one")
	// The server still serves.
	if got := value(t, c.eval(remote.EvalCell, cellJob(t, "j = i", map[string]lang.Value{"i": starlark.MakeInt(7)}))); got != "7" {
		t.Errorf("j = %s", got)
	}

	// References are per connection.
	other := connect(t, ts)
	wantError(t, other.result(other.startKept(0, "k = a", map[string]lang.Value{"a": lang.Ref(1)})), remote.CodeNoRef, "no evaluation 1")
}

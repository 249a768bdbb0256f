package remote_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/remote"
	"github.com/sperse/sperse/server"
)

// chainCell is a remote cell of a chain: its source, and its inputs, which
// are the earlier cells of the chain.
type chainCell struct {
	src    string
	inputs []string
}

// evalChain evaluates cells as the engine does with pipelining: every one
// at once, each with a promise, and with the promises of its inputs as
// pending. It returns the results by name.
func evalChain(t *testing.T, c *testClient, cells []chainCell) map[string]lang.Result {
	t.Helper()
	promises := make(map[string]*lang.Promise)
	reqs := make([]lang.Request, len(cells))
	for i, cc := range cells {
		cl := cell(t, cc.src)
		reqs[i] = lang.Request{Cell: cl, Promise: lang.NewPromise(), Pending: make(map[string]*lang.Promise)}
		for _, in := range cc.inputs {
			reqs[i].Pending[in] = promises[in]
		}
		promises[cl.Name] = reqs[i].Promise
	}
	var (
		mu      sync.Mutex
		results = make(map[string]lang.Result)
		wg      sync.WaitGroup
	)
	for _, req := range reqs {
		wg.Go(func() {
			res := c.Eval(t.Context(), req)
			req.Promise.Resolve(res)
			mu.Lock()
			results[req.Cell.Name] = res
			mu.Unlock()
		})
	}
	wg.Wait()
	return results
}

func TestClientPipelining(t *testing.T) {
	a := startServer(t, "127.0.0.1:0", server.Config{Name: "a"})
	b := startServer(t, "127.0.0.1:0", server.Config{Name: "b", Tags: []string{"other"}})
	c := newClient(t, remote.ClientConfig{})
	c.connect(t, a.addr)
	c.connect(t, b.addr)

	results := evalChain(t, c, []chainCell{
		{"first = remote@a len([i for i in range(100000)])", nil},
		{"second = remote first + 1", []string{"first"}},
		{"third = remote first + second", []string{"first", "second"}},
		{"elsewhere = remote@other third * 2", []string{"third"}},
		{"bad = remote@a first // 0", []string{"first"}},
		{"after_bad = remote bad + 1", []string{"bad"}},
	})
	for name, want := range map[string]string{"first": "100000", "second": "100001", "third": "200001", "elsewhere": "400002"} {
		if res := results[name]; res.Err != nil || res.Value.String() != want {
			t.Errorf("%s = %v, %v; want %s", name, res.Value, res.Err, want)
		}
	}
	for _, name := range []string{"second", "third"} {
		if where := results[name].Where; where != "a" {
			t.Errorf("%s ran on %s, not with its inputs on a", name, where)
		}
	}
	if res := results["bad"]; res.Err == nil || !strings.Contains(res.Err.Error(), "division by zero") {
		t.Errorf("bad: %v", res.Err)
	}
	if res := results["after_bad"]; res.Err == nil || !strings.Contains(res.Err.Error(), "depends on failed bad") {
		t.Errorf("after_bad: %v, want an error naming bad", res.Err)
	}
	logs := a.logs.String()
	for _, want := range []string{"cell=second kind=cell", "cell=third kind=cell"} {
		i := strings.Index(logs, want)
		if i < 0 || !strings.Contains(logs[i:i+strings.Index(logs[i:], "\n")], "pipelined=") {
			t.Errorf("server a's log has no pipelined evaluation %q:\n%s", want, logs)
		}
	}
	if logs := b.logs.String(); strings.Contains(logs, "pipelined=") {
		t.Errorf("server b resolved references of another server's results:\n%s", logs)
	}
}

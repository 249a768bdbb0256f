package remote_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/remote"
	"github.com/sperse/sperse/server"
)

// publishingClient returns a client whose interpreter publishes through it,
// as a workspace's does.
func publishingClient(t *testing.T) *testClient {
	t.Helper()
	c := newClient(t, remote.ClientConfig{})
	c.interp.Publisher = c.Client
	return c
}

// evaluations counts the evaluations a server logged.
func (ts *testServer) evaluations() int {
	return strings.Count(ts.logs.String(), "msg=evaluation")
}

// TestPublishedFunctions publishes from a local cell, calls the function
// from remote cells, redefines it with another signature (an old-style
// call then fails on the client, and nothing is sent), rolls it back and
// unpublishes it.
func TestPublishedFunctions(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0", server.Config{Name: "pub"})
	c := publishingClient(t)
	c.connect(t, srv.addr)
	other := newClient(t, remote.ClientConfig{})
	other.connect(t, srv.addr)

	// A cell that calls f before it is published waits for a server that
	// provides it.
	res := other.eval(t, "y = remote f(3)", nil)
	var serr *remote.ServerError
	if !errors.As(res.Err, &serr) || !serr.Unavailable() || !strings.Contains(serr.Message, "no connected server provides f") {
		t.Fatalf("before publishing: %v, want unavailable: no connected server provides f", res.Err)
	}

	v1 := c.local(t, "def f(x):\n    return x + 1", nil)
	if got := c.local(t, "v = publish(f)", map[string]lang.Value{"f": v1}).String(); got != "1" {
		t.Fatalf("publish(f) = %s, want 1", got)
	}
	// Publish returns once the server advertises f: a cell can call it now.
	if got := c.mustEval(t, "y = remote f(3)", nil); got != "4" {
		t.Errorf("f(3) = %s, want 4", got)
	}
	// The other client learns it too (Update, then OnChange), and its cell
	// runs.
	other.waitFor(t, "the other client knows f", func(infos []remote.ServerInfo) bool {
		return slices.Contains(infos[0].Provides, "f") && infos[0].Signatures["f"].Version == 1
	})
	if got := other.mustEval(t, "y = remote f(3)", nil); got != "4" {
		t.Errorf("other client: f(3) = %s, want 4", got)
	}

	v2 := c.local(t, "def f(x, y):\n    return x * y", nil)
	if got := c.local(t, "v = publish(f)", map[string]lang.Value{"f": v2}).String(); got != "2" {
		t.Fatalf("publish(f) again = %s, want 2", got)
	}
	before := srv.evaluations()
	res = c.eval(t, "y = remote f(3)", nil)
	const want = "ws.sp:1:12: f() missing 1 required positional argument: 'y' (published f, version 2: f(x, y))"
	var lerr *lang.Error
	if !errors.As(res.Err, &lerr) || res.Err.Error() != want {
		t.Errorf("an old-style call: %v (%T), want the *lang.Error %q", res.Err, res.Err, want)
	}
	if got := srv.evaluations(); got != before {
		t.Errorf("the server logged %d evaluations for a call the client refused", got-before)
	}
	if got := c.mustEval(t, "y = remote f(3, 4)", nil); got != "12" {
		t.Errorf("f(3, 4) = %s, want 12", got)
	}

	vs := c.local(t, `v = [(v["version"], v["signature"], v["by"], v["current"]) for v in versions("f")]`, nil).String()
	if want := `[(1, "f(x)", "pub", False), (2, "f(x, y)", "pub", True)]`; vs != want {
		t.Errorf("versions = %s, want %s", vs, want)
	}

	if got := c.local(t, `v = rollback("f")`, nil).String(); got != "1" {
		t.Errorf("rollback = %s, want 1", got)
	}
	if got := c.mustEval(t, "y = remote f(3)", nil); got != "4" {
		t.Errorf("after rollback, f(3) = %s, want 4", got)
	}

	if got := c.local(t, `v = unpublish("f")`, nil).String(); got != "None" {
		t.Errorf("unpublish = %s, want None", got)
	}
	res = c.eval(t, "y = remote f(3)", nil)
	if !errors.As(res.Err, &serr) || !serr.Unavailable() || !strings.Contains(serr.Message, "no connected server provides f") {
		t.Errorf("after unpublish: %v, want unavailable: no connected server provides f", res.Err)
	}
	_, err := c.interp.Eval(t.Context(), cell(t, `v = unpublish("f")`), nil)
	if err == nil || !strings.Contains(err.Error(), "unpublish f: f is not published") {
		t.Errorf("unpublishing again: %v", err)
	}
	_, err = c.interp.Eval(t.Context(), cell(t, `v = versions("g")`), nil)
	if err == nil || !strings.Contains(err.Error(), "versions of g: no function g was ever published") {
		t.Errorf("versions of g: %v", err)
	}
}

// TestPublishNoServer checks that publishing with no server says so.
func TestPublishNoServer(t *testing.T) {
	c := publishingClient(t)
	f := c.local(t, "def f(x):\n    return x", nil)
	_, err := c.interp.Eval(t.Context(), cell(t, "v = publish(f)"), map[string]lang.Value{"f": f})
	if err == nil || !strings.Contains(err.Error(), "publish f: no server to run it: the client has no servers") {
		t.Errorf("publish with no server: %v", err)
	}
}

// TestPublishedChecksPerServer checks that a cell goes to a server whose
// signature of a published function its calls match, when servers differ.
func TestPublishedChecksPerServer(t *testing.T) {
	a := startServer(t, "127.0.0.1:0", server.Config{Name: "a"})
	b := startServer(t, "127.0.0.1:0", server.Config{Name: "b"})
	c := newClient(t, remote.ClientConfig{})
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	for _, srv := range []*testServer{a, b} {
		pc := newClient(t, remote.ClientConfig{})
		pc.connect(t, srv.addr)
		src := "def f(x):\n    return 'one'"
		if srv == b {
			src = "def f(x, y):\n    return 'two'"
		}
		if _, err := pc.Publish(ctx, "f", pc.local(t, src, nil)); err != nil {
			t.Fatal(err)
		}
		c.connect(t, srv.addr)
	}
	for range 4 {
		if got := c.mustEval(t, "y = remote f(1)", nil); got != `"one"` {
			t.Errorf("f(1) = %s, want the one of a", got)
		}
		if got := c.mustEval(t, "y = remote f(1, 2)", nil); got != `"two"` {
			t.Errorf("f(1, 2) = %s, want the one of b", got)
		}
	}
	res := c.eval(t, "y = remote f()", nil)
	if res.Err == nil || !strings.Contains(res.Err.Error(), "f() missing 1 required positional argument: 'x' (published f, version 1: f(x))") {
		t.Errorf("f(): %v, want the error of the first server's signature", res.Err)
	}
}

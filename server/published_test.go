package server

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/remote"
)

// newStore returns a server that is not serving, for its store of
// published functions; it is closed when the test ends.
func newStore(t testing.TB, name, dir string) *Server {
	t.Helper()
	s, err := New(Config{Name: name, Tokens: []string{testToken}, StateDir: dir})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// funcCode returns the encoding of the function that the cell src defines.
func funcCode(t testing.TB, src string) []byte {
	t.Helper()
	return encode(t, localValue(t, src, nil))
}

// funcUsing returns the function that the cell src defines, in an
// interpreter that provides the names uses (as None): a function that uses
// provided names, as code on a server makes.
func funcUsing(t testing.TB, src string, uses ...string) lang.Value {
	t.Helper()
	provided := map[string]lang.Value{}
	for _, name := range uses {
		provided[name] = localValue(t, "none = None", nil)
	}
	v, err := (&lang.Interp{Where: "local", Provided: provided}).Eval(context.Background(), lang.ParseCell("lib.sp", 1, src), nil)
	if err != nil {
		t.Fatalf("%q: %v", src, err)
	}
	return v
}

// publishJob returns the job of an EvalPublish.
func publishJob(t testing.TB, op remote.PublishOp, name string, fn []byte) []byte {
	t.Helper()
	job, err := remote.EncodePublishJob(remote.PublishJob{Op: op, Name: name, Func: fn})
	if err != nil {
		t.Fatal(err)
	}
	return job
}

// mustPublish publishes the function cell src under name on s.
func mustPublish(t testing.TB, s *Server, name, src string) int {
	t.Helper()
	n, err := s.publishFunc(name, funcCode(t, src))
	if err != nil {
		t.Fatalf("publish %s: %v", name, err)
	}
	return n
}

// summary describes the documents of s: each name, its current version
// and its versions' signatures and publishers.
func summary(t testing.TB, s *Server) string {
	t.Helper()
	var b strings.Builder
	for _, d := range s.pub.all() {
		fmt.Fprintf(&b, "%s current=%d:", d.Name, d.Current)
		for _, v := range d.Versions {
			fmt.Fprintf(&b, " %d:%s@%s", v.Version, v.Signature.Lang(d.Name), v.By)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// TestPublishedConverge publishes on two servers at once, the same names
// and others, and checks that exchanging their states, in either order,
// leaves both with the same documents, and providing the same functions.
func TestPublishedConverge(t *testing.T) {
	var results []string
	for _, order := range []string{"a then b", "b then a"} {
		t.Run(order, func(t *testing.T) {
			a, b := newStore(t, "a", ""), newStore(t, "b", "")
			// publish runs in a goroutine of its own: it reports, never stops the test.
			publish := func(s *Server, name string, fn []byte) {
				if _, err := s.publishFunc(name, fn); err != nil {
					t.Errorf("publish %s on %s: %v", name, s.cfg.Name, err)
				}
			}
			var (
				af1, af2 = funcCode(t, "def f(x):\n    return x + 1"), funcCode(t, "def f(x, y):\n    return x + y")
				ag       = funcCode(t, "def g():\n    return 'a'")
				bf, bh   = funcCode(t, "def f(x, *, k=2):\n    return x * k"), funcCode(t, "def h(s):\n    return s")
			)
			var wg sync.WaitGroup
			wg.Go(func() {
				publish(a, "f", af1)
				publish(a, "f", af2)
				publish(a, "g", ag)
			})
			wg.Go(func() {
				publish(b, "f", bf)
				publish(b, "h", bh)
				if _, err := b.rollbackFunc("f"); err == nil {
					t.Error("rollback of a first version worked")
				}
			})
			wg.Wait()
			first, second := a, b
			if order == "b then a" {
				first, second = b, a
			}
			if err := second.mergePublished(first.publishedState()); err != nil {
				t.Fatal(err)
			}
			if err := first.mergePublished(second.publishedState()); err != nil {
				t.Fatal(err)
			}
			sa, sb := a.publishedState(), b.publishedState()
			if !bytes.Equal(sa, sb) {
				t.Fatalf("states differ:\na:\n%s\nb:\n%s", summary(t, a), summary(t, b))
			}
			for _, s := range []*Server{a, b} {
				if got := s.Provides(); !slices.Equal(got, []string{"f", "g", "h"}) {
					t.Errorf("server %s provides %q, want f, g, h", s.cfg.Name, got)
				}
			}
			// Merging again changes nothing.
			if err := a.mergePublished(sb); err != nil || !bytes.Equal(a.publishedState(), sa) {
				t.Errorf("merging the same state again: %v, or the state changed", err)
			}
			results = append(results, summary(t, a))
		})
	}
	if len(results) == 2 && results[0] != results[1] {
		t.Errorf("the orders end differently:\n%s\n%s", results[0], results[1])
	}
	// f was changed last by a (its clock is higher): a's f wins, both versions.
	if want := "f current=2: 1:f(x)@a 2:f(x, y)@a\n"; len(results) > 0 && !strings.HasPrefix(results[0], want) {
		t.Errorf("got\n%swant f to be\n%s", results[0], want)
	}
}

// TestPublishedHook checks that the documents a server hands to onPublish
// bring another server to the same state, and that a server merging its
// own document changes nothing.
func TestPublishedHook(t *testing.T) {
	a, b := newStore(t, "a", ""), newStore(t, "b", "")
	var docs [][]byte
	a.mu.Lock()
	a.onPublish = func(doc []byte) { docs = append(docs, doc) }
	a.mu.Unlock()
	mustPublish(t, a, "f", "def f(x):\n    return x + 1")
	mustPublish(t, a, "f", "def f(x, y=0):\n    return x + y")
	if _, err := a.rollbackFunc("f"); err != nil {
		t.Fatal(err)
	}
	mustPublish(t, a, "g", "def g():\n    return 1")
	if err := a.unpublishFunc("g"); err != nil {
		t.Fatal(err)
	}
	if len(docs) != 5 {
		t.Fatalf("onPublish was called %d times, want 5", len(docs))
	}
	for _, doc := range docs {
		if err := b.mergePublished(doc); err != nil {
			t.Fatal(err)
		}
		if err := a.mergePublished(doc); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(a.publishedState(), b.publishedState()) {
		t.Fatalf("states differ:\na:\n%s\nb:\n%s", summary(t, a), summary(t, b))
	}
	if got := b.Provides(); !slices.Equal(got, []string{"f"}) {
		t.Errorf("b provides %q, want f", got)
	}
	// Merged in reverse, the older documents lose.
	c := newStore(t, "c", "")
	for _, doc := range slices.Backward(docs) {
		if err := c.mergePublished(doc); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(a.publishedState(), c.publishedState()) {
		t.Fatalf("merged in reverse:\n%s\nwant\n%s", summary(t, c), summary(t, a))
	}
	// A change after merging is stamped after what was merged.
	if n := mustPublish(t, b, "f", "def f():\n    return 0"); n != 3 {
		t.Errorf("publishing f on b after merging made version %d, want 3", n)
	}
	if err := a.mergePublished(b.publishedState()); err != nil {
		t.Fatal(err)
	}
	if d := a.pub.all()[0]; d.Current != 3 || d.Versions[2].By != "b" {
		t.Errorf("a has f at version %d (by %s), want 3 by b", d.Current, d.Versions[len(d.Versions)-1].By)
	}
}

// TestPublished runs the operations over QUIC, as a client sends them, and
// calls the functions from cells: versions, signatures, rollback,
// unpublish, and an Update to another client at each change.
func TestPublished(t *testing.T) {
	ts := startServer(t, Config{Name: "pub"}, nil)
	c := connect(t, ts)
	other := connect(t, ts)
	if len(c.welcome.Provides) != 0 || c.welcome.Signatures != nil {
		t.Fatalf("welcome: provides %q, signatures %v; want none", c.welcome.Provides, c.welcome.Signatures)
	}
	publish := func(src string) string {
		t.Helper()
		return value(t, c.eval(remote.EvalPublish, publishJob(t, remote.OpPublish, "f", funcCode(t, src))))
	}
	op := func(op remote.PublishOp) remote.Result {
		t.Helper()
		return c.eval(remote.EvalPublish, publishJob(t, op, "f", nil))
	}
	call := func(src string) remote.Result {
		t.Helper()
		return c.eval(remote.EvalCell, cellJob(t, src, nil))
	}
	// waitUpdate waits for an Update to other with f's signature (nil: no f).
	waitUpdate := func(want string) {
		t.Helper()
		other.waitControl(remote.MsgUpdate, func(body cbor.RawMessage) bool {
			var w remote.Welcome
			if err := remote.DecodeBody(remote.MsgUpdate, body, &w); err != nil {
				t.Fatalf("bad update: %v", err)
			}
			sig, ok := w.Signatures["f"]
			if want == "" {
				return !ok && !slices.Contains(w.Provides, "f")
			}
			got := fmt.Sprintf("%d %s", sig.Version, sig.Lang("f"))
			return ok && slices.Contains(w.Provides, "f") && got == want
		})
	}

	if got := publish("def f(x):\n    return x + 1"); got != "1" {
		t.Fatalf("publish = %s, want 1", got)
	}
	waitUpdate("1 f(x)")
	if got := value(t, call("y = f(3)")); got != "4" {
		t.Errorf("f(3) = %s, want 4", got)
	}
	if got := publish("def f(x, y, *, k=10):\n    return x + y + k"); got != "2" {
		t.Fatalf("publish = %s, want 2", got)
	}
	waitUpdate("2 f(x, y, *, k=10)")
	if got := value(t, call("y = f(1, 2)")); got != "13" {
		t.Errorf("f(1, 2) = %s, want 13", got)
	}
	// The server runs what it is sent: the client checks signatures.
	wantError(t, call("y = f(3)"), remote.CodeFailed, "missing 1 argument (y)")
	res := op(remote.OpVersions)
	vs, err := lang.VersionsFromValue(decodeValue(t, res))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range vs {
		got = append(got, fmt.Sprintf("%d %s %s %v", v.Version, v.Signature, v.By, v.Current))
		if v.Published.IsZero() {
			t.Errorf("version %d has no time", v.Version)
		}
	}
	if want := []string{"1 f(x) pub false", "2 f(x, y, *, k=10) pub true"}; !slices.Equal(got, want) {
		t.Errorf("versions: %q, want %q", got, want)
	}
	if got := value(t, op(remote.OpRollback)); got != "1" {
		t.Errorf("rollback = %s, want 1", got)
	}
	waitUpdate("1 f(x)")
	if got := value(t, call("y = f(3)")); got != "4" {
		t.Errorf("after rollback, f(3) = %s, want 4", got)
	}
	wantError(t, op(remote.OpRollback), remote.CodeFailed, "f has no version before version 1 to roll back to")
	if got := value(t, op(remote.OpUnpublish)); got != "None" {
		t.Errorf("unpublish = %s, want None", got)
	}
	waitUpdate("")
	wantError(t, call("y = f(3)"), remote.CodeFailed, "undefined: f")
	wantError(t, op(remote.OpUnpublish), remote.CodeFailed, "f is not published (it was withdrawn; publishing it again makes version 3)")
	wantError(t, op(remote.OpRollback), remote.CodeFailed, "f is not published")
	if got := publish("def f():\n    return 'three'"); got != "3" {
		t.Errorf("publish after unpublish = %s, want 3", got)
	}
	if got := value(t, call("y = f()")); got != `"three"` {
		t.Errorf("f() = %s, want \"three\"", got)
	}

	// Code on the server can publish too; the function calls another.
	job := cellJob(t, "v = publish(g)", map[string]lang.Value{"g": funcUsing(t, "def g(n):\n    return [f() for i in range(n)]", "f")})
	if got := value(t, c.eval(remote.EvalCell, job)); got != "1" {
		t.Errorf("publish(g) on the server = %s, want 1", got)
	}
	if got := value(t, call("y = g(2)")); got != `["three", "three"]` {
		t.Errorf("g(2) = %s", got)
	}
	if got := ts.Provides(); !slices.Equal(got, []string{"f", "g"}) {
		t.Errorf("Provides() = %q, want f, g", got)
	}
}

// decodeValue decodes the value of a Result.
func decodeValue(t *testing.T, res remote.Result) lang.Value {
	t.Helper()
	if res.Error != nil {
		t.Fatalf("result error: %s: %s", res.Error.Code, res.Error.Message)
	}
	v, err := lang.NewInterp("local").Decode(res.Value)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestPublishRefused sends operations the server must refuse, and checks
// that each is answered with an error that says why, and that nothing
// changed.
func TestPublishRefused(t *testing.T) {
	ts := startServer(t, Config{Name: "refuse", Provide: map[string]any{"echo": func(s string) string { return s }}}, nil)
	c := connect(t, ts)
	raw := func(job any) []byte {
		b, err := cbor.Marshal(job)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	f := funcCode(t, "def f(x):\n    return x")
	for _, tc := range []struct {
		name string
		job  []byte
		code remote.ErrorCode
		want string
	}{
		{"garbage", []byte("not cbor"), remote.CodeBadRequest, "bad publish job"},
		{"unknown field", raw(map[int]any{1: 1, 2: "f", 9: 1}), remote.CodeBadRequest, "bad publish job"},
		{"unknown operation", raw(map[int]any{1: 9, 2: "f"}), remote.CodeBadRequest, "unknown operation 9"},
		{"not a name", publishJob(t, remote.OpVersions, "a b", nil), remote.CodeBadRequest, `"a b" is not a name`},
		{"no function", publishJob(t, remote.OpPublish, "f", nil), remote.CodeBadRequest, "publish without a function"},
		{"a function to roll back", publishJob(t, remote.OpRollback, "f", f), remote.CodeBadRequest, "rollback with a function"},
		{"not a function", publishJob(t, remote.OpPublish, "f", encode(t, localValue(t, "x = 1", nil))), remote.CodeFailed, "cannot publish f: got int, want a function"},
		{"not an encoding", publishJob(t, remote.OpPublish, "f", []byte{0xff}), remote.CodeFailed, "cannot publish f:"},
		{"a builtin", publishJob(t, remote.OpPublish, "len", f), remote.CodeFailed, "cannot publish len: it is a builtin"},
		{"private", publishJob(t, remote.OpPublish, "_f", f), remote.CodeFailed, "a name starting with _ is private"},
		{"a provided name", publishJob(t, remote.OpPublish, "echo", f), remote.CodeFailed, "cannot publish echo: server refuse provides echo already (Config.Provide)"},
		{"too large", publishJob(t, remote.OpPublish, "f", bytes.Repeat([]byte{0}, maxPublishedCode+1)), remote.CodeFailed, "over the limit of"},
		{"undefined in the function", publishJob(t, remote.OpPublish, "f", encode(t, funcUsing(t, "def f():\n    return nope()", "nope"))), remote.CodeFailed, "lib.sp:2:12: undefined: nope"},
		{"never published", publishJob(t, remote.OpVersions, "f", nil), remote.CodeFailed, "no function f was ever published"},
		{"rollback never published", publishJob(t, remote.OpRollback, "f", nil), remote.CodeFailed, "f is not published: no function f was ever published"},
		{"unpublish never published", publishJob(t, remote.OpUnpublish, "f", nil), remote.CodeFailed, "f is not published"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, c.eval(remote.EvalPublish, tc.job), tc.code, tc.want)
		})
	}
	if got := ts.Provides(); !slices.Equal(got, []string{"echo"}) {
		t.Errorf("Provides() = %q, want echo alone", got)
	}
	if n := len(ts.pub.all()); n != 0 {
		t.Errorf("the store has %d documents, want none", n)
	}
	// The server still serves.
	if got := value(t, c.eval(remote.EvalCell, cellJob(t, `y = echo("ok")`, nil))); got != `"ok"` {
		t.Errorf("echo = %s", got)
	}
}

// TestPublishScoped checks what scoped tokens may do: change nothing, list
// the versions and call the functions their provides= allows.
func TestPublishScoped(t *testing.T) {
	const (
		tagsOnly = "scoped-tags-only-token-1"
		allowsF  = "scoped-allows-f-token-22"
		allowsG  = "scoped-allows-g-token-333"
	)
	ts := startServer(t, Config{Name: "scoped", Tags: []string{"eu"}, ScopedTokens: []Token{
		{Secret: tagsOnly, Tags: []string{"eu"}},
		{Secret: allowsF, Provides: []string{"f"}},
		{Secret: allowsG, Provides: []string{"g"}},
	}}, nil)
	full := connect(t, ts)
	clients := map[string]*testClient{}
	for _, tok := range []string{tagsOnly, allowsF, allowsG} {
		clients[tok] = connectTo(t, ts.addr, ts.Fingerprint(), tok)
	}
	if got := value(t, full.eval(remote.EvalPublish, publishJob(t, remote.OpPublish, "f", funcCode(t, "def f(x):\n    return where()")))); got != "1" {
		t.Fatalf("publish = %s", got)
	}
	for tok, c := range clients {
		t.Run(tok, func(t *testing.T) {
			wantError(t, c.eval(remote.EvalPublish, publishJob(t, remote.OpPublish, "f", funcCode(t, "def f():\n    return 0"))),
				remote.CodeNotPermitted, "may not publish, roll back or unpublish")
			wantError(t, c.eval(remote.EvalPublish, publishJob(t, remote.OpUnpublish, "f", nil)), remote.CodeNotPermitted, "not permitted")
			// Code it sends cannot publish either.
			job := cellJob(t, "v = publish(h)", map[string]lang.Value{"h": localValue(t, "def h():\n    return 1", nil)})
			wantError(t, c.eval(remote.EvalCell, job), remote.CodeFailed, "not permitted: publish h")
			versions := c.eval(remote.EvalPublish, publishJob(t, remote.OpVersions, "f", nil))
			callF := c.eval(remote.EvalCell, cellJob(t, "y = f(1)", nil))
			if tok == allowsG {
				wantError(t, versions, remote.CodeNotPermitted, "may not use f")
				wantError(t, callF, remote.CodeNotPermitted, "uses f, which this client's token may not use")
				return
			}
			if versions.Error != nil {
				t.Errorf("versions: %s", versions.Error.Message)
			}
			if got := value(t, callF); got != `"scoped"` {
				t.Errorf("f(1) = %s", got)
			}
		})
	}
	if n := len(ts.pub.all()); n != 1 {
		t.Errorf("the store has %d documents, want 1 (f)", n)
	}
	// An Update tells each client what it may use: g to full and to the
	// token that allows it, nothing to the one that allows only f.
	if got := value(t, full.eval(remote.EvalPublish, publishJob(t, remote.OpPublish, "g", funcCode(t, "def g():\n    return 2")))); got != "1" {
		t.Fatalf("publish g = %s", got)
	}
	for _, tc := range []struct {
		c    *testClient
		want string
	}{{full, "f,g"}, {clients[tagsOnly], "f,g"}, {clients[allowsG], "g"}} {
		tc.c.waitControl(remote.MsgUpdate, func(body cbor.RawMessage) bool {
			var w remote.Welcome
			return remote.DecodeBody(remote.MsgUpdate, body, &w) == nil && strings.Join(w.Provides, ",") == tc.want && len(w.Signatures) == len(w.Provides)
		})
	}
	if got := value(t, clients[allowsG].eval(remote.EvalCell, cellJob(t, "y = g()", nil))); got != "2" {
		t.Errorf("g() = %s", got)
	}
}

// TestPublishedInFlight checks that an evaluation keeps the functions it
// started with when a new version is published meanwhile.
func TestPublishedInFlight(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	ts := startServer(t, Config{Name: "flight"}, func(s *Server) {
		s.testHookRun = func(ctx context.Context, name string) {
			if name == "slow" {
				close(started)
				<-release
			}
		}
	})
	c := connect(t, ts)
	publish := func(src string) {
		t.Helper()
		value(t, c.eval(remote.EvalPublish, publishJob(t, remote.OpPublish, "f", funcCode(t, src))))
	}
	publish("def f():\n    return 1")
	str := c.start(remote.EvalCell, cellJob(t, "slow = f()", nil))
	<-started
	publish("def f():\n    return 2")
	close(release)
	if got := value(t, c.result(str)); got != "1" {
		t.Errorf("the evaluation started before version 2 got %s, want 1", got)
	}
	if got := value(t, c.eval(remote.EvalCell, cellJob(t, "now = f()", nil))); got != "2" {
		t.Errorf("after version 2, f() = %s, want 2", got)
	}
}

// TestPublishedRestart checks that a server with a state directory still
// has its published functions after a restart, and goes on numbering.
func TestPublishedRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	ts := startServer(t, Config{Name: "keeper", StateDir: dir}, nil)
	c := connect(t, ts)
	for _, src := range []string{"def f(x):\n    return x + 1", "def f(x, y):\n    return x * y"} {
		value(t, c.eval(remote.EvalPublish, publishJob(t, remote.OpPublish, "f", funcCode(t, src))))
	}
	value(t, c.eval(remote.EvalPublish, publishJob(t, remote.OpPublish, "g", funcCode(t, "def g():\n    return 'g'"))))
	value(t, c.eval(remote.EvalPublish, publishJob(t, remote.OpUnpublish, "g", nil)))
	before := ts.publishedState()
	ts.Close()

	ts = startServer(t, Config{Name: "keeper", StateDir: dir}, nil)
	c = connect(t, ts)
	if !slices.Equal(c.welcome.Provides, []string{"f"}) || c.welcome.Signatures["f"].Version != 2 {
		t.Errorf("after a restart: provides %q, signatures %v; want f at version 2", c.welcome.Provides, c.welcome.Signatures)
	}
	if !bytes.Equal(ts.publishedState(), before) {
		t.Errorf("after a restart the documents are\n%s", summary(t, ts.Server))
	}
	if got := value(t, c.eval(remote.EvalCell, cellJob(t, "y = f(6, 7)", nil))); got != "42" {
		t.Errorf("f(6, 7) = %s, want 42", got)
	}
	if got := value(t, c.eval(remote.EvalPublish, publishJob(t, remote.OpPublish, "g", funcCode(t, "def g():\n    return 'g2'")))); got != "2" {
		t.Errorf("publishing g again after a restart made version %s, want 2", got)
	}
	info, err := os.Stat(filepath.Join(dir, PublishedFile))
	if err != nil {
		t.Fatal(err)
	}
	if info.Size() == 0 {
		t.Errorf("%s is empty", PublishedFile)
	}
}

// TestMergePublishedHostile merges documents a member must not take, and
// checks that each is refused with an error that says why, changing
// nothing, while the good documents beside them are taken.
func TestMergePublishedHostile(t *testing.T) {
	s := newStore(t, "m", "")
	good := func() *pubDoc {
		return &pubDoc{Name: "f", Current: 1, Stamp: pubStamp{Clock: 1, Origin: "x"}, Versions: []pubVersion{{
			Version: 1, Func: funcCode(t, "def f(x):\n    return x"), Signature: remote.Signature{Version: 1, Params: []remote.Param{{Name: "x"}}}, By: "x"}}}
	}
	for _, tc := range []struct {
		name string
		edit func(d *pubDoc)
		want string
	}{
		{"a builtin", func(d *pubDoc) { d.Name = "len" }, "it is a builtin"},
		{"no versions", func(d *pubDoc) { d.Versions = nil }, "0 versions"},
		{"current is none", func(d *pubDoc) { d.Current = 7 }, "current version 7 is none of its versions"},
		{"versions out of order", func(d *pubDoc) { d.Versions = append(d.Versions, d.Versions[0]) }, "version 1 after 1"},
		{"no function", func(d *pubDoc) { d.Versions[0].Func = nil }, "function of 0 bytes"},
		{"bad publisher", func(d *pubDoc) { d.Versions[0].By = "a b" }, "not a server name"},
		{"bad parameter", func(d *pubDoc) { d.Versions[0].Signature.Params[0].Name = "1x" }, "bad parameter"},
		{"no stamp", func(d *pubDoc) { d.Stamp = pubStamp{} }, "bad stamp"},
		{"a clock at its end", func(d *pubDoc) { d.Stamp.Clock = 1<<64 - 1 }, "bad stamp"},
		{"a version at its end", func(d *pubDoc) {
			d.Versions[0].Version, d.Versions[0].Signature.Version, d.Current = 1<<62, 1<<62, 1<<62
		}, "want versions ascending from 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := good()
			tc.edit(bad)
			other := good()
			other.Name = "other"
			err := s.mergePublished(encodeDocs([]*pubDoc{bad, other}))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
			if docs := s.pub.all(); len(docs) != 1 || docs[0].Name != "other" {
				t.Errorf("the store has %s", summary(t, s))
			}
		})
	}
	for _, data := range [][]byte{nil, []byte("garbage"), {0x9f}, {0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, nested(100),
		bytes.Repeat([]byte{0x80}, maxPublishedState+1)} {
		if err := s.mergePublished(data); err == nil {
			t.Errorf("merging %.20x: no error", data)
		}
	}
	// A function that does not decode here is kept, but not provided.
	d := good()
	d.Name, d.Stamp.Clock = "broken", 5
	d.Versions[0].Func = encode(t, funcUsing(t, "def broken():\n    return nope", "nope"))
	if err := s.mergePublished(encodeDocs([]*pubDoc{d})); err != nil {
		t.Fatal(err)
	}
	if got := s.Provides(); !slices.Equal(got, []string{"other"}) {
		t.Errorf("Provides() = %q, want other", got)
	}
}

// FuzzMergePublished merges arbitrary bytes as documents from another
// member, and checks that it never panics, and that the state it leaves
// encodes documents that are all well formed, and that merging it again
// changes nothing. Seeds: testdata/fuzz/FuzzMergePublished.
func FuzzMergePublished(f *testing.F) {
	s, err := New(Config{Name: "fuzz", Tokens: []string{testToken}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	f.Fuzz(func(t *testing.T, data []byte) {
		s.mergePublished(data)
		state := s.publishedState()
		docs, err := decodeDocs(state)
		if err != nil {
			t.Fatalf("the state does not decode: %v", err)
		}
		if len(docs) > maxPublishedNames {
			t.Fatalf("%d documents", len(docs))
		}
		if err := s.mergePublished(state); err != nil {
			t.Fatalf("merging the state: %v", err)
		}
		if !bytes.Equal(s.publishedState(), state) {
			t.Fatal("merging the state changed it")
		}
	})
}

package server

import (
	"encoding/hex"
	"strconv"
	"testing"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/remote"
)

// bigList returns a list whose encoding takes at least remote.SharedValueMin
// bytes: n ints from start.
func bigList(t *testing.T, start int) lang.Value {
	t.Helper()
	return localValue(t, "x = list(range("+itoa(start)+", "+itoa(start+40000)+"))", nil)
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestValueCacheRawClient speaks the protocol by hand: a big value sent
// inline is kept, a job that refers to it by hash gives the same value as
// the job that sent it, and a hash the server does not keep (never sent,
// forged, or sent with a token of another scope) is answered CodeNoValue
// naming it, with nothing run, and the connection goes on.
func TestValueCacheRawClient(t *testing.T) {
	ts := startServer(t, Config{ScopedTokens: []Token{{Secret: "tok-pure", Provides: []string{}}}}, nil)
	c := connect(t, ts)
	if got := c.welcome.Limits.ValueCache; got != DefaultValueCache {
		t.Errorf("Welcome advertises ValueCache %d, want %d", got, DefaultValueCache)
	}
	xs := bigList(t, 0)
	enc := encode(t, xs)
	if len(enc) < remote.SharedValueMin {
		t.Fatalf("the big list takes %d bytes, under %d", len(enc), remote.SharedValueMin)
	}
	ref := lang.RefTo(enc)
	const src = "y = sum(x) + len(x)"

	miss := value(t, c.eval(remote.EvalCell, cellJob(t, src, map[string]lang.Value{"x": xs})))
	hit := value(t, c.eval(remote.EvalCell, cellJob(t, src, map[string]lang.Value{"x": ref})))
	if hit != miss {
		t.Errorf("by reference: %s; inline: %s", hit, miss)
	}
	if want := localValue(t, src, map[string]lang.Value{"x": xs}).String(); miss != want {
		t.Errorf("y = %s, want %s", miss, want)
	}
	if n, size := ts.values.size(); n != 1 || size != int64(len(enc)) {
		t.Errorf("the server keeps %d values, %d bytes; want 1, %d", n, size, len(enc))
	}
	if h := ts.values.hits.Load(); h != 1 {
		t.Errorf("%d hits, want 1", h)
	}

	// Another connection with the same token finds it too.
	other := connect(t, ts)
	if got := value(t, other.eval(remote.EvalCell, cellJob(t, src, map[string]lang.Value{"x": ref}))); got != miss {
		t.Errorf("from another connection: %s, want %s", got, miss)
	}

	forged := lang.RefTo([]byte("never sent"))
	wantError(t, c.eval(remote.EvalCell, cellJob(t, src, map[string]lang.Value{"x": forged})),
		remote.CodeNoValue, "does not keep the value of x (sha256:"+hex.EncodeToString(forged[:])+")")

	// A token of another scope cannot use what the full token sent.
	scoped := connectTo(t, ts.addr, ts.Fingerprint(), "tok-pure")
	wantError(t, scoped.eval(remote.EvalCell, cellJob(t, src, map[string]lang.Value{"x": ref})),
		remote.CodeNoValue, "sha256:"+hex.EncodeToString(ref[:]))

	// The server goes on.
	if got := value(t, c.eval(remote.EvalCell, cellJob(t, "z = 1 + 1", nil))); got != "2" {
		t.Errorf("z = %s after the misses", got)
	}
}

// TestValueCacheEviction checks that the server keeps at most ValueCache
// bytes of values, dropping the least recently used: a reference to one
// dropped is answered CodeNoValue, one to a value kept gives its value.
func TestValueCacheEviction(t *testing.T) {
	xs := []lang.Value{bigList(t, 100000), bigList(t, 200000), bigList(t, 300000)} // of equal size
	size := len(encode(t, xs[0]))
	ts := startServer(t, Config{ValueCache: int64(2*size + size/2)}, nil) // room for two
	c := connect(t, ts)
	const src = "y = x[0]"
	for i, x := range xs {
		if got, want := value(t, c.eval(remote.EvalCell, cellJob(t, src, map[string]lang.Value{"x": x}))), itoa((i+1)*100000); got != want {
			t.Fatalf("y = %s, want %s", got, want)
		}
	}
	if n, bytes := ts.values.size(); n != 2 || bytes > ts.cfg.ValueCache {
		t.Errorf("the server keeps %d values, %d bytes; want 2 within %d", n, bytes, ts.cfg.ValueCache)
	}
	refOf := func(i int) map[string]lang.Value { return map[string]lang.Value{"x": lang.RefTo(encode(t, xs[i]))} }
	wantError(t, c.eval(remote.EvalCell, cellJob(t, src, refOf(0))), remote.CodeNoValue, "does not keep the value of x")
	for _, i := range []int{1, 2} {
		if got, want := value(t, c.eval(remote.EvalCell, cellJob(t, src, refOf(i)))), itoa((i+1)*100000); got != want {
			t.Errorf("y = %s by reference, want %s", got, want)
		}
	}
}

// TestValueCacheOff checks that a server with no value cache advertises
// none, keeps nothing, and answers a reference CodeNoValue.
func TestValueCacheOff(t *testing.T) {
	ts := startServer(t, Config{ValueCache: -1}, nil)
	c := connect(t, ts)
	if got := c.welcome.Limits.ValueCache; got != 0 {
		t.Errorf("Welcome advertises ValueCache %d, want 0", got)
	}
	xs := bigList(t, 0)
	if got := value(t, c.eval(remote.EvalCell, cellJob(t, "y = len(x)", map[string]lang.Value{"x": xs}))); got != "40000" {
		t.Errorf("y = %s", got)
	}
	if n, _ := ts.values.size(); n != 0 {
		t.Errorf("the server keeps %d values", n)
	}
	wantError(t, c.eval(remote.EvalCell, cellJob(t, "y = len(x)", map[string]lang.Value{"x": lang.RefTo(encode(t, xs))})),
		remote.CodeNoValue, "send the value")
}

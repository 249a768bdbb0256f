package server

import (
	"fmt"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/sperse/sperse/remote"
)

// scopeSecret is the cluster secret of the scope tests.
var scopeSecret = []byte("the cluster secret of the scope tests")

// scopeTokens is the token file every member of the scope tests shares.
var scopeTokens = []Token{
	{Secret: "tok-db", Tags: []string{"db"}, Provides: []string{"double", "half"}},
	{Secret: "tok-gpu", Tags: []string{"gpu"}},
	{Secret: "tok-pure", Provides: []string{}},
}

// startScopeMember starts a server called name with tags, providing the
// functions named in provides, with the tokens testToken and scopeTokens,
// in the cluster of scopeSecret: joining the gossip address join, or
// starting the cluster if join is "".
func startScopeMember(t *testing.T, name string, tags, provides []string, join string) *testServer {
	t.Helper()
	provide := map[string]any{}
	for _, fn := range provides {
		provide[fn] = func(n int) int { return n }
	}
	cc := &Cluster{Secret: scopeSecret, Gossip: "127.0.0.1:0"}
	if join != "" {
		cc.Join = []string{join}
	}
	ts := startServer(t, Config{Name: name, Tags: tags, Provide: provide, ScopedTokens: scopeTokens, Cluster: cc}, nil)
	waitFor(t, name+" serving", func() bool { return ts.Addr() != nil })
	if err := ts.JoinCluster(t.Context()); err != nil {
		t.Fatal(err)
	}
	return ts
}

// showMembers is how a Members message shows its members: "name
// tags=a,b provides=c,d" each, separated by "; ".
func showMembers(list []remote.Member) string {
	var parts []string
	for _, m := range list {
		parts = append(parts, fmt.Sprintf("%s tags=%s provides=%s", m.Name, strings.Join(m.Tags, ","), strings.Join(m.Provides, ",")))
	}
	return strings.Join(parts, "; ")
}

// waitMembers waits for a Members message to c that shows want (as
// showMembers does), and returns every Members message c had until then.
func (c *testClient) waitMembers(want string) []string {
	c.t.Helper()
	var seen []string
	c.waitControl(remote.MsgMembers, func(body cbor.RawMessage) bool {
		var m remote.Members
		if err := remote.DecodeBody(remote.MsgMembers, body, &m); err != nil {
			c.t.Fatalf("bad members: %v", err)
		}
		seen = append(seen, showMembers(m.List))
		return seen[len(seen)-1] == want
	})
	return seen
}

// TestScopedMembers checks that the Members a server sends a client show
// each member as the client's token may use it, initially and as members
// join: only the tags and provided names the token lists, and no member
// the token may not use at all.
func TestScopedMembers(t *testing.T) {
	a := startScopeMember(t, "a", []string{"db", "gpu"}, []string{"double", "triple"}, "")
	b := startScopeMember(t, "b", []string{"db", "secretlab"}, []string{"double", "half", "secret"}, a.GossipAddr())

	full := connectTo(t, a.addr, a.Fingerprint(), testToken)
	db := connectTo(t, a.addr, a.Fingerprint(), "tok-db")
	gpu := connectTo(t, a.addr, a.Fingerprint(), "tok-gpu")
	pure := connectTo(t, a.addr, a.Fingerprint(), "tok-pure")
	for _, tc := range []struct {
		name   string
		c      *testClient
		scoped bool
	}{{"full", full, false}, {"db", db, true}, {"gpu", gpu, true}, {"pure", pure, true}} {
		if tc.c.welcome.Scoped != tc.scoped {
			t.Errorf("token %s: Welcome.Scoped is %v, want %v", tc.name, tc.c.welcome.Scoped, tc.scoped)
		}
	}

	// Initially.
	full.waitMembers("a tags=db,gpu provides=double,triple; b tags=db,secretlab provides=double,half,secret")
	seen := db.waitMembers("a tags=db provides=double; b tags=db provides=double,half")
	seenGPU := gpu.waitMembers("a tags=gpu provides=double,triple") // b has no tag gpu: it would refuse the token
	pure.waitMembers("a tags=db,gpu provides=; b tags=db,secretlab provides=")

	// A member joins that tok-db may use, and one it may not.
	c := startScopeMember(t, "c", []string{"gpu"}, []string{"triple"}, a.GossipAddr())
	d := startScopeMember(t, "d", []string{"db", "eu"}, []string{"half", "quad"}, b.GossipAddr())
	full.waitMembers("a tags=db,gpu provides=double,triple; b tags=db,secretlab provides=double,half,secret; c tags=gpu provides=triple; d tags=db,eu provides=half,quad")
	seen = append(seen, db.waitMembers("a tags=db provides=double; b tags=db provides=double,half; d tags=db provides=half")...)
	seenGPU = append(seenGPU, gpu.waitMembers("a tags=gpu provides=double,triple; c tags=gpu provides=triple")...)
	pure.waitMembers("a tags=db,gpu provides=; b tags=db,secretlab provides=; c tags=gpu provides=; d tags=db,eu provides=")

	// A member leaves.
	c.Close()
	full.waitMembers("a tags=db,gpu provides=double,triple; b tags=db,secretlab provides=double,half,secret; d tags=db,eu provides=half,quad")
	seenGPU = append(seenGPU, gpu.waitMembers("a tags=gpu provides=double,triple")...)
	d.Close()
	seen = append(seen, db.waitMembers("a tags=db provides=double; b tags=db provides=double,half")...)

	for _, list := range seen {
		if strings.Contains(list, "secret") || strings.Contains(list, "gpu") || strings.Contains(list, "triple") ||
			strings.Contains(list, "quad") || strings.Contains(list, "c tags") {
			t.Errorf("a client with token tags=db provides=double,half was shown what it may not use: %s", list)
		}
	}
	for _, list := range seenGPU {
		if strings.Contains(list, "b tags") || strings.Contains(list, "d tags") || strings.Contains(list, "db") {
			t.Errorf("a client with token tags=gpu was shown what it may not use: %s", list)
		}
	}
}

// TestScopedNotForwarded checks that a member does not forward the cells of
// a client with a scoped token to other members: what the client may not
// use there is not reached through it, and even what it may is not (it is
// served only by the member it presents the token to).
func TestScopedNotForwarded(t *testing.T) {
	a := startScopeMember(t, "a", []string{"db", "gpu"}, []string{"double", "triple"}, "")
	b := startScopeMember(t, "b", []string{"db", "secretlab"}, []string{"double", "half", "secret"}, a.GossipAddr())
	full := connectTo(t, a.addr, a.Fingerprint(), testToken)
	db := connectTo(t, a.addr, a.Fingerprint(), "tok-db")
	full.waitMembers("a tags=db,gpu provides=double,triple; b tags=db,secretlab provides=double,half,secret")
	db.waitMembers("a tags=db provides=double; b tags=db provides=double,half")
	// a knows b's provided names, through its peer connection, before it
	// lists it: forwarding works for the full token.
	if got := value(t, full.eval(remote.EvalCell, cellJob(t, "x = secret(7)", nil))); got != "7" {
		t.Fatalf("a full token's cell forwarded to b: %s", got)
	}
	if got := value(t, full.eval(remote.EvalCell, cellJob(t, "x = remote@secretlab where()", nil))); got != `"b"` {
		t.Fatalf("a full token's cell forwarded to b: %s", got)
	}
	before := strings.Count(b.logs.String(), "msg=evaluation")

	for _, tc := range []struct{ src, code, text string }{
		{"x = remote@secretlab 1", "not permitted", "not permitted: cell x selects secretlab, which this client's token may not use on server a"},
		{"x = remote@b 1", "not permitted", "not permitted: cell x selects b"},
		{"x = secret(7)", "failed", "undefined: secret"}, // not permitted: to this token it is no name at all
		{"x = half(4)", "failed", "undefined: half"},     // permitted, but on b only: not forwarded either
		{"x = triple(4)", "not permitted", "not permitted: cell x uses triple, which this client's token may not use on server a"},
	} {
		t.Run(tc.src, func(t *testing.T) {
			res := db.eval(remote.EvalCell, cellJob(t, tc.src, nil))
			if res.Error == nil {
				t.Fatalf("%s = %x, want an error", tc.src, res.Value)
			}
			if res.Error.Code.String() != tc.code || !strings.Contains(res.Error.Message, tc.text) {
				t.Errorf("%s: %s %q, want %s %q", tc.src, res.Error.Code, res.Error.Message, tc.code, tc.text)
			}
		})
	}
	if got := strings.Count(b.logs.String(), "msg=evaluation"); got != before {
		t.Errorf("b ran %d evaluations for a's scoped client:\n%s", got-before, b.logs)
	}
	if n := strings.Count(a.logs.String(), "forwarded=b"); n != 2 {
		t.Errorf("a forwarded %d cells, want 2 (the full token's):\n%s", n, a.logs)
	}
}

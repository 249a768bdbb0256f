package remote_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/sperse/sperse/remote"
	"github.com/sperse/sperse/server"
)

// notPermittedNote ends the unavailable errors of a client whose token the
// servers named scope.
func notPermittedNote(servers string) string {
	shows := "which shows"
	if strings.Contains(servers, ",") {
		shows = "which show"
	}
	return fmt.Sprintf("; your token is scoped on %s, %s only what it is permitted to use: what is missing may be there but not permitted to you", servers, shows)
}

// wantUnavailable checks that res failed as unavailable with the message want.
func wantUnavailable(t *testing.T, src string, err error, want string) {
	t.Helper()
	var serr *remote.ServerError
	if !errors.As(err, &serr) || !serr.Unavailable() {
		t.Errorf("%s: %v, want unavailable", src, err)
		return
	}
	if err.Error() != want {
		t.Errorf("%s:\n got %q\nwant %q", src, err, want)
	}
}

// TestScopedUnavailable checks that a cell that no server can run says, to
// a client whose token a server scopes, that it may not be permitted.
func TestScopedUnavailable(t *testing.T) {
	double := func(n int) int { return 2 * n }
	tokens := []server.Token{{Secret: "tok-db", Tags: []string{"db"}, Provides: []string{}}}
	a := startServer(t, "127.0.0.1:0", server.Config{Name: "a", Tags: []string{"db", "gpu"},
		Provide: map[string]any{"double": double}, ScopedTokens: tokens})
	b := startServer(t, "127.0.0.1:0", server.Config{Name: "b", Tags: []string{"db"}, ScopedTokens: tokens})

	scoped := newClient(t, remote.ClientConfig{Token: "tok-db"})
	scoped.connect(t, a.addr+"#"+a.Fingerprint())
	full := newClient(t, remote.ClientConfig{})
	full.connect(t, b.addr+"#"+b.Fingerprint())

	for _, tc := range []struct{ src, what string }{
		{"x = remote@gpu 1", "no connected server matches remote@gpu"},
		{"x = remote double(21)", "no connected server provides double"},
		{"x = remote@db nosuchname(1)", "no connected server provides nosuchname"},
	} {
		res := scoped.eval(t, tc.src, nil)
		wantUnavailable(t, tc.src, res.Err, tc.what+" (servers: a [tags: db])"+notPermittedNote("a"))
	}
	if got := scoped.mustEval(t, "x = remote@db where()", nil); got != `"a"` {
		t.Errorf("x = %s", got)
	}

	// With an unscoped token the errors are as before.
	for _, tc := range []struct{ src, what string }{
		{"x = remote@gpu 1", "no connected server matches remote@gpu"},
		{"x = remote double(21)", "no connected server provides double"},
	} {
		res := full.eval(t, tc.src, nil)
		wantUnavailable(t, tc.src, res.Err, tc.what+" (servers: b [tags: db])")
	}

	// Both: the note names the server that scopes the token.
	full.connect(t, a.addr+"#"+a.Fingerprint())
	if got := full.mustEval(t, "x = remote double(21)", nil); got != "42" {
		t.Errorf("double(21) = %s", got)
	}
	scoped2 := newClient(t, remote.ClientConfig{Token: "tok-db"})
	scoped2.connect(t, a.addr+"#"+a.Fingerprint())
	scoped2.connect(t, b.addr+"#"+b.Fingerprint())
	res := scoped2.eval(t, "x = remote@gpu 1", nil)
	wantUnavailable(t, "remote@gpu", res.Err, "no connected server matches remote@gpu (servers: a [tags: db], b [tags: db])"+notPermittedNote("a, b"))
}

// startScopeMember starts a server called name with tags, providing the
// functions named in provides (each returns its argument), with the test
// token and tokens, in the cluster of secret: joining the gossip address
// of join, or starting the cluster if join is nil.
func startScopeMember(t *testing.T, name string, tags, provides []string, tokens []server.Token, join *testServer) *testServer {
	t.Helper()
	provide := map[string]any{}
	for _, fn := range provides {
		provide[fn] = func(n int) int { return n }
	}
	cc := &server.Cluster{Secret: []byte("the cluster secret of the remote scope tests"), Gossip: "127.0.0.1:0"}
	if join != nil {
		cc.Join = []string{join.GossipAddr()}
	}
	ts := startServer(t, "127.0.0.1:0", server.Config{Name: name, Tags: tags, Provide: provide, ScopedTokens: tokens, Cluster: cc})
	if err := ts.JoinCluster(t.Context()); err != nil {
		t.Fatal(err)
	}
	return ts
}

// showServers is how the tests show a client's servers: "name tags=a,b
// provides=c,d" each, connected ones only, sorted by name.
func showServers(infos []remote.ServerInfo) string {
	var parts []string
	for _, s := range infos {
		if s.Connected {
			parts = append(parts, fmt.Sprintf("%s tags=%s provides=%s", s.Name, strings.Join(s.Tags, ","), strings.Join(s.Provides, ",")))
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, "; ")
}

// showMembers is how the tests show a member list: as showServers.
func showMembers(list []remote.Member) string {
	var parts []string
	for _, m := range list {
		parts = append(parts, fmt.Sprintf("%s tags=%s provides=%s", m.Name, strings.Join(m.Tags, ","), strings.Join(m.Provides, ",")))
	}
	slices.Sort(parts)
	return strings.Join(parts, "; ")
}

// waitCluster waits until c is connected to the servers of want (as
// showServers shows them), and every one of them lists the members of
// wantMembers (as showMembers shows them). Every server list and member
// list c had on the way is checked with check.
func (c *testClient) waitCluster(t *testing.T, want, wantMembers string, check func(string)) {
	t.Helper()
	c.waitFor(t, "servers "+want+", members "+wantMembers, func(infos []remote.ServerInfo) bool {
		got := showServers(infos)
		check(got)
		ok := got == want
		for _, s := range infos {
			if s.Connected {
				m := showMembers(c.MembersOf(s.Name))
				check(m)
				ok = ok && m == wantMembers
			}
		}
		return ok
	})
}

// TestScopedCluster checks what a client with a scoped token sees of a
// cluster: each member with only the tags and provided names its token may
// use, whether it learns of it from a member's list or connects to it; no
// member it may not use at all (so it does not try to connect to it); as
// members join and leave. And that its cells out of scope fail saying
// they may not be permitted, while an unscoped client sees it all.
func TestScopedCluster(t *testing.T) {
	tokens := []server.Token{{Secret: "tok-db", Tags: []string{"db"}, Provides: []string{"double", "half"}}}
	a := startScopeMember(t, "a", []string{"db", "gpu"}, []string{"double", "triple"}, tokens, nil)
	b := startScopeMember(t, "b", []string{"gpu", "secretlab"}, []string{"double", "half", "secret"}, tokens, a)
	c := startScopeMember(t, "c", []string{"db", "secretlab"}, []string{"half", "secret"}, tokens, a)

	hidden := func(t *testing.T) func(string) {
		seen := map[string]bool{}
		return func(list string) {
			if seen[list] {
				return
			}
			seen[list] = true
			for _, word := range []string{"gpu", "secret", "triple", "quad", "b tags", "e tags"} {
				if strings.Contains(list, word) {
					t.Errorf("a client with token tags=db provides=double,half was shown %s: %s", word, list)
				}
			}
		}
	}
	scoped := newClient(t, remote.ClientConfig{Token: "tok-db"})
	scoped.connect(t, a.addr+"#"+a.Fingerprint())
	scoped.waitCluster(t, "a tags=db provides=double; c tags=db provides=half",
		"a tags=db provides=double; c tags=db provides=half", hidden(t))

	full := newClient(t, remote.ClientConfig{})
	full.connect(t, a.addr+"#"+a.Fingerprint())
	all := "a tags=db,gpu provides=double,triple; b tags=gpu,secretlab provides=double,half,secret; c tags=db,secretlab provides=half,secret"
	full.waitCluster(t, all, all, func(string) {})

	// A member joins that the token may use, and one it may not.
	d := startScopeMember(t, "d", []string{"db", "eu"}, []string{"half", "quad"}, tokens, c)
	e := startScopeMember(t, "e", []string{"gpu"}, []string{"double"}, tokens, b)
	all += "; d tags=db,eu provides=half,quad; e tags=gpu provides=double"
	full.waitCluster(t, all, all, func(string) {})
	scoped.waitCluster(t, "a tags=db provides=double; c tags=db provides=half; d tags=db provides=half",
		"a tags=db provides=double; c tags=db provides=half; d tags=db provides=half", hidden(t))

	// The members the token may not use were never tried.
	for _, s := range []*testServer{b, e} {
		if strings.Contains(s.logs.String(), "msg=refused") {
			t.Errorf("the client tried a member its token may not use:\n%s", s.logs)
		}
	}
	for _, s := range scoped.Servers() {
		if !s.Connected || (s.Name != "a" && s.Via == "") {
			t.Errorf("server %+v, want connected and learned from a member", s)
		}
	}

	// Its cells.
	for _, tc := range []struct{ src, what string }{
		{"x = remote@gpu 1", "no connected server matches remote@gpu"},
		{"x = remote@secretlab 1", "no connected server matches remote@secretlab"},
		{"x = remote@b 1", "no connected server matches remote@b"},
		{"x = remote@eu half(4)", "no connected server matches remote@eu"},
		{"x = remote triple(2)", "no connected server provides triple"},
		{"x = remote secret(2)", "no connected server provides secret"},
	} {
		res := scoped.eval(t, tc.src, nil)
		wantUnavailable(t, tc.src, res.Err, tc.what+" (servers: a [tags: db; provides: double], c [tags: db; provides: half], d [tags: db; provides: half])"+notPermittedNote("a, c, d"))
	}
	for _, tc := range []struct {
		src   string
		where []string
	}{
		{"x = remote half(4)", []string{"c", "d"}},
		{"x = remote@db double(4)", []string{"a"}},
		{"x = remote@d half(4)", []string{"d"}},
	} {
		res := scoped.eval(t, tc.src, nil)
		if res.Err != nil || res.Value.String() != "4" || !slices.Contains(tc.where, res.Where) {
			t.Errorf("%s = %v on %s (%v), want 4 on one of %s", tc.src, res.Value, res.Where, res.Err, tc.where)
		}
	}

	// The unscoped client reaches everything.
	for _, src := range []string{"x = remote@secretlab secret(4)", "x = remote triple(4)", "x = remote@eu quad(4)", "x = remote@e where()"} {
		if res := full.eval(t, src, nil); res.Err != nil {
			t.Errorf("%s: %v", src, res.Err)
		}
	}
	res := full.eval(t, "x = remote@nowhere 1", nil)
	if res.Err == nil || strings.Contains(res.Err.Error(), "permitted") {
		t.Errorf("remote@nowhere for an unscoped client: %v", res.Err)
	}

	// Members leave.
	d.Close()
	e.Close()
	scoped.waitCluster(t, "a tags=db provides=double; c tags=db provides=half",
		"a tags=db provides=double; c tags=db provides=half", hidden(t))
}

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sperse/sperse/cmd/internal/workspace"
	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/reactive"
	"github.com/sperse/sperse/remote"
)

// These tests run clusters of real sperse-server processes on loopback:
// gossip over UDP and TCP, work over QUIC.

// clusterKey writes a cluster key file and returns its path.
func clusterKey(t *testing.T, key string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cluster.key")
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// member starts a cluster member called name with the given token, joining
// the gossip addresses join (none: it starts the cluster), with more flags.
func member(t *testing.T, name, token, key string, join []string, more ...string) *process {
	t.Helper()
	args := []string{"--listen", "127.0.0.1:0", "--name", name, "--token", token, "--state-dir", t.TempDir(),
		"--cluster-key-file", key, "--gossip-listen", "127.0.0.1:0"}
	if len(join) > 0 {
		args = append(args, "--join", strings.Join(join, ","))
	}
	return startServer(t, append(args, more...)...)
}

// module writes a Starlark module defining fn, which returns its argument
// and where it ran, and returns the --module flag providing it.
func module(t *testing.T, fn string) []string {
	t.Helper()
	path := filepath.Join(t.TempDir(), fn+".star")
	src := fmt.Sprintf("def %s(x):\n    return [x, where()]\n", fn)
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"--module", fn + "=" + path}
}

// clusterClient returns a client connected to address only.
func clusterClient(t *testing.T, token, address string) *remote.Client {
	t.Helper()
	c := remote.NewClient(remote.ClientConfig{Token: token, KnownServers: filepath.Join(t.TempDir(), "known_servers")})
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Connect(ctx, address); err != nil {
		t.Fatal(err)
	}
	return c
}

// waitServers waits until the client's servers are want, by name, sorted,
// and all are connected.
func waitServers(t *testing.T, c *remote.Client, want ...string) {
	t.Helper()
	var got []string
	for range 300 {
		got = got[:0]
		for _, s := range c.Servers() {
			if !s.Connected {
				s.Name += " (not connected)"
			}
			got = append(got, s.Name)
		}
		slices.Sort(got)
		if slices.Equal(got, want) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("client's connected servers are %v, want %v; servers: %+v", got, want, c.Servers())
}

// evalCell evaluates src, a remote cell, through c and returns its value's
// representation and where it ran.
func evalCell(t *testing.T, c *remote.Client, src string) (string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cell := lang.ParseCell("cluster.sp", 1, src)
	if cell.Err != nil {
		t.Fatal(cell.Err)
	}
	res := c.Eval(ctx, lang.Request{Cell: cell, Scope: map[string]lang.Value{}})
	if res.Err != nil {
		t.Fatalf("%s: %v", src, res.Err)
	}
	return res.Value.String(), res.Where
}

func TestClusterOneEndpoint(t *testing.T) {
	const token = "tok"
	key := clusterKey(t, "a cluster secret of some length")
	a := member(t, "a", token, key, nil)
	b := member(t, "b", token, key, []string{a.gossip}, module(t, "fb")...)
	member(t, "c", token, key, []string{b.gossip}, module(t, "fc")...)
	d := member(t, "d", token, key, []string{a.gossip}, module(t, "fd")...)

	// The client knows a, and learns the others from it.
	c := clusterClient(t, token, a.pinned)
	waitServers(t, c, "a", "b", "c", "d")
	for _, s := range c.Servers() {
		if s.Name != "a" && s.Via == "" {
			t.Errorf("server %s: Via is empty, want the member it was learned from", s.Name)
		}
	}
	for _, fn := range []string{"fb", "fc", "fd"} {
		got, where := evalCell(t, c, "x = remote "+fn+"(1)")
		want := fmt.Sprintf("[1, %q]", fn[1:])
		if got != want || where != fn[1:] {
			t.Errorf("remote %s(1) = %s on %s, want %s on %s", fn, got, where, want, fn[1:])
		}
	}

	// A member killed leaves the membership within seconds: the client
	// forgets it (it was learned), and no member lists it.
	d.kill()
	waitServers(t, c, "a", "b", "c")
	_, err := evalNoFail(c, "x = remote fd(1)")
	if err == nil || !strings.Contains(err.Error(), "no connected server provides fd") {
		t.Errorf("after d was killed, remote fd(1): %v, want unavailable", err)
	}
}

// evalNoFail evaluates src through c and returns its value or error.
func evalNoFail(c *remote.Client, src string) (lang.Value, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res := c.Eval(ctx, lang.Request{Cell: lang.ParseCell("cluster.sp", 1, src), Scope: map[string]lang.Value{}})
	return res.Value, res.Err
}

func TestClusterForwardsForClientsOfOneMember(t *testing.T) {
	key := clusterKey(t, "a cluster secret of some length")
	// The client's token is a's only: it cannot use b directly.
	a := member(t, "a", "token-a", key, nil)
	member(t, "b", "token-b", key, []string{a.gossip}, module(t, "fb")...)

	c := clusterClient(t, "token-a", a.pinned)
	// The client learns b from a, and may not use it: the cell goes to a,
	// which forwards it.
	var got string
	for range 200 {
		v, err := evalNoFail(c, "x = remote fb(7)")
		if err == nil {
			got = v.String()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got != `[7, "b"]` {
		t.Fatalf("remote fb(7) through a = %q, want [7, \"b\"]; servers %+v\nlogs of a:\n%s", got, c.Servers(), a.logs)
	}
	if _, where := evalCell(t, c, "x = remote fb(8)"); where != "a" {
		t.Errorf("the forwarded cell ran on %s as the client sees it, want a", where)
	}
	if !strings.Contains(a.logs.String(), "forwarded=b") {
		t.Errorf("a's log does not show the forwarding to b:\n%s", a.logs)
	}
}

func TestClusterHops(t *testing.T) {
	const token = "tok"
	key := clusterKey(t, "a cluster secret of some length")
	a := member(t, "a", token, key, nil)
	member(t, "b", token, key, []string{a.gossip})
	c := clusterClient(t, token, a.pinned)
	waitServers(t, c, "a", "b")

	// client → a → b → a: each hop adds where it ran; the captured n
	// travels with the function.
	src := `path = remote@a (lambda n: [where()] + on("b", lambda: [where(), n] + on("a", lambda: [where()])))(42)`
	got, where := evalCell(t, c, src)
	if want := `["a", "b", 42, "a"]`; got != want || where != "a" {
		t.Errorf("hop chain = %s on %s, want %s on a", got, where, want)
	}
	// From the client, on() goes straight to the member.
	if got, _ := evalCell(t, c, `x = remote@a on("b", lambda x: [x, where()], 5)`); got != `[5, "b"]` {
		t.Errorf(`on("b", ...) from a = %s, want [5, "b"]`, got)
	}
}

func TestClusterBadJoin(t *testing.T) {
	const token = "tok"
	key := clusterKey(t, "a cluster secret of some length")
	a := member(t, "a", token, key, nil)

	t.Run("wrong key", func(t *testing.T) {
		other := clusterKey(t, "another secret, not the cluster's")
		code, errOut := serverFails(t, "--name", "x", "--cluster-key-file", other, "--join", a.gossip)
		if code != 1 || !strings.Contains(errOut, "join cluster at "+a.gossip+": no member answered") {
			t.Errorf("joining with a wrong key: exit %d, stderr:\n%s", code, errOut)
		}
		// The member logs that it could not read what the stranger sent.
		if !strings.Contains(a.waitLog("msg=gossip"), "level=WARN msg=gossip") {
			t.Errorf("a did not log the refused join:\n%s", a.logs)
		}
	})
	t.Run("no answer", func(t *testing.T) {
		code, errOut := serverFails(t, "--name", "x", "--cluster-key-file", key, "--join", "127.0.0.1:1")
		if code != 1 || !strings.Contains(errOut, "join cluster at 127.0.0.1:1: no member answered") {
			t.Errorf("joining an address where nothing listens: exit %d, stderr:\n%s", code, errOut)
		}
	})
	t.Run("short key", func(t *testing.T) {
		code, errOut := serverFails(t, "--name", "x", "--cluster-key-file", clusterKey(t, "short"))
		if code != 1 || !strings.Contains(errOut, "want at least 16") {
			t.Errorf("a short key: exit %d, stderr:\n%s", code, errOut)
		}
	})
}

// serverFails runs sperse-server with args (and a loopback listen address,
// a token and a state directory), which must exit by itself, and returns
// its exit code and stderr.
func serverFails(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sperseServer(t), append([]string{"--listen", "127.0.0.1:0", "--token", "tok",
		"--state-dir", t.TempDir(), "--gossip-listen", "127.0.0.1:0"}, args...)...)
	var errOut syncBuffer
	cmd.Stderr = &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("sperse-server %v did not exit within a minute:\n%s", args, errOut.String())
	}
	code := 0
	if err != nil {
		code = cmd.ProcessState.ExitCode()
	}
	return code, errOut.String()
}

// function returns the function that src, a def, defines.
func function(t *testing.T, src string) lang.Value {
	t.Helper()
	v, err := lang.NewInterp("local").Eval(context.Background(), lang.ParseCell("f.sp", 1, src), nil)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// waitVersion waits until every server of c advertises version of the
// published function name (0: none): at once, as a rule, and at the
// latest after a full exchange of state between members (every 3s).
func waitVersion(t *testing.T, c *remote.Client, name string, version int) {
	t.Helper()
	for range 600 {
		all := true
		for _, s := range c.Servers() {
			if s.Signatures[name].Version != version {
				all = false
			}
		}
		if all {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the servers do not all advertise %s version %d: %+v", name, version, c.Servers())
}

func TestClusterPublishedFunctions(t *testing.T) {
	const token = "tok"
	key := clusterKey(t, "a cluster secret of some length")
	a := member(t, "a", token, key, nil)
	member(t, "b", token, key, []string{a.gossip})
	c := clusterClient(t, token, a.pinned)
	waitServers(t, c, "a", "b")
	ctx := context.Background()

	v, err := c.Publish(ctx, "f", function(t, "def f(x):\n    return [x * 2, where()]\n"))
	if err != nil || v != 1 {
		t.Fatalf("publish f: version %d, %v; want 1", v, err)
	}
	waitVersion(t, c, "f", 1)
	for _, at := range []string{"a", "b"} {
		if got, _ := evalCell(t, c, "x = remote@"+at+" f(3)"); got != fmt.Sprintf(`[6, %q]`, at) {
			t.Errorf("remote@%s f(3) = %s", at, got)
		}
	}

	// A member that joins later receives it.
	member(t, "late", token, key, []string{a.gossip})
	waitServers(t, c, "a", "b", "late")
	waitVersion(t, c, "f", 1)
	if got, _ := evalCell(t, c, "x = remote@late f(4)"); got != `[8, "late"]` {
		t.Errorf("remote@late f(4) = %s", got)
	}

	// Another signature: old-style calls fail on the client.
	if v, err := c.Publish(ctx, "f", function(t, "def f(x, y):\n    return [x + y, where()]\n")); err != nil || v != 2 {
		t.Fatalf("publish f again: version %d, %v; want 2", v, err)
	}
	waitVersion(t, c, "f", 2)
	if _, err := evalNoFail(c, "x = remote f(3)"); err == nil || !strings.Contains(err.Error(), "version 2") {
		t.Errorf("remote f(3) after f(x, y) was published: %v, want an error naming the signature", err)
	}
	if got, _ := evalCell(t, c, "x = remote@b f(3, 4)"); got != `[7, "b"]` {
		t.Errorf("remote@b f(3, 4) = %s", got)
	}

	// Rollback: version 1 again, everywhere.
	if v, err := c.Rollback(ctx, "f"); err != nil || v != 1 {
		t.Fatalf("rollback f: version %d, %v; want 1", v, err)
	}
	waitVersion(t, c, "f", 1)
	if got, _ := evalCell(t, c, "x = remote@late f(5)"); got != `[10, "late"]` {
		t.Errorf("remote@late f(5) after rollback = %s", got)
	}
	vs, err := c.Versions(ctx, "f")
	if err != nil || len(vs) != 2 || !vs[0].Current || vs[1].Current {
		t.Errorf("versions(f) = %+v, %v; want 2 versions, the first current", vs, err)
	}

	// Unpublished: no server provides it.
	if err := c.Unpublish(ctx, "f"); err != nil {
		t.Fatal(err)
	}
	waitVersion(t, c, "f", 0)
	if _, err := evalNoFail(c, "x = remote f(3)"); err == nil || !strings.Contains(err.Error(), "no connected server provides f") {
		t.Errorf("remote f(3) after unpublish: %v, want unavailable", err)
	}
}

// TestClusterMemberKilledMidPmap kills (SIGKILL) a member of a cluster that
// the client learned of, while a pmap is spread over the members: the
// member leaves the membership within seconds (the client forgets it), and
// its chunk runs again on another member, so the value is right.
func TestClusterMemberKilledMidPmap(t *testing.T) {
	const token = "tok"
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	key := clusterKey(t, "a cluster secret of some length")
	a := member(t, "a", token, key, nil, "--max-concurrency", "1")
	b := member(t, "b", token, key, []string{a.gossip}, "--max-concurrency", "1")

	ws, err := workspace.Start(ctx, workspace.Options{
		Servers:      []string{a.pinned},
		Token:        token,
		KnownServers: filepath.Join(t.TempDir(), "known_servers"),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	waitServers(t, ws.Client, "a", "b")
	cells, err := lang.ParseFile("failover.sp", fmt.Appendf(nil, failoverWork, failoverSteps))
	if err != nil {
		t.Fatal(err)
	}
	e := ws.Engine
	e.Load(cells)

	chunkDone := regexp.MustCompile(`(?m)^.*msg=evaluation .*kind=chunk .*outcome=ok`)
	for !chunkDone.MatchString(b.logs.String()) {
		select {
		case <-ctx.Done():
			t.Fatalf("b finished no chunk in time; b's log:\n%s", b.logs)
		case <-time.After(10 * time.Millisecond):
		}
	}
	b.kill()
	killed := time.Now()
	if err := e.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	mx, _ := e.Cell("mixed")
	want := make([]string, 16)
	for n := range want {
		want[n] = fmt.Sprint(mix(n))
	}
	if got, want := fmt.Sprint(mx.Value), "["+strings.Join(want, ", ")+"]"; mx.State != reactive.Ready || got != want {
		t.Errorf("mixed is %s %v (%v)\nwant %s", mx.State, got, mx.Err, want)
	}
	waitServers(t, ws.Client, "a")
	t.Logf("b left the client's servers %s after it was killed", time.Since(killed).Round(100*time.Millisecond))
}

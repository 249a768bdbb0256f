package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sperse/sperse/cmd/internal/workspace"
	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/reactive"
	"github.com/sperse/sperse/remote"
)

// Faults injected into real processes: a sperse-server killed under load
// and restarted, and a client process killed mid-evaluation.

// faultSteps is the length of the loop of faultWork's work: some tens of
// milliseconds for each cell on this project's machine.
const faultSteps = 300_000

// faultWork is the workspace of client k of TestServerKilledUnderLoad: 40
// remote cells c0..c39 that each take some CPU time, 40 remote cells d0..d39
// that each use one of them (sent with a reference to its pending result:
// promise pipelining), and a local total. Every value depends on k and on
// every step of the loop, so a wrong or mixed-up result shows.
func faultWork(k int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "def work(n):\n    s = n\n    for i in range(%d):\n        s = (s * 31 + i) %% 1000003\n    return s\n", faultSteps)
	var ds []string
	for i := range faultCells {
		fmt.Fprintf(&b, "c%d = remote work(%d)\n", i, k*1000+i)
		fmt.Fprintf(&b, "d%d = remote c%d + %d\n", i, i, i)
		ds = append(ds, fmt.Sprintf("d%d", i))
	}
	fmt.Fprintf(&b, "total = sum([%s])\n", strings.Join(ds, ", "))
	return b.String()
}

const faultCells = 40

// work is faultWork's work, computed here.
func work(n int) int {
	s := n
	for i := range faultSteps {
		s = (s*31 + i) % 1000003
	}
	return s
}

// faultWant returns the values of the cells of faultWork(k), as reprs.
func faultWant(k int) map[string]string {
	want := map[string]string{}
	total := 0
	for i := range faultCells {
		c := work(k*1000 + i)
		want[fmt.Sprintf("c%d", i)] = fmt.Sprint(c)
		want[fmt.Sprintf("d%d", i)] = fmt.Sprint(c + i)
		total += c + i
	}
	want["total"] = fmt.Sprint(total)
	want["work"] = "<function work>"
	return want
}

// settled reports whether every cell of e has finished: ready or failed,
// none queued, running, stale or unavailable. It returns the cells that have
// not.
func settled(e *reactive.Engine) (bool, []string) {
	var open []string
	for _, v := range e.Cells() {
		switch v.State {
		case reactive.Ready, reactive.Error, reactive.UpstreamError, reactive.Cancelled:
		default:
			open = append(open, v.Name+" "+v.State.String())
		}
	}
	return len(open) == 0, open
}

// states counts the cells of e by state.
func states(e *reactive.Engine) map[reactive.State]int {
	n := map[reactive.State]int{}
	for _, v := range e.Cells() {
		n[v.State]++
	}
	return n
}

// TestServerKilledUnderLoad kills (SIGKILL) a sperse-server process while
// four clients (workspaces, as sperse run and sperse-tui wire them) have
// cells running and queued on it, and starts it again on the same address
// with the same state directory (so the same certificate, which the clients
// pin). The clients reconnect, and every cell ends ready with its right
// value: none is left running, queued or stale, and none is wrong.
func TestServerKilledUnderLoad(t *testing.T) {
	const token = "faults-token-51d0"
	const clients = 4
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()

	stateDir := t.TempDir()
	args := []string{"--name", "a", "--token", token, "--state-dir", stateDir, "--max-concurrency", "2"}
	a := startServer(t, append([]string{"--listen", "127.0.0.1:0"}, args...)...)

	wss := make([]*workspace.Workspace, clients)
	for k := range wss {
		ws, err := workspace.Start(ctx, workspace.Options{
			Servers:      []string{a.pinned},
			Token:        token,
			KnownServers: filepath.Join(t.TempDir(), "known_servers"),
		})
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
		wss[k] = ws
		cells, err := lang.ParseFile(fmt.Sprintf("faults%d.sp", k), []byte(faultWork(k)))
		if err != nil {
			t.Fatal(err)
		}
		ws.Engine.Load(cells)
	}

	// Kill the server once it has done a good part of the work, with more
	// running and queued.
	evaluated := regexp.MustCompile(`(?m)^.*msg=evaluation .*outcome=ok`)
	done := func(p *process) int { return len(evaluated.FindAllString(p.logs.String(), -1)) }
	for done(a) < clients*faultCells/2 {
		select {
		case <-ctx.Done():
			t.Fatalf("the server did too little in time; its log:\n%s", a.logs)
		case <-time.After(10 * time.Millisecond):
		}
	}
	a.kill()
	running := 0
	for k, ws := range wss {
		n := states(ws.Engine)
		t.Logf("client %d at the kill: %v", k, n)
		running += n[reactive.Running]
	}
	if running == 0 {
		t.Fatal("no cell was running when the server was killed: make the work longer")
	}

	// The same server again, on the same address.
	b := startServer(t, append([]string{"--listen", a.addr}, args...)...)
	if b.pinned != a.pinned {
		t.Fatalf("restarted server's address %s, want %s", b.pinned, a.pinned)
	}

	// Every cell of every client ends: ready, with its value.
	for k, ws := range wss {
		for {
			ok, open := settled(ws.Engine)
			if ok {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("client %d: cells not finished: %v\nserver log:\n%s", k, open, b.logs)
			case <-time.After(50 * time.Millisecond):
			}
		}
		want := faultWant(k)
		for _, v := range ws.Engine.Cells() {
			if v.State != reactive.Ready {
				t.Errorf("client %d: %s is %s: %v", k, v.Name, v.State, v.Err)
				continue
			}
			if got := v.Value.String(); got != want[v.Name] {
				t.Errorf("client %d: %s = %s, want %s", k, v.Name, got, want[v.Name])
			}
		}
		if s := ws.Client.Servers(); len(s) != 1 || !s[0].Connected {
			t.Errorf("client %d is not connected again: %+v", k, s)
		}
	}
	t.Logf("evaluations: %d before the kill, %d after the restart", done(a), done(b))
	if done(b) == 0 {
		t.Errorf("the restarted server evaluated nothing")
	}
}

// faultClientEnv names the environment variable that makes
// TestFaultClientProcess a client process: "ADDRESS TOKEN FILE".
const faultClientEnv = "SPERSE_FAULT_CLIENT"

// TestFaultClientProcess is the client process of
// TestClientProcessKilledMidEvaluation: the test binary run again, which
// runs sperse run and is killed. Otherwise it is skipped.
func TestFaultClientProcess(t *testing.T) {
	spec := os.Getenv(faultClientEnv)
	if spec == "" {
		t.Skip("the client process of TestClientProcessKilledMidEvaluation")
	}
	f := strings.Fields(spec)
	os.Exit(run(context.Background(), []string{"run", "--server", f[0], "--token", f[1], f[2]}, strings.NewReader(""), os.Stdout, os.Stderr))
}

// TestClientProcessKilledMidEvaluation kills (SIGKILL) a client process,
// sperse run, while its cell runs on a sperse-server of one slot. The server
// notices that the client is gone within its idle timeout, stops the
// evaluation and frees the slot: another client's cell then runs there.
func TestClientProcessKilledMidEvaluation(t *testing.T) {
	const token = "faults-token-9e27"
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	srv := startServer(t, "--listen", "127.0.0.1:0", "--name", "a", "--token", token, "--state-dir", t.TempDir(),
		"--max-concurrency", "1", "--timeout", "1h", "--max-steps", "1000000000000", "--idle-timeout", "2s")

	// Another client watches the server's load (its Status).
	watcher := remote.NewClient(remote.ClientConfig{Token: token, KnownServers: filepath.Join(t.TempDir(), "known_servers")})
	defer watcher.Close()
	if err := watcher.Connect(ctx, srv.pinned); err != nil {
		t.Fatal(err)
	}
	waitLoad := func(what string, inFlight int) {
		t.Helper()
		for {
			if s := watcher.Servers(); len(s) == 1 && s[0].InFlight == inFlight && s[0].Queued == 0 {
				return
			}
			select {
			case <-ctx.Done():
				t.Fatalf("timed out waiting until %s: %+v\nserver log:\n%s", what, watcher.Servers(), srv.logs)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}

	path := writeFile(t, "slow.sp", "def spin():\n    while True:\n        pass\nslow = remote spin()\n")
	client := exec.Command(os.Args[0], "-test.run=^TestFaultClientProcess$")
	client.Env = append(os.Environ(), faultClientEnv+"="+srv.pinned+" "+token+" "+path)
	out := &syncBuffer{}
	client.Stdout, client.Stderr = out, out
	if err := client.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			client.Process.Kill()
			client.Wait()
		}
	}()
	waitLoad("the client's loop holds the only slot", 1)

	client.Process.Signal(syscall.SIGKILL)
	client.Wait()
	killed = true

	waitLoad("the slot is free", 0)
	res := watcher.Eval(ctx, lang.Request{Cell: lang.ParseCell("w.sp", 1, "x = remote 6 * 7")})
	if res.Err != nil || res.Value.String() != "42" {
		t.Errorf("x = %v, %v; want 42", res.Value, res.Err)
	}
	// The server logs the stopped evaluation after it frees the slot, so
	// the line may come a moment after x's result.
	logs := srv.waitLog("outcome=disconnected")
	if !regexp.MustCompile(`msg=evaluation .*cell=slow .*outcome=disconnected`).MatchString(logs) ||
		!strings.Contains(logs, "no recent network activity") {
		t.Errorf("the server's log does not show the client's connection timing out and its evaluation stopped:\n%s\nclient output:\n%s", logs, out)
	}
}

// TestServerConnectionLimitFlag starts sperse-server with --max-conns 1: a
// second client is turned away while the first is connected (it keeps
// trying), and gets in once the first has gone.
func TestServerConnectionLimitFlag(t *testing.T) {
	const token = "faults-token-c3a8"
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	srv := startServer(t, "--listen", "127.0.0.1:0", "--name", "a", "--token", token, "--state-dir", t.TempDir(), "--max-conns", "1")
	newClient := func() *remote.Client {
		c := remote.NewClient(remote.ClientConfig{Token: token, KnownServers: filepath.Join(t.TempDir(), "known_servers")})
		t.Cleanup(func() { c.Close() })
		return c
	}
	first, second := newClient(), newClient()
	if err := first.Connect(ctx, srv.pinned); err != nil {
		t.Fatal(err)
	}
	if err := second.Connect(ctx, srv.pinned); err == nil || !strings.Contains(err.Error(), "connection limit") {
		t.Fatalf("a second client with --max-conns 1: %v, want it turned away at the connection limit", err)
	}
	first.Close()
	for {
		if s := second.Servers(); len(s) == 1 && s[0].Connected {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the second client did not get in: %+v\nserver log:\n%s", second.Servers(), srv.logs)
		case <-time.After(20 * time.Millisecond):
		}
	}
	res := second.Eval(ctx, lang.Request{Cell: lang.ParseCell("w.sp", 1, "x = remote 6 * 7")})
	if res.Err != nil || res.Value.String() != "42" {
		t.Errorf("x = %v, %v; want 42", res.Value, res.Err)
	}
}

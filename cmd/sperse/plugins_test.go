package main

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite" // to create the test databases

	"github.com/sperse/sperse/cmd/internal/workspace"
	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/reactive"
	"github.com/sperse/sperse/remote"
	"github.com/sperse/sperse/server"
)

// These tests run sperse run against sperse-server processes that provide
// names beyond the builtins (--module, --sqlite), and check that cells go to
// the servers that provide what they use.

// echoModule defines echo and echos, with a private helper.
const echoModule = `
def echo(x):
    return x

def echos(*xs):
    return " ".join([_text(x) for x in xs])

def _text(x):
    return x if type(x) == "string" else str(x)
`

// makeDB creates an SQLite database with a table t of the given names (ids
// 1, 2, ...) and returns its path.
func makeDB(t *testing.T, names ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("create table t (id integer primary key, name text not null)"); err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if _, err := db.Exec("insert into t (name) values (?)", name); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// pluginServers starts three servers with the token pluginToken:
//
//	a  tags eu      --module echo (echo, echos)
//	b  tags eu,db   --sqlite sales (ann, bob, cy)
//	c  tags us,db   --sqlite inventory (bolt, nut)
func pluginServers(t *testing.T) (a, b, c *process) {
	echo := writeFile(t, "echo.star", echoModule)
	sales := makeDB(t, "ann", "bob", "cy")
	inventory := makeDB(t, "bolt", "nut")
	common := []string{"--listen", "127.0.0.1:0", "--token", pluginToken}
	a = startServer(t, append(common, "--name", "a", "--tag", "eu", "--state-dir", t.TempDir(), "--module", "echo="+echo)...)
	b = startServer(t, append(common, "--name", "b", "--tag", "eu", "--tag", "db", "--state-dir", t.TempDir(), "--sqlite", "sales="+sales)...)
	c = startServer(t, append(common, "--name", "c", "--tag", "us", "--tag", "db", "--state-dir", t.TempDir(), "--sqlite", "inventory="+inventory)...)
	return a, b, c
}

const pluginToken = "plugin-token-5e1d"

// runOn runs the workspace src with sperse run --json on the servers.
func runOn(t *testing.T, src string, servers ...*process) (int, map[string]map[string]any, string) {
	t.Helper()
	args := []string{"--token", pluginToken}
	for _, p := range servers {
		args = append(args, "--server", p.pinned)
	}
	return runJSON(t, src, args...)
}

// wantCells checks cells against want: for each name, "REPR on WHERE", or
// "STATE: TEXT" for a cell that is not ready, whose error must contain TEXT.
func wantCells(t *testing.T, cells map[string]map[string]any, want map[string]string) {
	t.Helper()
	for name, w := range want {
		c := cells[name]
		if c == nil {
			t.Errorf("no cell %s", name)
			continue
		}
		if state, text, ok := strings.Cut(w, ": "); ok && state == c["state"] {
			if e, _ := c["error"].(string); !strings.Contains(e, text) {
				t.Errorf("%s: error %q, want one containing %q", name, e, text)
			}
			continue
		}
		got := fmt.Sprintf("%v on %v", c["repr"], c["where"])
		if c["state"] != "ready" {
			got = fmt.Sprintf("%v: %v", c["state"], c["error"])
		}
		if got != w {
			t.Errorf("%s\n got %s\nwant %s", name, got, w)
		}
	}
}

func TestPluginRouting(t *testing.T) {
	a, b, c := pluginServers(t)
	code, cells, errOut := runOn(t, `
# by selector
on_us = remote@us where()
on_a = remote@a where()

# by provided name: only a has the module, b has sales, c has inventory
first = remote echo("hi")
second = remote echo(first)
third = remote echos(first, second, "more")
bob = remote sql(sales, "select name from t where id = ?", 2)
bolts = remote [r["name"] for r in sql(inventory, "select name from t order by id")]
here = remote [where(), sql(sales, "select count(*) as n from t")[0]["n"]]

# by both: b is the one eu server with sql
eu_rows = remote@eu sql("sales", "select id, name from t where name = ?", "cy")
db_eu = remote@db,eu where()

# bound parameters: injection attempts match nothing and change nothing
inject_text = remote sql(sales, "select * from t where name = ?", "x' OR '1'='1")
inject_id = remote sql(sales, "select * from t where id = ?", "1; drop table t")
local_len = len(bob) + len(inject_text) + len(inject_id)
`, a, b, c)
	if code != exitOK {
		t.Fatalf("exit %d; stderr %s; cells %v", code, errOut, cells)
	}
	wantCells(t, cells, map[string]string{
		"on_us":       `"c" on c`,
		"on_a":        `"a" on a`,
		"first":       `"hi" on a`,
		"second":      `"hi" on a`,
		"third":       `"hi hi more" on a`,
		"bob":         `[{"name": "bob"}] on b`,
		"bolts":       `["bolt", "nut"] on c`,
		"here":        `["b", 3] on b`,
		"eu_rows":     `[{"id": 3, "name": "cy"}] on b`,
		"db_eu":       `"b" on b`,
		"inject_text": `[] on b`,
		"inject_id":   `[] on b`,
		"local_len":   `1 on local`,
	})
	// The chain went to a at once: a resolved second's and third's inputs
	// itself (promise pipelining). (Either may miss it on a loaded machine,
	// if first is done before the client looks where it runs; not both.)
	pipelined := 0
	for _, line := range strings.Split(a.logs.String(), "\n") {
		if (strings.Contains(line, "cell=second ") || strings.Contains(line, "cell=third ")) && strings.Contains(line, "pipelined=") {
			pipelined++
		}
	}
	if pipelined == 0 {
		t.Errorf("a resolved the inputs of no cell of the chain:\n%s", a.logs)
	}

	// The table is intact, and b says what it evaluated.
	code, cells, errOut = runOn(t, `n = remote sql(sales, "select count(*) as n from t")[0]["n"]`+"\n", a, b, c)
	if code != exitOK {
		t.Fatalf("exit %d; stderr %s", code, errOut)
	}
	wantCells(t, cells, map[string]string{"n": "3 on b"})
	if logs := b.logs.String(); !strings.Contains(logs, "cell=inject_id") || !strings.Contains(logs, "database=sales") {
		t.Errorf("b's log shows neither the database nor the evaluations:\n%s", logs)
	}
}

func TestPluginBadInput(t *testing.T) {
	a, b, c := pluginServers(t)
	code, cells, _ := runOn(t, `
bad_sql = remote sql(sales, "select nosuch from t")
write = remote sql(sales, "delete from t")
wrong_db = remote@us sql("sales", "select 1")
nowhere = remote@nosuch 1
needs_bad = bad_sql + []
fine = remote sql(sales, "select count(*) as n from t")
`, a, b, c)
	if code != exitFailed {
		t.Errorf("exit %d, want %d: some cells fail", code, exitFailed)
	}
	wantCells(t, cells, map[string]string{
		"bad_sql":   "error: sql: database sales: SQL logic error: no such column: nosuch",
		"write":     "error: sql: database sales: attempt to write a readonly database",
		"wrong_db":  `error: server c has no database "sales" (it has inventory); write sql(sales, ...) without quotes`,
		"nowhere":   "unavailable: remote@nosuch",
		"needs_bad": "upstream-error: depends on failed bad_sql",
		"fine":      `[{"n": 3}] on b`,
	})
	if e, _ := cells["bad_sql"]["error"].(string); !strings.Contains(e, ":2:") {
		t.Errorf("bad_sql's error %q does not point at its line", e)
	}

	// The server keeps serving after SQL errors.
	code, cells, errOut := runOn(t, `n = remote sql(sales, "select name from t where id = ?", 1)`+"\n", a, b, c)
	if code != exitOK {
		t.Fatalf("after the errors: exit %d; stderr %s", code, errOut)
	}
	wantCells(t, cells, map[string]string{"n": `[{"name": "ann"}] on b`})
}

func TestPluginModuleFailsToLoad(t *testing.T) {
	dir := t.TempDir()
	bad := writeFile(t, "bad.star", "def echo(x):\n    return x\n\ndef broken(x):\n    return x +\n")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"syntax error", []string{"--module", "bad=" + bad}, "sperse-server: module bad: " + bad + ":5:15: got newline, want primary expression"},
		{"missing module", []string{"--module", "gone=" + filepath.Join(dir, "gone.star")}, "sperse-server: module gone: open " + filepath.Join(dir, "gone.star")},
		{"missing database", []string{"--sqlite", "sales=" + filepath.Join(dir, "gone.db")}, "sperse-server: database sales: stat " + filepath.Join(dir, "gone.db")},
		{"a flag without NAME=", []string{"--sqlite", "sales"}, `invalid value "sales" for flag -sqlite: want NAME=PATH`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			args := append([]string{"--name", "x", "--listen", "127.0.0.1:0", "--token", pluginToken, "--state-dir", t.TempDir()}, tc.args...)
			out, err := exec.CommandContext(ctx, sperseServer(t), args...).CombinedOutput()
			exit, ok := err.(*exec.ExitError)
			if !ok || exit.ExitCode() == 0 {
				t.Fatalf("sperse-server %v: %v, want a non-zero exit\n%s", tc.args, err, out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("sperse-server %v said\n%s\nwant %q", tc.args, out, tc.want)
			}
			if strings.Contains(string(out), "address:") {
				t.Errorf("sperse-server %v started listening:\n%s", tc.args, out)
			}
		})
	}
}

// TestPluginUnavailableUntilServerStarts runs at the level of the remote
// client and the reactive engine, wired as sperse-tui wires them: sperse
// run is one-shot and ends while a cell waits for a server.
func TestPluginUnavailableUntilServerStarts(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	// The server's certificate is made first, so that the client can pin it
	// before the server runs; its port is free for now.
	stateDir := t.TempDir()
	cert, err := server.LoadOrCreateCertificate(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()

	// The real wiring: the server cannot be reached yet, so the workspace
	// keeps trying in the background.
	ws, err := workspace.Start(ctx, workspace.Options{
		Servers:      []string{addr + "#" + remote.Fingerprint(cert.Certificate[0])},
		Token:        pluginToken,
		KnownServers: filepath.Join(t.TempDir(), "known_servers"),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	e := ws.Engine

	cells, err := lang.ParseFile("w.sp", []byte("n = remote sql(sales, \"select count(*) as n from t\")[0][\"n\"]\nm = n + 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	e.Load(cells)
	if err := e.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := e.Cell("n"); n.State != reactive.Unavailable {
		t.Fatalf("with no server, n is %s (%v), want unavailable", n.State, n.Err)
	}
	if m, _ := e.Cell("m"); m.State != reactive.Queued {
		t.Errorf("with no server, m is %s, want queued", m.State)
	}

	startServer(t, "--listen", addr, "--name", "late", "--token", pluginToken, "--state-dir", stateDir, "--sqlite", "sales="+makeDB(t, "ann", "bob"))
	for {
		m, _ := e.Cell("m")
		if m.State == reactive.Ready {
			if got := m.Value.String(); got != "3" {
				t.Errorf("m = %s, want 3", got)
			}
			if n, _ := e.Cell("n"); n.Where != "late" {
				t.Errorf("n ran on %q, want late", n.Where)
			}
			return
		}
		select {
		case <-ctx.Done():
			n, _ := e.Cell("n")
			t.Fatalf("once the server started: n is %s (%v), m is %s", n.State, n.Err, m.State)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

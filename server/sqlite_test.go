package server

import (
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sperse/sperse/remote"
)

// makeDB creates an SQLite database in a temporary directory with a table t
// of three rows, and returns its path.
func makeDB(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, stmt := range []string{
		"create table t (id integer primary key, name text not null, score real, data blob)",
		"insert into t values (1, 'ann', 1.5, x'01'), (2, 'bob', 2.5, x'0203'), (3, 'cy', null, null)",
	} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func TestSQL(t *testing.T) {
	path := makeDB(t)
	ts := startServer(t, Config{Name: "dbsrv", Databases: []Database{{Name: "db", Path: path}}, MaxRows: 3}, nil)
	c := connect(t, ts)
	if want := []string{"db", "sql"}; !slices.Equal(c.welcome.Provides, want) {
		t.Errorf("Welcome.Provides = %q, want %q", c.welcome.Provides, want)
	}
	count := func(t *testing.T) {
		t.Helper()
		if got := value(t, c.eval(remote.EvalCell, cellJob(t, `n = sql("db", "select count(*) as n from t")[0]["n"]`, nil))); got != "3" {
			t.Errorf("the table has %s rows, want 3", got)
		}
	}
	for _, tc := range []struct {
		name, src, want string
	}{
		{"bound parameter", `r = sql("db", "select * from t where id = ?", 2)`, `[{"id": 2, "name": "bob", "score": 2.5, "data": b"\x02\x03"}]`},
		{"the database's provided name", `r = sql(db, "select name from t where id = ?", 1)`, `[{"name": "ann"}]`},
		{"columns in order", `r = sql("db", "select name, id from t where id = 3")`, `[{"name": "cy", "id": 3}]`},
		{"null", `r = sql("db", "select score, data from t where id = 3")`, `[{"score": None, "data": None}]`},
		{"several parameters", `r = [x["id"] for x in sql("db", "select id from t where id > ? and name != ? order by id", 1, None)]`, "[]"},
		{"typed parameters", `r = sql("db", "select ? as a, ? as b, ? as c, ? as d, ? as e", 1, 2.5, "s", b"\x00", True)`,
			`[{"a": 1, "b": 2.5, "c": "s", "d": b"\x00", "e": 1}]`},
		{"no rows", `r = sql("db", "select * from t where id = ?", 99)`, "[]"},
		{"injection as text", `r = sql("db", "select * from t where name = ?", "x' OR '1'='1")`, "[]"},
		{"injection as id", `r = sql("db", "select * from t where id = ?", "1; drop table t")`, "[]"},
		{"question marks in the text", `r = sql("db", "select ? as q", "?")`, `[{"q": "?"}]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := value(t, c.eval(remote.EvalCell, cellJob(t, tc.src, nil))); got != tc.want {
				t.Errorf("%s\n got %s\nwant %s", tc.src, got, tc.want)
			}
			count(t)
		})
	}
	for _, tc := range []struct {
		name, src, want string
	}{
		{"a write", `w = sql("db", "insert into t (name) values (?)", "eve")`,
			"sql: database db: attempt to write a readonly database"},
		{"a drop", `w = sql("db", "drop table t")`, "sql: database db: attempt to write a readonly database"},
		{"a write after a read", `w = sql("db", "select 1; delete from t")`, "sql: database db:"},
		{"a bad query", `e = sql("db", "select nosuch from t")`, "sql: database db: SQL logic error: no such column: nosuch"},
		{"a syntax error", `e = sql("db", "selec 1")`, `sql: database db: SQL logic error: near "selec": syntax error`},
		{"an unknown database", `e = sql("other", "select 1")`, `sql: server dbsrv has no database "other" (it has db); write sql(other, ...) without quotes`},
		{"a list parameter", `e = sql("db", "select ?", [1])`, "sql: database db: parameter 1: got a list or tuple"},
		{"a huge int", `e = sql("db", "select ?", 1 << 64)`, "sql: database db: parameter 1: 18446744073709551616 does not fit"},
		{"a function parameter", `e = sql("db", "select ?", len)`, "sql: database db: parameter 1: got builtin_function_or_method"},
		{"too many rows", `e = sql("db", "select * from t, t as u")`, "sql: database db: the query returns more than 3 rows, the server's limit"},
		{"attach", `e = sql("db", "attach ? as other", "other.db")`, "sql: database db: authorization denied: not authorized"},
		{"no query", `e = sql("db")`, "sql: got 1 arguments, want at least 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := c.eval(remote.EvalCell, cellJob(t, tc.src, nil))
			wantError(t, res, remote.CodeFailed, tc.want)
			if res.Error.File != "test.sp" || res.Error.Line != 1 || res.Error.Col == 0 {
				t.Errorf("error at %s:%d:%d, want the call in test.sp:1", res.Error.File, res.Error.Line, res.Error.Col)
			}
			count(t) // the table is intact and the server keeps serving
		})
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(path), "other.db")); err == nil {
		t.Errorf("attach created other.db")
	}
}

func TestSQLWritable(t *testing.T) {
	path := makeDB(t)
	ts := startServer(t, Config{Databases: []Database{{Name: "db", Path: path, Writable: true}}}, nil)
	c := connect(t, ts)
	if got := value(t, c.eval(remote.EvalCell, cellJob(t, `w = sql("db", "insert into t (name) values (?) returning id", "eve")`, nil))); got != `[{"id": 4}]` {
		t.Errorf("insert returned %s", got)
	}
	if got := value(t, c.eval(remote.EvalCell, cellJob(t, `w = sql("db", "delete from t where id = ?", 1)`, nil))); got != "[]" {
		t.Errorf("delete returned %s, want []", got)
	}
	if got := value(t, c.eval(remote.EvalCell, cellJob(t, `r = [r["name"] for r in sql("db", "select name from t order by id")]`, nil))); got != `["bob", "cy", "eve"]` {
		t.Errorf("after the writes, names = %s", got)
	}
	wantError(t, c.eval(remote.EvalCell, cellJob(t, `e = sql("db", "attach ? as other", "other.db")`, nil)), remote.CodeFailed, "not authorized")
}

func TestSQLCancel(t *testing.T) {
	// A query that never ends: counting an endless recursive table.
	const endless = `e = sql("db", "with recursive c(x) as (select 1 union all select x + 1 from c) select count(*) from c")`
	path := makeDB(t)

	t.Run("time limit", func(t *testing.T) {
		ts := startServer(t, Config{Databases: []Database{{Name: "db", Path: path}}, Timeout: 300 * time.Millisecond}, nil)
		c := connect(t, ts)
		start := time.Now()
		wantError(t, c.eval(remote.EvalCell, cellJob(t, endless, nil)), remote.CodeFailed, "the server's time limit per evaluation")
		if took := time.Since(start); took > 20*time.Second {
			t.Errorf("the query stopped after %s", took)
		}
	})

	t.Run("client cancels", func(t *testing.T) {
		ts := startServer(t, Config{Databases: []Database{{Name: "db", Path: path}}, MaxConcurrency: 1, Timeout: time.Hour}, nil)
		c := connect(t, ts)
		str := c.start(remote.EvalCell, cellJob(t, endless, nil))
		c.waitStatus(remote.Status{InFlight: 1})
		next := c.start(remote.EvalCell, cellJob(t, `n = sql("db", "select count(*) as n from t")`, nil))
		c.waitStatus(remote.Status{InFlight: 1, Queued: 1})
		str.CancelRead(remote.StreamCancelled)
		str.CancelWrite(remote.StreamCancelled)
		// The query stops and frees the only slot.
		if got := value(t, c.result(next)); got != `[{"n": 3}]` {
			t.Errorf("after the cancel, n = %s", got)
		}
		// e's log record follows the release of its slot.
		for deadline := time.Now().Add(testTimeout); ; time.Sleep(10 * time.Millisecond) {
			logs := ts.logs.String()
			if strings.Contains(logs, "cell=e kind=cell") && strings.Contains(logs, "outcome=cancelled") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the log shows no cancelled evaluation of e")
			}
		}
	})
}

func TestSQLErrors(t *testing.T) {
	dir := t.TempDir()
	notDB := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notDB, []byte(strings.Repeat("not a database\n", 100)), 0o644); err != nil {
		t.Fatal(err)
	}
	path := makeDB(t)
	for _, tc := range []struct {
		name string
		dbs  []Database
		want string
	}{
		{"missing file", []Database{{Name: "db", Path: filepath.Join(dir, "nope.db")}}, "database db: stat " + filepath.Join(dir, "nope.db") + ": no such file"},
		{"not a database", []Database{{Name: "db", Path: notDB}}, "database db (" + notDB + "): file is not a database"},
		{"not an identifier", []Database{{Name: "my-db", Path: path}}, `database my-db: cannot provide "my-db": not an identifier`},
		{"a builtin's name", []Database{{Name: "json", Path: path}}, "database json: cannot provide json: it is a builtin"},
		{"named sql", []Database{{Name: "sql", Path: path}}, "cannot provide sql: database sql provides it already"},
		{"twice", []Database{{Name: "db", Path: path}, {Name: "db", Path: path}}, "database db: given twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(Config{Name: "a", Tokens: []string{testToken}, Databases: tc.dbs})
			if err == nil {
				s.Close()
				t.Fatalf("New succeeded, want error %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v\nwant an error containing %q", err, tc.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "nope.db")); err == nil {
		t.Errorf("New created the missing database")
	}
}

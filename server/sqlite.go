package server

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/sperse/sperse/lang"
)

// DefaultMaxRows is the default of Config.MaxRows.
const DefaultMaxRows = 1_000_000

// openTimeout bounds opening and checking a database at start.
const openTimeout = 30 * time.Second

// database is one open SQLite database.
type database struct {
	name     string
	path     string
	writable bool
	db       *sql.DB
}

// openDatabases opens cfg's databases and provides sql and their names.
func (p *provisions) openDatabases(cfg *Config, log *slog.Logger) error {
	if len(cfg.Databases) == 0 {
		return nil
	}
	byName := map[string]*database{}
	for _, d := range cfg.Databases {
		from := fmt.Sprintf("database %s", d.Name)
		if _, ok := byName[d.Name]; ok {
			return fmt.Errorf("%s: given twice", from)
		}
		// The name is provided too, as a string holding itself, so that
		// sql(sales, ...) routes a cell to a server with database sales.
		nameValue, err := lang.FromGo(d.Name)
		if err != nil {
			return err
		}
		if err := p.add(d.Name, nameValue, from); err != nil {
			return err
		}
		db, err := openDatabase(d, cfg.MaxConcurrency)
		if err != nil {
			return err
		}
		p.dbs = append(p.dbs, db)
		byName[d.Name] = db
		log.Info("database opened", "database", d.Name, "path", db.path, "writable", d.Writable)
	}
	fn, err := lang.GoFunc("sql", sqlFunc(cfg.Name, byName, cfg.MaxRows))
	if err != nil {
		return err
	}
	return p.add("sql", fn, "the databases")
}

// openDatabase opens d, read-only unless d.Writable, and checks that it is
// an SQLite database.
func openDatabase(d Database, maxConns int) (*database, error) {
	from := fmt.Sprintf("database %s", d.Name)
	path, err := filepath.Abs(d.Path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", from, err)
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("%s: %w", from, err)
	}
	// A read-only database is opened read-only by SQLite (mode=ro), and
	// every connection refuses writes (query_only) as a second guard.
	q := "mode=ro&_query_only=1"
	if d.Writable {
		q = "mode=rw"
	}
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q + "&_busy_timeout=5000"
	c, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, fmt.Errorf("%s (%s): %w", from, path, err)
	}
	db := &database{name: d.Name, path: path, writable: d.Writable, db: sql.OpenDB(guarded{c})}
	db.db.SetMaxOpenConns(max(1, maxConns))
	ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
	defer cancel()
	var n int64
	if err := db.db.QueryRowContext(ctx, "select count(*) from sqlite_schema").Scan(&n); err != nil {
		db.close()
		return nil, fmt.Errorf("%s (%s): %w", from, path, err)
	}
	return db, nil
}

func (db *database) close() { db.db.Close() }

// guarded opens connections that refuse ATTACH and DETACH: code may read
// the database it names, not other files of the server.
type guarded struct{ driver.Connector }

func (g guarded) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := g.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	r, ok := conn.(sqlite.AuthorizerRegisterer)
	if !ok {
		conn.Close()
		return nil, errors.New("the SQLite driver has no authorizer")
	}
	if err := r.RegisterAuthorizer(authorize); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

func authorize(action sqlite.AuthorizerActionCode, _, _, _, _ string) sqlite.AuthorizerReturnCode {
	if action == sqlite.AuthAttach || action == sqlite.AuthDetach {
		return sqlite.AuthorizerDeny
	}
	return sqlite.AuthorizerOK
}

// sqlFunc returns the Go function of the builtin sql(NAME, query, *args) of
// the server called server with databases dbs: it runs query on database
// NAME with args bound to its ? parameters, under the evaluation's context,
// and returns the rows as a list of dicts from column name to value.
func sqlFunc(server string, dbs map[string]*database, maxRows int) func(context.Context, string, string, ...any) (any, error) {
	return func(ctx context.Context, name, query string, args ...any) (any, error) {
		db, ok := dbs[name]
		if !ok {
			return nil, fmt.Errorf("server %s has no database %q (it has %s); write sql(%s, ...) without quotes to send the cell to a server that has it",
				server, name, strings.Join(slices.Sorted(maps.Keys(dbs)), ", "), name)
		}
		params := make([]any, len(args))
		for i, a := range args {
			p, err := sqlParam(a)
			if err != nil {
				return nil, fmt.Errorf("database %s: parameter %d: %v", name, i+1, err)
			}
			params[i] = p
		}
		rows, err := db.query(ctx, query, params, maxRows)
		if err != nil {
			return nil, fmt.Errorf("database %s: %w", name, err)
		}
		return rows, nil
	}
}

// query runs query with params and returns its rows, at most maxRows.
func (db *database) query(ctx context.Context, query string, params []any, maxRows int) ([]lang.Items, error) {
	rows, err := db.db.QueryContext(ctx, query, params...)
	if err != nil {
		return nil, db.explain(ctx, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, db.explain(ctx, err)
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	out := []lang.Items{}
	for rows.Next() {
		if len(out) == maxRows {
			return nil, fmt.Errorf("the query returns more than %d rows, the server's limit: add a LIMIT, or aggregate in SQL", maxRows)
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, db.explain(ctx, err)
		}
		row := make(lang.Items, len(cols))
		for i, c := range cols {
			row[i] = lang.Item{Key: c, Value: sqlValue(vals[i])}
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		return nil, db.explain(ctx, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// explain returns err, an error of a query, with what the user can do.
func (db *database) explain(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	var serr *sqlite.Error
	if errors.As(err, &serr) && serr.Code()&0xff == sqlite3.SQLITE_READONLY && !db.writable {
		return fmt.Errorf("%w (the database is read-only on this server)", err)
	}
	return err
}

// sqlParam converts an argument of sql (from lang.ToGo) to a parameter.
func sqlParam(a any) (any, error) {
	switch a := a.(type) {
	case nil, bool, int64, float64, string, []byte:
		return a, nil
	case *big.Int:
		return nil, fmt.Errorf("%s does not fit in SQLite's 64-bit integers", a)
	case lang.Value:
		return nil, fmt.Errorf("got %s; want None, bool, int, float, string or bytes", a.Type())
	case []any:
		return nil, errors.New("got a list or tuple; want None, bool, int, float, string or bytes")
	case map[string]any:
		return nil, errors.New("got dict; want None, bool, int, float, string or bytes")
	}
	return nil, fmt.Errorf("got %T; want None, bool, int, float, string or bytes", a)
}

// sqlValue converts a column's value to what lang.FromGo takes.
func sqlValue(v any) any {
	if t, ok := v.(time.Time); ok {
		return t.Format(time.RFC3339Nano)
	}
	return v
}

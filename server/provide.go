package server

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/sperse/sperse/lang"
)

// Module is a Starlark file whose top-level names a server provides: every
// global the file defines (functions, and values too) whose name does not
// start with '_', each under its own name. A module's code may use the
// builtins, the names in Config.Provide, sql and the databases, and the
// names of the modules before it in Config.Modules.
type Module struct {
	// Name names the module in logs and errors. Default: the file's base
	// name without its extension.
	Name string

	// File is the module's file, which New reads unless Source is set. It is
	// also the file name in the positions of errors.
	File string

	// Source is the module's text. Nil means read File.
	Source []byte
}

// Database is an SQLite database a server provides: code calls
// sql(NAME, query, *args) (see Config.Databases).
type Database struct {
	// Name is what code names the database by: the first argument of sql,
	// and a provided name of its own (see Config.Databases). It must be an
	// identifier.
	Name string

	// Path is the database file. It must exist: New does not create it.
	Path string

	// Writable lets code change the database. Default: read-only.
	Writable bool
}

// provisions is what a server provides beyond the builtins.
type provisions struct {
	env  map[string]lang.Value // for lang.Interp.Provided, frozen
	from map[string]string     // for each name, where it comes from, for errors
	dbs  []*database           // closed by close
}

// newProvisions builds what cfg provides: Config.Provide, then the
// databases, then the modules in order.
func newProvisions(cfg *Config, log *slog.Logger) (*provisions, error) {
	p := &provisions{env: map[string]lang.Value{}, from: map[string]string{}}
	if err := p.provide(cfg, log); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

func (p *provisions) provide(cfg *Config, log *slog.Logger) error {
	for _, name := range slices.Sorted(maps.Keys(cfg.Provide)) {
		v, err := provideValue(name, cfg.Provide[name])
		if err != nil {
			return err
		}
		if err := p.add(name, v, "Config.Provide"); err != nil {
			return err
		}
	}
	if err := p.openDatabases(cfg, log); err != nil {
		return err
	}
	for _, m := range cfg.Modules {
		if err := p.loadModule(cfg, m, log); err != nil {
			return err
		}
	}
	return nil
}

// provideValue converts a value of Config.Provide: a lang.Value as it is, a
// Go function with lang.GoFunc, Go data with lang.FromGo.
func provideValue(name string, x any) (lang.Value, error) {
	if v, ok := x.(lang.Value); ok {
		return v, nil
	}
	if x != nil && reflect.TypeOf(x).Kind() == reflect.Func {
		return lang.GoFunc(name, x)
	}
	v, err := lang.FromGo(x)
	if err != nil {
		return nil, fmt.Errorf("provided name %s: %w", name, err)
	}
	return v, nil
}

// add provides v under name, from the source described by from.
func (p *provisions) add(name string, v lang.Value, from string) error {
	switch {
	case !lang.IsIdentifier(name):
		return fmt.Errorf("%s: cannot provide %q: not an identifier code can use", from, name)
	case strings.HasPrefix(name, "_"):
		return fmt.Errorf("%s: cannot provide %s: a name starting with _ is private", from, name)
	case lang.IsBuiltin(name):
		return fmt.Errorf("%s: cannot provide %s: it is a builtin, which code would use instead; rename it", from, name)
	}
	if other, ok := p.from[name]; ok {
		return fmt.Errorf("%s: cannot provide %s: %s provides it already", from, name, other)
	}
	v.Freeze()
	p.env[name] = v
	p.from[name] = from
	return nil
}

// names returns the provided names, sorted.
func (p *provisions) names() []string {
	return slices.Sorted(maps.Keys(p.env))
}

// loadModule loads m and provides its public globals.
func (p *provisions) loadModule(cfg *Config, m Module, log *slog.Logger) error {
	name := m.Name
	if name == "" {
		name = strings.TrimSuffix(filepath.Base(m.File), filepath.Ext(m.File))
	}
	if m.File == "" && m.Source == nil {
		return fmt.Errorf("module %s: no file", name)
	}
	from := fmt.Sprintf("module %s", name)
	src := m.Source
	if src == nil {
		var err error
		if src, err = os.ReadFile(m.File); err != nil {
			return fmt.Errorf("%s: %w", from, err)
		}
	}
	file := m.File
	if file == "" {
		file = name + ".star"
	}
	// The module sees what is provided so far; Provided is read once, so
	// each module gets an interpreter of its own.
	in := &lang.Interp{Where: cfg.Name, MaxSteps: cfg.MaxSteps, Provided: maps.Clone(p.env)}
	ctx, cancel := context.WithTimeoutCause(context.Background(), cfg.Timeout,
		fmt.Errorf("stopped after %s: the server's time limit", cfg.Timeout))
	defer cancel()
	globals, err := in.LoadModule(ctx, file, src)
	if err != nil {
		return fmt.Errorf("%s: %w", from, err)
	}
	var names []string
	for _, g := range slices.Sorted(maps.Keys(globals)) {
		if strings.HasPrefix(g, "_") {
			continue // private to the module
		}
		if err := p.add(g, globals[g], fmt.Sprintf("%s (%s)", from, file)); err != nil {
			return err
		}
		names = append(names, g)
	}
	log.Info("module loaded", "module", name, "file", file, "provides", strings.Join(names, ","))
	return nil
}

// close closes the databases.
func (p *provisions) close() {
	for _, db := range p.dbs {
		db.close()
	}
	p.dbs = nil
}

package lang

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestScripts runs the workspaces in testdata/*.sp. A file holds chunks
// separated by lines of "---"; each chunk is a workspace. A cell's expected
// outcome is a comment on its first line:
//
//	x = 1 + 2      ### 3                     its value's repr is exactly "3"
//	y = nope       ### error: :2:5: undefined  its error ("file:line:col: msg") matches the regexp
//
// Cells run in dependency order; a remote cell goes through the codec to a
// fresh interpreter named "server" and its value comes back the same way.
func TestScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.sp")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		line := 1
		for _, chunk := range strings.Split(string(data), "\n---\n") {
			name := file + ":" + itoa(line)
			// Keep line numbers those of the file: pad the chunk with newlines.
			src := strings.Repeat("\n", line-1) + chunk
			line += strings.Count(chunk, "\n") + 2
			t.Run(name, func(t *testing.T) { runScript(t, filepath.Base(file), src) })
		}
	}
}

var expectation = regexp.MustCompile(`###\s*(.*)$`)

func runScript(t *testing.T, file, src string) {
	cells, err := ParseFile(file, []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	values, errs := evalWorkspace(t, cells)
	for _, c := range cells {
		m := expectation.FindStringSubmatch(strings.SplitN(c.Source, "\n", 2)[0])
		if m == nil {
			continue
		}
		want := strings.TrimSpace(m[1])
		if pattern, ok := strings.CutPrefix(want, "error:"); ok {
			pattern = strings.TrimSpace(pattern)
			if errs[c.Name] == nil {
				t.Errorf("%s: %s = %v, want error matching %q", c.Pos, c.Name, values[c.Name], pattern)
			} else if !regexp.MustCompile(pattern).MatchString(errs[c.Name].Error()) {
				t.Errorf("%s: %s: error %q does not match %q", c.Pos, c.Name, errs[c.Name], pattern)
			}
			continue
		}
		if errs[c.Name] != nil {
			t.Errorf("%s: %s: unexpected error: %v", c.Pos, c.Name, errs[c.Name])
		} else if got := values[c.Name].String(); got != want {
			t.Errorf("%s: %s = %s, want %s", c.Pos, c.Name, got, want)
		}
	}
}

// evalWorkspace evaluates cells in dependency order, the way the engine does,
// with remote cells shipped through the codec.
func evalWorkspace(t *testing.T, cells []*Cell) (map[string]Value, map[string]error) {
	ctx := context.Background()
	local := NewInterp("local")
	local.Remote = shipCalls{}
	values, errs := map[string]Value{}, map[string]error{}
	defined := map[string]bool{}
	for _, c := range cells {
		defined[c.Name] = true
	}
	done := map[string]bool{}
	for progress := true; progress; {
		progress = false
		for _, c := range cells {
			if done[c.Name] {
				continue
			}
			deps := c.Deps(func(n string) bool { return defined[n] })
			scope := map[string]Value{}
			ready := true
			for _, d := range deps {
				if !done[d] {
					ready = false
					break
				}
				if errs[d] != nil {
					errs[c.Name] = &Error{Msg: "depends on failed " + d}
				}
				scope[d] = values[d]
			}
			if !ready {
				continue
			}
			done[c.Name], progress = true, true
			if errs[c.Name] != nil {
				continue
			}
			if c.Remote {
				values[c.Name], errs[c.Name] = ship(ctx, c, scope, local)
			} else {
				values[c.Name], errs[c.Name] = local.Eval(ctx, c, scope)
			}
		}
	}
	for _, c := range cells {
		if !done[c.Name] {
			errs[c.Name] = &Error{Msg: "cycle"}
		}
	}
	return values, errs
}

// ship evaluates c the way a server would: job encoded, decoded in a fresh
// interpreter, evaluated, result encoded and decoded back in client.
func ship(ctx context.Context, c *Cell, scope map[string]Value, client *Interp) (Value, error) {
	job, err := EncodeJob(c, scope)
	if err != nil {
		return nil, err
	}
	server := NewInterp("server")
	sc, sscope, err := server.DecodeJob(job)
	if err != nil {
		return nil, err
	}
	v, err := server.Eval(ctx, sc, sscope)
	if err != nil {
		return nil, err
	}
	data, err := Encode(v)
	if err != nil {
		return nil, err
	}
	return client.Decode(data)
}

func itoa(n int) string { return strconv.Itoa(n) }

// shipCalls runs calls of pinned functions the way a server would: the
// function and its arguments go through the codec to a fresh interpreter
// named "server", and the result comes back the same way.
type shipCalls struct{}

func (shipCalls) CallRemote(ctx context.Context, sel []string, fn, args, kwargs Value) (Value, error) {
	return ship(ctx, CallCell(sel), CallScope(fn, args, kwargs), NewInterp("local"))
}

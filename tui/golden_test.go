package tui

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/reactive"
	"github.com/sperse/sperse/themes"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// clock is the fixed time of the golden views.
var clock = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

// workspace builds the cells of a golden view: it evaluates them for real
// (values and errors are the interpreter's), then states and times are set
// as the view needs.
type workspace struct {
	t      *testing.T
	interp *lang.Interp
	values map[string]lang.Value
	views  []reactive.CellView
}

func newWorkspace(t *testing.T) *workspace {
	return &workspace{t: t, interp: lang.NewInterp("local"), values: map[string]lang.Value{}}
}

// cell defines src, evaluated with the values of the cells before it, as
// ready (or error if it fails), where it ran and how long it took.
func (w *workspace) cell(src, where string, took time.Duration) *reactive.CellView {
	w.t.Helper()
	c := lang.ParseCell(replFile, 1, src)
	if c.Name == "" {
		c.Name = fmt.Sprintf("_%d", len(w.views)+1)
	}
	v := reactive.CellView{Cell: c, Name: c.Name, Version: 1, Where: where, Took: took, Runs: 1}
	var deps []string
	scope := map[string]lang.Value{}
	for _, name := range c.Free {
		if x, ok := w.values[name]; ok {
			deps = append(deps, name)
			scope[name] = x
		}
	}
	v.Deps = deps
	val, err := w.interp.Eval(context.Background(), c, scope)
	if err != nil {
		v.State, v.Err = reactive.Error, err
	} else {
		v.State, v.Value = reactive.Ready, val
		w.values[c.Name] = val
	}
	v.Started = clock.Add(-2*time.Second - took)
	v.Finished = clock.Add(-2 * time.Second)
	w.views = append(w.views, v)
	return &w.views[len(w.views)-1]
}

// declare defines src without evaluating it, queued.
func (w *workspace) declare(src string) *reactive.CellView {
	c := lang.ParseCell(replFile, 1, src)
	v := reactive.CellView{Cell: c, Name: c.Name, Version: 1, State: reactive.Queued}
	for _, name := range c.Free {
		if _, ok := w.values[name]; ok {
			v.Deps = append(v.Deps, name)
		}
	}
	w.views = append(w.views, v)
	return &w.views[len(w.views)-1]
}

// set sets the state of the last cell (and its error), as if it were there.
func (w *workspace) set(v *reactive.CellView, st reactive.State, err error) {
	v.State, v.Err = st, err
	if st != reactive.Ready {
		v.Value = nil
	}
	switch st {
	case reactive.Running:
		v.Started, v.Finished, v.Took = clock.Add(-3200*time.Millisecond), time.Time{}, 0
	case reactive.Queued:
		v.Started, v.Finished, v.Took, v.Where, v.Runs = time.Time{}, time.Time{}, 0, "", 0
	}
}

// model returns a model at the size w×h showing the workspace, with the
// selection on sel (if not "") and focus f.
func (w *workspace) model(width, height int, sel string, f focus, th themes.Theme) *Model {
	e := reactive.New(reactive.Config{})
	w.t.Cleanup(e.Close)
	m := New(Options{Engine: e, Theme: th, Now: func() time.Time { return clock }})
	w.t.Cleanup(func() { m.Close() })
	m.Update(tea.WindowSizeMsg{Width: width, Height: height})
	evs := make([]reactive.Event, len(w.views))
	for i, v := range w.views {
		evs[i] = reactive.Event{Seq: uint64(i + 1), Time: clock, Kind: reactive.StateChanged, Cell: v}
	}
	m.Update(eventsMsg{events: evs})
	if sel != "" {
		m.selName = sel
		m.syncSelection()
		m.showSelected()
	}
	m.setFocus(f)
	m.layout()
	return m
}

// tour is a workspace like examples/tour.sp, every cell ready.
func tour(t *testing.T) *workspace {
	w := newWorkspace(t)
	w.cell(`greeting = "hello from " + where()`, "local", 180*time.Microsecond)
	w.cell(`a = remote 6 * 7`, "embedded-1", 1200*time.Microsecond)
	w.cell(`b = a + 1`, "local", 40*time.Microsecond)
	w.cell(`prices = {"apple": 3, "pear": 4, "fig": 11}`, "local", 90*time.Microsecond)
	w.cell(`basket = ["apple", "fig", "fig"]`, "local", 60*time.Microsecond)
	w.cell(`total = sum([prices[item] for item in basket])`, "local", 75*time.Microsecond)
	w.cell("def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)", "local", 50*time.Microsecond)
	w.cell(`fib_remote = remote [fib(n) for n in range(15)]`, "embedded-2", 8300*time.Microsecond)
	w.cell(`big = remote 1 << 100`, "embedded-1", 900*time.Microsecond)
	w.cell(`steps = remote range(0, 1000000000, 3)`, "embedded-2", 1100*time.Microsecond)
	w.cell(`total * 2`, "local", 30*time.Microsecond)
	return w
}

// goldenCases are the golden views: a name and how to make the model.
func goldenCases() []struct {
	name string
	make func(t *testing.T, width, height int) *Model
} {
	dark := themes.Dark()
	return []struct {
		name string
		make func(t *testing.T, width, height int) *Model
	}{
		{"empty", func(t *testing.T, width, height int) *Model {
			return newWorkspace(t).model(width, height, "", focusInput, dark)
		}},
		{"ready", func(t *testing.T, width, height int) *Model {
			return tour(t).model(width, height, "total", focusGrid, dark)
		}},
		{"running", func(t *testing.T, width, height int) *Model {
			w := tour(t)
			w.set(&w.views[1], reactive.Running, nil) // a
			w.views[1].Where = "embedded-1"
			w.set(&w.views[2], reactive.Queued, nil) // b waits for a
			w.set(&w.views[7], reactive.Running, nil)
			w.views[7].Where = "embedded-2"
			return w.model(width, height, "a", focusGrid, dark)
		}},
		{"error", func(t *testing.T, width, height int) *Model {
			w := tour(t)
			w.cell("ratio = total / (len(basket) - 3)", "local", 70*time.Microsecond)
			w.declare("scaled = ratio * 100")
			w.set(&w.views[len(w.views)-1], reactive.UpstreamError, &reactive.InputError{Input: "ratio", Root: "ratio"})
			return w.model(width, height, "ratio", focusGrid, dark)
		}},
		{"upstream-error", func(t *testing.T, width, height int) *Model {
			w := tour(t)
			w.cell("ratio = total / (len(basket) - 3)", "local", 70*time.Microsecond)
			v := w.declare("scaled = ratio * 100")
			w.set(v, reactive.UpstreamError, &reactive.InputError{Input: "ratio", Root: "ratio"})
			v = w.declare("report = {'scaled': scaled}")
			v.Deps = []string{"scaled"}
			w.set(v, reactive.UpstreamError, &reactive.InputError{Input: "scaled", Root: "ratio"})
			return w.model(width, height, "report", focusGrid, dark)
		}},
		{"cancelled", func(t *testing.T, width, height int) *Model {
			w := tour(t)
			w.cell("def spin():\n    while True:\n        pass", "local", 20*time.Microsecond)
			v := w.declare("s = remote spin()")
			w.set(v, reactive.Cancelled, nil)
			v.Where, v.Took, v.Runs = "embedded-1", 4100*time.Millisecond, 1
			v.Deps = []string{"spin"}
			v = w.declare("t = s + 1")
			w.set(v, reactive.Cancelled, nil)
			v.Deps = []string{"s"}
			v = w.declare("gpu = remote@gpu 2 + 2")
			w.set(v, reactive.Unavailable, errors.New("no server matches remote@gpu: connected are embedded-1, embedded-2"))
			v = w.declare("far = remote 3 * 3")
			w.set(v, reactive.Stale, errors.New("embedded-2 was lost: connection closed; runs again when a server is back"))
			return w.model(width, height, "s", focusGrid, dark)
		}},
		{"inspector-error", func(t *testing.T, width, height int) *Model {
			w := tour(t)
			w.cell("def safe_div(x, y):\n    return x // y", "local", 20*time.Microsecond)
			w.cell("def per_item(total, n):\n    return safe_div(total, n)", "local", 20*time.Microsecond)
			w.cell("avg = per_item(total, len(basket) - 3)", "local", 140*time.Microsecond)
			w.declare("shown = avg * 2")
			w.set(&w.views[len(w.views)-1], reactive.UpstreamError, &reactive.InputError{Input: "avg", Root: "avg"})
			return w.model(width, height, "avg", focusInspector, dark)
		}},
		{"editing", func(t *testing.T, width, height int) *Model {
			m := tour(t).model(width, height, "fib", focusInput, dark)
			m.input.SetValue("def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)")
			m.editing = ""
			m.inform("editing fib: enter redefines it")
			m.layout()
			return m
		}},
		{"help", func(t *testing.T, width, height int) *Model {
			m := tour(t).model(width, height, "a", focusGrid, dark)
			m.showHelp = true
			return m
		}},
		{"mono", func(t *testing.T, width, height int) *Model {
			w := tour(t)
			w.cell("ratio = total / (len(basket) - 3)", "local", 70*time.Microsecond)
			v := w.declare("scaled = ratio * 100")
			w.set(v, reactive.UpstreamError, &reactive.InputError{Input: "ratio", Root: "ratio"})
			w.set(&w.views[1], reactive.Running, nil)
			return w.model(width, height, "ratio", focusGrid, themes.Mono())
		}},
	}
}

// TestGolden compares the screens with testdata/NAME-WxH.golden, drawn with
// the 256-colour profile. Run with -update to rewrite them.
func TestGolden(t *testing.T) {
	for _, tc := range goldenCases() {
		for _, size := range [][2]int{{80, 24}, {160, 48}} {
			name := fmt.Sprintf("%s-%dx%d", tc.name, size[0], size[1])
			t.Run(name, func(t *testing.T) {
				m := tc.make(t, size[0], size[1])
				content, _ := m.render()
				compareGolden(t, content, name, size[0], size[1])
			})
		}
	}
}

// compareGolden checks that content is a screen of w×h and compares it,
// drawn with the 256-colour profile, with testdata/NAME.golden; with
// -update it rewrites the file.
func compareGolden(t *testing.T, content, name string, w, h int) {
	t.Helper()
	checkScreen(t, content, w, h)
	var buf bytes.Buffer
	cw := &colorprofile.Writer{Forward: &buf, Profile: colorprofile.ANSI256}
	if _, err := cw.Write([]byte(content + "\n")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./tui -run %s -update to make it)", err, t.Name())
	}
	if got := buf.String(); got != string(want) {
		t.Errorf("the screen differs from %s (run with -update if the change is meant):\n%s", path, lineDiff(stripped(string(want)), stripped(got)))
	}
}

// checkScreen checks that content is exactly h lines of w columns.
func checkScreen(t *testing.T, content string, w, h int) {
	t.Helper()
	lines := strings.Split(content, "\n")
	if len(lines) != h {
		t.Errorf("%d lines, want %d", len(lines), h)
	}
	for i, l := range lines {
		if got := displayWidth(l); got != w {
			t.Errorf("line %d is %d columns, want %d: %q", i+1, got, w, stripped(l))
		}
	}
}

// lineDiff shows the lines that differ, as text without colours (when only
// colours differ, the lines show the same).
func lineDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := range max(len(wl), len(gl)) {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			fmt.Fprintf(&b, "line %d\n  want: %s\n   got: %s\n", i+1, w, g)
		}
	}
	if b.Len() == 0 {
		return "(only colours or attributes differ)"
	}
	return b.String()
}

func displayWidth(s string) int { return ansi.StringWidth(s) }

func stripped(s string) string { return ansi.Strip(s) }

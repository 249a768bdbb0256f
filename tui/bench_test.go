package tui

import (
	"strconv"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/reactive"
	"github.com/sperse/sperse/themes"
)

func itoa(i int) string { return strconv.Itoa(i) }

func parseFile(src string) ([]*lang.Cell, error) { return lang.ParseFile("bench.sp", []byte(src)) }

// bigWorkspace returns a model of n cells at w×h, every tenth one running,
// with the selection in the middle.
func bigWorkspace(b testing.TB, n, w, h int) (*Model, []reactive.Event) {
	e := reactive.New(reactive.Config{})
	b.Cleanup(e.Close)
	m := New(Options{Engine: e, Theme: themes.Dark(), Now: func() time.Time { return clock }})
	b.Cleanup(func() { m.Close() })
	m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	interp := lang.NewInterp("local")
	evs := make([]reactive.Event, n)
	for i := range n {
		src := "c" + itoa(i) + " = [" + itoa(i) + ", " + itoa(i*i) + ", 'item " + itoa(i) + "']"
		c := lang.ParseCell("bench.sp", i+1, src)
		v, err := interp.Eval(b.Context(), c, nil)
		if err != nil {
			b.Fatal(err)
		}
		view := reactive.CellView{Cell: c, Name: c.Name, Version: 1, State: reactive.Ready, Value: v, Where: "embedded-1", Took: time.Duration(i) * time.Microsecond, Runs: 1, Started: clock, Finished: clock}
		if i%10 == 0 {
			view.State, view.Value = reactive.Running, nil
		}
		evs[i] = reactive.Event{Seq: uint64(i + 1), Time: clock, Kind: reactive.StateChanged, Cell: view}
	}
	m.Update(eventsMsg{events: evs})
	m.selName = "c" + itoa(n/2)
	m.syncSelection()
	return m, evs
}

// BenchmarkView is a frame of 10,000 cells at 200×50 while cells run: the
// spinner moves every frame, so the running cards are drawn again.
func BenchmarkView(b *testing.B) {
	m, _ := bigWorkspace(b, 10000, 200, 50)
	b.ResetTimer()
	for b.Loop() {
		m.frame++
		m.View()
	}
}

// BenchmarkViewCold is a frame in which every visible card is drawn again
// (a new theme, or a burst that changed them all).
func BenchmarkViewCold(b *testing.B) {
	m, _ := bigWorkspace(b, 10000, 200, 50)
	b.ResetTimer()
	for b.Loop() {
		m.setTheme(themes.Dark())
		m.showSelected()
		m.View()
	}
}

// BenchmarkBurst applies a burst of 10,000 results (every cell of a 10,000
// cell workspace gets a new value) and draws the frame after it.
func BenchmarkBurst(b *testing.B) {
	m, evs := bigWorkspace(b, 10000, 200, 50)
	burst := make([]reactive.Event, len(evs))
	for i, ev := range evs {
		ev.Kind = reactive.ValueChanged
		ev.Cell.State = reactive.Ready
		ev.Cell.Runs = 2
		burst[i] = ev
	}
	b.ResetTimer()
	for b.Loop() {
		m.Update(eventsMsg{events: burst})
		m.View()
	}
}

// inspectBench returns a model at 160×48 with one cell, src, selected in
// the grid, ready for the inspector to be opened on it.
func inspectBench(b *testing.B, src string) *Model {
	w := newWorkspace(&testing.T{})
	c := lang.ParseCell(replFile, 1, src)
	v, err := w.interp.Eval(b.Context(), c, nil)
	if err != nil {
		b.Fatal(err)
	}
	e := reactive.New(reactive.Config{})
	b.Cleanup(e.Close)
	m := New(Options{Engine: e, Theme: themes.Dark(), Now: func() time.Time { return clock }})
	b.Cleanup(func() { m.Close() })
	m.Update(tea.WindowSizeMsg{Width: 160, Height: 48})
	view := reactive.CellView{Cell: c, Name: c.Name, Version: 1, State: reactive.Ready, Value: v, Where: "local", Runs: 1, Started: clock, Finished: clock}
	m.Update(eventsMsg{events: []reactive.Event{{Seq: 1, Time: clock, Kind: reactive.StateChanged, Cell: view}}})
	m.setFocus(focusGrid)
	return m
}

// openInspector is what a user waits for from pressing i on the selected
// cell to the first screen of the inspector showing its value: the value's
// view made (off the update loop if it is big: that command's time counts)
// and the screen drawn.
func openInspector(m *Model) string {
	m.insp.shown, m.insp.id, m.insp.series = inspectKey{}, inspectID{}, nil
	run(m, m.showSelected())
	pressKeys(m, "i")
	showValue(m)
	content, _ := m.render()
	return content
}

// BenchmarkInspectTable is the time to the first screen of the inspector
// on a table of 100,000 rows.
func BenchmarkInspectTable(b *testing.B) {
	m := inspectBench(b, `rows = [{"id": i, "name": "user%d" % i, "city": ["Lisbon", "Oslo", "Kyoto"][i % 3], "score": i % 97 / 4.0, "visits": i * 13 % 1000} for i in range(100000)]`)
	if s := openInspector(m); !strings.Contains(stripped(s), "100,000 rows × 5 columns") {
		b.Fatalf("the inspector shows no table:\n%s", stripped(s))
	}
	b.ResetTimer()
	for b.Loop() {
		openInspector(m)
	}
}

// BenchmarkInspectNumbers is the time to the first screen of the
// inspector on a list of 1,000,000 numbers: read once for the statistics,
// drawn as a line chart and a histogram.
func BenchmarkInspectNumbers(b *testing.B) {
	m := inspectBench(b, `xs = [(i * 7919) % 1000 + i / 1000.0 for i in range(1000000)]`)
	if s := openInspector(m); !strings.Contains(stripped(s), "count 1,000,000") || !strings.Contains(stripped(s), "histogram") {
		b.Fatalf("the inspector shows no chart:\n%s", stripped(s))
	}
	b.ResetTimer()
	for b.Loop() {
		openInspector(m)
	}
}

// BenchmarkInspectRange is the same for range(10**9): nothing is read.
func BenchmarkInspectRange(b *testing.B) {
	m := inspectBench(b, `r = range(1000000000)`)
	if s := openInspector(m); !strings.Contains(stripped(s), "count 1,000,000,000") {
		b.Fatalf("the inspector shows no chart:\n%s", stripped(s))
	}
	b.ResetTimer()
	for b.Loop() {
		openInspector(m)
	}
}

package tui

import (
	"fmt"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/sperse/sperse/themes"
)

// run runs cmd as the program would and gives m the inspector's messages
// it returns (the value made off the update loop), at once.
func run(m *Model, cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	switch msg := cmd().(type) {
	case tea.BatchMsg:
		for _, c := range msg {
			run(m, c)
		}
	case inspectedMsg:
		_, next := m.Update(msg)
		run(m, next)
	}
}

// pressKeys presses keys on m, running what they start at once.
func pressKeys(m *Model, keys ...string) {
	for _, k := range keys {
		_, cmd := m.Update(keyPress(k))
		run(m, cmd)
	}
}

// showValue scrolls the inspector so that the value's title is at its top.
func showValue(m *Model) {
	m.insp.text.ShowFrom(len(m.insp.header) - 1)
}

// viewCase is a golden view of a value: cells defined in order (the last
// selected, the inspector focused and scrolled to its value unless
// atTop), then keys pressed.
type viewCase struct {
	name  string
	cells []string
	keys  []string
	atTop bool
	grid  bool // the grid has the focus, not the inspector
	mono  bool
}

func viewCases() []viewCase {
	orders := `orders = [{"id": i, "customer": ["ann", "bob", "cy"][i % 3], "amount": i * 7.25 - 20, "paid": i % 2 == 0, "note": None if i % 4 else "rush"} for i in range(250)]`
	return []viewCase{
		{name: "table", cells: []string{orders}},
		{name: "table-mono", cells: []string{orders}, mono: true},
		{name: "table-scrolled", cells: []string{
			`rows = [{"id": i, "name": "user%d" % i, "email": "user%d@example.com" % i, "city": ["Lisbon", "Oslo", "Kyoto"][i % 3], "score": i % 97 / 4.0, "visits": i * 13 % 1000, "plan": ["free", "pro"][i % 2], "signed_up": "2026-%d-%d" % (i % 12 + 1, i % 28 + 1), "referrer": ["search", "friend", "ad", None][i % 4], "active": i % 5 != 0, "country": ["PT", "NO", "JP"][i % 3], "notes": "row %d of the big table" % i} for i in range(100000)]`,
		}, keys: []string{"pgdown", "pgdown", "right", "right"}},
		{name: "table-tuples", cells: []string{`pairs = [(n, n * n, "#" * n) for n in range(1, 8)]`}},
		{name: "table-ragged", cells: []string{
			`people = [{"name": "ann", "age": 31}, {"name": "bob", "city": "Oslo"}, {"age": 7, "name": "cy", "pets": ["cat", "newt"]}, {"name": "dee"}]`,
		}},
		{name: "table-ragged-lists", cells: []string{`grid = [[1, 2, 3], [4, 5], [6], [7, 8, 9]]`}, keys: []string{"v"}},
		{name: "chart-bars", cells: []string{"def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)", `fibs = [fib(n) for n in range(15)]`}},
		{name: "chart-negative", cells: []string{`waves = [math.round(math.sin(i / 4.0) * 100) / 10 - 2 for i in range(30)]`}},
		{name: "chart-one", cells: []string{`one = [42]`}},
		{name: "chart-empty", cells: []string{`empty = []`}},
		{name: "chart-huge-numbers", cells: []string{`huge = [1, 1 << 100, -(1 << 80), 7, float("inf"), float("nan"), 2.5]`}},
		{name: "chart-long", cells: []string{`noise = [(i * 7919) % 1000 + (i // 1000) for i in range(1000000)]`}},
		{name: "chart-range", cells: []string{`steps = range(0, 1000000000, 3)`}},
		{name: "chart-mixed", cells: []string{`mixed = [1, 2.5, -3, 4.75, 0, 6]`}},
		{name: "chart-mono", cells: []string{`waves = [math.round(math.sin(i / 4.0) * 100) / 10 - 2 for i in range(300)]`}, mono: true},
		{name: "chart-dict", cells: []string{`balance = {"rent": -1200, "salary": 3100.5, "food": -420, "gift": 75, "taxes": -640.25, "refund": 0}`}},
		{name: "tree-mixed", cells: []string{`things = [1, "two", None, [3, 4], {"five": 5}, (6,), True, 7.5]`}},
		{name: "tree-deep", cells: []string{
			`config = {"server": {"listen": "127.0.0.1:7700", "limits": {"steps": 1000000, "timeout": "60s", "memory": {"soft": "1G", "hard": "2G", "per_cell": {"max": 64, "unit": "MB"}}}, "tags": ["gpu", "eu"]}, "clients": [{"name": "ann", "token": "…"}, {"name": "bob"}], "debug": False}`,
		}, keys: []string{"down", "enter", "down", "down", "enter", "down", "down", "down", "enter", "down", "down", "down", "enter", "down", "down", "enter"}},
		{name: "tree-mono", cells: []string{
			`config = {"server": {"listen": "127.0.0.1:7700", "limits": {"steps": 1000000, "timeout": "60s"}}, "debug": False}`,
		}, keys: []string{"down", "enter"}, mono: true},
		{name: "string-lines", cells: []string{
			`poem = "Two roads diverged in a yellow wood,\nAnd sorry I could not travel both\nAnd be one traveler, long I stood\nAnd looked down one as far as I could\nTo where it bent in the undergrowth;\n\n" + "A very long line that goes on " * 12 + "\nthe end"`,
		}},
		{name: "cards", cells: []string{
			orders,
			`fibs = [1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144]`,
			`steps = range(0, 1000000000, 3)`,
			`note = "first line\nsecond line\nthird line\nfourth line"`,
			`pair = "one\ntwo"`,
			`negative = [-5, -3, -8, -1]`,
			`one = [7]`,
			`total = 42`,
		}, grid: true},
		{name: "cards-mono", cells: []string{
			orders,
			`fibs = [1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144]`,
			`note = "first line\nsecond line\nthird line\nfourth line"`,
			`total = 42`,
		}, grid: true, mono: true},
	}
}

// TestViewsGolden compares the views of values with
// testdata/view-NAME-WxH.golden; run with -update to rewrite them.
func TestViewsGolden(t *testing.T) {
	for _, tc := range viewCases() {
		for _, size := range [][2]int{{80, 24}, {160, 48}} {
			name := fmt.Sprintf("view-%s-%dx%d", tc.name, size[0], size[1])
			t.Run(name, func(t *testing.T) {
				m := tc.model(t, size[0], size[1])
				content, _ := m.render()
				compareGolden(t, content, name, size[0], size[1])
			})
		}
	}
}

// model returns the model of the case at width×height.
func (tc viewCase) model(t *testing.T, width, height int) *Model {
	w := newWorkspace(t)
	var last string
	for _, src := range tc.cells {
		v := w.cell(src, "local", 1500*time.Microsecond)
		if v.Err != nil {
			t.Fatalf("%s: %v", src, v.Err)
		}
		last = v.Name
	}
	th := themes.Dark()
	if tc.mono {
		th = themes.Mono()
	}
	f := focusInspector
	if tc.grid {
		f = focusGrid
	}
	m := w.model(width, height, "", f, th)
	m.selName = last
	m.syncSelection()
	m.insp.shown, m.insp.id = inspectKey{}, inspectID{} // show it again, to run what it starts
	run(m, m.showSelected())
	if !tc.atTop && !tc.grid {
		showValue(m)
	}
	pressKeys(m, tc.keys...)
	m.layout()
	return m
}

// TestViewsAtAnySize draws every view of the golden cases at small and odd
// sizes: each screen is whole, with no line too long.
func TestViewsAtAnySize(t *testing.T) {
	for _, tc := range viewCases() {
		if tc.name == "chart-long" || tc.name == "table-scrolled" {
			continue // big: the golden views draw them
		}
		m := tc.model(t, 80, 24)
		for _, size := range [][2]int{{24, 8}, {31, 9}, {40, 12}, {57, 15}, {99, 20}, {101, 30}} {
			m.Update(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
			for range max(len(m.insp.views), 1) {
				content, _ := m.render()
				checkScreen(t, content, size[0], size[1])
				pressKeys(m, "v", "G")
			}
		}
	}
}

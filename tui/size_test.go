package tui

import (
	"runtime"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"

	"github.com/sperse/sperse/reactive"
	"github.com/sperse/sperse/themes"
)

func TestResize(t *testing.T) {
	m := tour(t).model(120, 30, "total", focusGrid, themes.Dark())
	before, _ := m.render()
	for _, size := range [][2]int{{40, 12}, {60, 16}, {100, 20}, {30, 9}} {
		m.Update(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
		content, _ := m.render()
		checkScreen(t, content, size[0], size[1])
		s := stripped(content)
		// Still usable: the selected card, the prompt and the keys show.
		for _, want := range []string{"total", "›", "select"} {
			if !strings.Contains(s, want) {
				t.Errorf("at %dx%d the screen shows no %q:\n%s", size[0], size[1], want, s)
			}
		}
	}
	// Moving and typing at 40×12 work.
	m.Update(tea.WindowSizeMsg{Width: 40, Height: 12})
	m.Update(keyPress("right"))
	if m.selName != "fib" {
		t.Errorf("right at 40x12 selected %q, want fib", m.selName)
	}
	m.Update(keyPress("left"))
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 30})
	after, _ := m.render()
	checkScreen(t, after, 120, 30)
	// Back at full size, the grid is full again (it may have scrolled to keep
	// the selection in view) and the rest of the screen is as it was.
	g := &m.grid
	shown := min(m.cells.len()-g.top*g.cols(), g.cols()*g.visibleRows(m.cells))
	if m.selName != "total" || shown < g.cols()*(g.visibleRows(m.cells)-1)+1 || strings.Count(stripped(after), " ready │")+strings.Count(stripped(after), " ready ┃") != shown {
		t.Errorf("after resizing back, selected %q:\n%s", m.selName, stripped(after))
	}
	bl, al := strings.Split(before, "\n"), strings.Split(after, "\n")
	if got, want := strings.Join(al[len(al)-4:], "\n"), strings.Join(bl[len(bl)-4:], "\n"); got != want {
		t.Errorf("the input and help differ after resizing back:\n%s", lineDiff(stripped(want), stripped(got)))
	}
	// Too small to draw: a note, not a panic.
	m.Update(tea.WindowSizeMsg{Width: 10, Height: 3})
	if content, _ := m.render(); !strings.Contains(stripped(content), "too small") {
		t.Errorf("10x3: %q", stripped(content))
	}
}

// allocated returns how many bytes the process allocated while f ran (f's,
// and a little of other goroutines'): what shows that a frame did not
// format a whole large value, where its time says little on a busy machine.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestHugeValue(t *testing.T) {
	h := newHarness(t, Options{}, 120, 30)
	h.enter(`big = ("x" * 99 + "\n") * 105000`) // 10.5 MB
	h.enter("n = len(big)")
	h.settle()
	if got := h.m.cells.get("n").previewOf(); got != "10500000" {
		t.Fatalf("n = %q", got)
	}
	h.press("esc", "left") // select big
	if h.m.selName != "big" {
		t.Fatalf("selected %q", h.m.selName)
	}
	var content string
	if n := allocated(func() { content, _ = h.m.render() }); n > 2<<20 {
		t.Errorf("a frame with a 10 MB value allocated %d bytes: it formats the whole value", n)
	}
	if p := h.m.cells.get("big").previewOf(); len(p) > previewMax+16 {
		t.Errorf("the preview is %d bytes", len(p))
	}
	checkScreen(t, content, 120, 30)
	h.until("the value formatted", func() bool { return !h.m.insp.pending && h.m.insp.body != nil })
	h.press("i")
	for _, k := range []string{"G", "pgup", "g", "pgdown", "j"} {
		var content string
		if n := allocated(func() { h.press(k); content, _ = h.m.render() }); n > 2<<20 {
			t.Errorf("%s and a frame of the inspector of a 10 MB value allocated %d bytes: it formats the whole value", k, n)
		}
		checkScreen(t, content, 120, 30)
	}
	if s := h.screen(); !strings.Contains(s, "xxxxxxxxxx") {
		t.Errorf("the inspector shows no value:\n%s", s)
	}
	// A value that changes while being formatted is not shown stale.
	h.press("esc", "esc") // to the grid, to the input
	h.enter(`big = "short"`)
	h.settle()
	h.pump()
	if s := h.screen(); !strings.Contains(s, `short`) {
		t.Errorf("the new value does not show:\n%s", s)
	}
}

func TestBurstCoalesced(t *testing.T) {
	h := newHarness(t, Options{}, 200, 50)
	var src strings.Builder
	src.WriteString("x0 = 0\n")
	for i := 1; i < 2000; i++ {
		src.WriteString("x")
		src.WriteString(itoa(i))
		src.WriteString(" = x")
		src.WriteString(itoa(i - 1))
		src.WriteString(" + 1\n")
	}
	msgs := 0
	cells, _ := parseFile(src.String())
	h.engine.Load(cells)
	h.until("every cell", func() bool {
		it := h.m.cells.get("x1999")
		msgs++
		return it != nil && it.view.State == reactive.Ready
	})
	if got := h.m.cells.get("x1999").previewOf(); got != "1999" {
		t.Errorf("x1999 = %s", got)
	}
	// Thousands of events arrive in far fewer messages.
	if msgs > 1000 {
		t.Errorf("%d messages for 2000 cells: events are not coalesced", msgs)
	}
}

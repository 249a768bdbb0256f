package tui

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"

	"github.com/sperse/sperse/reactive"
)

func TestDefineAndRedefine(t *testing.T) {
	h := newHarness(t, Options{}, 120, 30)
	h.enter("a = remote 6 * 7")
	h.enter("b = a + 1")
	h.settle()
	if got := h.m.cells.get("b").previewOf(); got != "43" {
		t.Errorf("b = %q, want 43", got)
	}
	if h.m.selName != "b" {
		t.Errorf("selected %q, want the cell just defined, b", h.m.selName)
	}
	h.enter("a = remote 10")
	h.settle()
	if got := h.m.cells.get("b").previewOf(); got != "11" {
		t.Errorf("after redefining a, b = %q, want 11", got)
	}
	if h.m.cells.len() != 2 {
		t.Errorf("%d cells, want 2: redefining replaces", h.m.cells.len())
	}
	if !strings.Contains(h.m.status, "redefined a") {
		t.Errorf("status %q, want it to say a was redefined", h.m.status)
	}
	if s := h.screen(); !strings.Contains(s, "inprocess") || !strings.Contains(s, "11") {
		t.Errorf("screen shows no a from inprocess and b = 11:\n%s", s)
	}
}

func TestAnonymousCells(t *testing.T) {
	h := newHarness(t, Options{}, 100, 30)
	h.enter("1 + 1")
	h.enter("2 + 2")
	h.settle()
	if h.m.cells.get("_1") == nil || h.m.cells.get("_2") == nil {
		t.Fatalf("cells %v, want _1 and _2", h.m.cellNames())
	}
	// Editing an anonymous cell redefines it rather than adding a new one.
	h.press("esc") // to the grid; _2 is selected
	h.press("left", "enter")
	if got := h.m.input.Value(); got != "1 + 1" {
		t.Fatalf("enter on _1 loaded %q, want its source", got)
	}
	h.press("ctrl+u")
	h.enter("5 * 5")
	h.settle()
	if got := h.m.cells.get("_1").previewOf(); got != "25" {
		t.Errorf("_1 = %q, want 25", got)
	}
	if h.m.cells.len() != 2 {
		t.Errorf("cells %v, want _1 and _2 only", h.m.cellNames())
	}
}

func TestPasteSeveralCells(t *testing.T) {
	h := newHarness(t, Options{}, 100, 30)
	h.send(tea.PasteMsg{Content: "x = 2\ny = x * 21\n\nx + y\n"})
	if got := h.m.input.Value(); got != "x = 2\ny = x * 21\n\nx + y\n" {
		t.Fatalf("pasted %q", got)
	}
	h.press("enter")
	h.settle()
	if h.m.cells.len() != 3 || h.m.cells.get("_1").previewOf() != "44" {
		t.Errorf("cells %v", h.m.cellNames())
	}
	if h.m.selName != "_1" || h.m.status != "defined 3 cells" {
		t.Errorf("selected %q, status %q", h.m.selName, h.m.status)
	}
}

func TestComplete(t *testing.T) {
	for _, tc := range []struct {
		text string
		want bool
	}{
		{"a = 1", true},
		{"a = remote 6 * 7", true},
		{"a = (1,", false},
		{"x = [1,\n2]", true},
		{"def f():", false},
		{"def f():\n    while True:", false},
		{"def f():\n    while True:\n        pass", false}, // a block ends with an empty line
		{"def f():\n    while True:\n        pass\n", true},
		{"def f(x):\n    return x\n    ", true},
		{"def f(x): return x", true},
		{"a = '''x", false},
		{"a = 1 \\", false},
		{"a = 1 +", true}, // a syntax error, shown: more lines cannot fix it
		{"a = )", true},
		{"a = \"abc", true},
		{":del a", true},
		{"if x:", false},
	} {
		if got := complete(tc.text); got != tc.want {
			t.Errorf("complete(%q) = %v, want %v", tc.text, got, tc.want)
		}
	}
}

func TestMultilineDef(t *testing.T) {
	h := newHarness(t, Options{}, 100, 30)
	h.enter("def fib(n):")
	if h.m.input.Value() != "def fib(n):\n    " {
		t.Fatalf("after a def line, input = %q, want a new indented line", h.m.input.Value())
	}
	h.enter("if n < 2:")
	h.enter("return n")
	h.press("backspace") // out of the if block
	h.enter("return fib(n - 1) + fib(n - 2)")
	if h.m.cells.get("fib") != nil {
		t.Fatalf("a def was submitted before the empty line that ends it")
	}
	h.press("enter") // the empty line ends the block
	h.settle()
	if h.m.cells.get("fib") == nil {
		t.Fatalf("fib not defined; input %q", h.m.input.Value())
	}
	h.enter("g = 1")
	h.press("up") // history
	if got := h.m.input.Value(); got != "g = 1" {
		t.Fatalf("up = %q, want the last entry", got)
	}
	h.press("ctrl+u")
	h.typeText("def two():")
	h.press("enter")
	h.typeText("x = 1")
	h.press("alt+enter")
	h.typeText("return x + 1")
	if got := h.m.input.Value(); got != "def two():\n    x = 1\n    return x + 1" {
		t.Fatalf("input = %q", got)
	}
	h.press("enter")
	h.press("enter")
	h.enter("t = two()")
	h.settle()
	if got := h.m.cells.get("t").previewOf(); got != "2" {
		t.Errorf("t = %q, want 2", got)
	}
}

func TestCtrlC(t *testing.T) {
	h := newHarness(t, Options{}, 100, 30)
	h.enter("def spin():\n    while True:\n        pass\n")
	h.settle()
	h.enter("s = remote spin()")
	h.until("s running", func() bool {
		it := h.m.cells.get("s")
		return it != nil && it.view.State == reactive.Running && h.m.selName == "s"
	})
	h.press("ctrl+c")
	h.until("s cancelled", func() bool { return h.m.cells.get("s").view.State == reactive.Cancelled })
	if !strings.Contains(h.screen(), "cancelled") {
		t.Errorf("screen shows no cancelled cell:\n%s", h.screen())
	}
	// Text in the input: Ctrl-C clears it.
	h.typeText("abc")
	h.press("ctrl+c")
	if !h.m.input.Empty() || h.quit {
		t.Fatalf("ctrl+c with text: input %q, quit %v; want it cleared", h.m.input.Value(), h.quit)
	}
	// Idle and empty: it says how to quit, and a second one quits.
	h.press("ctrl+c")
	if !strings.Contains(h.m.status, "Ctrl-D") || h.quit {
		t.Fatalf("first idle ctrl+c: status %q, quit %v", h.m.status, h.quit)
	}
	h.press("ctrl+c")
	h.until("quit", func() bool { return h.quit })
	if !h.m.QuitCleanly() {
		t.Error("a second Ctrl-C quit, but not cleanly")
	}
}

func TestCtrlDQuits(t *testing.T) {
	h := newHarness(t, Options{}, 80, 24)
	h.typeText("ab")
	h.press("left", "ctrl+d") // deletes forward while there is text
	if got := h.m.input.Value(); got != "a" {
		t.Fatalf("ctrl+d in text: input %q, want a", got)
	}
	h.press("ctrl+u", "ctrl+d")
	h.until("quit", func() bool { return h.quit })
}

func TestFocus(t *testing.T) {
	h := newHarness(t, Options{}, 120, 30)
	want := []focus{focusGrid, focusInspector, focusServers, focusLog, focusInput}
	for _, f := range want {
		h.press("tab")
		if h.m.focus != f {
			t.Fatalf("tab: focus %d, want %d", h.m.focus, f)
		}
	}
	h.press("shift+tab")
	if h.m.focus != focusLog {
		t.Fatalf("shift+tab: focus %d, want the log", h.m.focus)
	}
	h.press("?")
	if !h.m.showHelp || !strings.Contains(h.screen(), ":connect ADDR") {
		t.Fatalf("? shows no full help:\n%s", h.screen())
	}
	h.press("esc")
	if h.m.showHelp {
		t.Fatal("a key did not close the help")
	}
	// ":" anywhere starts a command.
	h.press(":")
	if h.m.focus != focusInput || h.m.input.Value() != ":" {
		t.Fatalf(": focus %d input %q", h.m.focus, h.m.input.Value())
	}
}

func TestGridSelection(t *testing.T) {
	h := newHarness(t, Options{}, 80, 24) // 3 columns of cards
	for i := range 10 {
		h.enter("c" + string(rune('0'+i)) + " = " + string(rune('0'+i)))
	}
	h.settle()
	h.press("esc")
	if h.m.focus != focusGrid || h.m.selName != "c9" {
		t.Fatalf("focus %d selected %q", h.m.focus, h.m.selName)
	}
	cols := h.m.grid.cols()
	h.press("g")
	h.press("j")
	if want := "c" + string(rune('0'+cols)); h.m.selName != want {
		t.Errorf("g j selected %q, want %q", h.m.selName, want)
	}
	h.press("l", "k", "h")
	if h.m.selName != "c0" {
		t.Errorf("l k h selected %q, want c0", h.m.selName)
	}
	h.press("G")
	if h.m.selName != "c9" {
		t.Errorf("G selected %q, want c9", h.m.selName)
	}
	if s := h.screen(); !strings.Contains(s, "c9") || strings.Contains(s, "c0 ") {
		t.Errorf("the grid did not scroll to c9:\n%s", s)
	}
	// Only the visible rows of cards are drawn.
	drawn := 0
	for _, it := range h.m.cells.items {
		if it.card != nil {
			drawn++
		}
	}
	if visible := h.m.grid.cols() * h.m.grid.visibleRows(h.m.cells); drawn == 0 || drawn > visible || h.m.cells.get("c0").card != nil {
		t.Errorf("%d cards drawn (at most %d visible), c0 drawn: %v", drawn, visible, h.m.cells.get("c0").card != nil)
	}
	h.press("r")
	h.press("delete")
	h.settle()
	if h.m.cells.get("c9") != nil {
		t.Error("delete did not delete the selected cell")
	}
}

func TestCommands(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, Options{}, 120, 30)
	h.enter("a = 2")
	h.enter("b = a * 3")
	h.enter("a + b")
	h.settle()

	file := filepath.Join(dir, "w.sp")
	h.enter(":save " + file)
	h.until("saved", func() bool { return strings.HasPrefix(h.m.status, "saved") })
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(data), "a = 2\n\nb = a * 3\n\na + b\n"; got != want {
		t.Errorf("saved %q, want %q", got, want)
	}

	h.enter(":del a")
	h.settle()
	if h.m.cells.get("a") != nil || h.m.cells.get("b").view.State != reactive.Error {
		t.Errorf(":del a: a %v, b %v", h.m.cells.get("a") != nil, h.m.cells.get("b").view.State)
	}
	h.enter(":del nope")
	if !h.m.statusBad || !strings.Contains(h.m.status, "no cell nope") {
		t.Errorf("status %q", h.m.status)
	}

	h.enter(":load " + file)
	h.until("loaded", func() bool { return strings.HasPrefix(h.m.status, "loaded 3 cells") })
	h.settle()
	if got := h.m.cells.get("b").previewOf(); got != "6" {
		t.Errorf("after :load, b = %q", got)
	}
	if h.m.cells.get("_2") == nil {
		t.Errorf("the file's anonymous cell did not get a fresh name: %v", h.m.cellNames())
	}

	runs := h.m.cells.get("a").view.Runs
	h.enter(":rerun a")
	h.settle()
	if h.m.cells.get("a").view.Runs != runs+1 {
		t.Errorf(":rerun a did not run a again")
	}

	h.enter(":theme light")
	h.until("theme", func() bool { return h.m.st.Theme.Name == "light" })
	h.enter(":theme nope")
	h.until("theme error", func() bool { return h.m.statusBad })
	if !strings.Contains(h.m.status, `no theme "nope"`) {
		t.Errorf("status %q", h.m.status)
	}

	h.enter(":connect localhost:1")
	if !strings.Contains(h.m.status, "no remote client") {
		t.Errorf(":connect without a client: %q", h.m.status)
	}
	h.enter(":servers")
	if h.m.focus != focusServers || !strings.Contains(h.screen(), "in-process evaluator") {
		t.Errorf(":servers:\n%s", h.screen())
	}
	h.press(":")
	h.enter("bogus")
	if !strings.Contains(h.m.status, "no command :bogus") {
		t.Errorf("status %q", h.m.status)
	}
	h.enter(":help")
	if !h.m.showHelp {
		t.Error(":help shows no help")
	}
	h.press("esc")
	h.enter(":q")
	h.until("quit", func() bool { return h.quit })
}

func TestCompletion(t *testing.T) {
	h := newHarness(t, Options{}, 120, 30)
	h.enter("total_price = 1")
	h.enter("total_count = 2")
	h.settle()
	h.typeText("x = tot")
	h.press("tab")
	if got := h.m.input.Value(); got != "x = total_" {
		t.Errorf("tab: %q, want the common prefix", got)
	}
	if len(h.m.candidates) != 2 {
		t.Errorf("candidates %v", h.m.candidates)
	}
	h.typeText("p")
	h.press("tab")
	if got := h.m.input.Value(); got != "x = total_price" {
		t.Errorf("tab: %q", got)
	}
	h.press("ctrl+u")
	h.typeText(":the")
	h.press("tab")
	h.typeText("hi")
	h.press("tab")
	if got := h.m.input.Value(); got != ":theme high-contrast " {
		t.Errorf("tab: %q", got)
	}
	h.press("ctrl+u")
	h.typeText("pm")
	h.press("tab")
	if got := h.m.input.Value(); got != "pmap" {
		t.Errorf("tab on a builtin: %q", got)
	}
	// Paths complete for :load and :save, read off the update loop.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "workspace.sp"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	h.press("ctrl+u")
	h.typeText(":load " + dir + "/wor")
	h.press("tab")
	h.until("the path completed", func() bool { return h.m.input.Value() == ":load "+dir+"/workspace.sp " })
	// Tab with nothing to complete moves the focus.
	h.press("ctrl+u", "tab")
	if h.m.focus != focusGrid {
		t.Errorf("tab on an empty input: focus %d", h.m.focus)
	}
}

func TestHistory(t *testing.T) {
	state := t.TempDir()
	h := newHarness(t, Options{StateDir: state}, 100, 30)
	h.enter("a = 1")
	h.enter("b = 2")
	h.enter("c = 3")
	h.press("up", "up")
	if got := h.m.input.Value(); got != "b = 2" {
		t.Errorf("up up: %q", got)
	}
	h.press("down", "down")
	if got := h.m.input.Value(); got != "" {
		t.Errorf("down down: %q, want the empty draft", got)
	}
	h.press("ctrl+r")
	h.typeText("a =")
	if got := h.m.input.Value(); got != "a = 1" || h.m.input.SearchFailed() {
		t.Errorf("ctrl+r 'a =': %q", got)
	}
	h.press("enter")
	if h.m.input.search != nil || h.m.input.Value() != "a = 1" {
		t.Errorf("enter in search: %q", h.m.input.Value())
	}
	h.press("ctrl+u")
	h.press("ctrl+r")
	h.typeText("zzz")
	if !h.m.input.SearchFailed() || !strings.Contains(h.screen(), "no match") {
		t.Errorf("no match not shown:\n%s", h.screen())
	}
	h.press("esc")
	h.settle()
	h.stop()

	// A new run reads the history.
	h2 := newHarness(t, Options{StateDir: state}, 100, 30)
	h2.until("history", func() bool { return len(h2.m.input.hist) == 3 })
	h2.press("up")
	if got := h2.m.input.Value(); got != "c = 3" {
		t.Errorf("history across runs: up = %q", got)
	}
}

func TestJournal(t *testing.T) {
	state := t.TempDir()
	h := newHarness(t, Options{StateDir: state}, 100, 30)
	h.enter("a = 6 * 7")
	h.enter("b = a + 1")
	h.enter("gone = 1")
	h.enter(":del gone")
	h.enter("7 * 6")
	h.settle()
	// The program is killed: no :quit, so the journal stays.
	h.stop()
	if _, err := os.Stat(filepath.Join(state, journalFile)); err != nil {
		t.Fatalf("no journal after an unclean exit: %v", err)
	}

	h2 := newHarness(t, Options{StateDir: state}, 100, 30)
	h2.until("restored", func() bool { return strings.HasPrefix(h2.m.status, "Restored 3 cells") })
	h2.settle()
	if got := h2.m.cells.get("b").previewOf(); got != "43" {
		t.Errorf("restored b = %q", got)
	}
	if h2.m.cells.get("gone") != nil || h2.m.cells.get("_1") == nil {
		t.Errorf("restored cells %v", h2.m.cellNames())
	}
	h2.enter("1 + 1")
	if h2.m.wantSel != "_2" {
		t.Errorf("a new anonymous cell after the restored _1 is %q", h2.m.wantSel)
	}
	h2.enter(":quit")
	h2.until("quit", func() bool { return h2.quit })
	h2.stop()
	if _, err := os.Stat(filepath.Join(state, journalFile)); !os.IsNotExist(err) {
		t.Errorf("a clean quit left the journal: %v", err)
	}
}

func TestReplayJournalTornLine(t *testing.T) {
	data := `{"op":"def","name":"a","file":"<repl>","line":1,"src":"a = 1"}
{"op":"def","name":"b","file":"<repl>","line":1,"src":"b = a"}
{"op":"def","name":"c","fi`
	cells, err := replayJournal([]byte(data))
	if err != nil || len(cells) != 2 {
		t.Fatalf("replayJournal = %d cells, %v; want a and b", len(cells), err)
	}
	if _, err := replayJournal([]byte("junk\n" + data)); err == nil {
		t.Error("a bad line in the middle is no error")
	}
}

func TestLoadAtStart(t *testing.T) {
	file := filepath.Join(t.TempDir(), "w.sp")
	if err := os.WriteFile(file, []byte("y = remote x + 1\nz = y * 2\nx = 20\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, Options{Load: file}, 100, 30)
	h.until("loaded", func() bool { return h.m.cells.len() == 3 })
	h.settle()
	if got := h.m.cells.get("y").previewOf(); got != "21" {
		t.Errorf("y = %q", got)
	}
	// The grid is in the file's order, not the order the cells ran in.
	if got := strings.Join(h.m.cellNames(), " "); got != "y z x" {
		t.Errorf("cells in order %s, want y z x", got)
	}
	h2 := newHarness(t, Options{Load: filepath.Join(t.TempDir(), "missing.sp")}, 100, 30)
	h2.until("error", func() bool { return h2.m.statusBad })
	if !strings.Contains(h2.m.status, "missing.sp") {
		t.Errorf("status %q", h2.m.status)
	}
}

func TestInspector(t *testing.T) {
	h := newHarness(t, Options{}, 120, 40)
	h.enter("def f(x):\n    return 1 // x\n")
	h.enter("bad = f(0)")
	h.enter("after = bad + 1")
	h.enter("big = 'line\\n' * 1000")
	h.settle()
	h.press("esc", "left", "left") // select bad
	if h.m.selName != "bad" {
		t.Fatalf("selected %q", h.m.selName)
	}
	s := h.screen()
	for _, want := range []string{"backtrace", "Traceback", "in f", "at <repl>:2:14", "used by   after", "uses      f"} {
		if !strings.Contains(s, want) {
			t.Errorf("inspector of bad shows no %q:\n%s", want, s)
		}
	}
	h.press("l")
	if s := h.screen(); !strings.Contains(s, "depends on failed bad") || !strings.Contains(s, "select bad to see its error") {
		t.Errorf("inspector of after:\n%s", s)
	}
	h.press("l", "i")
	if h.m.focus != focusInspector {
		t.Fatal("i did not focus the inspector")
	}
	h.press("G")
	if s := h.screen(); !strings.Contains(s, "100%") {
		t.Errorf("G did not scroll to the end:\n%s", s)
	}
	h.press("g")
	if s := h.screen(); !strings.Contains(s, "big = 'line") {
		t.Errorf("g did not scroll to the top:\n%s", s)
	}
}

package tui

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/reactive"
	"github.com/sperse/sperse/reactive/record"
	"github.com/sperse/sperse/themes"
)

// session is a recorded session, written as a Recorder writes one and read
// back: a, b and c defined at the prompt (c fails), a marker, a server lost
// after a long pause, another marker, then a redefined.
type session struct {
	t      *testing.T
	interp *lang.Interp
	buf    bytes.Buffer
	rec    *record.Recorder
}

func newSession(t *testing.T) *session {
	s := &session{t: t, interp: lang.NewInterp("local")}
	rec, err := record.New(&s.buf, record.Header{
		Program: "sperse (test)", Started: clock, Width: 80, Height: 24, Title: "sperse-tui",
		Servers: []record.Server{
			{Name: "embedded-1", Addr: "127.0.0.1:4001", Tags: []string{"embedded"}, Connected: true},
			{Name: "embedded-2", Addr: "127.0.0.1:4002", Tags: []string{"embedded"}, Connected: true},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	s.rec = rec
	return s
}

// at records ev at ms milliseconds.
func (s *session) at(ms float64, ev record.Event) {
	s.t.Helper()
	ev.Offset = time.Duration(ms * float64(time.Millisecond))
	if err := s.rec.Record(ev); err != nil {
		s.t.Fatal(err)
	}
}

// value is the recorded value of expr.
func (s *session) value(expr string) *record.Value {
	s.t.Helper()
	v, err := s.interp.Eval(context.Background(), lang.ParseCell(replFile, 1, "x = "+expr), nil)
	if err != nil {
		s.t.Fatal(err)
	}
	return record.NewValue(v)
}

// define records src typed and run to its value at ms, where it ran.
func (s *session) define(ms float64, src, where string, version int, value string) {
	name, _, _ := strings.Cut(src, " =")
	pos := lang.Pos{File: replFile, Line: 1, Col: 1}
	s.at(ms, record.Event{Kind: record.Typed, Text: src})
	s.at(ms+1, record.Event{Kind: record.Defined, Cell: name, Version: version, State: reactive.Queued, Source: src, Pos: pos})
	dispatched := "local"
	if strings.Contains(src, "remote") {
		dispatched = "remote"
	}
	s.at(ms+2, record.Event{Kind: record.Dispatched, Cell: name, Version: version, State: reactive.Running, Where: dispatched})
	s.at(ms+3, record.Event{Kind: record.Resolved, Cell: name, Version: version, State: reactive.Ready, Where: where, Took: 1200 * time.Microsecond, Attempts: 1, Value: s.value(value)})
}

func (s *session) read() *record.Recording {
	s.t.Helper()
	rec, err := record.Read(bytes.NewReader(s.buf.Bytes()))
	if err != nil {
		s.t.Fatal(err)
	}
	return rec
}

// tourSession is the session of the replay tests: 24 events over 10.5s.
func tourSession(t *testing.T) *session {
	s := newSession(t)
	s.define(400, "a = remote 6 * 7", "embedded-1", 1, "42")          // 1-4
	s.define(1500, "b = a + 1", "local", 1, "43")                     // 5-8
	s.at(2500, record.Event{Kind: record.Marker, Text: "the answer"}) // 9
	s.at(3000, record.Event{Kind: record.Typed, Text: "c = b // 0"})  // 10
	s.at(3001, record.Event{Kind: record.Defined, Cell: "c", Version: 1, State: reactive.Queued, Source: "c = b // 0", Pos: lang.Pos{File: replFile, Line: 1, Col: 1}})
	s.at(3002, record.Event{Kind: record.Dispatched, Cell: "c", Version: 1, State: reactive.Running, Where: "local"})
	s.at(3003, record.Event{Kind: record.Failed, Cell: "c", Version: 1, State: reactive.Error, Where: "local", Took: 30 * time.Microsecond,
		Error: "<repl>:1:5: floored division by zero", ErrorPos: lang.Pos{File: replFile, Line: 1, Col: 5}}) // 13
	s.at(9000, record.Event{Kind: record.ServerLeft, Server: &record.Server{Name: "embedded-2", Addr: "127.0.0.1:4002", Tags: []string{"embedded"}, Error: "no answer to ping for 4s"}}) // 14
	s.at(9500, record.Event{Kind: record.Marker, Text: "after the failure"})                                                                                                             // 15
	s.define(10000, "a = remote 6 * 100", "embedded-1", 2, "600")                                                                                                                        // 16-19
	s.at(10004, record.Event{Kind: record.Changed, Cell: "b", Version: 1, State: reactive.Queued})
	s.at(10005, record.Event{Kind: record.Dispatched, Cell: "b", Version: 1, State: reactive.Running, Where: "local"})
	s.at(10006, record.Event{Kind: record.Resolved, Cell: "b", Version: 1, State: reactive.Ready, Where: "local", Took: 40 * time.Microsecond, Attempts: 1, Value: s.value("601")}) // 22
	s.at(10500, record.Event{Kind: record.Changed, Cell: "c", Version: 1, State: reactive.Queued})                                                                                  // 23
	s.at(10501, record.Event{Kind: record.Failed, Cell: "c", Version: 1, State: reactive.Error, Where: "local", Took: 30 * time.Microsecond,
		Error: "<repl>:1:5: floored division by zero", ErrorPos: lang.Pos{File: replFile, Line: 1, Col: 5}}) // 24
	return s
}

const tourEvents = 24

// replayScreens are the golden screens of a replay, each reached by keys
// from the start of tourSession.
var replayScreens = []struct {
	name string
	keys []string
}{
	{"replay-start", []string{"space"}},
	{"replay-step", []string{".", ".", ".", "."}},
	{"replay-marker", []string{"]", "tab"}},
	{"replay-end", []string{"+", "+", "]", "]", ".", ".", ".", ".", ".", ".", ".", ".", "."}},
	{"replay-log", []string{"]", "]", ".", "shift+tab"}},
	{"replay-help", []string{"?"}},
}

// TestReplayGolden compares the screens of a replay with
// testdata/NAME-80x24.golden, as TestGolden does.
func TestReplayGolden(t *testing.T) {
	for _, tc := range replayScreens {
		t.Run(tc.name, func(t *testing.T) {
			h := newReplayHarness(t, ReplayOptions{Recording: tourSession(t).read(), Theme: themes.Dark()}, 80, 24)
			h.press(tc.keys...)
			content, _ := h.render()
			compareGolden(t, content, tc.name+"-80x24", 80, 24)
		})
	}
}

func TestReplayKeys(t *testing.T) {
	h := newReplayHarness(t, ReplayOptions{Recording: tourSession(t).read()}, 120, 30)
	r := h.r
	status := func() string {
		lines := strings.Split(h.screen(), "\n")
		return lines[len(lines)-2]
	}
	wantStatus := func(what string, parts ...string) {
		t.Helper()
		s := status()
		for _, p := range parts {
			if !strings.Contains(s, p) {
				t.Errorf("%s: the status line %q has no %q", what, s, p)
			}
		}
	}
	wantStatus("at the start", "▶ playing", "0/24", "0s of 10.5s", "×1")
	h.press("space")
	wantStatus("space", "⏸ paused", "0/24")
	h.press("space")
	wantStatus("space again", "▶ playing")

	h.press("+", "+")
	wantStatus("+ +", "▶ playing", "×4")
	h.press("-")
	wantStatus("-", "×2")
	for range 10 {
		h.press("+")
	}
	wantStatus("+ past the fastest", "×64", "×64 is the fastest")
	h.press("space") // paused: no tick waits at the slowest speed
	for range 12 {
		h.press("-")
	}
	wantStatus("- past the slowest", "×0.125", "×0.125 is the slowest")

	h.press(".", ".", ".", ".")
	wantStatus(". four times", "⏸ paused", "4/24", "403ms of 10.5s")
	if it := r.cells.get("a"); it == nil || it.previewOf() != "42" || !strings.Contains(h.screen(), "embedded-1") {
		t.Errorf("after four events, a is not 42 on embedded-1:\n%s", h.screen())
	}
	if r.input.Value() != "a = remote 6 * 7" {
		t.Errorf("the typed line shows %q", r.input.Value())
	}
	h.press(",")
	wantStatus(",", "⏸ paused", "3/24")
	if it := r.cells.get("a"); it.view.State != reactive.Running {
		t.Errorf("a step back: a is %v, want running", it.view.State)
	}
	h.press(",", ",", ",", ",")
	wantStatus(", past the start", "0/24", "at the start of the recording")
	if r.cells.len() != 0 || !strings.Contains(h.screen(), "No cells at this point") {
		t.Errorf("at the start the grid is not empty:\n%s", h.screen())
	}

	h.press("]")
	wantStatus("]", "9/24", "◆ the answer")
	h.press("]")
	wantStatus("] ]", "15/24", "◆ after the failure")
	h.press("tab", "tab") // the servers pane
	if s := h.screen(); !strings.Contains(s, "servers · 1/2 connected") || !strings.Contains(s, "no answer to ping for 4s") {
		t.Errorf("the servers pane does not show embedded-2 lost:\n%s", s)
	}
	h.press("]")
	wantStatus("] at the last marker", "15/24", "no marker after this point")
	h.press("[")
	wantStatus("[", "9/24", "◆ the answer")
	h.press("[")
	wantStatus("[ at the first marker", "9/24", "no marker before this point")

	// Moving the selection keeps it where the user put it.
	h.press("tab", "tab") // back to the cells
	h.press("left")
	if r.selName != "a" {
		t.Fatalf("left selected %q", r.selName)
	}
	h.press("]", ".", ".")
	if r.selName != "a" {
		t.Errorf("the selection moved to %q as cells were defined", r.selName)
	}

	h.press("?")
	if s := h.screen(); !strings.Contains(s, "a pause over 2s in the recording plays as 2s") {
		t.Errorf("the help says nothing of long pauses:\n%s", s)
	}
	h.press("esc")
	h.press("q")
	h.until("q to quit", func() bool { return h.quit })
}

// TestReplayPlays lets the replay play at the fastest speed to its end:
// the last screen stays, paused.
func TestReplayPlays(t *testing.T) {
	h := newReplayHarness(t, ReplayOptions{Recording: tourSession(t).read(), Speed: MaxSpeed}, 120, 30)
	h.until("the end", func() bool { return h.r.pos == tourEvents })
	s := h.screen()
	for _, want := range []string{"■ end", "24/24", "10.5s of 10.5s", "600", "601", "floored division by zero", "◆ after the failure", "space plays it again"} {
		if !strings.Contains(s, want) {
			t.Errorf("the final screen shows no %q:\n%s", want, s)
		}
	}
	if !h.r.paused {
		t.Error("not paused at the end")
	}
	h.press("space") // plays again from the start
	if h.r.pos != 0 || h.r.paused {
		t.Errorf("space at the end: at %d, paused %v", h.r.pos, h.r.paused)
	}
	h.until("the end again", func() bool { return h.r.pos == tourEvents })
}

// TestReplayPace checks that playback follows the recorded offsets, divided
// by the speed, with long pauses cut to MaxGap: a clock of its own is
// advanced and the tick the replay waits for is delivered.
func TestReplayPace(t *testing.T) {
	now := clock
	r := NewReplay(ReplayOptions{Recording: tourSession(t).read(), Now: func() time.Time { return now }})
	r.Init()
	tick := func(after time.Duration) {
		now = now.Add(after)
		r.Update(replayTickMsg{n: r.tick})
	}
	tick(450 * time.Millisecond)
	if r.pos != 4 {
		t.Errorf("450ms in: %d events, want a's 4 (400–403ms)", r.pos)
	}
	r.Update(keyPress("+"))
	tick(530 * time.Millisecond) // 1060ms of the recording at ×2: 1510ms
	if r.pos != 8 {
		t.Errorf("530ms later at ×2: %d events, want b's 4 too (1500–1503ms)", r.pos)
	}
	tick(500 * time.Millisecond) // 2510ms: the marker
	tick(250 * time.Millisecond) // 3010ms: c
	if r.pos != 13 || r.ws.Marker != "the answer" {
		t.Errorf("at 3010ms: %d events, marker %q", r.pos, r.ws.Marker)
	}
	// The next event is 6s later: it plays 2s later, at ×2 1s.
	tick(time.Second)
	if r.pos != 14 {
		t.Errorf("a 6s pause played in 1s at ×2: %d events, want 14", r.pos)
	}
	// A tick from before a pause is dropped.
	old := r.tick
	r.Update(keyPress("space"))
	now = now.Add(time.Hour)
	r.Update(replayTickMsg{n: old})
	if r.pos != 14 {
		t.Errorf("a tick while paused played: %d events", r.pos)
	}
}

// TestReplayBrokenRecording plays a recording with a garbage line in the
// middle: what comes before it plays, and the error names the line.
func TestReplayBrokenRecording(t *testing.T) {
	lines := strings.SplitAfter(tourSession(t).buf.String(), "\n")
	data := strings.Join(lines[:9], "") + "garbage\n" + strings.Join(lines[9:], "")
	path := filepath.Join(t.TempDir(), "broken.jsonl")
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	rec, err := record.Open(path)
	var le *record.LineError
	if !errors.As(err, &le) || le.Line != 10 || len(rec.Events) != 8 {
		t.Fatalf("Open = %d events, %v; want 8 and an error at line 10", len(rec.Events), err)
	}
	h := newReplayHarness(t, ReplayOptions{Recording: rec, Err: err, Speed: MaxSpeed}, 120, 30)
	const broken = "the recording breaks at line 10: not an event"
	if s := h.screen(); !strings.Contains(s, broken) {
		t.Errorf("the error is not shown at the start:\n%s", s)
	}
	h.until("the end", func() bool { return h.r.pos == 8 })
	s := h.screen()
	for _, want := range []string{"■ end", "8/8", "42", "43", broken} {
		if !strings.Contains(s, want) {
			t.Errorf("the screen at the end shows no %q:\n%s", want, s)
		}
	}
	// The log has it whole, last.
	if e := h.r.logp.at(0); !e.bad || !strings.HasPrefix(e.note, broken) || !strings.HasSuffix(e.note, `: "garbage"`) {
		t.Errorf("the last entry of the log is %+v", e)
	}
}

// TestReplayTornLine plays a recording whose last line was cut by a crash:
// the note says so.
func TestReplayTornLine(t *testing.T) {
	data := tourSession(t).buf.String()
	rec, err := record.Read(strings.NewReader(data[:len(data)-10]))
	if err != nil || len(rec.Events) != tourEvents-1 {
		t.Fatalf("Read = %d events, %v", len(rec.Events), err)
	}
	h := newReplayHarness(t, ReplayOptions{Recording: rec}, 120, 30)
	if s := h.screen(); !strings.Contains(s, "note: ignored the torn last line: line 25 is not whole") {
		t.Errorf("no note of the torn line:\n%s", s)
	}
}

func TestReplayEmpty(t *testing.T) {
	var buf bytes.Buffer
	if _, err := record.New(&buf, record.Header{Started: clock}); err != nil {
		t.Fatal(err)
	}
	rec, err := record.Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	h := newReplayHarness(t, ReplayOptions{Recording: rec}, 80, 24)
	h.press("space", ".", ",", "]", "[", "+")
	if s := h.screen(); !strings.Contains(s, "0/0") || !strings.Contains(s, "No cells at this point") {
		t.Errorf("a recording with no events:\n%s", s)
	}
	h.send(tea.WindowSizeMsg{Width: 30, Height: 9})
	content, _ := h.render()
	checkScreen(t, content, 30, 9)
}

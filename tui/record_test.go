package tui

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sperse/sperse/reactive"
	"github.com/sperse/sperse/reactive/record"
	"github.com/sperse/sperse/remote"
)

// summary lists the events of rec as "kind cell-or-text", leaving out
// those of kind skip.
func summary(rec *record.Recording, skip ...record.Kind) []string {
	var out []string
	for _, ev := range rec.Events {
		if slices.Contains(skip, ev.Kind) {
			continue
		}
		switch {
		case ev.Kind.IsCell():
			out = append(out, string(ev.Kind)+" "+ev.Cell)
		case ev.Server != nil:
			out = append(out, string(ev.Kind)+" "+ev.Server.Name)
		default:
			out = append(out, string(ev.Kind)+" "+ev.Text)
		}
	}
	return out
}

// index returns where want is in got, failing if it is not.
func index(t *testing.T, got []string, want string) int {
	t.Helper()
	i := slices.Index(got, want)
	if i < 0 {
		t.Fatalf("the recording has no %q:\n%s", want, strings.Join(got, "\n"))
	}
	return i
}

func TestRecordCommands(t *testing.T) {
	fake := &fakeServers{infos: []remote.ServerInfo{
		{Name: "embedded-1", Addr: "127.0.0.1:4001", Tags: []string{"embedded"}, Connected: true},
	}}
	h := newHarness(t, Options{Servers: fake}, 120, 30)
	h.enter("a = 20")
	h.settle()

	file := filepath.Join(t.TempDir(), "session.jsonl")
	h.enter(":record " + file)
	h.until("the recording started", func() bool { return h.m.rec.cur != nil })
	if s := h.screen(); !strings.Contains(s, "● rec session.jsonl") || !strings.Contains(s, "recording to "+file) {
		t.Errorf("the screen does not say it records:\n%s", s)
	}
	// A second :record leaves the first one running.
	h.enter(":record " + filepath.Join(t.TempDir(), "other.jsonl"))
	if !h.m.statusBad || !strings.Contains(h.m.status, "already recording to "+file) {
		t.Errorf(":record while recording: status %q", h.m.status)
	}

	h.enter("b = a + 1")
	h.settle()
	h.enter(":mark before the change")
	if h.m.status != "marked before the change" {
		t.Errorf(":mark: status %q", h.m.status)
	}
	fake.Connect(t.Context(), "10.0.0.2:7")
	h.m.ServersChanged()
	fake.mu.Lock()
	fake.infos[0].Connected, fake.infos[0].LastError = false, errors.New("no answer to ping for 4s")
	fake.mu.Unlock()
	h.m.ServersChanged()
	h.enter(":del a")
	h.settle()
	h.enter(":record stop")
	h.until("the recording ended", func() bool { return strings.HasPrefix(h.m.status, "recorded to ") })
	if s := h.screen(); strings.Contains(s, "● rec") {
		t.Errorf("the screen still says it records:\n%s", s)
	}
	h.enter(":record stop")
	if !h.m.statusBad || h.m.status != "not recording: nothing to stop" {
		t.Errorf(":record stop while not recording: status %q", h.m.status)
	}
	h.enter(":mark too late")
	if !h.m.statusBad || !strings.HasPrefix(h.m.status, "not recording") {
		t.Errorf(":mark while not recording: status %q", h.m.status)
	}
	h.enter("c = 1") // not recorded

	rec, err := record.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	hd := rec.Header
	if hd.Title != "sperse-tui" || hd.Width != 120 || hd.Height != 30 || len(hd.Servers) != 1 || hd.Servers[0].Name != "embedded-1" || !hd.Servers[0].Connected {
		t.Errorf("header %+v", hd)
	}
	got := summary(rec, record.Dispatched, record.Changed)
	// The cells there before the recording come first, with their state.
	if got[0] != "defined a" || rec.Events[0].State != reactive.Ready || rec.Events[0].Value.Repr != "20" {
		t.Errorf("the recording starts with %q %v, want a defined and ready", got[0], rec.Events[0].State)
	}
	// What was typed comes before what it did.
	if typed, defined := index(t, got, "typed b = a + 1"), index(t, got, "defined b"); typed > defined {
		t.Errorf("b was defined before it was typed:\n%s", strings.Join(got, "\n"))
	}
	index(t, got, "resolved b")
	index(t, got, "marker before the change")
	index(t, got, "typed :mark before the change")
	index(t, got, "server-joined srv-10.0.0.2:7")
	left := rec.Events[slices.IndexFunc(rec.Events, func(ev record.Event) bool { return ev.Kind == record.ServerLeft })]
	if left.Server.Name != "embedded-1" || left.Server.Error != "no answer to ping for 4s" {
		t.Errorf("server-left %+v", left.Server)
	}
	if typed, deleted := index(t, got, "typed :del a"), index(t, got, "deleted a"); typed > deleted {
		t.Errorf("a was deleted before :del was typed:\n%s", strings.Join(got, "\n"))
	}
	if last := got[len(got)-1]; last != "typed :record stop" {
		t.Errorf("the recording ends with %q, want the :record stop typed", last)
	}
	if slices.Contains(got, "typed c = 1") || slices.Contains(got, "marker too late") {
		t.Errorf("events after :record stop were recorded:\n%s", strings.Join(got, "\n"))
	}
	final := rec.Final()
	if final.Cell("a") != nil || final.Cell("b") == nil || final.Cell("b").State != reactive.Error {
		t.Errorf("the final workspace has a %v and b %+v; want no a, and b failed", final.Cell("a"), final.Cell("b"))
	}
	if final.Marker != "before the change" {
		t.Errorf("final marker %q", final.Marker)
	}
}

func TestRecordUnwritable(t *testing.T) {
	h := newHarness(t, Options{}, 120, 30)
	missing := filepath.Join(t.TempDir(), "no", "such", "dir", "s.jsonl")
	h.enter(":record " + missing)
	want := "cannot record to " + missing + ": no such file or directory"
	h.until("the error", func() bool { return h.m.statusBad })
	if h.m.status != want || h.m.rec.cur != nil {
		t.Errorf("status %q, recording %v; want %q", h.m.status, h.m.rec.cur != nil, want)
	}
	h.enter(":log")
	if s := h.screen(); !strings.Contains(s, "cannot record to") || strings.Contains(s, "● rec") {
		t.Errorf("the log does not show the error:\n%s", s)
	}
	// The session goes on, and a recording can start afterwards.
	h.enter("x = 1")
	h.settle()
	file := filepath.Join(t.TempDir(), "s.jsonl")
	h.enter(":record " + file)
	h.until("the recording started", func() bool { return h.m.rec.cur != nil })

	// A write that fails at once (the device is full) is an error too.
	if _, err := startRecording("/dev/full", h.engine, nil, 0, 0); err == nil || err.Error() != "cannot record to /dev/full: no space left on device" {
		t.Errorf("recording to /dev/full: %v", err)
	}
}

// TestRecordUntilClose records from the start (sperse-tui --record) and
// ends when the model is closed, as when the program ends.
func TestRecordUntilClose(t *testing.T) {
	file := filepath.Join(t.TempDir(), "s.jsonl")
	engine := newEngine(t)
	m := New(Options{Engine: engine})
	if err := m.Record(file, 100, 40); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, m: m, engine: engine}
	h.start(m, m.render, 100, 40)
	h.enter("a = remote 6 * 7")
	h.enter("b = a + 1")
	h.settle()
	if s := h.screen(); !strings.Contains(s, "● rec s.jsonl") {
		t.Errorf("no recording shown:\n%s", s)
	}
	h.stop() // the program ended: Close

	rec, err := record.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Header.Width != 100 || rec.Header.Height != 40 {
		t.Errorf("header size %dx%d", rec.Header.Width, rec.Header.Height)
	}
	final := rec.Final()
	for name, want := range map[string]string{"a": "42", "b": "43"} {
		c := final.Cell(name)
		if c == nil || c.Value == nil || c.Value.Repr != want {
			t.Errorf("recorded %s = %+v, want %s", name, c, want)
		}
	}
	if got := fmt.Sprint(summary(rec, record.Dispatched, record.Changed, record.Resolved, record.Defined)); got != "[typed a = remote 6 * 7 typed b = a + 1]" {
		t.Errorf("typed: %s", got)
	}
}

package record

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.starlark.net/starlark"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/reactive"
)

// engine returns an engine whose local cells run in an interpreter at
// "local" and remote cells in one at "srv-1".
func engine(t testing.TB) *reactive.Engine {
	t.Helper()
	e := reactive.New(reactive.Config{
		Local:  reactive.Local{Interp: lang.NewInterp("local")},
		Remote: reactive.Local{Interp: lang.NewInterp("srv-1")},
	})
	t.Cleanup(e.Close)
	return e
}

func parse(t testing.TB, src string) []*lang.Cell {
	t.Helper()
	cells, err := lang.ParseFile("w.sp", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return cells
}

func waitQuiet(t testing.TB, e *reactive.Engine) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}

// record follows e into a recording in a file while do runs, and returns
// the recording read back after e closes.
func record(t *testing.T, e *reactive.Engine, h Header, do func(r *Recorder)) (*Recording, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rec.jsonl")
	r, err := Create(path, h)
	if err != nil {
		t.Fatal(err)
	}
	sub := e.Subscribe()
	done := make(chan error, 1)
	go func() { done <- r.Follow(context.Background(), sub) }()
	do(r)
	e.Close()
	if err := <-done; err != nil {
		t.Fatalf("Follow: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	rec, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Notes) > 0 {
		t.Errorf("notes reading a whole recording: %q", rec.Notes)
	}
	return rec, path
}

func TestRecordEngine(t *testing.T) {
	e := engine(t)
	started := time.Now()
	var views []reactive.CellView
	rec, path := record(t, e, Header{Started: started, Title: "test", Servers: []Server{{Name: "srv-1", Addr: "127.0.0.1:1", Tags: []string{"x"}, Connected: true}}}, func(r *Recorder) {
		e.Load(parse(t, `
a = 20
b = remote a + 1
bad = 1 // 0
up = bad + 1
up2 = up
u = "abc".upper
def f(x):
    return x + a
big = list(range(5000))
dup = 1
dup = 2
`))
		waitQuiet(t, e)
		if err := r.Mark("after load"); err != nil {
			t.Fatal(err)
		}
		if err := r.Typed("a = 21"); err != nil {
			t.Fatal(err)
		}
		e.Define(lang.ParseCell("<repl>", 1, "a = 21"))
		waitQuiet(t, e)
		e.Delete("u")
		r.ServerLeft(Server{Name: "srv-1", Addr: "127.0.0.1:1", Error: "lost"})
		r.ServerJoined(Server{Name: "srv-2", Addr: "127.0.0.1:2"})
		views = e.Cells()
	})

	if rec.Header.Version != FormatVersion || rec.Header.Title != "test" || !rec.Header.Started.Equal(started) ||
		len(rec.Header.Servers) != 1 || rec.Header.Servers[0].Tags[0] != "x" || !rec.Header.Servers[0].Connected {
		t.Errorf("header %+v", rec.Header)
	}
	for i, ev := range rec.Events {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d", i, ev.Seq)
		}
		if i > 0 && ev.Offset < rec.Events[i-1].Offset {
			t.Errorf("event %d is older than the one before", i)
		}
	}

	// The events of each cell, in order.
	got := map[string][]string{}
	for _, ev := range rec.Events {
		if ev.Kind.IsCell() {
			got[ev.Cell] = append(got[ev.Cell], string(ev.Kind)+":"+ev.State.String())
		}
	}
	want := map[string][]string{
		"a":   {"defined:queued", "dispatched:running", "resolved:ready", "defined:queued", "dispatched:running", "resolved:ready"},
		"b":   {"defined:queued", "dispatched:running", "resolved:ready", "changed:queued", "dispatched:running", "resolved:ready"},
		"bad": {"defined:queued", "dispatched:running", "failed:error"},
		"up":  {"defined:queued", "changed:upstream-error"},
		"up2": {"defined:queued", "changed:upstream-error"},
		"u":   {"defined:queued", "dispatched:running", "resolved:ready", "deleted:ready"},
		"f":   {"defined:queued", "dispatched:running", "resolved:ready", "changed:queued", "dispatched:running", "resolved:ready"},
		"big": {"defined:queued", "dispatched:running", "resolved:ready"},
		"dup": {"defined:error"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("events per cell:\n got %v\nwant %v", got, want)
	}

	byKind := func(kind Kind, cell string) *Event {
		var last *Event
		for i := range rec.Events {
			if ev := &rec.Events[i]; ev.Kind == kind && ev.Cell == cell {
				last = ev
			}
		}
		if last == nil {
			t.Fatalf("no %s event of %s", kind, cell)
		}
		return last
	}
	if ev := byKind(Dispatched, "b"); ev.Where != "remote" {
		t.Errorf("b dispatched to %q, want remote (what the engine knows then)", ev.Where)
	}
	if ev := byKind(Resolved, "b"); ev.Where != "srv-1" || ev.Value.Repr != "22" || ev.Took <= 0 {
		t.Errorf("b resolved: %+v %+v", ev, ev.Value)
	}
	if ev := byKind(Failed, "bad"); ev.Error != "w.sp:4:9: floored division by zero" || ev.ErrorPos != (lang.Pos{File: "w.sp", Line: 4, Col: 9}) {
		t.Errorf("bad failed: %q at %v", ev.Error, ev.ErrorPos)
	}
	if ev := byKind(Changed, "up2"); ev.Error != "depends on failed bad (via up)" || ev.Input != "up" || ev.Root != "bad" {
		t.Errorf("up2: %+v", ev)
	}
	if ev := byKind(Resolved, "u"); ev.Value.CBOR != nil || !strings.Contains(ev.Value.NoCBOR, "cannot encode") || ev.Value.Repr != "<built-in method upper of string value>" {
		t.Errorf("u, a value that cannot be encoded: %+v", ev.Value)
	}
	if ev := byKind(Resolved, "big"); !ev.Value.Truncated() || len(ev.Value.Repr) > MaxRepr || ev.Value.ReprLen != len(startList(5000)) || ev.Value.Type != "list" {
		t.Errorf("big: repr of %d bytes, repr_len %d", len(ev.Value.Repr), ev.Value.ReprLen)
	}
	if ev := byKind(Defined, "dup"); len(ev.Dups) != 1 || ev.Dups[0].Source != "dup = 2" || ev.Dups[0].Pos.Line != 12 || !strings.Contains(ev.Error, "defined twice") {
		t.Errorf("dup: %+v", ev)
	}
	if ev := byKind(Defined, "f"); ev.Source != "def f(x):\n    return x + a" || ev.Pos != (lang.Pos{File: "w.sp", Line: 8, Col: 1}) {
		t.Errorf("f defined: %q at %v", ev.Source, ev.Pos)
	}
	if got := rec.Markers(); len(got) != 1 || rec.Events[got[0]].Text != "after load" {
		t.Errorf("markers %v", got)
	}

	// Replayed to the end, the workspace is the engine's.
	final := rec.Final()
	if len(final.Cells) != len(views) {
		t.Fatalf("%d cells replayed, the engine has %d", len(final.Cells), len(views))
	}
	in := lang.NewInterp("local")
	for i, v := range views {
		c := final.Cells[i]
		if c.Name != v.Name || c.State != v.State || c.Version != v.Version || c.Source != v.Cell.Source {
			t.Errorf("cell %d: replayed %s v%d %s, engine %s v%d %s", i, c.Name, c.Version, c.State, v.Name, v.Version, v.State)
			continue
		}
		if v.State != reactive.Ready {
			continue
		}
		if !c.Value.Equal(NewValue(v.Value)) {
			t.Errorf("%s = %s, engine %s", c.Name, c.Value.Repr, v.Value)
		}
		got, err := c.Value.Decode(in)
		if err != nil {
			t.Errorf("decode %s: %v", c.Name, err)
		} else if got.String() != v.Value.String() {
			t.Errorf("%s decodes to %s, want %s", c.Name, got, v.Value)
		}
	}
	if s := final.Servers; len(s) != 2 || s[0].Connected || s[0].Error != "lost" || !s[1].Connected {
		t.Errorf("servers at the end: %+v", s)
	}

	// Every line is one JSON object that encoding/json reads.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != len(rec.Events)+1 {
		t.Errorf("%d lines for %d events and a header", len(lines), len(rec.Events))
	}
	for i, line := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("line %d: %v", i+1, err)
		}
	}
}

func startList(n int) string {
	l := starlark.NewList(nil)
	for i := range n {
		l.Append(starlark.MakeInt(i))
	}
	return l.String()
}

func TestRecordCellsSnapshot(t *testing.T) {
	e := engine(t)
	e.Load(parse(t, "a = 1\nb = a + 1\nc = 1 // 0\n"))
	waitQuiet(t, e)
	rec, _ := record(t, e, Header{}, func(r *Recorder) {
		if err := r.RecordCells(e.Cells()); err != nil {
			t.Fatal(err)
		}
	})
	final := rec.Final()
	var got []string
	for _, c := range final.Cells {
		s := c.Name + " " + c.State.String()
		if c.Value != nil {
			s += " " + c.Value.Repr
		}
		got = append(got, s)
	}
	if want := []string{"a ready 1", "b ready 2", "c error"}; !reflect.DeepEqual(got, want) {
		t.Errorf("snapshot replayed: %q, want %q", got, want)
	}
}

func TestRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	started := time.Date(2026, 5, 4, 10, 0, 0, 123456789, time.UTC)
	h := Header{Program: "sperse test", Started: started, Width: 120, Height: 40, Title: "t \"q\"",
		Servers: []Server{{Name: "a", Addr: "127.0.0.1:1", Tags: []string{"gpu", "x"}, Provides: []string{"np"}, Connected: true}}}
	r, err := New(&buf, h)
	if err != nil {
		t.Fatal(err)
	}
	val := NewValue(starlark.String("héllo\n\"\x00\u2028"))
	events := []Event{
		{Offset: 1500 * time.Microsecond, Kind: Typed, Text: "a = 1\tb\\"},
		{Offset: 2 * time.Millisecond, Kind: Defined, Cell: "a", Version: 3, State: reactive.Error, Source: "a = (", Pos: lang.Pos{File: "<repl>", Line: 2, Col: 1},
			Dups: []Definition{{Source: "a = 2", Pos: lang.Pos{File: "w.sp", Line: 9, Col: 1}}}, Error: "x", ErrorPos: lang.Pos{File: "w.sp", Line: 1, Col: 5}},
		{Offset: time.Millisecond, Kind: Dispatched, Cell: "a", Version: 3, State: reactive.Running, Where: "remote"},
		{Offset: 2 * time.Second, Kind: Progressed, Cell: "a", Version: 3, State: reactive.Running, Where: "remote", Progress: reactive.Progress{Done: 1, Total: 4}},
		{Offset: 3 * time.Second, Kind: Resolved, Cell: "a", Version: 3, State: reactive.Ready, Where: "gpu-1", Took: 1234567 * time.Microsecond, Value: val,
			Attempts: 2, Progress: reactive.Progress{Done: 4, Total: 4}},
		{Offset: 3 * time.Second, Kind: Failed, Cell: "b", Version: 1, State: reactive.Error, Error: "boom", Backtrace: "Traceback\n  x"},
		{Offset: 3 * time.Second, Kind: Changed, Cell: "c", Version: 1, State: reactive.UpstreamError, Error: "depends on failed b", Input: "b", Root: "z"},
		{Offset: 3 * time.Second, Kind: Changed, Cell: "d", Version: 1, State: reactive.Stale, Error: "lost"},
		{Offset: 3 * time.Second, Kind: Cancelled, Cell: "d", Version: 1, State: reactive.Cancelled},
		{Offset: 3 * time.Second, Kind: Deleted, Cell: "d", Version: 1, State: reactive.Cancelled},
		{Offset: 4 * time.Second, Kind: ServerLeft, Server: &Server{Name: "a", Addr: "127.0.0.1:1", Error: "gone"}},
		{Offset: 4 * time.Second, Kind: ServerJoined, Server: &Server{Name: "b", Addr: "[::1]:2", Tags: []string{"t"}}},
		{Offset: 5 * time.Second, Kind: Marker, Text: "✓ done"},
	}
	for _, ev := range events {
		if err := r.Record(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Mark("late"); !errors.Is(err, ErrClosed) {
		t.Errorf("Mark after Close: %v, want ErrClosed", err)
	}
	// The fast parser takes every line the recorder writes.
	for i, line := range bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n"))[1:] {
		p := fastParser{b: line, t: new(float64)}
		if !p.event(new(wireEvent)) || p.i != len(line) {
			t.Errorf("the fast parser stops at byte %d of line %d: %s", p.i, i+2, line)
		}
	}
	rec, err := Read(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	h.Version = FormatVersion
	if !reflect.DeepEqual(rec.Header, h) {
		t.Errorf("header:\n got %+v\nwant %+v", rec.Header, h)
	}
	for i := range events {
		events[i].Seq = uint64(i + 1)
	}
	events[2].Offset = events[1].Offset // raised to the event before's
	if len(rec.Events) != len(events) {
		t.Fatalf("%d events read, %d written", len(rec.Events), len(events))
	}
	for i := range events {
		if !reflect.DeepEqual(rec.Events[i], events[i]) {
			t.Errorf("event %d:\n got %+v\nwant %+v", i, rec.Events[i], events[i])
		}
	}
	if got := rec.Events[4].Value; !got.Equal(val) || got.Repr != `"héllo\n\"\x00\u2028"` {
		t.Errorf("value %+v", got)
	}
}

// TestAppendString checks the hand-written JSON strings against
// encoding/json.
func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", "q\"b\\", "\x00\x01\x1f\x7f", "\n\r\t", "é€😀", "\xff\xfe", "a\u2028b\u2029", "<>&", "ok\xc3"} {
		got := appendString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Errorf("%q: %s does not parse: %v", s, got, err)
			continue
		}
		want, _ := json.Marshal(s)
		var wantBack string
		json.Unmarshal(want, &wantBack)
		if back != wantBack {
			t.Errorf("%q: reads back as %q, encoding/json's as %q", s, back, wantBack)
		}
	}
}

// TestNumber: the text of a recorder's count of events is the count's.
func TestNumber(t *testing.T) {
	r, err := New(io.Discard, Header{})
	if err != nil {
		t.Fatal(err)
	}
	for range 100_001 {
		r.numberLocked()
		if string(r.seqText) != strconv.FormatUint(r.seq, 10) {
			t.Fatalf("event %d numbered %s", r.seq, r.seqText)
		}
	}
}

func TestAppendMillis(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0"}, {-time.Second, "0"}, {time.Microsecond, "0.001"}, {999, "0"}, {1500 * time.Microsecond, "1.5"},
		{12 * time.Millisecond, "12"}, {time.Hour + 10*time.Microsecond, "3600000.01"},
	} {
		if got := string(appendMillis(nil, tc.d)); got != tc.want {
			t.Errorf("appendMillis(%v) = %s, want %s", tc.d, got, tc.want)
		}
	}
}

const header = `{"format":"sperse-recording","version":1,"program":"p","started":"2026-05-04T10:00:00Z","width":0,"height":0,"servers":[]}` + "\n"

func TestReadBadInput(t *testing.T) {
	ev := func(seq int) string {
		return `{"seq":` + string(rune('0'+seq)) + `,"t":` + string(rune('0'+seq)) + `,"kind":"marker","text":"m"}` + "\n"
	}
	for _, tc := range []struct {
		name   string
		data   string
		events int    // events read
		err    string // a substring of the error; "" for none
		is     error
		note   string // a substring of the note
	}{
		{"empty", "", 0, "the recording is empty", ErrEmpty, ""},
		{"not JSON", "hello\nworld\n", 0, `not a sperse recording: line 1 is not a recording header: "hello"`, ErrNoHeader, ""},
		{"another JSON file", `{"version":1}` + "\n", 0, "not a sperse recording", ErrNoHeader, ""},
		{"an event first", ev(1), 0, "not a sperse recording", ErrNoHeader, ""},
		{"torn header", header[:30], 0, "the first line is not whole (30 bytes and no newline)", ErrNoHeader, ""},
		{"newer version", strings.Replace(header, `"version":1`, `"version":2`, 1) + `{"seq":1,"t":0,"kind":"hologram"}` + "\n", 0,
			"recorded by format version 2; this sperse reads version 1: upgrade sperse", nil, ""},
		{"newer version, other fields", `{"format":"sperse-recording","version":7,"servers":{"a":1}}` + "\n", 0, "format version 7", nil, ""},
		{"version 0", strings.Replace(header, `"version":1`, `"version":0`, 1), 0, "format version 0", ErrNoHeader, ""},
		{"bad header field", strings.Replace(header, `"width":0`, `"width":"wide"`, 1), 0, "line 1: bad header", nil, ""},
		{"header only", header, 0, "", nil, ""},
		{"whole", header + ev(1) + ev(2), 2, "", nil, ""},
		{"blank lines", header + ev(1) + "\n  \n" + ev(2) + "\n", 2, "", nil, ""},
		{"torn last line", header + ev(1) + ev(2) + ev(3)[:20], 2, "", nil, "line 4 is not whole (20 bytes and no newline)"},
		{"torn last line, newline", header + ev(1) + ev(2) + ev(3)[:20] + "\n", 2, "", nil, "line 4 does not parse"},
		{"zeros at the end", header + ev(1) + "\x00\x00\x00\x00\n", 1, "", nil, "line 3 does not parse"},
		{"garbage in the middle", header + ev(1) + ev(2) + "garbage\n" + ev(4), 2, `line 4: not an event (invalid character 'g' looking for beginning of value): "garbage"`, nil, ""},
		{"torn line in the middle", header + ev(1) + ev(2)[:10] + "\n" + ev(3), 1, "line 3: not an event", nil, ""},
		{"seq backwards", header + ev(2) + ev(1) + ev(3), 1, "line 3: seq 1 after seq 2", nil, ""},
		{"no seq", header + `{"t":1,"kind":"marker"}` + "\n" + ev(2), 0, "line 2: an event without its seq", nil, ""},
		{"no t", header + `{"seq":1,"kind":"marker"}` + "\n" + ev(2), 0, "line 2: an event without its time offset t", nil, ""},
		{"negative t", header + `{"seq":1,"t":-1,"kind":"marker"}` + "\n" + ev(2), 0, "line 2: t -1 is out of range", nil, ""},
		{"unknown kind", header + `{"seq":1,"t":1,"kind":"hologram"}` + "\n" + ev(2), 0, `line 2: unknown kind "hologram"`, nil, ""},
		{"unknown state", header + `{"seq":1,"t":1,"kind":"changed","cell":"a","state":"sleepy"}` + "\n" + ev(2), 0, `line 2: unknown state "sleepy"`, nil, ""},
		{"cell event without a cell", header + `{"seq":1,"t":1,"kind":"changed","state":"queued"}` + "\n" + ev(2), 0, "line 2: a changed event without its cell", nil, ""},
		{"server event without a server", header + `{"seq":1,"t":1,"kind":"server-left"}` + "\n" + ev(2), 0, "line 2: a server-left event without its server", nil, ""},
		{"bad base64", header + `{"seq":1,"t":1,"kind":"resolved","cell":"a","state":"ready","value":{"repr":"1","cbor":"!!"}}` + "\n" + ev(2), 0, "line 2: not an event", nil, ""},
		{"an array", header + "[1,2]\n" + ev(2), 0, "line 2: not an event", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := Read(strings.NewReader(tc.data))
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("Read: %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("Read: error %v, want one containing %q", err, tc.err)
			case tc.is != nil && !errors.Is(err, tc.is):
				t.Errorf("Read: error %v is not %v", err, tc.is)
			}
			if strings.Contains(tc.name, "version") && tc.name != "version 0" {
				var ve *VersionError
				if !errors.As(err, &ve) {
					t.Errorf("error %T, want *VersionError", err)
				}
			}
			var le *LineError
			if errors.As(err, &le) && le.Line < 2 && !strings.Contains(tc.name, "header") {
				t.Errorf("line error names line %d", le.Line)
			}
			n := 0
			if rec != nil {
				n = len(rec.Events)
			}
			if n != tc.events {
				t.Errorf("%d events read, want %d", n, tc.events)
			}
			if tc.note != "" && (rec == nil || len(rec.Notes) != 1 || !strings.Contains(rec.Notes[0], tc.note)) {
				t.Errorf("notes %v, want one containing %q", rec.Notes, tc.note)
			}
			if tc.note == "" && rec != nil && len(rec.Notes) > 0 {
				t.Errorf("unexpected notes %q", rec.Notes)
			}
		})
	}
}

func TestRecordRejects(t *testing.T) {
	var buf bytes.Buffer
	r, err := New(&buf, Header{})
	if err != nil {
		t.Fatal(err)
	}
	size := buf.Len()
	for _, ev := range []Event{
		{Kind: "hologram"},
		{Kind: Resolved, State: reactive.Ready},
		{Kind: Changed, Cell: "a", State: reactive.State(99)},
		{Kind: ServerLeft},
	} {
		if err := r.Record(ev); err == nil {
			t.Errorf("Record(%+v) = nil, want an error", ev)
		}
	}
	if buf.Len() != size {
		t.Errorf("rejected events were written: %s", buf.Bytes()[size:])
	}
}

// TestFollowStops: Follow writes what is waiting and returns when its
// context is done, and when the engine closes.
func TestFollowStops(t *testing.T) {
	e := engine(t)
	var buf bytes.Buffer
	r, err := New(&buf, Header{})
	if err != nil {
		t.Fatal(err)
	}
	sub := e.Subscribe()
	e.Load(parse(t, "a = 1\n"))
	waitQuiet(t, e)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Follow(ctx, sub); !errors.Is(err, context.Canceled) {
		t.Errorf("Follow with a done context: %v", err)
	}
	e.Define(lang.ParseCell("<repl>", 1, "b = 2"))
	waitQuiet(t, e)
	e.Close()
	if err := r.Follow(context.Background(), sub); err != nil {
		t.Errorf("Follow of a closed engine: %v", err)
	}
	rec, err := Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if got := rec.Final(); len(got.Cells) != 2 || got.Cells[0].Value.Repr != "1" || got.Cells[1].Value.Repr != "2" {
		t.Errorf("%d events, final %+v", len(rec.Events), got.Cells)
	}
}

func TestOpenMissing(t *testing.T) {
	_, err := Open(filepath.Join(t.TempDir(), "nope.jsonl"))
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "nope.jsonl") {
		t.Errorf("Open of a missing file: %v", err)
	}
}

// TestReadGrowingFile reads a recording while it is being written: the
// reader sees whole lines only, and goes on when more is written.
func TestReadGrowingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rec.jsonl")
	w, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := NewReader(f); !errors.Is(err, ErrEmpty) {
		t.Fatalf("NewReader of an empty file: %v", err)
	}
	f.Seek(0, io.SeekStart)

	write := func(s string) {
		t.Helper()
		if _, err := w.WriteString(s); err != nil {
			t.Fatal(err)
		}
	}
	write(header)
	line := `{"seq":1,"t":5,"kind":"marker","text":"one"}` + "\n"
	write(line[:17])
	rd, err := NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rd.Next(); err != io.EOF {
		t.Fatalf("Next on half a line: %v, want io.EOF", err)
	}
	if torn := rd.Torn(); !strings.Contains(torn, "not whole") {
		t.Errorf("Torn() = %q", torn)
	}
	write(line[17:])
	ev, err := rd.Next()
	if err != nil || ev.Text != "one" || ev.Offset != 5*time.Millisecond {
		t.Fatalf("Next after the line was finished: %+v, %v", ev, err)
	}
	if _, err := rd.Next(); err != io.EOF {
		t.Fatalf("Next at the end: %v, want io.EOF", err)
	}
	if torn := rd.Torn(); torn != "" {
		t.Errorf("Torn() = %q at a clean end", torn)
	}
	// A long line written in pieces.
	long := `{"seq":2,"t":6,"kind":"marker","text":"` + strings.Repeat("x", 200_000) + `"}` + "\n"
	for i := 0; i < len(long); i += 30_000 {
		write(long[i:min(i+30_000, len(long))])
		ev, err = rd.Next()
		if i+30_000 < len(long) && err != io.EOF {
			t.Fatalf("Next on part of a line: %v", err)
		}
	}
	if err != nil || len(ev.Text) != 200_000 || rd.Line() != 3 {
		t.Fatalf("the long line: %d bytes, line %d, %v", len(ev.Text), rd.Line(), err)
	}
}

// failingWriter accepts n bytes, then writes half of what it is given and
// fails.
type failingWriter struct {
	buf bytes.Buffer
	n   int
}

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.buf.Len()+len(p) <= w.n {
		return w.buf.Write(p)
	}
	w.buf.Write(p[:len(p)/2])
	return len(p) / 2, errors.New("disk full")
}

// TestWriteError: a recorder whose writes fail reports it from then on, and
// what it wrote before reads back, its torn last line ignored.
func TestWriteError(t *testing.T) {
	w := &failingWriter{n: 400}
	r, err := New(w, Header{})
	if err != nil {
		t.Fatal(err)
	}
	var werr error
	n := 0
	for ; werr == nil; n++ {
		werr = r.Mark("a marker")
	}
	if !strings.Contains(werr.Error(), "disk full") {
		t.Errorf("error %v", werr)
	}
	if err := r.Typed("more"); err == nil || err.Error() != werr.Error() {
		t.Errorf("after a failed write: %v, want %v", err, werr)
	}
	if err := r.Close(); err == nil {
		t.Error("Close after a failed write: nil error")
	}
	rec, err := Read(bytes.NewReader(w.buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Events) != n-1 || len(rec.Notes) != 1 {
		t.Errorf("%d events (%d written whole), notes %q", len(rec.Events), n-1, rec.Notes)
	}
}

func TestValue(t *testing.T) {
	in := lang.NewInterp("local")
	huge := strings.Repeat("é", MaxRepr) // two bytes a rune: the cut falls inside one
	for _, tc := range []struct {
		name    string
		v       lang.Value
		repr    string
		reprLen int
		cbor    bool
	}{
		{"int", starlark.MakeInt(42), "42", 0, true},
		{"string", starlark.String(huge), `"` + huge[:MaxRepr-2], len(huge) + 2, true},
		{"builtin method", mustAttr(starlark.String("x"), "upper"), "<built-in method upper of string value>", 0, false},
		{"builtin", starlark.Universe["len"], "<built-in function len>", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := NewValue(tc.v)
			if v.Repr != tc.repr || v.ReprLen != tc.reprLen || (v.CBOR != nil) != tc.cbor || (v.NoCBOR != "") == tc.cbor {
				t.Fatalf("NewValue = repr %q (len %d), cbor %v %q", v.Repr[:min(len(v.Repr), 40)], v.ReprLen, v.CBOR != nil, v.NoCBOR)
			}
			back, err := v.Decode(in)
			if !tc.cbor {
				var ne *NoEncodingError
				if !errors.As(err, &ne) {
					t.Errorf("Decode without an encoding: %v", err)
				}
				return
			}
			if err != nil || back.String() != tc.v.String() {
				t.Errorf("Decode = %v, %v", back, err)
			}
		})
	}
}

func mustAttr(v starlark.HasAttrs, name string) starlark.Value {
	a, err := v.Attr(name)
	if err != nil {
		panic(err)
	}
	return a
}

func TestWorkspaceAt(t *testing.T) {
	rec, err := Read(strings.NewReader(header +
		`{"seq":1,"t":1,"kind":"defined","cell":"a","version":1,"state":"queued","source":"a = 1"}` + "\n" +
		`{"seq":2,"t":2,"kind":"resolved","cell":"a","version":1,"state":"ready","where":"local","value":{"type":"int","repr":"1","cbor":"AQ=="}}` + "\n" +
		`{"seq":3,"t":3,"kind":"marker","text":"one"}` + "\n" +
		`{"seq":4,"t":4,"kind":"defined","cell":"b","version":1,"state":"queued","source":"b = a"}` + "\n" +
		`{"seq":5,"t":5,"kind":"deleted","cell":"a","version":1,"state":"ready"}` + "\n" +
		`{"seq":6,"t":6,"kind":"changed","cell":"z","version":4,"state":"stale","error":"lost"}` + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	names := func(w *Workspace) string {
		var s []string
		for _, c := range w.Cells {
			s = append(s, c.Name+":"+c.State.String())
		}
		return strings.Join(s, " ")
	}
	for n, want := range []string{"", "a:queued", "a:ready", "a:ready", "a:ready b:queued", "b:queued", "b:queued z:stale"} {
		if got := names(rec.At(n)); got != want {
			t.Errorf("At(%d) = %q, want %q", n, got, want)
		}
	}
	if w := rec.At(3); w.Marker != "one" || w.Seq != 3 || w.Offset != 3*time.Millisecond || w.Cell("a").Value.Repr != "1" {
		t.Errorf("At(3) = %+v", w)
	}
	if c := rec.Final().Cell("z"); c.Source != "" || c.Version != 4 || c.Error != "lost" {
		t.Errorf("a cell the recording never defined: %+v", c)
	}
}

// TestCrash kills a process while it records an engine's bursts: what it
// left reads back, every event whole and in order.
func TestCrash(t *testing.T) {
	if path := os.Getenv("SPERSE_RECORD_CRASH"); path != "" {
		recordForever(path)
		return
	}
	if testing.Short() {
		t.Skip("starts a process")
	}
	path := filepath.Join(t.TempDir(), "crash.jsonl")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrash$")
	cmd.Env = append(os.Environ(), "SPERSE_RECORD_CRASH="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if line != "recording\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the recording process said %q, %v", line, err)
	}
	time.Sleep(200 * time.Millisecond)
	cmd.Process.Kill()
	cmd.Wait()

	rec, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Events) < 30_000 || len(rec.Notes) > 1 {
		t.Errorf("%d events read after the crash, notes %q", len(rec.Events), rec.Notes)
	}
	for i, ev := range rec.Events {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d", i, ev.Seq)
		}
	}
	t.Logf("%d events, notes %q", len(rec.Events), rec.Notes)
}

// recordForever records bursts of a 10,000-cell fan-out until killed.
func recordForever(path string) {
	e := reactive.New(reactive.Config{Local: sumExecutor{}})
	r, err := Create(path, Header{Title: "crash"})
	if err != nil {
		panic(err)
	}
	sub := e.Subscribe()
	go r.Follow(context.Background(), sub)
	e.Load(fanout(10_000))
	e.Wait(context.Background())
	for i := 0; ; i++ {
		for {
			if v, _ := r.seqNow(); v >= 30_000 {
				break
			}
			time.Sleep(time.Millisecond)
		}
		if i == 0 {
			os.Stdout.WriteString("recording\n")
		}
		e.Define(fanout(1)[0])
		e.Wait(context.Background())
	}
}

// seqNow returns the seq of the last event written.
func (r *Recorder) seqNow() (uint64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seq, r.err
}

func TestFromEngineKinds(t *testing.T) {
	started := time.Now()
	c := lang.ParseCell("w.sp", 1, "x = remote pmap(f, range(8))")
	for _, tc := range []struct {
		kind  reactive.EventKind
		view  reactive.CellView
		want  Kind
		check func(ev Event) bool
	}{
		{reactive.Defined, reactive.CellView{Cell: c, State: reactive.Queued}, Defined, func(ev Event) bool { return ev.Source == c.Source && ev.Pos == c.Pos }},
		{reactive.StateChanged, reactive.CellView{State: reactive.Running, Where: "remote", Runs: 1}, Dispatched, func(ev Event) bool { return ev.Where == "remote" }},
		{reactive.StateChanged, reactive.CellView{State: reactive.Running, Where: "remote", Runs: 1, Progress: reactive.Progress{Done: 3, Total: 8}}, Progressed,
			func(ev Event) bool { return ev.Progress == reactive.Progress{Done: 3, Total: 8} }},
		{reactive.ValueChanged, reactive.CellView{State: reactive.Ready, Value: starlark.MakeInt(7), Where: "gpu-1", Attempts: 2, Progress: reactive.Progress{Done: 8, Total: 8}}, Resolved,
			func(ev Event) bool { return ev.Attempts == 2 && ev.Value.Repr == "7" && ev.Progress.Done == 8 }},
		{reactive.StateChanged, reactive.CellView{State: reactive.Error, Err: errors.New("boom")}, Failed, func(ev Event) bool { return ev.Error == "boom" }},
		{reactive.StateChanged, reactive.CellView{State: reactive.Cancelled}, Cancelled, nil},
		{reactive.StateChanged, reactive.CellView{State: reactive.Stale, Err: errors.New("lost")}, Changed, func(ev Event) bool { return ev.Error == "lost" }},
		{reactive.StateChanged, reactive.CellView{State: reactive.UpstreamError, Err: &reactive.InputError{Input: "a", Root: "a"}}, Changed,
			func(ev Event) bool { return ev.Input == "a" && ev.Root == "" }},
		{reactive.Deleted, reactive.CellView{State: reactive.Ready, Value: starlark.MakeInt(7), Where: "x"}, Deleted, func(ev Event) bool { return ev.Value == nil && ev.Where == "" }},
	} {
		tc.view.Name, tc.view.Version = "x", 3
		ev := FromEngine(reactive.Event{Time: started.Add(time.Millisecond), Kind: tc.kind, Cell: tc.view}, started)
		if ev.Kind != tc.want || ev.Cell != "x" || ev.Version != 3 || ev.State != tc.view.State || ev.Offset != time.Millisecond ||
			tc.check != nil && !tc.check(ev) {
			t.Errorf("%v %v: %+v, want kind %s", tc.kind, tc.view.State, ev, tc.want)
		}
	}
}

// TestAppendEngineEvent: the recorder formats an engine's event where it
// is, as appendEvent formats the event FromEngine returns.
func TestAppendEngineEvent(t *testing.T) {
	started := time.Now()
	c := lang.ParseCell("w\"x.sp", 3, "x = \"é\\n\" + remote pmap(f, range(8))")
	dup := lang.ParseCell("w.sp", 9, "x = 2")
	huge := starlark.String(strings.Repeat("é", MaxRepr))
	codeErr := &lang.Error{Pos: lang.Pos{File: "w.sp", Line: 4, Col: 2}, Msg: "boom", Backtrace: "Traceback\n  f()"}
	views := []reactive.CellView{
		{State: reactive.Queued},
		{Cell: c, Dups: []*lang.Cell{dup, c}, State: reactive.Error, Err: &reactive.DuplicateError{Name: "x", Pos: []lang.Pos{c.Pos, dup.Pos}}},
		{Cell: c, State: reactive.Ready, Value: starlark.MakeInt(7), Where: "local", Took: 1500 * time.Microsecond, Attempts: 1},
		{State: reactive.Running, Where: "remote", Runs: 1},
		{State: reactive.Running, Where: "gpu-\u2028", Progress: reactive.Progress{Done: 3, Total: 8}},
		{State: reactive.Ready, Value: starlark.MakeInt64(1 << 62), Where: "srv", Took: time.Hour, Attempts: 12, Progress: reactive.Progress{Done: 8, Total: 8}},
		{State: reactive.Ready, Value: starlark.MakeInt(0), Where: "remote"},
		{State: reactive.Ready, Value: starlark.MakeInt(-24)}, // the ints encoded in one byte, and the next ones
		{State: reactive.Ready, Value: starlark.MakeInt(-25)},
		{State: reactive.Ready, Value: starlark.MakeInt(23)},
		{State: reactive.Ready, Value: starlark.MakeInt(24)},
		{State: reactive.Ready, Value: starlark.MakeInt(-1_000_003), Where: "local"},
		{State: reactive.Ready, Value: starlark.MakeInt64(math.MinInt64)},
		{State: reactive.Ready, Value: starlark.MakeBigInt(new(big.Int).Lsh(big.NewInt(-3), 70))}, // beyond int64
		{State: reactive.Ready, Value: starlark.Float(2.5)},
		{State: reactive.Ready, Value: starlark.True},
		{State: reactive.Ready, Value: starlark.None},
		{State: reactive.Ready, Value: huge},
		{State: reactive.Ready, Value: mustAttr(starlark.String("x"), "upper")},
		{State: reactive.Ready}, // no value
		{State: reactive.Error, Err: codeErr, Where: "local", Took: time.Microsecond},
		{State: reactive.Error, Err: fmt.Errorf("eval: %w", &lang.Error{Pos: lang.Pos{Col: 3}, Msg: "no place"})},
		{State: reactive.Error, Err: errors.New("")},
		{State: reactive.Cancelled, Err: context.Canceled},
		{State: reactive.Stale, Err: errors.New("lost")},
		{State: reactive.Unavailable, Err: errors.New("no server")},
		{State: reactive.UpstreamError, Err: &reactive.InputError{Input: "a", Root: "a"}},
		{State: reactive.UpstreamError, Err: &reactive.InputError{Input: "a", Root: "b"}},
		{State: reactive.State(42)},
	}
	var cbuf []byte
	seq := uint64(0)
	for _, kind := range []reactive.EventKind{reactive.Defined, reactive.StateChanged, reactive.ValueChanged, reactive.Deleted} {
		for i, v := range views {
			for _, name := range []string{"x", "sq\"\\ é\x01"} {
				v.Name, v.Version = name, i*5
				seq += 99
				ev := reactive.Event{Time: started.Add(time.Duration(i) * 1234567), Kind: kind, Cell: v}
				want := FromEngine(ev, started)
				want.Seq = seq
				var got []byte
				got, cbuf = appendEngineEvent(nil, strconv.AppendUint(nil, seq, 10), appendMillis(nil, want.Offset), &ev, cbuf)
				if string(got) != string(appendEvent(nil, &want)) {
					t.Errorf("%v %d:\n got %s\nwant %s", kind, i, got, appendEvent(nil, &want))
				}
			}
		}
	}
}

func TestWorkspaceView(t *testing.T) {
	e := engine(t)
	in := lang.NewInterp("local")
	rec, _ := record(t, e, Header{}, func(r *Recorder) {
		e.Load(parse(t, "a = 20\nb = remote a + 1\nbad = 1 // 0\nup = bad + 1\nu = \"x\".upper\nbig = list(range(3000))\ndef f(x):\n    return x + a\n"))
		waitQuiet(t, e)
	})
	w := rec.Final()
	live := map[string]reactive.CellView{}
	for _, v := range e.Cells() {
		live[v.Name] = v
	}
	for _, c := range w.Cells {
		got, want := w.View(c, in), live[c.Name]
		if got.Name != want.Name || got.State != want.State || got.Version != want.Version || got.Where != want.Where ||
			got.Runs != want.Runs || got.Cell.Source != want.Cell.Source || !slices.Equal(got.Deps, want.Deps) {
			t.Errorf("%s: view %+v\nlive %+v", c.Name, got, want)
		}
		if fmt.Sprint(got.Value) != fmt.Sprint(want.Value) && c.Name != "big" || fmt.Sprint(got.Err) != fmt.Sprint(want.Err) {
			t.Errorf("%s: view value %v err %v, live %v %v", c.Name, got.Value, got.Err, want.Value, want.Err)
		}
		if got.Started.IsZero() != want.Started.IsZero() || got.Finished.IsZero() != want.Finished.IsZero() {
			t.Errorf("%s: view started %v finished %v, live %v %v", c.Name, got.Started, got.Finished, want.Started, want.Finished)
		}
	}
	if got := w.View(w.Cell("big"), in).Value; got.String() != live["big"].Value.String() {
		t.Errorf("big decodes to %.40s...", got)
	}
	if got := w.View(w.Cell("u"), in).Value; got.String() != "<built-in method upper of string value>" || got.Type() != "builtin_function_or_method" {
		t.Errorf("u, recorded without its encoding: %v (%s)", got, got.Type())
	}
	var ie *reactive.InputError
	if !errors.As(w.View(w.Cell("up"), in).Err, &ie) || ie.Input != "bad" {
		t.Errorf("up's error is not an *InputError")
	}
	var le *lang.Error
	if !errors.As(w.View(w.Cell("bad"), in).Err, &le) || le.Pos.Line != 3 || le.Msg != "floored division by zero" {
		t.Errorf("bad's error is %#v", w.View(w.Cell("bad"), in).Err)
	}
}

// TestEngineOffsets: the events of an engine that share a time share its
// offset, which is never less than the event's before, whatever was
// recorded in between.
func TestEngineOffsets(t *testing.T) {
	var buf bytes.Buffer
	started := time.Now()
	r, err := New(&buf, Header{Started: started})
	if err != nil {
		t.Fatal(err)
	}
	at := func(ms int) reactive.Event {
		return reactive.Event{Time: started.Add(time.Duration(ms) * time.Millisecond), Kind: reactive.StateChanged,
			Cell: reactive.CellView{Name: "a", Version: 1}}
	}
	steps := []func() error{
		func() error { return r.RecordEngine(at(1), at(1)) },
		func() error { return r.Record(Event{Kind: Marker, Offset: 5 * time.Millisecond, Text: "later"}) },
		func() error { return r.RecordEngine(at(1)) }, // published before the marker was recorded
		func() error { return r.RecordEngine(at(1), at(7), at(7)) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	rec, err := Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	var got []time.Duration
	for _, ev := range rec.Events {
		got = append(got, ev.Offset/time.Millisecond)
	}
	if want := []time.Duration{1, 1, 5, 5, 5, 7, 7}; !slices.Equal(got, want) {
		t.Errorf("offsets in ms %v, want %v", got, want)
	}
}

package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sperse/sperse/reactive/record"
	"github.com/sperse/sperse/remote"
)

// recordedWorkspace is a workspace whose values do not depend on which
// embedded server runs a remote cell.
const recordedWorkspace = `
c = b * 2
b = remote a + 1
a = 20
n = remote@embedded-1 6 * 7
on = remote@embedded-1 where()
def double(x):
    return 2 * x
double(c)
bad = 1 // 0
up = bad + 1
big = list(range(2000))
text = "multi\nline"
dup = 1
dup = 2
`

// recordRun runs sperse run --record on src and returns the recording's path
// and run's output.
func recordRun(t *testing.T, src string, args ...string) (string, string) {
	t.Helper()
	path := writeFile(t, "w.sp", src)
	rec := filepath.Join(t.TempDir(), "run.jsonl")
	code, out, errOut := sperse(t, "", append(append([]string{"run", "--record", rec}, args...), path)...)
	if code != exitFailed || errOut != "" { // the workspace has failing cells
		t.Fatalf("sperse run --record: exit %d, stderr %q\n%s", code, errOut, out)
	}
	return rec, out
}

func TestRecordAndReplay(t *testing.T) {
	rec, runOut := recordRun(t, recordedWorkspace)

	code, out, errOut := sperse(t, "", "replay", rec)
	if code != exitOK || errOut != "" {
		t.Fatalf("sperse replay: exit %d, stderr %q\n%s", code, errOut, out)
	}
	// The header, a timeline with every kind of event of the run, and the
	// final workspace: every cell as sperse run printed it.
	timeline, final, ok := strings.Cut(out, "\nfinal workspace (12 cells):\n")
	if !ok {
		t.Fatalf("no final workspace in:\n%s", out)
	}
	for _, want := range []string{
		"recording by sperse", "(format 1): sperse run ", "headless\n",
		"server embedded-1 127.0.0.1:", "[embedded] (connected)\n",
		"  defined       a v1: a = 20\n",
		"  defined       double v1: def double(x): ...\n",
		"  defined       dup v1: dup = 1 (and 1 more definitions) ! dup is defined twice",
		"  dispatched    b v1 -> remote\n",
		"  resolved      n v1 = 42  (embedded-1, ",
		"  failed        bad v1 ! ",
		"  changed       up v1 upstream-error: depends on failed bad\n",
		"  resolved      big v1 = [0, 1, 2,",
		"... (10890 bytes)  (local, ",
	} {
		if !strings.Contains(timeline, want) {
			t.Errorf("the timeline lacks %q:\n%s", want, timeline)
		}
	}
	lines := regexp.MustCompile(`(?m)^ +\d+(\.\d+)?(µs|ms|s) +\d+  \w`).FindAllString(timeline, -1)
	if len(lines) < 30 {
		t.Errorf("%d event lines in the timeline:\n%s", len(lines), timeline)
	}
	// Every cell's final value as run printed it, in the same order; only a
	// value longer than a recording keeps is cut.
	runLines := strings.Split(strings.TrimSuffix(runOut, "\n"), "\n")
	finalLines := strings.Split(strings.TrimSuffix(final, "\n"), "\n")
	runLines = slices.Compact(runLines) // run prints a name defined twice on both definitions
	if len(finalLines) != len(runLines) {
		t.Fatalf("final workspace:\n%s\nsperse run printed:\n%s", final, runOut)
	}
	for i := range runLines {
		want := runLines[i]
		if strings.HasPrefix(want, "big = ") {
			want = want[:len("big = ")+record.MaxRepr] + "... (10890 bytes, cut to 4096)"
		}
		if finalLines[i] != want {
			t.Errorf("final cell %d:\n got %.200s\nwant %.200s", i, finalLines[i], want)
		}
	}

	// --json: the same, as one JSON object.
	code, out, errOut = sperse(t, "", "replay", "--json", rec)
	if code != exitOK || errOut != "" {
		t.Fatalf("sperse replay --json: exit %d, stderr %q", code, errOut)
	}
	var doc struct {
		Header map[string]any   `json:"header"`
		Events []map[string]any `json:"events"`
		Cells  []struct {
			Name  string `json:"name"`
			State string `json:"state"`
			Value *struct {
				Repr string `json:"repr"`
				CBOR []byte `json:"cbor"`
			} `json:"value"`
			Error string `json:"error"`
		} `json:"cells"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("sperse replay --json is not JSON: %v\n%s", err, out)
	}
	if doc.Header["format"] != "sperse-recording" || len(doc.Events) != len(lines) || len(doc.Cells) != 12 {
		t.Errorf("--json: header %v, %d events (timeline %d), %d cells", doc.Header, len(doc.Events), len(lines), len(doc.Cells))
	}
	for _, c := range doc.Cells {
		switch c.Name {
		case "c":
			if c.State != "ready" || c.Value.Repr != "42" || base64.StdEncoding.EncodeToString(c.Value.CBOR) != "GCo=" {
				t.Errorf("--json: c is %+v", c)
			}
		case "up":
			if c.State != "upstream-error" || c.Error != "depends on failed bad" || c.Value != nil {
				t.Errorf("--json: up is %+v", c)
			}
		}
	}
}

func TestReplayRerun(t *testing.T) {
	rec, _ := recordRun(t, recordedWorkspace)
	code, out, errOut := sperse(t, "", "replay", "--rerun", rec)
	if code != exitOK || out != "all 12 cells match the recording\n" {
		t.Fatalf("--rerun of an unchanged workspace: exit %d\n%s\nstderr %s", code, out, errOut)
	}
	code, out, errOut = sperse(t, "", "replay", "--rerun", "--local", "1", rec)
	if code != exitOK {
		t.Fatalf("--rerun --local 1: exit %d\n%s\nstderr %s", code, out, errOut)
	}

	// A result changed: the recording says n was 43 (the encoding of 43 is
	// 0x18 0x2b), and on embedded-2.
	data, err := os.ReadFile(rec)
	if err != nil {
		t.Fatal(err)
	}
	changed := regexp.MustCompile(`("kind":"resolved","cell":"n".*"repr":)"42","cbor":"GCo="`).ReplaceAll(data, []byte(`$1"43","cbor":"GCs="`))
	if bytes.Equal(changed, data) {
		t.Fatal("n's value not found in the recording")
	}
	edited := writeFile(t, "edited.jsonl", string(changed))
	code, out, errOut = sperse(t, "", "replay", "--rerun", edited)
	want := "n differs:\n  recorded: 43  (ready, embedded-1)\n  now:      42  (ready, embedded-1)\n1 of 12 cells differ from the recording\n"
	if code != exitFailed || out != want {
		t.Errorf("--rerun with a changed result: exit %d\n%s\nstderr %s\nwant exit 1 and\n%s", code, out, errOut, want)
	}

	// The same, told apart by the display form alone (a value recorded
	// without its encoding).
	noCBOR := regexp.MustCompile(`("kind":"resolved","cell":"n".*"repr":)"42","cbor":"GCo="`).ReplaceAll(data, []byte(`$1"43","no_cbor":"test"`))
	code, out, _ = sperse(t, "", "replay", "--rerun", writeFile(t, "nocbor.jsonl", string(noCBOR)))
	if code != exitFailed || !strings.HasPrefix(out, "n differs:\n") {
		t.Errorf("--rerun, a changed value without its encoding: exit %d\n%s", code, out)
	}

	// A cell that fails now and did not then.
	broken := bytes.Replace(data, []byte(`"source":"a = 20"`), []byte(`"source":"a = 20 // 0"`), 1)
	code, out, _ = sperse(t, "", "replay", "--rerun", writeFile(t, "broken.jsonl", string(broken)))
	for _, want := range []string{"a differs:\n  recorded: 20  (ready, local)\n  now:      ! ", "floored division by zero", "b differs:", "4 of 12 cells differ"} {
		if code != exitFailed || !strings.Contains(out, want) {
			t.Errorf("--rerun, a cell that fails now: exit %d, output lacks %q:\n%s", code, want, out)
		}
	}
}

// TestReplayRerunOnAnotherServer records a workspace on one server process
// and runs it again on another that answers the same selector: the cell
// whose value depends on the server differs, and only it.
func TestReplayRerunOnAnotherServer(t *testing.T) {
	const token = "tok"
	a := startServer(t, "--listen", "127.0.0.1:0", "--name", "a", "--tag", "calc", "--token", token, "--state-dir", t.TempDir())
	b := startServer(t, "--listen", "127.0.0.1:0", "--name", "b", "--tag", "calc", "--token", token, "--state-dir", t.TempDir())
	path := writeFile(t, "w.sp", "place = remote@calc where()\nanswer = remote@calc 6 * 7\n")
	rec := filepath.Join(t.TempDir(), "run.jsonl")
	if code, out, errOut := sperse(t, "", "run", "--record", rec, "--server", a.pinned, "--token", token, path); code != exitOK {
		t.Fatalf("sperse run --record: exit %d\n%s\nstderr %s", code, out, errOut)
	}
	code, out, errOut := sperse(t, "", "replay", "--rerun", "--server", a.pinned, "--token", token, rec)
	if code != exitOK || out != "all 2 cells match the recording\n" {
		t.Errorf("--rerun on the same server: exit %d\n%s\nstderr %s", code, out, errOut)
	}
	code, out, errOut = sperse(t, "", "replay", "--rerun", "--server", b.pinned, "--token", token, rec)
	want := "place differs:\n  recorded: \"a\"  (ready, a)\n  now:      \"b\"  (ready, b)\n1 of 2 cells differ from the recording\n"
	if code != exitFailed || out != want {
		t.Errorf("--rerun on another server: exit %d\n%s\nstderr %s\nwant\n%s", code, out, errOut, want)
	}
}

// TestRecordServerLost records a run whose server is killed: the recording
// has the server leaving, and the cell it ran going stale.
func TestRecordServerLost(t *testing.T) {
	const token = "tok"
	a := startServer(t, "--listen", "127.0.0.1:0", "--name", "a", "--token", token, "--state-dir", t.TempDir())
	go func() {
		for i := 0; i < 600 && !strings.Contains(a.logs.String(), "msg=evaluation"); i++ {
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(300 * time.Millisecond)
		a.kill()
	}()
	// The local cell keeps the run going until --timeout, long after the
	// client has noticed the loss (it waits 4s for a ping's answer).
	path := writeFile(t, "slow.sp", "def spin():\n    while True:\n        pass\nfast = remote 1\nslow = remote spin()\nhere = spin()\n")
	rec := filepath.Join(t.TempDir(), "run.jsonl")
	code, out, errOut := sperse(t, "", "run", "--record", rec, "--timeout", "10s", "--server", a.pinned, "--token", token, path)
	if code != exitFailed {
		t.Fatalf("exit %d\n%s\nstderr %s", code, out, errOut)
	}
	r, err := record.Open(rec)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, ev := range r.Events {
		switch {
		case ev.Kind == record.ServerLeft:
			kinds = append(kinds, string(ev.Kind)+" "+ev.Server.Name)
			if ev.Server.Error == "" || ev.Server.Addr != a.addr {
				t.Errorf("server-left: %+v", ev.Server)
			}
		case ev.Cell == "slow" && ev.Kind != record.Defined:
			kinds = append(kinds, string(ev.Kind)+" "+ev.State.String())
		}
	}
	// slow runs, its server is lost, so it is stale, and stays so: it runs
	// again only when a server that can run it is back, and none is.
	slow := slices.DeleteFunc(slices.Clone(kinds), func(k string) bool { return strings.HasPrefix(k, "server-") })
	if !slices.Contains(kinds, "server-left a") || !slices.Equal(slow, []string{"dispatched running", "changed stale"}) {
		t.Errorf("events of the lost server and of slow: %q", kinds)
	}
	if len(r.Header.Servers) != 1 || r.Header.Servers[0].Name != "a" || !r.Header.Servers[0].Connected {
		t.Errorf("header servers %+v", r.Header.Servers)
	}
}

// TestRecordServersDiff checks how snapshots of the client's servers become
// server-joined and server-left events.
func TestRecordServersDiff(t *testing.T) {
	var buf bytes.Buffer
	rr, err := record.New(&buf, record.Header{})
	if err != nil {
		t.Fatal(err)
	}
	a := remote.ServerInfo{Name: "a", Addr: "127.0.0.1:1", Tags: []string{"x"}, Connected: true}
	b := remote.ServerInfo{Name: "b", Addr: "127.0.0.1:2", Connected: true}
	lostA := a
	lostA.Connected, lostA.LastError = false, errors.New("no answer to ping for 4s")
	var snapshot []remote.ServerInfo
	r := &recording{rec: rr, servers: func() []remote.ServerInfo { return snapshot }, connected: map[string]remote.ServerInfo{a.Addr: a}}
	for _, s := range [][]remote.ServerInfo{
		{a},        // nothing new
		{a, b},     // b joins
		{lostA, b}, // a is lost
		{lostA, b}, // nothing new
		{a, b},     // a is back
		{a},        // b is removed
		{a, b},     // b again
		nil,        // all gone
	} {
		snapshot = s
		r.serversChanged(nil)
	}
	rr.Close()
	got, err := record.Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	for _, ev := range got.Events {
		events = append(events, string(ev.Kind)+" "+ev.Server.Name+" "+ev.Server.Error)
	}
	want := []string{
		"server-joined b ",
		"server-left a no answer to ping for 4s",
		"server-joined a ",
		"server-left b removed",
		"server-joined b ",
		"server-left a removed",
		"server-left b removed",
	}
	if !slices.Equal(events, want) {
		t.Errorf("events:\n%s\nwant\n%s", strings.Join(events, "\n"), strings.Join(want, "\n"))
	}
}

func TestReplayBadInput(t *testing.T) {
	rec, _ := recordRun(t, "a = 1\nb = a + 1\nc = b + 1\nbad = 1 // 0\n")
	data, err := os.ReadFile(rec)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(data), "\n")
	lines = lines[:len(lines)-1] // after the last newline
	if len(lines) < 10 {
		t.Fatalf("a short recording:\n%s", data)
	}
	dir := t.TempDir()
	file := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	newer := file("newer.jsonl", strings.Replace(lines[0], `"version":1`, `"version":2`, 1)+strings.Join(lines[1:], ""))
	torn := file("torn.jsonl", string(data[:len(data)-len(lines[len(lines)-1])/2]))
	garbage := file("garbage.jsonl", strings.Join(lines[:6], "")+"{\"seq\": oops\n"+strings.Join(lines[6:], ""))
	empty := file("empty.jsonl", "")
	notRecording := file("w.sp", "a = 1\n")
	missing := filepath.Join(dir, "missing.jsonl")

	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout []string // substrings of the output
		stderr string   // a substring of the error
	}{
		{"newer version", []string{"replay", newer}, exitUsage, nil,
			newer + ": recorded by format version 2; this sperse reads version 1: upgrade sperse"},
		{"newer version, rerun", []string{"replay", "--rerun", newer}, exitUsage, nil, "upgrade sperse"},
		{"torn last line", []string{"replay", torn}, exitOK, []string{"final workspace (4 cells):\n"},
			torn + ": note: ignored the torn last line: line " + strconv.Itoa(len(lines)) + " is not whole"},
		{"torn last line, rerun", []string{"replay", "--rerun", torn}, exitFailed, []string{"differs"}, "note: ignored the torn last line"},
		{"garbage in the middle", []string{"replay", garbage}, exitUsage,
			[]string{"      5  ", "workspace at line 7, where the recording breaks"},
			garbage + ": line 7: not an event (invalid character 'o' looking for beginning of value): \"{\\\"seq\\\": oops\""},
		{"garbage in the middle, JSON", []string{"replay", "--json", garbage}, exitUsage, []string{`"error":"` + garbage + `: line 7: not an event`}, "line 7"},
		{"garbage in the middle, rerun", []string{"replay", "--rerun", garbage}, exitUsage, nil, "line 7: not an event"},
		{"empty", []string{"replay", empty}, exitUsage, nil, empty + ": the recording is empty"},
		{"missing", []string{"replay", missing}, exitUsage, nil, "open " + missing + ": no such file or directory"},
		{"not a recording", []string{"replay", notRecording}, exitUsage, nil, "not a sperse recording: line 1 is not a recording header: \"a = 1\""},
		{"no file", []string{"replay"}, exitUsage, nil, "usage: sperse replay"},
		{"two files", []string{"replay", rec, rec}, exitUsage, nil, "usage: sperse replay"},
		{"json and rerun", []string{"replay", "--json", "--rerun", rec}, exitUsage, nil, "--json and --rerun do not go together"},
		{"recording over the workspace", []string{"run", "--record", notRecording, notRecording}, exitUsage, nil, "would overwrite the workspace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := sperse(t, "", tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.stderr) {
				t.Errorf("sperse %v: exit %d, stderr %q; want %d and %q", tc.args, code, errOut, tc.code, tc.stderr)
			}
			for _, want := range tc.stdout {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

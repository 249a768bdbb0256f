package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/sperse/sperse/cmd/internal/workspace"
	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/reactive"
	"github.com/sperse/sperse/reactive/record"
)

const replayUsage = "usage: sperse replay [--json] FILE\n       sperse replay --rerun [--server ADDR]... [--token TOKEN] [--client-cert FILE --client-key FILE] [--local N] [--timeout DURATION] FILE"

// replayCommand is "sperse replay": print a recording's timeline, or run its
// final workspace again and compare.
//
// The timeline is one line per event: the time since the recording started,
// the event's seq, its kind, the cell or server, and what happened; then
// the final workspace, one line per cell as "sperse run" prints it. With
// --json it is one JSON object: {"header": ..., "events": [...], "cells":
// [...]}, the header and events as the recording's lines hold them (one
// event a line), the cells as the recording left them, and "notes" and
// "error" when reading let a torn last line pass or stopped at a broken
// one.
//
// With --rerun, the final workspace (the last definition of every cell not
// deleted) is evaluated again, against the servers given or embedded ones,
// and every cell whose value differs from the recording's is listed: the
// exact encodings are compared when both values have one, else their
// display forms; a cell whose state differs (ready then, failed now) differs
// too, and so does one that failed with another error. Values that depend on
// where a cell ran (where()) differ when it runs elsewhere.
//
// Exit codes: 0 when the timeline was printed or every cell matches, 1 when
// some cell differs, 2 for bad usage or a recording that cannot be read (a
// broken line in the middle: what comes before it is still printed).
func replayCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sperse replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print the recording as one JSON object")
	rerun := fs.Bool("rerun", false, "evaluate the recorded final workspace again and list the cells whose value differs")
	var opts workspace.Options
	opts.AddFlags(fs, "with --rerun: ")
	timeout := fs.Duration("timeout", 0, "with --rerun: bound the evaluation (for example 30s); 0 means no bound")
	fs.Usage = func() {
		fmt.Fprintln(stderr, replayUsage)
		fs.PrintDefaults()
	}
	files, err := parseInterspersed(fs, args)
	if err != nil {
		return exitUsage
	}
	if len(files) != 1 || !opts.Valid() {
		fs.Usage()
		return exitUsage
	}
	if *asJSON && *rerun {
		fmt.Fprintln(stderr, "sperse replay: --json and --rerun do not go together")
		return exitUsage
	}
	path := files[0]
	rec, readErr := record.Open(path)
	if rec == nil {
		fmt.Fprintf(stderr, "sperse replay: %v\n", readErr)
		return exitUsage
	}
	for _, note := range rec.Notes {
		fmt.Fprintf(stderr, "sperse replay: %s: note: %s\n", path, note)
	}
	if *rerun {
		if readErr != nil {
			fmt.Fprintf(stderr, "sperse replay: %v\n", readErr)
			return exitUsage
		}
		return rerunRecording(ctx, rec, opts, *timeout, stdout, stderr)
	}

	w := bufio.NewWriterSize(stdout, 64<<10)
	if *asJSON {
		err = printRecordingJSON(w, rec, readErr)
	} else {
		err = printTimeline(w, rec, readErr)
	}
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		fmt.Fprintf(stderr, "sperse replay: %v\n", err)
		return exitFailed
	}
	if readErr != nil {
		fmt.Fprintf(stderr, "sperse replay: %v\n", readErr)
		return exitUsage
	}
	return exitOK
}

// printTimeline prints rec as text: its header, one line per event, and
// the final workspace, or the workspace where reading stopped with readErr.
func printTimeline(w *bufio.Writer, rec *record.Recording, readErr error) error {
	h := &rec.Header
	fmt.Fprintf(w, "recording by %s (format %d)", h.Program, h.Version)
	if h.Title != "" {
		fmt.Fprintf(w, ": %s", h.Title)
	}
	fmt.Fprintf(w, "\nstarted %s, ", h.Started.UTC().Format("2006-01-02 15:04:05.000 MST"))
	if h.Width > 0 || h.Height > 0 {
		fmt.Fprintf(w, "terminal %dx%d\n", h.Width, h.Height)
	} else {
		fmt.Fprintf(w, "headless\n")
	}
	if len(h.Servers) == 0 {
		fmt.Fprintf(w, "servers: none\n")
	}
	for _, s := range h.Servers {
		state := "connected"
		if !s.Connected {
			state = "not connected"
			if s.Error != "" {
				state += ": " + s.Error
			}
		}
		fmt.Fprintf(w, "server %s (%s)\n", describeServer(s), state)
	}
	fmt.Fprintln(w)

	var line []byte
	for i := range rec.Events {
		line = appendTimelineLine(line[:0], &rec.Events[i])
		if _, err := w.Write(line); err != nil {
			return err
		}
	}

	final := rec.Final()
	var le *record.LineError
	switch {
	case errors.As(readErr, &le):
		fmt.Fprintf(w, "\nworkspace at line %d, where the recording breaks (%d cells):\n", le.Line, len(final.Cells))
	case readErr != nil:
		fmt.Fprintf(w, "\nworkspace where reading stopped (%d cells):\n", len(final.Cells))
	default:
		fmt.Fprintf(w, "\nfinal workspace (%d cells):\n", len(final.Cells))
	}
	for _, c := range final.Cells {
		if c.State == reactive.Ready && c.Value != nil {
			fmt.Fprintf(w, "%s = %s\n", c.Name, recordedRepr(c.Value))
		} else {
			fmt.Fprintf(w, "%s ! %s\n", c.Name, recordedProblem(c))
		}
	}
	return nil // a write error sticks to w: Flush returns it
}

// appendTimelineLine appends the line of ev in the timeline.
func appendTimelineLine(b []byte, ev *record.Event) []byte {
	b = fmt.Appendf(b, "%12s %6d  %-13s ", ev.Offset.Round(time.Microsecond), ev.Seq, ev.Kind)
	if ev.Kind.IsCell() {
		b = fmt.Appendf(b, "%s v%d", ev.Cell, ev.Version)
	}
	switch ev.Kind {
	case record.Typed, record.Marker:
		b = strconv.AppendQuote(b, ev.Text)
	case record.Defined:
		b = append(b, ": "...)
		b = append(b, firstLine(ev.Source)...)
		if len(ev.Dups) > 0 {
			b = fmt.Appendf(b, " (and %d more definitions)", len(ev.Dups))
		}
		if ev.State != reactive.Queued {
			b = fmt.Appendf(b, " ! %s", firstLine(cmp.Or(ev.Error, ev.State.String())))
		}
	case record.Dispatched:
		b = fmt.Appendf(b, " -> %s", ev.Where)
	case record.Progressed:
		b = fmt.Appendf(b, " %s done", ev.Progress)
	case record.Resolved:
		if ev.Value != nil {
			b = fmt.Appendf(b, " = %s", cutRepr(ev.Value))
		}
		b = fmt.Appendf(b, "  (%s, %s", ev.Where, ev.Took.Round(time.Microsecond))
		if ev.Attempts > 1 {
			b = fmt.Appendf(b, ", %d attempts", ev.Attempts)
		}
		b = append(b, ')')
	case record.Failed:
		b = fmt.Appendf(b, " ! %s", firstLine(ev.Error))
		if ev.Where != "" {
			b = fmt.Appendf(b, "  (%s)", ev.Where)
		}
	case record.Changed, record.Cancelled, record.Deleted:
		b = fmt.Appendf(b, " %s", ev.State)
		if ev.Error != "" {
			b = fmt.Appendf(b, ": %s", firstLine(ev.Error))
		}
	case record.ServerJoined, record.ServerLeft:
		b = append(b, describeServer(*ev.Server)...)
		if ev.Server.Error != "" {
			b = fmt.Appendf(b, ": %s", ev.Server.Error)
		}
	}
	return append(b, '\n')
}

func describeServer(s record.Server) string {
	d := s.Name
	if s.Addr != "" && s.Addr != s.Name {
		d += " " + s.Addr
	}
	if len(s.Tags) > 0 {
		d += " [" + strings.Join(s.Tags, ",") + "]"
	}
	return d
}

// firstLine returns the first line of s, marked if more follow.
func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}

// timelineRepr is how much of a value a timeline line shows.
const timelineRepr = 120

// cutRepr returns the start of v's display form for a timeline line.
func cutRepr(v *record.Value) string {
	full := len(v.Repr)
	if v.Truncated() {
		full = v.ReprLen
	}
	if full <= timelineRepr {
		return v.Repr
	}
	n := timelineRepr
	for n > 0 && v.Repr[n]&0xc0 == 0x80 {
		n--
	}
	return fmt.Sprintf("%s... (%d bytes)", v.Repr[:n], full)
}

// recordedRepr returns v's display form as recorded, saying when it is cut.
func recordedRepr(v *record.Value) string {
	if v.Truncated() {
		return fmt.Sprintf("%s... (%d bytes, cut to %d)", v.Repr, v.ReprLen, len(v.Repr))
	}
	return v.Repr
}

// recordedProblem says why a recorded cell has no value.
func recordedProblem(c *record.Cell) string {
	return cmp.Or(c.Error, c.State.String())
}

// jsonReplayCell is a cell of the final workspace in sperse replay --json.
type jsonReplayCell struct {
	Name    string        `json:"name"`
	Version int           `json:"version"`
	State   string        `json:"state"`
	Where   string        `json:"where,omitempty"`
	Value   *record.Value `json:"value,omitempty"`
	Error   string        `json:"error,omitempty"`
	Source  string        `json:"source,omitempty"`
}

// printRecordingJSON prints rec as one JSON object, one event a line.
func printRecordingJSON(w *bufio.Writer, rec *record.Recording, readErr error) error {
	header, _ := rec.Header.MarshalJSON()
	fmt.Fprintf(w, "{\"header\":%s,\n\"events\":[", header)
	var line []byte
	for i := range rec.Events {
		if i > 0 {
			w.WriteByte(',')
		}
		w.WriteByte('\n')
		line, _ = rec.Events[i].MarshalJSON()
		w.Write(line)
	}
	w.WriteString("\n],\n\"cells\":")
	cells := []jsonReplayCell{}
	for _, c := range rec.Final().Cells {
		cells = append(cells, jsonReplayCell{Name: c.Name, Version: c.Version, State: c.State.String(), Where: c.Where, Value: c.Value, Error: c.Error, Source: c.Source})
	}
	b, err := json.Marshal(cells)
	if err != nil {
		return err
	}
	w.Write(b)
	if len(rec.Notes) > 0 {
		b, _ = json.Marshal(rec.Notes)
		fmt.Fprintf(w, ",\n\"notes\":%s", b)
	}
	if readErr != nil {
		b, _ = json.Marshal(readErr.Error())
		fmt.Fprintf(w, ",\n\"error\":%s", b)
	}
	_, err = w.WriteString("}\n")
	return err
}

// rerunRecording evaluates the final workspace of rec again and lists the
// cells whose value differs from the recording's.
func rerunRecording(ctx context.Context, rec *record.Recording, opts workspace.Options, timeout time.Duration, stdout, stderr io.Writer) int {
	final := rec.Final()
	var cells []*lang.Cell
	var compared []*record.Cell
	for _, c := range final.Cells {
		if c.Source == "" {
			fmt.Fprintf(stderr, "sperse replay: %s: the recording has no definition of it (defined before the recording started); not compared\n", c.Name)
			continue
		}
		defs := append([]record.Definition{{Source: c.Source, Pos: c.Pos}}, c.Dups...)
		for _, d := range defs {
			lc := lang.ParseCell(d.Pos.File, d.Pos.Line, d.Source)
			if lc == nil {
				continue
			}
			lc.Name = c.Name // an anonymous cell is named by the caller
			cells = append(cells, lc)
		}
		compared = append(compared, c)
	}

	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	ws, err := workspace.Start(ctx, opts)
	if err != nil {
		fmt.Fprintf(stderr, "sperse replay: %v\n", err)
		return exitUsage
	}
	defer ws.Close()
	ws.Engine.Load(cells)
	waitErr := ws.Engine.Wait(ctx)
	ws.Engine.Close()
	if waitErr != nil {
		fmt.Fprintf(stderr, "sperse replay: %v\n", describeStop(waitErr))
	}

	differ := 0
	for _, c := range compared {
		if same, nowText := compareCell(c, viewOf(ws.Engine, c.Name)); !same {
			differ++
			fmt.Fprintf(stdout, "%s differs:\n  recorded: %s\n  now:      %s\n", c.Name, recordedText(c), nowText)
		}
	}
	if differ > 0 {
		fmt.Fprintf(stdout, "%d of %d cells differ from the recording\n", differ, len(compared))
		return exitFailed
	}
	fmt.Fprintf(stdout, "all %d cells match the recording\n", len(compared))
	return exitOK
}

// compareCell compares a recorded cell with the cell evaluated now, and
// returns what the cell is now, as text.
func compareCell(c *record.Cell, now reactive.CellView) (bool, string) {
	var nowValue *record.Value
	text := ""
	if now.State == reactive.Ready && now.Value != nil {
		nowValue = record.NewValue(now.Value)
		text = recordedRepr(nowValue)
	} else {
		text = "! " + describe(now)
	}
	if now.Where != "" {
		text += "  (" + now.State.String() + ", " + now.Where + ")"
	}
	if c.State != now.State {
		return false, text
	}
	switch c.State {
	case reactive.Ready:
		return c.Value.Equal(nowValue), text
	case reactive.Error, reactive.UpstreamError:
		return c.Error == describe(now), text
	}
	return true, text
}

// recordedText is what a recorded cell was, as text.
func recordedText(c *record.Cell) string {
	text := "! " + recordedProblem(c)
	if c.State == reactive.Ready && c.Value != nil {
		text = recordedRepr(c.Value)
	}
	if c.Where != "" {
		text += "  (" + c.State.String() + ", " + c.Where + ")"
	}
	return text
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/sperse/sperse/cmd/internal/workspace"
	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/reactive"
)

// runCommand is "sperse run": evaluate a workspace file and print one line per
// cell in file order, or one JSON object with --json.
func runCommand(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sperse run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print the cells as one JSON object")
	timeout := fs.Duration("timeout", 0, "bound the whole run (for example 30s); 0 means no bound")
	var opts workspace.Options
	opts.AddFlags(fs, "")
	recordTo := fs.String("record", "", "record the run to `FILE` (JSON Lines; see sperse replay)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sperse run [--json] [--timeout DURATION] [--server ADDR]... [--token TOKEN] [--client-cert FILE --client-key FILE] [--local N] [--record FILE] FILE|-")
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
	name, src, err := readWorkspace(files[0], stdin)
	if err != nil {
		fmt.Fprintf(stderr, "sperse run: %v\n", err)
		return exitUsage
	}
	cells, err := lang.ParseFile(name, src)
	if err != nil {
		fmt.Fprintf(stderr, "sperse run: %v\n", err)
		return exitUsage
	}

	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	var rec recording
	if *recordTo != "" {
		if sameFile(*recordTo, files[0]) {
			fmt.Fprintf(stderr, "sperse run: --record %s would overwrite the workspace\n", *recordTo)
			return exitUsage
		}
		opts.OnServers = rec.serversChanged
	}
	ws, err := workspace.Start(ctx, opts)
	if err != nil {
		fmt.Fprintf(stderr, "sperse run: %v\n", err)
		return exitUsage
	}
	defer ws.Close()
	if *recordTo != "" {
		if err := rec.start(*recordTo, "sperse run "+name, ws); err != nil {
			fmt.Fprintf(stderr, "sperse run: %v\n", err)
			return exitUsage
		}
	}
	engine := ws.Engine
	engine.Load(cells)
	waitErr := engine.Wait(ctx)
	engine.Close() // cancels what is still running when ctx ended the wait
	var recordErr error
	if *recordTo != "" {
		recordErr = rec.stop()
	}

	views := make([]reactive.CellView, 0, len(cells))
	for _, c := range cells {
		views = append(views, viewOf(engine, c.Name))
	}
	if *asJSON {
		err = printJSON(stdout, views)
	} else {
		err = printText(stdout, views)
	}
	if err != nil {
		fmt.Fprintf(stderr, "sperse run: %v\n", err)
		return exitFailed
	}
	if waitErr != nil {
		fmt.Fprintf(stderr, "sperse run: %v\n", describeStop(waitErr))
	}
	if recordErr != nil {
		fmt.Fprintf(stderr, "sperse run: %s\n", describeRecordError(*recordTo, recordErr))
		return exitFailed
	}
	for _, v := range views {
		if v.State != reactive.Ready {
			return exitFailed
		}
	}
	return exitOK
}

// describeStop says why a run stopped before every cell was done.
func describeStop(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "stopped by --timeout; cells still running were cancelled"
	}
	if errors.Is(err, context.Canceled) {
		return "interrupted; cells still running were cancelled"
	}
	return err.Error()
}

// parseInterspersed parses flags that may come before or after the
// positional arguments, and returns the positional arguments.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		if args[0] == "-" || args[0][0] != '-' {
			positional = append(positional, args[0])
			args = args[1:]
		}
	}
}

// readWorkspace reads the workspace named by arg: a file, or "-" for stdin.
func readWorkspace(arg string, stdin io.Reader) (string, []byte, error) {
	if arg == "-" {
		src, err := io.ReadAll(io.LimitReader(stdin, lang.MaxFileSize+1))
		return "<stdin>", src, err
	}
	info, err := os.Stat(arg)
	if err != nil {
		return "", nil, err
	}
	if info.IsDir() {
		return "", nil, fmt.Errorf("%s is a directory, not a workspace file", arg)
	}
	if info.Size() > lang.MaxFileSize {
		return "", nil, fmt.Errorf("%s: file is %d bytes; a workspace may be at most %d", arg, info.Size(), lang.MaxFileSize)
	}
	src, err := os.ReadFile(arg)
	return arg, src, err
}

func printText(w io.Writer, views []reactive.CellView) error {
	for _, v := range views {
		var err error
		if v.State == reactive.Ready {
			_, err = fmt.Fprintf(w, "%s = %s\n", v.Name, v.Value)
		} else {
			_, err = fmt.Fprintf(w, "%s ! %s\n", v.Name, describe(v))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// describe is what the user reads about a cell that is not ready.
func describe(v reactive.CellView) string {
	if v.Err != nil {
		return v.Err.Error()
	}
	return v.State.String()
}

// jsonCell is a cell in the output of sperse run --json.
type jsonCell struct {
	Name  string          `json:"name"`
	State string          `json:"state"`
	Value json.RawMessage `json:"value"`
	Repr  *string         `json:"repr"`
	Where string          `json:"where,omitempty"`
	Error *string         `json:"error"`
	Took  *float64        `json:"took_ms,omitempty"`
}

func printJSON(w io.Writer, views []reactive.CellView) error {
	out := struct {
		Cells []jsonCell `json:"cells"`
	}{Cells: make([]jsonCell, 0, len(views))}
	for _, v := range views {
		c := jsonCell{Name: v.Name, State: v.State.String(), Value: json.RawMessage("null"), Where: v.Where}
		if v.State == reactive.Ready {
			repr := v.Value.String()
			c.Repr = &repr
			if js, ok := lang.ToJSON(v.Value); ok {
				c.Value = js
			}
			ms := float64(v.Took) / float64(time.Millisecond)
			c.Took = &ms
		} else {
			msg := describe(v)
			c.Error = &msg
		}
		out.Cells = append(out.Cells, c)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// viewOf returns the engine's view of the cell called name, or a cancelled
// one if the engine, closed before it ran, has none. Every definition of a
// name defined twice shares one view, whose error names both.
func viewOf(engine *reactive.Engine, name string) reactive.CellView {
	if v, ok := engine.Cell(name); ok {
		return v
	}
	return reactive.CellView{Name: name, State: reactive.Cancelled}
}

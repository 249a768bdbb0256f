// Command sperse-bench measures sperse against its peers (issue #9): each
// workload runs on sperse and on the peers in the same run, on loopback,
// with 2 servers or workers, and the command prints a table of the medians
// (with min–max), sperse's speedup over each peer and the targets.
//
//	go run ./cmd/sperse-bench [--only 1,3] [--quick] [--no-install] [--json] [--markdown]
//
// The peers: a raw quic-go request/response and gRPC unary (Go, in this
// process), Dask (Debian's python3-distributed and python3-numpy, installed
// with apt-get if missing) and @observablehq/runtime (installed with npm
// into a temporary folder). Their scripts are beside this file in peers/.
// A peer that cannot be had is reported as skipped, with why.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"time"
)

func main() {
	var o options
	fs := flag.NewFlagSet("sperse-bench", flag.ExitOnError)
	only := fs.String("only", "", "run only these `WORKLOADS` (comma-separated, 1 to 6)")
	fs.BoolVar(&o.quick, "quick", false, "fewer repetitions (3, not 5) and fewer round trips")
	fs.BoolVar(&o.noInstall, "no-install", false, "install nothing: skip the peers that are missing")
	fs.BoolVar(&o.json, "json", false, "print the results as JSON")
	fs.BoolVar(&o.markdown, "markdown", false, "also print the table as Markdown")
	fs.Parse(os.Args[1:])
	var err error
	if o.only, err = parseOnly(*only); err != nil {
		fmt.Fprintln(os.Stderr, "sperse-bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "sperse-bench:", err)
		os.Exit(1)
	}
}

// options are the command's flags.
type options struct {
	only                   []int
	quick, noInstall, json bool
	markdown               bool
}

// report is what --json prints.
type report struct {
	Started     time.Time         `json:"started"`
	Quick       bool              `json:"quick"`
	Repetitions int               `json:"repetitions"`
	CPUs        int               `json:"cpus"`
	LoadBefore  string            `json:"load_before"`
	LoadAfter   string            `json:"load_after"`
	Skipped     map[string]string `json:"skipped,omitempty"`
	Rows        []Row             `json:"rows"`
}

// run runs the workloads of o, sperse first, then the peers, and prints
// the table to stdout; progress goes to log.
func run(ctx context.Context, o options, stdout, log io.Writer) error {
	reps, calls, daskCalls := 5, 2000, 200
	if o.quick {
		reps, calls, daskCalls = 3, 500, 100
	}
	rep := report{Started: time.Now().UTC(), Quick: o.quick, Repetitions: reps, CPUs: runtime.NumCPU(), LoadBefore: loadAvg()}
	fmt.Fprintf(log, "sperse-bench: workloads %s, %d repetitions, %d CPUs, load %s\n", onlyArg(o.only), reps, rep.CPUs, rep.LoadBefore)

	dir, err := os.MkdirTemp("", "sperse-bench-peers-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	scripts, err := writeScripts(dir)
	if err != nil {
		return err
	}

	out := map[string]results{"sperse": {}, "quic": {}, "grpc": {}}
	skips := map[string]string{}
	remoteWork := slices.ContainsFunc(o.only, func(w int) bool { return w != 4 })
	in := &installer{noInstall: o.noInstall, log: log, run: runCommand, uid: os.Getuid()}

	// Install first, so that installing does not run beside a measure.
	var python, observableDir string
	if remoteWork {
		python, skips["dask"] = in.dask(ctx)
	}
	if slices.Contains(o.only, 4) {
		observableDir, skips["observable"] = in.observable(ctx, dir)
	}
	for k, v := range skips {
		if v == "" {
			delete(skips, k)
		} else {
			fmt.Fprintf(log, "%s: skipped (%s)\n", k, v)
		}
	}

	if err := measureSperse(ctx, o.only, reps, calls, out, log); err != nil {
		return err
	}
	if remoteWork && skips["dask"] == "" {
		fmt.Fprintln(log, "dask: starting a LocalCluster of 2 worker processes")
		var daskOnly []int
		for _, w := range o.only {
			if w != 4 {
				daskOnly = append(daskOnly, w)
			}
		}
		rs, err := runPeer(ctx, log, nil, 30*time.Minute, python, scripts["dask_bench.py"],
			"--reps", fmt.Sprint(reps), "--only", onlyArg(daskOnly), "--calls", fmt.Sprint(daskCalls))
		if err != nil {
			skips["dask"] = "failed: " + err.Error()
		} else {
			out["dask"] = rs
		}
	}
	if slices.Contains(o.only, 4) && skips["observable"] == "" {
		fmt.Fprintln(log, "observable: running the graphs")
		rs, err := runObservable(ctx, log, scripts["observable_bench.mjs"], observableDir, dir, reps)
		if err != nil {
			skips["observable"] = "failed: " + err.Error()
		} else {
			out["observable"] = rs
		}
	}

	rep.LoadAfter = loadAvg()
	rep.Skipped = skips
	rep.Rows = rows(o.only, out, skips)
	switch {
	case o.json:
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	fmt.Fprintf(stdout, "sperse-bench %s: %d repetitions each, %d CPUs, load average %s before and %s after\n\n",
		rep.Started.Format(time.RFC3339), reps, rep.CPUs, rep.LoadBefore, rep.LoadAfter)
	if err := writeTable(stdout, rep.Rows); err != nil || !o.markdown {
		return err
	}
	fmt.Fprintln(stdout)
	return writeMarkdown(stdout, rep.Rows)
}

// runObservable writes workload 4's graphs for the Observable script and
// runs it.
func runObservable(ctx context.Context, log io.Writer, script, runtimeDir, dir string, reps int) (results, error) {
	b, err := json.Marshal(graphs(graphCells))
	if err != nil {
		return nil, err
	}
	gf := dir + "/graphs.json"
	if err := os.WriteFile(gf, b, 0o644); err != nil {
		return nil, err
	}
	return runPeer(ctx, log, []string{"OBSERVABLE_RUNTIME_DIR=" + runtimeDir}, 10*time.Minute,
		"node", script, gf, fmt.Sprint(reps))
}

// loadAvg returns the machine's 1, 5 and 15 minute load averages, or "?".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

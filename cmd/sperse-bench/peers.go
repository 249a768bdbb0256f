package main

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// peerScripts are the peers' sides of the workloads, written to a
// temporary folder to run.
//
//go:embed peers/dask_bench.py peers/observable_bench.mjs
var peerScripts embed.FS

// debianPython is the interpreter that Debian's python3-distributed and
// python3-numpy install into: not necessarily the python3 first on PATH.
const debianPython = "/usr/bin/python3"

// installer runs the commands that make the peers available. Its fields
// are what it needs from the machine, so that tests can fake them.
type installer struct {
	noInstall bool
	log       io.Writer
	// run runs a command and returns its combined output.
	run func(ctx context.Context, name string, args ...string) ([]byte, error)
	uid int
}

// runCommand runs a command and returns its combined output.
func runCommand(ctx context.Context, name string, args ...string) ([]byte, error) {
	return exec.CommandContext(ctx, name, args...).CombinedOutput()
}

// lastLine returns the last non-empty line of out, for a skip reason.
func lastLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	l := strings.TrimSpace(lines[len(lines)-1])
	if len(l) > 120 {
		l = l[:117] + "..."
	}
	return l
}

// dask makes Dask available: it returns the Python interpreter that
// imports dask.distributed and numpy, installing Debian's packages if they
// are missing (unless noInstall), or why Dask is skipped.
func (in *installer) dask(ctx context.Context) (python, skip string) {
	check := func() error {
		out, err := in.run(ctx, debianPython, "-c", "import dask.distributed, numpy")
		if err != nil {
			return fmt.Errorf("%s: %s", debianPython, lastLine(out))
		}
		return nil
	}
	err := check()
	if err == nil {
		return debianPython, ""
	}
	if in.noInstall {
		return "", "not installed, --no-install"
	}
	apt := []string{"apt-get"}
	if in.uid != 0 {
		apt = []string{"sudo", "-n", "apt-get"}
	}
	install := append(apt[1:], "install", "-y", "-q", "python3-distributed", "python3-numpy")
	fmt.Fprintf(in.log, "installing Dask: %s %s\n", apt[0], strings.Join(install, " "))
	if _, err := in.run(ctx, apt[0], install...); err != nil {
		// The package lists may be missing or old: update them once.
		if out, err := in.run(ctx, apt[0], append(apt[1:], "update", "-q")...); err != nil {
			return "", "apt-get update failed: " + lastLine(out)
		}
		if out, err := in.run(ctx, apt[0], install...); err != nil {
			return "", "apt-get install failed: " + lastLine(out)
		}
	}
	if err := check(); err != nil {
		return "", "installed, but " + err.Error()
	}
	return debianPython, ""
}

// observable makes @observablehq/runtime available: it returns the folder
// whose node_modules holds it, installed with npm into dir (unless
// noInstall, when only $OBSERVABLE_RUNTIME_DIR is used), or why Observable
// is skipped.
func (in *installer) observable(ctx context.Context, dir string) (string, string) {
	if out, err := in.run(ctx, "node", "--version"); err != nil {
		return "", "no node: " + lastLine(out)
	}
	if d := os.Getenv("OBSERVABLE_RUNTIME_DIR"); d != "" {
		return d, ""
	}
	if in.noInstall {
		return "", "not installed, --no-install (set OBSERVABLE_RUNTIME_DIR)"
	}
	fmt.Fprintf(in.log, "installing @observablehq/runtime with npm into %s\n", dir)
	out, err := in.run(ctx, "npm", "install", "--prefix", dir, "--no-audit", "--no-fund", "--loglevel=error", "@observablehq/runtime")
	if err != nil {
		return "", "npm install failed: " + lastLine(out)
	}
	return dir, ""
}

// writeScripts writes the peer scripts into dir and returns their paths by
// base name.
func writeScripts(dir string) (map[string]string, error) {
	paths := map[string]string{}
	for _, name := range []string{"dask_bench.py", "observable_bench.mjs"} {
		b, err := peerScripts.ReadFile("peers/" + name)
		if err != nil {
			return nil, err
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return nil, err
		}
		paths[name] = p
	}
	return paths, nil
}

// runPeer runs a peer script, which prints one JSON object of measure keys
// and values, and returns its results. Its standard error goes to log.
func runPeer(ctx context.Context, log io.Writer, env []string, timeout time.Duration, name string, args ...string) (results, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = io.MultiWriter(log, &stderr)
	if err := cmd.Run(); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("timed out after %s", timeout)
		}
		return nil, fmt.Errorf("%v: %s", err, lastLine(stderr.Bytes()))
	}
	return parsePeerOutput(stdout.Bytes())
}

// parsePeerOutput reads a peer's output: its last line is a JSON object of
// measure keys and their values.
func parsePeerOutput(out []byte) (results, error) {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var m map[string][]float64
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &m); err != nil {
		return nil, fmt.Errorf("reading the peer's results: %w", err)
	}
	rs := results{}
	for k, vs := range m {
		rs[k] = Sample{Values: vs}
	}
	return rs, nil
}

// Command sperse is headless sperse: it runs a workspace file and prints its
// cells (sperse run), optionally recording the run, and prints or re-runs a
// recording (sperse replay).
//
// Usage:
//
//	sperse run [--json] [--timeout DURATION] [--record FILE] FILE|-
//	sperse replay [--json] FILE
//	sperse replay --rerun [--server ADDR]... [--local N] FILE
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage: sperse COMMAND [ARGS]

commands:
  run [--json] [--timeout DURATION] [--record FILE] FILE|-
                       evaluate a workspace and print its cells
  replay [--json] FILE
                       print a recording's timeline and final workspace
  replay --rerun [--server ADDR]... [--local N] FILE
                       evaluate a recording's final workspace again and list
                       the cells whose value differs (exit 1 if any)

Run "sperse COMMAND -h" for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes of sperse.
const (
	exitOK     = 0 // every cell is ready; replay: every cell matches the recording
	exitFailed = 1 // some cell failed, or the recording failed; replay: some cell differs
	exitUsage  = 2 // bad usage, or a file that cannot be read
)

// run runs the command line args and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "run":
		return runCommand(ctx, args[1:], stdin, stdout, stderr)
	case "replay":
		return replayCommand(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "sperse: unknown command %q\n%s", args[0], usage)
	return exitUsage
}

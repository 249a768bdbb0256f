package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The end-to-end test runs the real binary, with its embedded servers, in a
// real terminal: a detached tmux session of a fixed size. It types as a
// person would and reads the screen with capture-pane. Every wait is
// bounded.

const (
	e2eWidth  = 120
	e2eHeight = 32
	e2eWait   = 20 * time.Second
)

// findTmux returns tmux's path, installing it with apt-get when it is
// missing and the test runs as root (as in CI).
func findTmux(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("tmux"); err == nil {
		return p
	}
	if os.Geteuid() == 0 {
		if _, err := exec.LookPath("apt-get"); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			out, err := exec.CommandContext(ctx, "apt-get", "install", "-y", "tmux").CombinedOutput()
			if err != nil {
				// The package lists may be missing: update them once and retry.
				exec.CommandContext(ctx, "apt-get", "update").Run()
				out, err = exec.CommandContext(ctx, "apt-get", "install", "-y", "tmux").CombinedOutput()
			}
			if err != nil {
				t.Logf("apt-get install tmux: %v\n%s", err, out)
			}
		}
		if p, err := exec.LookPath("tmux"); err == nil {
			return p
		}
	}
	t.Skip("tmux is not installed and could not be installed (apt-get install -y tmux as root): skipping the end-to-end test")
	return ""
}

// terminal is a tmux session running one program, on a tmux server of its
// own.
type terminal struct {
	t      *testing.T
	tmux   string
	socket string
}

func (term *terminal) run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	full := append([]string{"-L", term.socket, "-f", "/dev/null"}, args...)
	out, err := exec.CommandContext(ctx, term.tmux, full...).CombinedOutput()
	return string(out), err
}

func (term *terminal) must(args ...string) string {
	term.t.Helper()
	out, err := term.run(args...)
	if err != nil {
		term.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// typeText types text literally.
func (term *terminal) typeText(s string) { term.must("send-keys", "-t", "e2e", "-l", s) }

// press presses keys by tmux's names (Enter, C-c).
func (term *terminal) press(keys ...string) {
	term.must(append([]string{"send-keys", "-t", "e2e"}, keys...)...)
}

func (term *terminal) screen() string {
	out, _ := term.run("capture-pane", "-t", "e2e", "-p")
	return out
}

func (term *terminal) alive() bool {
	_, err := term.run("has-session", "-t", "e2e")
	return err == nil
}

// waitFor polls the screen until every pattern matches it.
func (term *terminal) waitFor(what string, patterns ...string) {
	term.t.Helper()
	res := make([]*regexp.Regexp, len(patterns))
	for i, p := range patterns {
		res[i] = regexp.MustCompile(p)
	}
	deadline := time.Now().Add(e2eWait)
	for {
		s := term.screen()
		ok := true
		for _, re := range res {
			ok = ok && re.MatchString(s)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			term.t.Fatalf("waited %v for %s (%q); the screen:\n%s", e2eWait, what, patterns, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// card matches the value line of a card: "│ VALUE   │" (┃ when selected).
func card(value string) string { return `[│┃] ` + regexp.QuoteMeta(value) + ` +[│┃]` }

// state matches a card's name line: "NAME ... STATE".
func state(name, st string) string {
	return `[│┃] . ` + regexp.QuoteMeta(name) + ` +` + st + ` [│┃]`
}

// newTerminal returns a terminal on a tmux server of its own, killed when
// the test ends; it skips the test without tmux.
func newTerminal(t *testing.T) *terminal {
	t.Helper()
	if testing.Short() {
		t.Skip("the end-to-end tests build and run sperse-tui in tmux")
	}
	term := &terminal{t: t, tmux: findTmux(t), socket: fmt.Sprintf("sperse-e2e-%d-%d", os.Getpid(), time.Now().UnixNano())}
	t.Cleanup(func() { term.run("kill-server") })
	return term
}

// start runs cmdline (by sh) in the terminal's session.
func (term *terminal) start(cmdline string) {
	term.t.Helper()
	term.must("new-session", "-d", "-s", "e2e", "-x", fmt.Sprint(e2eWidth), "-y", fmt.Sprint(e2eHeight),
		"-e", "TERM=xterm-256color", cmdline)
}

// waitExit waits until the program has ended.
func (term *terminal) waitExit(what string) {
	term.t.Helper()
	deadline := time.Now().Add(e2eWait)
	for term.alive() {
		if time.Now().After(deadline) {
			term.t.Fatalf("%s did not end the program; the screen:\n%s", what, term.screen())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// build builds the command in the package directory pkg into dir/name.
func build(t *testing.T, dir, name, pkg string) string {
	t.Helper()
	bin := filepath.Join(dir, name)
	if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// noStderr checks that the program wrote nothing to the file stderr.
func noStderr(t *testing.T, stderr string) {
	t.Helper()
	if data, _ := os.ReadFile(stderr); len(data) > 0 {
		t.Errorf("sperse-tui wrote to stderr:\n%s", data)
	}
}

func TestEndToEnd(t *testing.T) {
	term := newTerminal(t)
	dir := t.TempDir()
	bin := build(t, dir, "sperse-tui", ".")
	stateDir := filepath.Join(dir, "state")
	configDir := filepath.Join(dir, "config")

	start := func() {
		term.start(fmt.Sprintf("exec %s --state-dir %s --config-dir %s --local 2 2>>%s",
			bin, stateDir, configDir, filepath.Join(dir, "stderr")))
	}
	start()
	term.waitFor("the workspace to start", `sperse +0 cells`, `2/2 servers`)

	term.typeText("a = remote 6 * 7")
	term.press("Enter")
	term.typeText("b = a + 1")
	term.press("Enter")
	term.waitFor("a = 42 and b = 43", card("42"), card("43"), state("a", "ready"), state("b", "ready"))

	term.typeText("a = remote 6 * 100")
	term.press("Enter")
	term.waitFor("the new values of a and b", card("600"), card("601"))
	if s := term.screen(); regexp.MustCompile(card("43")).MatchString(s) {
		t.Errorf("b still shows 43 after a changed:\n%s", s)
	}

	// The terminal goes away (SIGHUP): the next start restores the workspace.
	term.must("kill-session", "-t", "e2e")
	deadline := time.Now().Add(e2eWait)
	for {
		if _, err := os.Stat(filepath.Join(stateDir, "journal.jsonl")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no journal after the terminal went away")
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // let the first program finish exiting
	start()
	term.waitFor("the workspace restored", `Restored 2 cells`, card("600"), card("601"))

	// Enter continues an open bracket; Alt+Enter adds a line to a complete cell.
	term.typeText("xs = [1,")
	term.press("Enter")
	term.typeText("2]")
	term.press("M-Enter")
	term.typeText("# a comment")
	term.press("Enter")
	term.waitFor("xs defined over three lines, a sparkline on its card", card("▁█"), card("2 ints · 1…2"))

	// A def block over three lines: Enter continues the block, an empty line ends it.
	term.typeText("def spin():")
	term.press("Enter")
	term.typeText("while True:")
	term.press("Enter")
	term.typeText("pass")
	term.press("Enter")
	term.press("Enter") // an empty line ends the block
	term.waitFor("spin defined", state("spin", "ready"))
	term.typeText("s = remote spin()")
	term.press("Enter")
	term.waitFor("s running", state("s", "running"))
	term.press("C-c")
	term.waitFor("s cancelled", state("s", "cancelled"), `cancelled s`)

	term.typeText(":servers")
	term.press("Enter")
	term.waitFor("the servers pane", `servers · 2/2 connected`, `embedded-1 +127\.0\.0\.1:\d+ +connected`, `embedded-2 `, `tags embedded`)

	// ":" from any pane starts a command.
	term.typeText(":quit")
	term.press("Enter")
	term.waitExit(":quit")
	noStderr(t, filepath.Join(dir, "stderr"))
	if _, err := os.Stat(filepath.Join(stateDir, "journal.jsonl")); !os.IsNotExist(err) {
		t.Errorf("the journal is still there after :quit: %v", err)
	}
	if data, err := os.ReadFile(filepath.Join(stateDir, "history")); err != nil || !strings.Contains(string(data), `"b = a + 1"`) {
		t.Errorf("history: %q, %v", data, err)
	}
}

// gridOf returns the cards of a screen: the left e2eGridWidth columns of
// the lines between the header and the input's rule.
func gridOf(screen string) string {
	lines := strings.Split(screen, "\n")
	var grid []string
	for _, l := range lines[1:] {
		if strings.HasPrefix(l, "── ") {
			break
		}
		r := []rune(l)
		grid = append(grid, string(r[:min(len(r), e2eGridWidth)]))
	}
	return strings.Join(grid, "\n")
}

// e2eGridWidth is the width of the grid's pane at e2eWidth (the side pane
// takes 2/5, at least 36 columns).
const e2eGridWidth = e2eWidth - e2eWidth*2/5

// TestRecordAndReplay records a session driven by keys, then replays it:
// the replay's last screen shows the cards of the session's last screen,
// and sperse replay lists the events.
func TestRecordAndReplay(t *testing.T) {
	term := newTerminal(t)
	dir := t.TempDir()
	bin := build(t, dir, "sperse-tui", ".")
	sperse := build(t, dir, "sperse", "../sperse")
	file := filepath.Join(dir, "session.jsonl")
	stderr := filepath.Join(dir, "stderr")

	term.start(fmt.Sprintf("exec %s --record %s --state-dir %s --config-dir %s --local 2 2>>%s",
		bin, file, filepath.Join(dir, "state"), filepath.Join(dir, "config"), stderr))
	term.waitFor("the recording to start", `● rec session\.jsonl`, `2/2 servers`)
	term.typeText("a = remote 6 * 7")
	term.press("Enter")
	term.typeText("b = a + 1")
	term.press("Enter")
	term.waitFor("a = 42 and b = 43", card("42"), card("43"), state("b", "ready"))
	term.typeText(":mark the answer")
	term.press("Enter")
	term.waitFor("the marker", `marked the answer`)
	term.typeText("a = remote 6 * 100")
	term.press("Enter")
	term.waitFor("a = 600 and b = 601", card("600"), card("601"), state("a", "ready"), state("b", "ready"))
	recorded := gridOf(term.screen())
	term.typeText(":quit")
	term.press("Enter")
	term.waitExit(":quit")
	noStderr(t, stderr)

	// sperse replay lists the events, and the final workspace.
	out, err := exec.Command(sperse, "replay", file).CombinedOutput()
	if err != nil {
		t.Fatalf("sperse replay: %v\n%s", err, out)
	}
	text := string(out)
	for _, want := range []string{
		"recording by sperse", ": sperse-tui", "terminal 120x32", "server embedded-1",
		`typed         "a = remote 6 * 7"`, "defined       a v1: a = remote 6 * 7",
		"dispatched    a v1 -> remote", "resolved      a v1 = 42  (embedded-", "resolved      b v1 = 43  (local",
		`marker        "the answer"`, "resolved      a v2 = 600", "resolved      b v1 = 601",
		"final workspace (2 cells):\na = 600\nb = 601\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("sperse replay prints no %q:\n%s", want, text)
		}
	}

	// The replay plays it to the end, with no server, and stays there.
	term.start(fmt.Sprintf("exec %s --replay %s --speed 8 2>>%s", bin, file, stderr))
	term.waitFor("the replay to end", `■ end · (\d+)/(\d+) `, `◆ the answer`, card("600"), card("601"))
	if m := regexp.MustCompile(`■ end · (\d+)/(\d+) `).FindStringSubmatch(term.screen()); m[1] != m[2] {
		t.Errorf("the end at event %s of %s", m[1], m[2])
	}
	if replayed := gridOf(term.screen()); replayed != recorded {
		t.Errorf("the replay ends on other cards than the session:\n%s\nthe session's:\n%s", replayed, recorded)
	}
	// Stepping back shows the state before: b is queued again for the new a.
	term.press(",", ",")
	term.waitFor("two events back", `⏸ paused`, state("b", "(queued|running)"))
	term.press("q")
	term.waitExit("q")
	noStderr(t, stderr)
}

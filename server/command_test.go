package server

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sperse/sperse/remote"
)

// serverProcess is a sperse-server running as a process.
type serverProcess struct {
	cmd         *exec.Cmd
	stderr      *syncBuffer
	addr        string // HOST:PORT
	fingerprint string
	tokenLine   string // the line that says where the token is
	exited      chan error
}

var (
	listeningLine = regexp.MustCompile(`^sperse-server (\S+) listening on (\S+) fingerprint (sha256:\S+)$`)
	addressLine   = regexp.MustCompile(`^address: (\S+)#(sha256:\S+)$`)
)

// startProcess starts the sperse-server binary bin with args and reads the
// lines it prints on start.
func startProcess(t *testing.T, bin string, args ...string) *serverProcess {
	t.Helper()
	p := &serverProcess{cmd: exec.Command(bin, args...), stderr: &syncBuffer{}, exited: make(chan error, 1)}
	p.cmd.Env = append(os.Environ(), "SPERSE_TOKEN=")
	p.cmd.Stderr = p.stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		if t.Failed() {
			t.Logf("sperse-server stderr:\n%s", p.stderr)
		}
	})

	lines := make(chan string, 3)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	read := func() string {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("sperse-server ended its output early; stderr:\n%s", p.stderr)
			}
			return line
		case <-time.After(testTimeout):
			t.Fatalf("sperse-server printed nothing in %s; stderr:\n%s", testTimeout, p.stderr)
			return ""
		}
	}
	m := listeningLine.FindStringSubmatch(read())
	if m == nil {
		t.Fatalf("first line is not the listening line")
	}
	p.addr, p.fingerprint = m[2], m[3]
	if m := addressLine.FindStringSubmatch(read()); m == nil || m[1] != p.addr || m[2] != p.fingerprint {
		t.Fatalf("second line is not the address %s#%s", p.addr, p.fingerprint)
	}
	if _, _, err := remote.SplitAddress(p.addr + "#" + p.fingerprint); err != nil {
		t.Errorf("printed address: %v", err)
	}
	p.tokenLine = read()
	return p
}

// wait waits for the process to exit 0.
func (p *serverProcess) wait(t *testing.T) {
	t.Helper()
	select {
	case err := <-p.exited:
		if err != nil {
			t.Errorf("sperse-server: %v; want exit status 0", err)
		}
	case <-time.After(testTimeout):
		t.Fatalf("sperse-server did not exit in %s", testTimeout)
	}
}

// TestCommand builds cmd/sperse-server and runs it as a process.
func TestCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs sperse-server")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "sperse-server")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/sperse/sperse/cmd/sperse-server").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Run("usage", func(t *testing.T) { testCommandUsage(t, bin) })
	t.Run("serve", func(t *testing.T) { testCommandServe(t, bin) })
}

// testCommandServe starts sperse-server, restarts it, and stops it with an
// evaluation in flight.
func testCommandServe(t *testing.T, bin string) {
	state := filepath.Join(t.TempDir(), "state")
	args := []string{"--listen", "127.0.0.1:0", "--name", "proc", "--tag", "test", "--state-dir", state, "--grace", "1m"}

	// First start: a new certificate and a new token, printed once.
	first := startProcess(t, bin, args...)
	token, ok := strings.CutPrefix(first.tokenLine, "token: ")
	token, _, ok2 := strings.Cut(token, " (new; shown only this once, kept in "+filepath.Join(state, TokenFile)+")")
	if !ok || !ok2 || checkToken(token) != nil {
		t.Fatalf("first start: token line %q, want the new token", first.tokenLine)
	}
	wantMode(t, state, 0o700)
	wantMode(t, filepath.Join(state, TokenFile), 0o600)
	wantMode(t, filepath.Join(state, IdentityFile), 0o600)

	c := connectTo(t, first.addr, first.fingerprint, token)
	if c.welcome.Name != "proc" || strings.Join(c.welcome.Tags, ",") != "test" {
		t.Errorf("welcome %+v", c.welcome)
	}
	if got := value(t, c.eval(remote.EvalCell, cellJob(t, "w = [where(), 6 * 7]", nil))); got != `["proc", 42]` {
		t.Errorf("w = %s", got)
	}
	first.cmd.Process.Signal(syscall.SIGTERM)
	first.wait(t)
	if strings.Contains(first.stderr.String(), token) {
		t.Errorf("the log shows the token")
	}

	// Second start: the same certificate, and the token is not shown again.
	second := startProcess(t, bin, args...)
	if second.fingerprint != first.fingerprint {
		t.Errorf("fingerprint changed across restarts: %s, then %s", first.fingerprint, second.fingerprint)
	}
	if want := "token: kept in " + filepath.Join(state, TokenFile); second.tokenLine != want {
		t.Errorf("second start: token line %q, want %q", second.tokenLine, want)
	}

	// SIGTERM with an evaluation in flight: it completes, then the process
	// exits 0.
	c = connectTo(t, second.addr, second.fingerprint, token)
	slow := c.start(remote.EvalCell, cellJob(t, "slow = len([1 for i in range(50000000) if False])", nil))
	c.waitStatus(remote.Status{InFlight: 1})
	second.cmd.Process.Signal(syscall.SIGTERM)
	c.waitControl(remote.MsgGoAway, nil)
	if got := value(t, c.result(slow)); got != "0" {
		t.Errorf("slow = %s, want 0", got)
	}
	c.conn.CloseWithError(remote.ConnClosed, "")
	second.wait(t)
	logs := second.stderr.String()
	shutdown, evaluated := strings.Index(logs, "shutting down"), strings.Index(logs, "cell=slow")
	if shutdown < 0 || evaluated < shutdown {
		t.Errorf("the log does not show the evaluation completing after the shutdown began")
	}
}

// testCommandUsage checks the errors of a bad command line.
func testCommandUsage(t *testing.T, bin string) {
	tokens := filepath.Join(t.TempDir(), "tokens")
	os.WriteFile(tokens, []byte("good-token\nbad token\n"), 0o600)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "--name is required"},
		{[]string{"--name", "a", "--token", "x-token", "--token-file", "f"}, 2, "not both"},
		{[]string{"--name", "a", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"--name", "a b", "--token", "x-token"}, 1, `server name "a b"`},
		{[]string{"--name", "a", "--token-file", tokens}, 1, tokens + ":2: field 2 is not tags=... or provides=..."},
		{[]string{"--name", "a", "--token", "x-token", "--listen", "127.0.0.1:99999"}, 1, "invalid port"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), bin, append(tc.args, "--state-dir", t.TempDir())...)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != tc.code || !strings.Contains(string(out), tc.want) {
				t.Errorf("got %v and output:\n%s\nwant exit status %d and %q", err, out, tc.code, tc.want)
			}
			if strings.Contains(string(out), "bad token") {
				t.Errorf("output shows a token")
			}
		})
	}
}

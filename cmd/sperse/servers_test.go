package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// These tests run sperse run against real sperse-server processes, built by
// the test, over loopback QUIC.

var (
	buildOnce   sync.Once
	serverBin   string
	buildOutput []byte
	buildErr    error
)

// sperseServer builds cmd/sperse-server once for the test binary.
func sperseServer(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sperse-server-bin")
		if err != nil {
			buildErr = err
			return
		}
		serverBin = filepath.Join(dir, "sperse-server")
		buildOutput, buildErr = exec.Command("go", "build", "-o", serverBin, "../sperse-server").CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("build sperse-server: %v\n%s", buildErr, buildOutput)
	}
	return serverBin
}

// process is a running sperse-server.
type process struct {
	cmd    *exec.Cmd
	addr   string // HOST:PORT
	pinned string // HOST:PORT#sha256:...
	gossip string // HOST:PORT of its gossip, if it is in a cluster
	logs   logFile
	once   sync.Once
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// logFile is a process's standard error, kept in a file that the process
// writes itself: what it logged before it answered a request is there when
// the answer arrives. (Through a pipe, a goroutine of ours would copy it a
// moment later, and a test that looks at once could miss it.)
type logFile string

func (l logFile) String() string {
	b, err := os.ReadFile(string(l))
	if err != nil {
		return fmt.Sprintf("(the log could not be read: %v)", err)
	}
	return string(b)
}

// waitLog waits until p's log contains s, for up to 10 seconds, and
// returns the log.
func (p *process) waitLog(s string) string {
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.logs.String(), s) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	return p.logs.String()
}

// startServer starts sperse-server with the given flags and waits until it
// prints its address.
func startServer(t testing.TB, args ...string) *process {
	t.Helper()
	stderr, err := os.CreateTemp(t.TempDir(), "sperse-server-*.log")
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close() // the process has its own descriptor
	p := &process{logs: logFile(stderr.Name())}
	p.cmd = exec.Command(sperseServer(t), args...)
	p.cmd.Stderr = stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.kill() })
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	clustered := slices.Contains(args, "--cluster-key-file")
	deadline := time.After(30 * time.Second)
	for p.pinned == "" || clustered && p.gossip == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("sperse-server %v exited before printing its address:\n%s", args, p.logs)
			}
			if a, ok := strings.CutPrefix(line, "address: "); ok {
				p.pinned = a
				p.addr, _, _ = strings.Cut(a, "#")
			}
			if a, ok := strings.CutPrefix(line, "gossip: "); ok {
				p.gossip = a
			}
		case <-deadline:
			t.Fatalf("sperse-server %v printed no address in 30s:\n%s", args, p.logs)
		}
	}
	go func() {
		for range lines {
		}
	}()
	return p
}

// kill kills the server at once, as a crash would. It is safe to call
// more than once and from any goroutine.
func (p *process) kill() {
	p.once.Do(func() {
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.cmd.Wait()
	})
}

func runJSON(t *testing.T, src string, args ...string) (int, map[string]map[string]any, string) {
	t.Helper()
	path := writeFile(t, "w.sp", src)
	code, out, errOut := sperse(t, "", append(append([]string{"run", "--json"}, args...), path)...)
	var got struct {
		Cells []map[string]any `json:"cells"`
	}
	cells := map[string]map[string]any{}
	if out != "" {
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("output is not JSON: %v\n%s", err, out)
		}
	}
	for _, c := range got.Cells {
		cells[c["name"].(string)] = c
	}
	return code, cells, errOut
}

func TestRunOnServerProcesses(t *testing.T) {
	const token = "test-token-123"
	a := startServer(t, "--listen", "127.0.0.1:0", "--name", "a", "--tag", "cpu", "--token", token, "--state-dir", t.TempDir())
	b := startServer(t, "--listen", "127.0.0.1:0", "--name", "b", "--tag", "gpu", "--token", token, "--state-dir", t.TempDir())
	code, cells, errOut := runJSON(t, `
n = 5
def make_adder(k):
    return lambda x: x + k
add = make_adder(n)
def fib(x):
    return x if x < 2 else fib(x - 1) + fib(x - 2)
on_a = remote@a where()
on_gpu = remote@gpu add(10)
fibs = remote@cpu [fib(i) for i in range(10)]
back = remote make_adder(100)
called = back(1)
`, "--server", a.pinned, "--server", b.pinned, "--token", token)
	if code != exitOK {
		t.Fatalf("exit %d; stderr %s; cells %v", code, errOut, cells)
	}
	for name, want := range map[string]string{
		"on_a":   `"a" on a`,
		"on_gpu": "15 on b",
		"fibs":   "[0, 1, 1, 2, 3, 5, 8, 13, 21, 34] on a",
		"called": "101 on local",
	} {
		c := cells[name]
		if got := fmt.Sprintf("%v on %v", c["repr"], c["where"]); got != want {
			t.Errorf("%s = %s, want %s", name, got, want)
		}
	}
	if !strings.Contains(a.logs.String(), "msg=evaluation") || !strings.Contains(b.logs.String(), "msg=evaluation") {
		t.Errorf("both servers should have evaluated cells; logs:\n%s\n%s", a.logs, b.logs)
	}
}

func TestRunWrongTokenIsRefused(t *testing.T) {
	a := startServer(t, "--listen", "127.0.0.1:0", "--name", "a", "--token", "right", "--state-dir", t.TempDir())
	code, _, errOut := runJSON(t, "x = remote 1 + 1\n", "--server", a.pinned, "--token", "wrong")
	if code != exitUsage || !strings.Contains(errOut, "refused") || !strings.Contains(errOut, "token") || strings.Contains(errOut, "wrong") {
		t.Errorf("wrong token: exit %d, stderr %q; want exit %d and a refusal that names the token problem (never the token)", code, errOut, exitUsage)
	}
	if strings.Contains(a.logs.String(), "msg=evaluation") {
		t.Errorf("the server evaluated something for a client with a wrong token:\n%s", a.logs)
	}
}

func TestRunChangedCertificateIsRefused(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	const token = "tok"
	first := startServer(t, "--listen", "127.0.0.1:0", "--name", "a", "--token", token, "--state-dir", t.TempDir())
	// Trust on first use: the address has no fingerprint.
	if code, _, errOut := runJSON(t, "x = remote 1\n", "--server", first.addr, "--token", token); code != exitOK {
		t.Fatalf("first run: exit %d: %s", code, errOut)
	}
	first.kill()
	// Another server (another certificate) on the same address.
	startServer(t, "--listen", first.addr, "--name", "a", "--token", token, "--state-dir", t.TempDir())
	code, _, errOut := runJSON(t, "x = remote 1\n", "--server", first.addr, "--token", token)
	if code != exitUsage || !strings.Contains(errOut, "known_servers") || !strings.Contains(errOut, "delete that line") {
		t.Errorf("changed certificate: exit %d, stderr %q; want exit %d and how to fix it", code, errOut, exitUsage)
	}
}

func TestRunServerKilledMidEvaluation(t *testing.T) {
	const token = "tok"
	a := startServer(t, "--listen", "127.0.0.1:0", "--name", "a", "--token", token, "--state-dir", t.TempDir())
	go func() {
		// Kill the server once it is evaluating the slow cell.
		for i := 0; i < 600 && !strings.Contains(a.logs.String(), "msg=\"connection opened\""); i++ {
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(500 * time.Millisecond)
		a.kill()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	path := writeFile(t, "slow.sp", "def spin():\n    while True:\n        pass\nfast = 1\nslow = remote spin()\n")
	var out, errOut strings.Builder
	code := run(ctx, []string{"run", "--server", a.pinned, "--token", token, path}, strings.NewReader(""), &out, &errOut)
	if code != exitFailed || !strings.Contains(out.String(), "fast = 1\n") || !strings.Contains(out.String(), "slow ! server a was lost during the evaluation") {
		t.Errorf("server killed mid-evaluation: exit %d\n%s\nstderr %s", code, out.String(), errOut.String())
	}
}

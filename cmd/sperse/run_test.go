package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// sperse runs the command line in-process and returns its exit code and output.
func sperse(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code = run(ctx, args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRunPrintsCellsInFileOrder(t *testing.T) {
	path := writeFile(t, "w.sp", `
c = b * 2          # uses b, defined below: order in the file does not matter
b = remote a + 1
a = 20
def double(x):
    return 2 * x
double(c)
`)
	code, out, errOut := sperse(t, "", "run", path)
	want := "c = 42\nb = 21\na = 20\ndouble = <function double>\n_1 = 84\n"
	if code != exitOK || out != want {
		t.Errorf("sperse run = %d\n%s(stderr %q), want 0\n%s", code, out, errOut, want)
	}
}

func TestRunErrors(t *testing.T) {
	path := writeFile(t, "bad.sp", "a = 1 +\nb = 2\nc = nope\nd = c + 1\ne = e2\ne2 = e\nf = 1\nf = 2\n")
	code, out, _ := sperse(t, "", "run", path)
	for _, want := range []string{
		"a ! " + path + ":1:",
		"b = 2\n",
		"c ! " + path + ":3:5: undefined: nope\n",
		"d ! depends on failed c\n",
		"e ! cycle: e -> e2 -> e\n",
		"e2 ! cycle: e2 -> e -> e2\n",
		"f ! f is defined twice: at " + path + ":7:1 and " + path + ":8:1\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "f ! ") != 2 {
		t.Errorf("a name defined twice should be reported on both cells:\n%s", out)
	}
	if code != exitFailed {
		t.Errorf("exit code %d, want %d", code, exitFailed)
	}
}

func TestRunJSON(t *testing.T) {
	code, out, errOut := sperse(t, `
n = 1 << 100
d = {"b": [1, 2.5, None, True], "a": "x"}
r = remote range(0, 1000000000, 3)
bad = 1 // 0
up = bad + 1
w = remote where()
`, "run", "--json", "-")
	if code != exitFailed {
		t.Fatalf("exit %d, want %d; stderr %s", code, exitFailed, errOut)
	}
	var got struct {
		Cells []struct {
			Name  string          `json:"name"`
			State string          `json:"state"`
			Value json.RawMessage `json:"value"`
			Repr  *string         `json:"repr"`
			Where string          `json:"where"`
			Error *string         `json:"error"`
		} `json:"cells"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	type cell struct{ name, state, value, repr, where, err string }
	var cells []cell
	for _, c := range got.Cells {
		var value bytes.Buffer
		if err := json.Compact(&value, c.Value); err != nil {
			t.Fatal(err)
		}
		x := cell{name: c.Name, state: c.State, value: value.String(), where: c.Where}
		if c.Repr != nil {
			x.repr = *c.Repr
		}
		if c.Error != nil {
			x.err = *c.Error
		}
		cells = append(cells, x)
	}
	want := []cell{
		{"n", "ready", "1267650600228229401496703205376", "1267650600228229401496703205376", "local", ""},
		{"d", "ready", `{"b":[1,2.5,null,true],"a":"x"}`, `{"b": [1, 2.5, None, True], "a": "x"}`, "local", ""},
		{"r", "ready", "null", "range(0, 1000000000, 3)", "embedded-?", ""},
		{"bad", "error", "null", "", "local", "<stdin>:5:9: floored division by zero"},
		{"up", "upstream-error", "null", "", "", "depends on failed bad"},
		{"w", "ready", `"embedded-?"`, `"embedded-?"`, "embedded-?", ""},
	}
	if len(cells) != len(want) {
		t.Fatalf("got %d cells, want %d:\n%s", len(cells), len(want), out)
	}
	// Remote cells run on one of the two embedded servers: either will do.
	embedded := regexp.MustCompile(`embedded-[12]`)
	for i := range want {
		cells[i].where = embedded.ReplaceAllString(cells[i].where, "embedded-?")
		cells[i].value = embedded.ReplaceAllString(cells[i].value, "embedded-?")
		cells[i].repr = embedded.ReplaceAllString(cells[i].repr, "embedded-?")
		if cells[i] != want[i] {
			t.Errorf("cell %d:\n got %+v\nwant %+v", i, cells[i], want[i])
		}
	}
}

func TestRunBadInput(t *testing.T) {
	dir := t.TempDir()
	notUTF8 := writeFile(t, "latin1.sp", "a = 1\nb = \"caf\xe9\"\n")
	empty := writeFile(t, "empty.sp", "")
	comments := writeFile(t, "comments.sp", "# nothing here\n\n   \n")
	huge := filepath.Join(dir, "huge.sp")
	if err := os.WriteFile(huge, bytes.Repeat([]byte("x = 1\n"), 3<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	binary := writeFile(t, "bin.sp", "a = 1\x00\x01")
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		stderr   string // a substring of the error
		stdout   string
		stdinTxt string
	}{
		{"missing file", []string{"run", filepath.Join(dir, "nope.sp")}, exitUsage, "no such file", "", ""},
		{"directory", []string{"run", dir}, exitUsage, "is a directory", "", ""},
		{"not UTF-8", []string{"run", notUTF8}, exitUsage, notUTF8 + ":2: file is not UTF-8", "", ""},
		{"binary", []string{"run", binary}, exitUsage, "NUL byte", "", ""},
		{"huge", []string{"run", huge}, exitUsage, "a workspace may be at most", "", ""},
		{"empty", []string{"run", empty}, exitOK, "", "", ""},
		{"only comments", []string{"run", comments}, exitOK, "", "", ""},
		{"no file", []string{"run"}, exitUsage, "usage: sperse run", "", ""},
		{"two files", []string{"run", empty, empty}, exitUsage, "usage: sperse run", "", ""},
		{"bad flag", []string{"run", "--nope", empty}, exitUsage, "flag provided but not defined", "", ""},
		{"unknown command", []string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`, "", ""},
		{"no command", nil, exitUsage, "usage: sperse", "", ""},
		{"stdin", []string{"run", "-"}, exitOK, "", "x = 3\n", "x = 1 + 2\n"},
		{"flags after file", []string{"run", "-", "--json"}, exitOK, "", `"name": "x"`, "x = 1\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := sperse(t, tc.stdinTxt, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.stderr) || !strings.Contains(out, tc.stdout) {
				t.Errorf("sperse %v = %d, stdout %q, stderr %q; want %d, stdout containing %q, stderr containing %q",
					tc.args, code, out, errOut, tc.code, tc.stdout, tc.stderr)
			}
		})
	}
}

func TestRunTimeoutCancelsWhatIsRunning(t *testing.T) {
	path := writeFile(t, "slow.sp", `
def spin():
    n = 0
    while True:
        n += 1
fast = 1
slow = spin()
after = slow + 1
`)
	start := time.Now()
	code, out, errOut := sperse(t, "", "run", "--timeout", "300ms", path)
	if time.Since(start) > time.Minute {
		t.Errorf("the run took %v despite --timeout 300ms", time.Since(start))
	}
	if code != exitFailed || !strings.Contains(out, "fast = 1\n") || !strings.Contains(out, "slow ! ") ||
		!strings.Contains(errOut, "stopped by --timeout") {
		t.Errorf("sperse run --timeout = %d\n%s\nstderr %s", code, out, errOut)
	}
}

func TestTourRuns(t *testing.T) {
	code, out, errOut := sperse(t, "", "run", "../../examples/tour.sp")
	if code != exitOK {
		t.Errorf("the tour fails (%d):\n%s\n%s", code, out, errOut)
	}
}

func TestRunPinnedFunction(t *testing.T) {
	code, out, errOut := sperse(t, `
remote@embedded-2 def whereami(x):
    return where() + ":" + str(x)
a = whereami(1)
b = [whereami(i) for i in range(2)]
`, "run", "-")
	want := "whereami = <remote@embedded-2 function whereami>\na = \"embedded-2:1\"\nb = [\"embedded-2:0\", \"embedded-2:1\"]\n"
	if code != exitOK || out != want {
		t.Errorf("sperse run = %d\n%s(stderr %q), want\n%s", code, out, errOut, want)
	}
}

func TestRunRemoteCellNeedingAnUnprovidedName(t *testing.T) {
	code, out, _ := sperse(t, "x = remote sql(sales, \"select 1\")\n", "run", "--json", "-")
	if code != exitFailed || !strings.Contains(out, `"state": "unavailable"`) ||
		!strings.Contains(out, "no connected server provides sales, sql") {
		t.Errorf("a remote cell that needs sql with no sql server: exit %d\n%s", code, out)
	}
}

package main

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestStats(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []float64
		want Stats
	}{
		{"one", []float64{3}, Stats{3, 3, 3}},
		{"odd", []float64{5, 1, 3}, Stats{3, 1, 5}},
		{"even", []float64{4, 1, 3, 2}, Stats{2.5, 1, 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(tc.in)
			got, ok := stats(tc.in)
			if !ok || got != tc.want {
				t.Errorf("stats(%v) = %v, %v; want %v", tc.in, got, ok, tc.want)
			}
			if !slices.Equal(tc.in, in) {
				t.Errorf("stats changed its input: %v", tc.in)
			}
		})
	}
	if _, ok := stats(nil); ok {
		t.Error("stats of nothing is ok")
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	if got := percentile(ds, 50); got != 0.050 {
		t.Errorf("p50 = %v, want 0.050", got)
	}
	if got := percentile(ds, 99); got != 0.099 {
		t.Errorf("p99 = %v, want 0.099", got)
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		unit Unit
		s    Stats
		want string
	}{
		{Seconds, Stats{79.4e-6, 71.3e-6, 134e-6}, "79.4 (71.3–134) µs"},
		{Seconds, Stats{0.0201, 0.00967, 0.0212}, "20.1 (9.67–21.2) ms"},
		{Seconds, Stats{1.03, 0.82, 2.26}, "1.03 (0.82–2.26) s"},
		{PerSecond, Stats{13531.4, 9589, 18100.2}, "13,531/s (9,589–18,100)"},
	} {
		if got := tc.unit.formatStats(tc.s); got != tc.want {
			t.Errorf("formatStats(%v) = %q, want %q", tc.s, got, tc.want)
		}
	}
	if got := groupThousands(-1234567); got != "-1,234,567" {
		t.Errorf("groupThousands = %q", got)
	}
}

func TestVerdict(t *testing.T) {
	s := func(vs ...float64) Sample { return Sample{Values: vs} }
	for _, tc := range []struct {
		name  string
		row   Row
		c     Comparison
		ratio float64
		want  string
	}{
		{"time, met", Row{Unit: Seconds, Sperse: s(1, 2, 3)}, Comparison{Sample: s(100), MinSpeedup: 50}, 50, "met"},
		{"time, missed", Row{Unit: Seconds, Sperse: s(2)}, Comparison{Sample: s(3), MinSpeedup: 2}, 1.5, "missed"},
		{"strict at the bound", Row{Unit: Seconds, Sperse: s(2)}, Comparison{Sample: s(2), MinSpeedup: 1, Strict: true}, 1, "missed"},
		{"rate", Row{Unit: PerSecond, Sperse: s(120)}, Comparison{Sample: s(100), MinSpeedup: 1.2}, 1.2, "met"},
		{"no target", Row{Unit: Seconds, Sperse: s(1)}, Comparison{Sample: s(3)}, 3, ""},
		{"peer skipped", Row{Unit: Seconds, Sperse: s(1)}, Comparison{Sample: Skipped("no node"), MinSpeedup: 2}, 0, "skipped"},
		{"sperse skipped", Row{Unit: Seconds, Sperse: Skipped("x")}, Comparison{Sample: s(1), MinSpeedup: 2}, 0, "skipped"},
		{"no values", Row{Unit: Seconds, Sperse: s(1)}, Comparison{Sample: Sample{}, MinSpeedup: 2}, 0, "skipped"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x, _ := tc.row.speedup(tc.c)
			if x != tc.ratio {
				t.Errorf("speedup = %v, want %v", x, tc.ratio)
			}
			if got := tc.row.verdict(tc.c); got != tc.want {
				t.Errorf("verdict = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRowsSkipped(t *testing.T) {
	out := map[string]results{
		"sperse": {"3.chain": {Values: []float64{0.02, 0.01, 0.03}}},
		"dask":   {},
	}
	rs := rows([]int{3}, out, map[string]string{"dask": "apt-get install failed: E: no network"})
	if len(rs) != 1 || len(rs[0].Peers) != 1 {
		t.Fatalf("rows = %+v, want one row with one peer", rs)
	}
	if got := rs[0].Peers[0].Sample; got.Skip != "apt-get install failed: E: no network" || len(got.Values) != 0 {
		t.Errorf("dask's sample = %+v, want skipped with the reason", got)
	}
	var b bytes.Buffer
	if err := writeTable(&b, rs); err != nil {
		t.Fatal(err)
	}
	table := b.String()
	for _, want := range []string{"20.0 (10.0–30.0) ms", "skipped (apt-get install failed: E: no network)", "≥20×"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	if strings.Contains(table, " 0 ") || strings.Contains(table, "0.00") {
		t.Errorf("a skipped peer shows as zero:\n%s", table)
	}

	// A side that ran but lacks a measure is skipped too, never zero.
	rs = rows([]int{3}, map[string]results{"sperse": {}, "dask": {}}, nil)
	if got := rs[0].Sperse.Skip; got != "not measured" {
		t.Errorf("sperse's missing sample: skip %q, want %q", got, "not measured")
	}
	b.Reset()
	if err := writeMarkdown(&b, rs); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "| 3 | chain of 100 dependent remote cells | skipped (not measured) |") {
		t.Errorf("markdown:\n%s", b.String())
	}
}

func TestParseOnly(t *testing.T) {
	got, err := parseOnly("3, 1,3")
	if err != nil || !slices.Equal(got, []int{1, 3}) {
		t.Errorf("parseOnly = %v, %v; want [1 3]", got, err)
	}
	if got, _ := parseOnly(""); len(got) != 6 {
		t.Errorf("parseOnly(\"\") = %v, want all six", got)
	}
	for _, bad := range []string{"0", "7", "x", "1,,2"} {
		if _, err := parseOnly(bad); err == nil {
			t.Errorf("parseOnly(%q) is no error", bad)
		}
	}
	if got := onlyArg([]int{1, 2, 5}); got != "1,2,5" {
		t.Errorf("onlyArg = %q", got)
	}
}

func TestParsePeerOutput(t *testing.T) {
	rs, err := parsePeerOutput([]byte("progress\n{\"1.p50\": [0.01, 0.02]}\n"))
	if err != nil || !slices.Equal(rs["1.p50"].Values, []float64{0.01, 0.02}) {
		t.Errorf("parsePeerOutput = %v, %v", rs, err)
	}
	if _, err := parsePeerOutput([]byte("Traceback ...\n")); err == nil {
		t.Error("a peer's failure read as results")
	}
}

// fakeRun is a machine for the installer: each command's answer by its
// first words.
type fakeRun struct {
	fail map[string]string // command line prefix → output of a failure
	ran  []string
}

func (f *fakeRun) run(_ context.Context, name string, args ...string) ([]byte, error) {
	line := strings.Join(append([]string{name}, args...), " ")
	f.ran = append(f.ran, line)
	for prefix, out := range f.fail {
		if strings.HasPrefix(line, prefix) {
			return []byte(out), errors.New("exit status 1")
		}
	}
	return nil, nil
}

func TestInstallerSkips(t *testing.T) {
	ctx := context.Background()
	t.Run("dask missing, no install", func(t *testing.T) {
		f := &fakeRun{fail: map[string]string{debianPython: "ModuleNotFoundError: No module named 'dask'"}}
		in := &installer{noInstall: true, log: new(bytes.Buffer), run: f.run}
		if py, skip := in.dask(ctx); py != "" || skip != "not installed, --no-install" {
			t.Errorf("dask() = %q, %q", py, skip)
		}
		if len(f.ran) != 1 {
			t.Errorf("ran %q, want only the import check", f.ran)
		}
	})
	t.Run("dask install fails", func(t *testing.T) {
		f := &fakeRun{fail: map[string]string{
			debianPython:         "ModuleNotFoundError: No module named 'dask'",
			"apt-get install -y": "E: Unable to locate package python3-distributed",
		}}
		in := &installer{log: new(bytes.Buffer), run: f.run}
		_, skip := in.dask(ctx)
		if skip != "apt-get install failed: E: Unable to locate package python3-distributed" {
			t.Errorf("skip = %q", skip)
		}
	})
	t.Run("dask installs with sudo when not root", func(t *testing.T) {
		calls := 0
		f := &fakeRun{}
		in := &installer{log: new(bytes.Buffer), uid: 1000, run: func(ctx context.Context, name string, args ...string) ([]byte, error) {
			if name == debianPython {
				calls++
				if calls == 1 {
					return []byte("ModuleNotFoundError"), errors.New("exit status 1")
				}
			}
			return f.run(ctx, name, args...)
		}}
		if py, skip := in.dask(ctx); py != debianPython || skip != "" {
			t.Errorf("dask() = %q, %q", py, skip)
		}
		if !slices.ContainsFunc(f.ran, func(l string) bool { return strings.HasPrefix(l, "sudo -n apt-get install") }) {
			t.Errorf("ran %q, want sudo apt-get install", f.ran)
		}
	})
	t.Run("no node", func(t *testing.T) {
		t.Setenv("OBSERVABLE_RUNTIME_DIR", "")
		f := &fakeRun{fail: map[string]string{"node": "node: not found"}}
		in := &installer{log: new(bytes.Buffer), run: f.run}
		if dir, skip := in.observable(ctx, t.TempDir()); dir != "" || skip != "no node: node: not found" {
			t.Errorf("observable() = %q, %q", dir, skip)
		}
	})
	t.Run("npm fails", func(t *testing.T) {
		t.Setenv("OBSERVABLE_RUNTIME_DIR", "")
		f := &fakeRun{fail: map[string]string{"npm install": "npm error code E404"}}
		in := &installer{log: new(bytes.Buffer), run: f.run}
		if _, skip := in.observable(ctx, t.TempDir()); skip != "npm install failed: npm error code E404" {
			t.Errorf("skip = %q", skip)
		}
	})
}

func TestGraphs(t *testing.T) {
	for _, g := range graphs(50) {
		cs := g.localCells(3)
		if len(cs) != 50 {
			t.Fatalf("%s: %d cells", g.Name, len(cs))
		}
		for _, c := range cs {
			if c == nil || c.Err != nil {
				t.Fatalf("%s: cell %v", g.Name, c)
			}
		}
	}
	if got := graphs(5)[0].last(7); got != 11 {
		t.Errorf("chain's last = %d, want 11", got)
	}
}

package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Sample is the values of one measure, one per repetition, or the reason it
// was not measured. A skipped sample has no values and is never shown or
// compared as zero.
type Sample struct {
	Values []float64 `json:"values,omitempty"`
	Skip   string    `json:"skipped,omitempty"`
}

// Skipped returns a sample that was not measured, for why.
func Skipped(why string) Sample { return Sample{Skip: why} }

// ok reports whether s has values to compare.
func (s Sample) ok() bool { return s.Skip == "" && len(s.Values) > 0 }

// Stats are the median, minimum and maximum of a sample's values.
type Stats struct {
	Median, Min, Max float64
}

// stats returns the median (the mean of the middle two for an even count),
// minimum and maximum of vs; ok is false if vs is empty.
func stats(vs []float64) (Stats, bool) {
	if len(vs) == 0 {
		return Stats{}, false
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Stats{Median: m, Min: s[0], Max: s[len(s)-1]}, true
}

// percentile returns the p-th percentile of ds (nearest rank), in seconds.
func percentile(ds []time.Duration, p int) float64 {
	if len(ds) == 0 {
		return math.NaN()
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100 // the rank, from 1
	return s[max(i, 1)-1].Seconds()
}

// Unit says how a measure's values read: a time in seconds (lower is
// better) or a rate per second (higher is better).
type Unit int

const (
	Seconds Unit = iota
	PerSecond
)

// format shows v in the unit, scaled for reading: µs, ms or s for times,
// /s with a thousands separator for rates.
func (u Unit) format(v float64) string {
	if u == PerSecond {
		return groupThousands(int64(math.Round(v))) + "/s"
	}
	switch a := math.Abs(v); {
	case a < 1e-3:
		return trim(v*1e6) + " µs"
	case a < 1:
		return trim(v*1e3) + " ms"
	}
	return trim(v) + " s"
}

// formatStats shows a median and its range in one unit.
func (u Unit) formatStats(s Stats) string {
	if u == PerSecond {
		return fmt.Sprintf("%s (%s–%s)", u.format(s.Median), groupThousands(int64(math.Round(s.Min))), groupThousands(int64(math.Round(s.Max))))
	}
	// The range in the median's scale, so that the three read together.
	scale, suffix := 1.0, " s"
	switch a := math.Abs(s.Median); {
	case a < 1e-3:
		scale, suffix = 1e6, " µs"
	case a < 1:
		scale, suffix = 1e3, " ms"
	}
	return fmt.Sprintf("%s (%s–%s)%s", trim(s.Median*scale), trim(s.Min*scale), trim(s.Max*scale), suffix)
}

// trim formats v with 3 significant digits, or none after the point at 100
// and above.
func trim(v float64) string {
	switch a := math.Abs(v); {
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// groupThousands formats n with commas between groups of three digits.
func groupThousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// Comparison is sperse against one peer on one measure, with the target
// issue #9 sets for it.
type Comparison struct {
	Peer   string `json:"peer"`
	Sample Sample `json:"sample"`
	// MinSpeedup is the target: the speedup (see Row.speedup) must be at
	// least this, or above it if Strict; 0 means no target.
	MinSpeedup float64 `json:"min_speedup,omitempty"`
	Strict     bool    `json:"strict,omitempty"`
	Target     string  `json:"target,omitempty"` // the target as the issue says it
}

// Row is one measure of a workload: sperse's sample and the peers'.
type Row struct {
	Workload int          `json:"workload"`
	Measure  string       `json:"measure"`
	Unit     Unit         `json:"unit"` // 0 seconds, 1 per second
	Sperse   Sample       `json:"sperse"`
	Peers    []Comparison `json:"peers"`
}

// speedup returns how many times better sperse's median is than the peer's:
// the peer's time over sperse's, or sperse's rate over the peer's. It is
// false if either side was not measured.
func (r Row) speedup(c Comparison) (float64, bool) {
	s, ok1 := stats(r.Sperse.Values)
	p, ok2 := stats(c.Sample.Values)
	if !r.Sperse.ok() || !c.Sample.ok() || !ok1 || !ok2 || s.Median <= 0 || p.Median <= 0 {
		return 0, false
	}
	if r.Unit == PerSecond {
		return s.Median / p.Median, true
	}
	return p.Median / s.Median, true
}

// verdict says whether the target of c is met: "met", "missed", "skipped"
// when either side was not measured, or "" when there is no target.
func (r Row) verdict(c Comparison) string {
	x, ok := r.speedup(c)
	switch {
	case !ok:
		return "skipped"
	case c.MinSpeedup == 0:
		return ""
	case x > c.MinSpeedup || (!c.Strict && x == c.MinSpeedup):
		return "met"
	}
	return "missed"
}

// cell shows a sample: its median and range, or why it was skipped.
func (u Unit) cell(s Sample) string {
	if s.Skip != "" {
		return "skipped (" + s.Skip + ")"
	}
	st, ok := stats(s.Values)
	if !ok {
		return "skipped (no values)"
	}
	return u.formatStats(st)
}

// writeTable prints rows as an aligned text table, one line per measure and
// peer. The ratio is sperse's speedup over the peer (its time over
// sperse's, or sperse's rate over its).
func writeTable(w io.Writer, rows []Row) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tmeasure\tsperse median (min–max)\tpeer\tpeer median (min–max)\tsperse speedup\ttarget\tresult")
	for _, r := range rows {
		if len(r.Peers) == 0 {
			fmt.Fprintf(tw, "%d\t%s\t%s\t\t\t\t\t\n", r.Workload, r.Measure, r.Unit.cell(r.Sperse))
		}
		for _, c := range r.Peers {
			ratio := "–"
			if x, ok := r.speedup(c); ok {
				ratio = fmt.Sprintf("%s×", trim(x))
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Workload, r.Measure, r.Unit.cell(r.Sperse),
				c.Peer, r.Unit.cell(c.Sample), ratio, c.Target, r.verdict(c))
		}
	}
	return tw.Flush()
}

// writeMarkdown prints rows as a Markdown table, as the README shows it.
func writeMarkdown(w io.Writer, rows []Row) error {
	fmt.Fprintln(w, "| # | measure | sperse median (min–max) | peer | peer median (min–max) | sperse speedup | target | result |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		for _, c := range r.Peers {
			ratio := "–"
			if x, ok := r.speedup(c); ok {
				ratio = fmt.Sprintf("%s×", trim(x))
			}
			if _, err := fmt.Fprintf(w, "| %d | %s | %s | %s | %s | %s | %s | %s |\n", r.Workload, r.Measure, r.Unit.cell(r.Sperse),
				c.Peer, r.Unit.cell(c.Sample), ratio, c.Target, r.verdict(c)); err != nil {
				return err
			}
		}
	}
	return nil
}

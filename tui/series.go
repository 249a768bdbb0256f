package tui

import (
	"math"

	tea "charm.land/bubbletea/v2"
)

// series is a sequence of numbers read once for charting: its statistics,
// and its values as float64s to draw from at any size.
type series struct {
	n int // elements in the sequence

	// vals are the values, one per element, or one per stride elements
	// of a sequence longer than maxSeriesValues (then vals[j] is element
	// j*stride); nil for an arithmetic sequence, whose values are computed.
	vals   []float64
	stride int
	arith  bool
	start  float64
	step   float64

	count    int     // the finite numbers among the elements read
	skipped  int     // elements that are no number, or not finite (nan, inf)
	min, max float64 // of the finite numbers
	mean     float64
	ints     bool // every number read is integral
}

// maxSeriesValues bounds the values a series keeps (and the elements it
// reads): a longer sequence is read every stride elements, and its chart
// and statistics are of that sample (the chart says so).
const maxSeriesValues = 10_000_000

// syncSeriesMax is the longest sequence read on the update loop; a longer
// one is read by a command (see seriesCmd).
const syncSeriesMax = 100_000

// value returns element j of the series' values (element j*stride of the
// sequence).
func (s *series) value(j int) float64 {
	if s.arith {
		return s.start + float64(j)*s.step
	}
	return s.vals[j]
}

// length is how many values the series has.
func (s *series) length() int {
	if s.arith {
		return s.n
	}
	return len(s.vals)
}

// sampled reports whether the series is a sample of its sequence.
func (s *series) sampled() bool { return s.stride > 1 }

// readSeries reads seq in one pass: its values, their count, minimum,
// maximum and mean. An arithmetic sequence (a range) is not read at all:
// what is known of it is computed from its first element and step.
func readSeries(seq numSeq) *series {
	s := &series{n: seq.n, stride: 1, ints: true}
	if seq.arith {
		s.arith, s.start, s.step = true, seq.start, seq.step
		last := seq.start + float64(seq.n-1)*seq.step
		s.count = seq.n
		s.min, s.max = math.Min(seq.start, last), math.Max(seq.start, last)
		s.mean = (seq.start + last) / 2
		s.ints = seq.start == math.Trunc(seq.start) && seq.step == math.Trunc(seq.step)
		return s
	}
	m := seq.n
	if m > maxSeriesValues {
		s.stride = (seq.n + maxSeriesValues - 1) / maxSeriesValues
		m = (seq.n + s.stride - 1) / s.stride
	}
	s.vals = make([]float64, m)
	sum, first := 0.0, true
	for j := range m {
		f, ok := seq.at(j * s.stride)
		if !ok || math.IsNaN(f) || math.IsInf(f, 0) {
			s.skipped++
			s.vals[j] = math.NaN()
			continue
		}
		s.vals[j] = f
		if first {
			s.min, s.max, first = f, f, false
		}
		s.min, s.max = min(s.min, f), max(s.max, f)
		sum += f
		s.count++
		if s.ints && f != math.Trunc(f) {
			s.ints = false
		}
	}
	if s.count > 0 {
		s.mean = sum / float64(s.count)
	}
	return s
}

// seriesCmd reads a long sequence off the update loop; the value is
// frozen, so reading it from another goroutine is safe.
func seriesCmd(id inspectID, seq numSeq) tea.Cmd {
	return func() tea.Msg {
		return inspectedMsg{inspectID: id, view: viewChart, series: readSeries(seq)}
	}
}

// rangeOf returns the minimum and maximum of the finite values j in
// [from, to) of the series, and whether there is one.
func (s *series) rangeOf(from, to int) (lo, hi float64, ok bool) {
	if from >= to {
		return 0, 0, false
	}
	if s.arith {
		a, b := s.value(from), s.value(to-1)
		return math.Min(a, b), math.Max(a, b), true
	}
	for _, f := range s.vals[from:to] {
		if math.IsNaN(f) {
			continue
		}
		if !ok {
			lo, hi, ok = f, f, true
			continue
		}
		lo, hi = min(lo, f), max(hi, f)
	}
	return lo, hi, ok
}

// histogram counts the finite values in k bins of equal width from the
// minimum to the maximum (the last bin holds the maximum); it returns the
// bins' lower edges and counts. Integral values over a span of at most k
// get a bin each.
func (s *series) histogram(k int) (edges []float64, width float64, counts []int) {
	if s.count == 0 || k < 1 {
		return nil, 0, nil
	}
	lo, hi := s.min, s.max
	if s.ints && hi-lo+1 <= float64(k) {
		k = int(hi-lo) + 1
		width = 1
	} else {
		if hi == lo {
			k = 1
		}
		width = (hi - lo) / float64(k)
	}
	edges = make([]float64, k)
	for i := range edges {
		edges[i] = lo + float64(i)*width
	}
	counts = make([]int, k)
	bin := func(f float64) int {
		if width == 0 {
			return 0
		}
		return min(max(int((f-lo)/width), 0), k-1)
	}
	if s.arith {
		// Elements are start + i*step: count the i in each bin.
		for i, e := range edges {
			a, b := e, e+width
			if i == k-1 {
				b = math.Inf(1)
			}
			counts[i] = s.indexesIn(a, b)
		}
		return edges, width, counts
	}
	for _, f := range s.vals {
		if !math.IsNaN(f) {
			counts[bin(f)]++
		}
	}
	return edges, width, counts
}

// indexesIn counts the elements of an arithmetic series in [a, b).
func (s *series) indexesIn(a, b float64) int {
	if s.step == 0 {
		if s.start >= a && s.start < b {
			return s.n
		}
		return 0
	}
	// start + i*step in [a, b): i in [(a-start)/step, (b-start)/step) for
	// a positive step, (… ] reversed for a negative one.
	lo, hi := (a-s.start)/s.step, (b-s.start)/s.step
	var first, last float64 // i in [first, last)
	if s.step > 0 {
		first, last = math.Ceil(lo), math.Ceil(hi)
	} else {
		first, last = math.Floor(hi)+1, math.Floor(lo)+1
	}
	first = math.Max(first, 0)
	last = math.Min(last, float64(s.n))
	if last <= first {
		return 0
	}
	return int(last - first)
}

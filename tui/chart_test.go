package tui

import (
	"math"
	"strings"
	"testing"

	"github.com/sperse/sperse/themes"
)

func TestSeriesStats(t *testing.T) {
	for _, tc := range []struct {
		src            string
		count, skipped int
		min, max, mean float64
		ints           bool
	}{
		{`[3, 1, 2]`, 3, 0, 1, 3, 2, true},
		{`[-2.5, 0, 2.5, 10]`, 4, 0, -2.5, 10, 2.5, false},
		{`[7]`, 1, 0, 7, 7, 7, true},
		{`[1, float("nan"), float("inf"), 3]`, 2, 2, 1, 3, 2, true},
		{`[1 << 100, -(1 << 100)]`, 2, 0, -math.Ldexp(1, 100), math.Ldexp(1, 100), 0, true},
		{`range(10, 0, -2)`, 5, 0, 2, 10, 6, true},
		{`range(0, 1000000000, 3)`, 333333334, 0, 0, 999999999, 499999999.5, true},
	} {
		seq, ok := numericSeq(eval(t, tc.src))
		if !ok {
			t.Errorf("%s is no sequence of numbers", tc.src)
			continue
		}
		s := readSeries(seq)
		if s.count != tc.count || s.skipped != tc.skipped || s.min != tc.min || s.max != tc.max || s.mean != tc.mean || s.ints != tc.ints {
			t.Errorf("%s: count %d skipped %d min %v max %v mean %v ints %v, want %d %d %v %v %v %v",
				tc.src, s.count, s.skipped, s.min, s.max, s.mean, s.ints, tc.count, tc.skipped, tc.min, tc.max, tc.mean, tc.ints)
		}
	}
}

// TestRangeNotExpanded: a range of a billion is charted without reading
// its elements.
func TestRangeNotExpanded(t *testing.T) {
	v := eval(t, `range(-500000000, 1500000000, 2)`)
	var lines []string
	n := allocated(func() {
		seq, _ := numericSeq(v)
		cv := &chartView{st: newStyles(themes.Dark()), s: readSeries(seq), height: 40}
		for i := range cv.Len() {
			lines = append(lines, stripped(cv.Seg(i, 100)))
		}
		sparkOf(seq, 30)
	})
	if n > 1<<20 {
		t.Errorf("charting a range of a billion allocated %d bytes", n)
	}
	text := strings.Join(lines, "\n")
	for _, want := range []string{"count 1,000,000,000", "min -500,000,000", "max 1,499,999,998", "histogram"} {
		if !strings.Contains(text, want) {
			t.Errorf("the chart has no %q:\n%s", want, text)
		}
	}
}

func TestHistogramCounts(t *testing.T) {
	for _, src := range []string{`range(0, 1000000000, 3)`, `range(100, -7, -3)`, `[(i * 37) % 101 - 50 for i in range(10000)]`, `[0.5 * i for i in range(999)]`, `[4, 4, 4]`} {
		seq, _ := numericSeq(eval(t, src))
		s := readSeries(seq)
		for _, k := range []int{1, 4, 7, 20} {
			_, _, counts := s.histogram(k)
			total := 0
			for _, c := range counts {
				total += c
			}
			if total != s.count {
				t.Errorf("%s in %d bins: %d counted, want %d", src, k, total, s.count)
			}
		}
	}
	// Integers over a short span get a bin each.
	seq, _ := numericSeq(eval(t, `[1, 2, 2, 3, 3, 3]`))
	edges, _, counts := readSeries(seq).histogram(10)
	if len(edges) != 3 || counts[0] != 1 || counts[1] != 2 || counts[2] != 3 {
		t.Errorf("bins %v counts %v", edges, counts)
	}
}

func TestSparkline(t *testing.T) {
	for _, tc := range []struct {
		src, spark, note string
	}{
		{`[1, 2, 3, 4, 5, 6, 7, 8]`, "▁▂▃▄▅▆▇█", "8 ints · 1…8"},
		{`[-1.5, 0.5]`, "▁█", "2 floats · -1.5…0.5"},
		{`[5]`, "▄", "1 int · 5"},
		{`[1, 2.5]`, "▁█", "2 numbers · 1…2.5"},
		{`range(0, 1000000000, 3)`, "▁▁▂▂▃▃▄▄▅▅▆▆▇▇██", "333M ints · 0…1G"},
		{`[i % 10 for i in range(100000)]`, "▄▄▄▄▄▄▄▄▄▄▄▄▄▄▄▄", "100k ints"},
	} {
		seq, _ := numericSeq(eval(t, tc.src))
		spark, note := sparkOf(seq, 16)
		if spark != tc.spark || note != tc.note {
			t.Errorf("%s: %q %q, want %q %q", tc.src, spark, note, tc.spark, tc.note)
		}
	}
}

func TestFormatNumbers(t *testing.T) {
	for _, tc := range []struct {
		x          float64
		num, short string
	}{
		{0, "0", "0"},
		{math.Copysign(0, -1), "0", "0"},
		{1234567, "1,234,567", "1.23M"},
		{-2.5, "-2.5", "-2.5"},
		{61.93333333, "61.9333", "61.93"},
		{999999999, "999,999,999", "1G"},
		{123456, "123,456", "123k"},
		{12345, "12,345", "12345"},
		{1e30, "1e+30", "1e+30"},
		{0.00001234, "1.234e-05", "1.234e-05"},
		{math.Inf(1), "+inf", "+inf"},
	} {
		if got := fmtNum(tc.x); got != tc.num {
			t.Errorf("fmtNum(%v) = %q, want %q", tc.x, got, tc.num)
		}
		if got := fmtShort(tc.x); got != tc.short {
			t.Errorf("fmtShort(%v) = %q, want %q", tc.x, got, tc.short)
		}
	}
}

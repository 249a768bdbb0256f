package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// A measure is one line of the table per peer: the key of sperse's sample
// and, for each peer, where its sample comes from and the target.
type measure struct {
	workload int
	title    string
	unit     Unit
	key      string // sperse's key
	peers    []peerMeasure
}

// peerMeasure is a peer's side of a measure.
type peerMeasure struct {
	peer   string // as the table shows it
	source string // the side that measures it: quic, grpc, dask, observable
	key    string
	min    float64 // the target speedup, see Comparison
	strict bool
	target string
}

// measures are the workloads of issue #9 and their targets.
func measures() []measure {
	ms := []measure{
		{1, "tiny remote cell, round trip p50", Seconds, "1.p50", []peerMeasure{
			{"raw QUIC (floor)", "quic", "1.p50", 1 / 1.3, false, "≥0.77× (≤1.3× the floor)"},
			{"gRPC unary", "grpc", "1.p50", 1, true, ">1× (below gRPC)"},
			{"Dask submit().result()", "dask", "1.p50", 50, false, "≥50×"},
		}},
		{1, "tiny remote cell, round trip p99", Seconds, "1.p99", []peerMeasure{
			{"raw QUIC (floor)", "quic", "1.p99", 0, false, ""},
			{"gRPC unary", "grpc", "1.p99", 0, false, ""},
			{"Dask submit().result()", "dask", "1.p99", 0, false, ""},
		}},
		{2, "20,000 independent tiny remote cells, loaded into the engine", PerSecond, "2.rate", []peerMeasure{
			{"gRPC unary, 64 in flight", "grpc", "2.rate", 1.2, false, "≥1.2×"},
			{"Dask map + gather", "dask", "2.rate", 50, false, "≥50×"},
		}},
		{2, "same, through remote.Client.Eval (no engine), 64 in flight", PerSecond, "2.client", []peerMeasure{
			{"gRPC unary, 64 in flight", "grpc", "2.rate", 1.2, false, "≥1.2×"},
			{"Dask map + gather", "dask", "2.rate", 50, false, "≥50×"},
		}},
		{3, "chain of 100 dependent remote cells", Seconds, "3.chain", []peerMeasure{
			{"Dask futures chained", "dask", "3.chain", 20, false, "≥20×"},
		}},
	}
	for _, phase := range []string{"propagate", "initial"} {
		for _, g := range []string{"chain", "fanout", "diamond"} {
			title := fmt.Sprintf("10,000-cell %s: propagation after redefining the root", g)
			if phase == "initial" {
				title = fmt.Sprintf("10,000-cell %s: initial evaluation", g)
			}
			key := "4." + phase + "." + g
			ms = append(ms, measure{4, title, Seconds, key, []peerMeasure{
				{"Observable runtime", "observable", key, 2, false, "≥2×"},
			}})
		}
	}
	return append(ms,
		measure{5, "sum of 0..10^8−1 on 2 servers (vec chunks)", Seconds, "5.sum", []peerMeasure{
			{"Dask, pure Python chunks", "dask", "5.python", 1, true, ">1× (faster)"},
			{"Dask, NumPy chunks", "dask", "5.numpy", 0.5, false, "≥0.5× (within 2×)"},
		}},
		measure{6, "x*2+1 over 100,000 elements on 2 servers, pmap per element", Seconds, "6.pmap", []peerMeasure{
			{"Dask, 2 pure Python chunks", "dask", "6.python", 1, true, ">1× (faster)"},
		}},
		measure{6, "same, pmap chunks=True on vecs", Seconds, "6.vec", []peerMeasure{
			{"Dask, 2 pure Python chunks", "dask", "6.python", 1, true, ">1× (faster)"},
			{"Dask, 2 NumPy chunks", "dask", "6.numpy", 0, false, ""},
		}},
	)
}

// rows builds the table's rows for the workloads in only from each side's
// results. A side that was skipped (skips[side] is its reason) or has no
// sample for a key gives a skipped sample, never a zero.
func rows(only []int, out map[string]results, skips map[string]string) []Row {
	var rs []Row
	for _, m := range measures() {
		if !slices.Contains(only, m.workload) {
			continue
		}
		r := Row{Workload: m.workload, Measure: m.title, Unit: m.unit, Sperse: sample(out, skips, "sperse", m.key)}
		for _, p := range m.peers {
			r.Peers = append(r.Peers, Comparison{Peer: p.peer, Sample: sample(out, skips, p.source, p.key),
				MinSpeedup: p.min, Strict: p.strict, Target: p.target})
		}
		rs = append(rs, r)
	}
	return rs
}

// sample returns side's sample of key, or a skipped one saying why there is
// none.
func sample(out map[string]results, skips map[string]string, side, key string) Sample {
	if why, ok := skips[side]; ok {
		return Skipped(why)
	}
	s, ok := out[side][key]
	if !ok {
		return Skipped("not measured")
	}
	if s.Skip == "" && len(s.Values) == 0 {
		return Skipped("no values")
	}
	return s
}

// parseOnly parses --only: a comma-separated list of workloads 1 to 6; ""
// means all.
func parseOnly(s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return []int{1, 2, 3, 4, 5, 6}, nil
	}
	var ws []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 6 {
			return nil, fmt.Errorf("--only: %q is not a workload (1 to 6)", f)
		}
		if !slices.Contains(ws, n) {
			ws = append(ws, n)
		}
	}
	slices.Sort(ws)
	return ws, nil
}

// onlyArg formats workloads as --only takes them.
func onlyArg(ws []int) string {
	var s []string
	for _, w := range ws {
		s = append(s, strconv.Itoa(w))
	}
	return strings.Join(s, ",")
}

package main

import (
	"context"
	"testing"
)

// BenchmarkManyCells is workload 2 on sperse, for profiling:
// go test -run XXX -bench ManyCells -cpuprofile cpu.out ./cmd/sperse-bench/
func BenchmarkManyCells(b *testing.B) {
	ctx := context.Background()
	r, err := startSperse(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	rep := 0
	for b.Loop() {
		rate, err := manyCells(ctx, r, 20_000, rep)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(rate, "cells/s")
		rep++
	}
}

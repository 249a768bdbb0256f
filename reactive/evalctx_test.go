package reactive

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.starlark.net/starlark"

	"github.com/sperse/sperse/lang"
)

// An evaluation's context behaves as context.WithCancel's does for what
// executors use: Done, Err, AfterFunc, children, and carries one progress
// reporter.
func TestEvalCtx(t *testing.T) {
	c := &evalCtx{}
	child, cancelChild := context.WithCancel(c)
	defer cancelChild()
	ran := make(chan string, 3)
	stopped := context.AfterFunc(c, func() { ran <- "stopped" })
	context.AfterFunc(c, func() { ran <- "after" })
	if !stopped() {
		t.Fatal("stop of a pending AfterFunc reported false")
	}
	if c.Err() != nil || child.Err() != nil {
		t.Fatal("cancelled before cancel")
	}
	if r := c.Value(lang.ProgressKey{}); r == nil || r != c.Value(lang.ProgressKey{}) {
		t.Fatal("the progress reporter is missing, or not the same on each call")
	}
	done := c.Done()
	c.cancel()
	c.cancel() // twice is harmless
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed by cancel")
	}
	if !errors.Is(c.Err(), context.Canceled) {
		t.Fatalf("Err is %v", c.Err())
	}
	select {
	case <-child.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a child context was not cancelled")
	}
	if got := <-ran; got != "after" {
		t.Fatalf("ran %q", got)
	}
	context.AfterFunc(c, func() { ran <- "late" }) // registered once cancelled: runs at once
	if got := <-ran; got != "late" {
		t.Fatalf("ran %q", got)
	}
	select {
	case got := <-ran:
		t.Fatalf("ran %q as well", got)
	case <-time.After(10 * time.Millisecond):
	}
}

// The engine reuses an evaluation's context once Eval has returned: the
// next evaluation must find it fresh, not cancelled, whatever the one
// before left registered on it (an AfterFunc never stopped, a child never
// cancelled).
func TestEvalCtxReused(t *testing.T) {
	e, local, _ := newEngine(t, 1)
	var (
		seen   []context.Context
		leaked []context.CancelFunc
	)
	local.hook("a", func(ctx context.Context, req Request) Result {
		if err := ctx.Err(); err != nil {
			return Result{Err: fmt.Errorf("started cancelled: %w", err)}
		}
		select {
		case <-ctx.Done():
			return Result{Err: errors.New("started with Done closed")}
		default:
		}
		seen = append(seen, ctx)
		if len(seen)%2 == 0 {
			context.AfterFunc(ctx, func() {})
			_, cancel := context.WithCancel(ctx)
			leaked = append(leaked, cancel)
		}
		return Result{Value: starlark.MakeInt(len(seen)), Where: "local"}
	})
	for i := range 20 {
		e.Define(cell("a", fmt.Sprint(i)))
		wait(t, e)
		if v := state(t, e, "a"); v.State != Ready {
			t.Fatalf("evaluation %d: %v %v", i, v.State, v.Err)
		}
	}
	reused := 0
	for i := 1; i < len(seen); i++ {
		if seen[i] == seen[i-1] {
			reused++
		}
	}
	// One that left nothing registered is reused by the next.
	if reused < len(seen)/2-1 {
		t.Errorf("%d of %d contexts reused", reused, len(seen))
	}
}

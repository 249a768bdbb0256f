package reactive

import (
	"context"
	"errors"
	"testing"
	"time"

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

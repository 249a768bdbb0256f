package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sperse/sperse/cmd/internal/workspace"
	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/reactive"
)

// failoverWork is a workspace whose cell mixed does a pmap over 16 items
// that each take some CPU time on a server: with two servers of one slot
// each, Client.Split cuts it into 8 chunks of 2 items (4 chunks a slot), so
// that the split is still running when one server is killed after its first
// chunk. Every item's value depends on every step of its loop, so a chunk
// that ran only in part, or twice into one list, gives a wrong result.
const failoverWork = `
def mix(n):
    s = n
    for i in range(%d):
        s = (s * 31 + i) %% 1000003
    return s

mixed = pmap(mix, range(16))
total = sum(mixed)
`

// failoverSteps is the length of mix's loop: some hundreds of milliseconds
// for each item on this project's machine, so about a second for a chunk.
const failoverSteps = 4_000_000

// mix is failoverWork's mix, computed here: the local result.
func mix(n int) int {
	s := n
	for i := range failoverSteps {
		s = (s*31 + i) % 1000003
	}
	return s
}

// TestSplitServerKilledMidPmap kills (SIGKILL) one of two sperse-server
// processes while a pmap is spread over both, once it has finished a chunk
// of the split and started the next one, and checks that the cell's value is
// still right: the chunk that was running on the killed server runs again on
// the other one, within the same split (progress goes on to 8/8, never back
// to 0), and the client says so in its log.
//
// Without that re-run the test fails: Split would return the server's loss,
// so mixed would be stale (the error's ServerLost is true), not ready; a
// later retry of the whole cell on the remaining server would split it anew
// in 4 chunks, which the progress (8/8, never going back) rules out, and the
// client's log would not name the chunk run elsewhere.
func TestSplitServerKilledMidPmap(t *testing.T) {
	const token = "failover-token-7c2b"
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()

	common := []string{"--listen", "127.0.0.1:0", "--token", token, "--max-concurrency", "1"}
	a := startServer(t, append(common, "--name", "a", "--state-dir", t.TempDir())...)
	b := startServer(t, append(common, "--name", "b", "--state-dir", t.TempDir())...)

	// The workspace as sperse run and sperse-tui wire it, with the client's
	// log kept: it says which chunk ran again, and where.
	logs := &syncBuffer{}
	ws, err := workspace.Start(ctx, workspace.Options{
		Servers:      []string{a.pinned, b.pinned},
		Token:        token,
		KnownServers: filepath.Join(t.TempDir(), "known_servers"),
		Logger:       slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	e := ws.Engine
	sub := e.Subscribe()
	defer sub.Close()

	cells, err := lang.ParseFile("failover.sp", fmt.Appendf(nil, failoverWork, failoverSteps))
	if err != nil {
		t.Fatal(err)
	}
	e.Load(cells)

	// Kill a once it has finished a chunk: by then it has started another
	// (the queue holds the rest), and the split is far from done.
	chunkDone := regexp.MustCompile(`(?m)^.*msg=evaluation .*kind=chunk .*outcome=ok`)
	chunksOn := func(p *process) int { return len(chunkDone.FindAllString(p.logs.String(), -1)) }
	for chunksOn(a) == 0 {
		if mx, _ := e.Cell("mixed"); mx.State != reactive.Running && mx.State != reactive.Queued {
			t.Fatalf("mixed is %s (%v) before a finished a chunk", mx.State, mx.Err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("a finished no chunk in time; a's log:\n%s", a.logs)
		case <-time.After(10 * time.Millisecond):
		}
	}
	a.kill()
	atKill, _ := e.Cell("mixed")
	t.Logf("a killed at progress %s", atKill.Progress)
	if atKill.Progress.Done >= atKill.Progress.Total-1 {
		t.Fatalf("the split was nearly done (%s) when a was killed: make the work longer", atKill.Progress)
	}

	if err := e.Wait(ctx); err != nil {
		t.Fatalf("waiting for the cells: %v\nclient log:\n%s", err, logs)
	}
	mx, _ := e.Cell("mixed")
	if mx.State != reactive.Ready {
		t.Fatalf("mixed is %s: %v\nclient log:\n%s", mx.State, mx.Err, logs)
	}
	want := make([]string, 16)
	sum := 0
	for n := range want {
		v := mix(n)
		want[n] = fmt.Sprint(v)
		sum += v
	}
	if got, want := mx.Value.String(), "["+strings.Join(want, ", ")+"]"; got != want {
		t.Errorf("mixed = %s\nwant    %s", got, want)
	}
	if total, _ := e.Cell("total"); total.State != reactive.Ready || total.Value.String() != fmt.Sprint(sum) {
		t.Errorf("total is %s %v (%v), want %d", total.State, total.Value, total.Err, sum)
	}

	// One split did it all: 8 chunks, the progress never went back.
	if mx.Progress != (reactive.Progress{Done: 8, Total: 8}) {
		t.Errorf("mixed's progress is %s, want 8/8", mx.Progress)
	}
	var seen []string
	last := reactive.Progress{}
	for _, ev := range sub.Next() {
		p := ev.Cell.Progress
		if ev.Cell.Name != "mixed" || p == last || p == (reactive.Progress{}) {
			continue
		}
		if p.Done < last.Done || p.Total != 8 {
			t.Errorf("mixed's progress went from %s to %s", last, p)
		}
		seen = append(seen, p.String())
		last = p
	}
	t.Logf("progress: %v", seen)

	// The chunk a was running ran again on b.
	rerun := regexp.MustCompile(`msg="server lost during split work; running the chunk elsewhere" server=a chunk=\d`)
	if !rerun.MatchString(logs.String()) {
		t.Errorf("the client did not say it ran a's chunk elsewhere; its log:\n%s", logs)
	}
	onA, onB := chunksOn(a), chunksOn(b)
	t.Logf("chunks completed: %d on a, %d on b", onA, onB)
	if onA+onB < 8 || onA >= 8 {
		t.Errorf("a completed %d chunks and b %d, want 8 or more in all, not all on a", onA, onB)
	}
}

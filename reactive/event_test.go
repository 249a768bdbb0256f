package reactive

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sperse/sperse/lang"
)

func TestSubscription(t *testing.T) {
	e, _, _ := newEngine(t, 0)
	sub := e.Subscribe()
	defer sub.Close()
	e.Load(diamond())
	wait(t, e)
	e.Define(cell("u", "1 +"))
	wait(t, e)

	// The burst made one wake-up.
	if got := len(sub.C()); got != 1 {
		t.Fatalf("%d wake-ups waiting, want 1", got)
	}
	<-sub.C()
	evs := sub.Next()
	if len(evs) == 0 {
		t.Fatal("no events")
	}
	for i, ev := range evs {
		if want := evs[0].Seq + uint64(i); ev.Seq != want {
			t.Fatalf("event %d has Seq %d, want %d", i, ev.Seq, want)
		}
		if i > 0 && ev.Time.Before(evs[i-1].Time) {
			t.Errorf("event %d is older than event %d", i, i-1)
		}
	}
	// Each cell's events, in order.
	got := map[string]string{}
	for _, ev := range evs {
		got[ev.Cell.Name] += fmt.Sprintf("%s:%s ", ev.Kind, summary(ev.Cell))
	}
	want := map[string]string{
		"a": "defined:queued state:running value:ready 1 ",
		"b": "defined:queued state:running value:ready 2 ",
		"c": "defined:queued state:running value:ready 10 ",
		"d": "defined:queued state:running value:ready 12 ",
		"e": "defined:queued state:running value:ready 13 ",
		"u": "defined:queued state:running value:ready 5 defined:queued state:running value:ready 1 ",
	}
	if diff := diffMaps(got, want); diff != "" {
		t.Errorf("events:\n%s", diff)
	}
	if evs := sub.Next(); evs != nil {
		t.Errorf("Next again: %d events, want none", len(evs))
	}
	select {
	case <-sub.C():
		t.Error("a wake-up with no events")
	default:
	}

	// A closed subscription gets nothing more.
	sub.Close()
	if _, ok := <-sub.C(); ok {
		t.Error("C not closed by Close")
	}
	e.Define(cell("a", "3"))
	wait(t, e)
	if evs := sub.Next(); evs != nil {
		t.Errorf("%d events after Close", len(evs))
	}
	sub.Close()
}

func TestSubscriptionSlowReader(t *testing.T) {
	e, _, _ := newEngine(t, 0)
	slow, fast := e.Subscribe(), e.Subscribe()
	defer slow.Close()
	defer fast.Close()
	const n = 2000
	cells := make([]*lang.Cell, n)
	cells[0] = cell("c0", "1")
	for i := 1; i < n; i++ {
		cells[i] = cell(fmt.Sprintf("c%d", i), fmt.Sprintf("c%d + 1", i-1))
	}
	// A reader that takes the events as they come.
	read := make(chan []Event)
	go func() {
		var all []Event
		for range fast.C() {
			all = append(all, fast.Next()...)
			if len(all) > 0 && all[len(all)-1].Cell.Name == cells[n-1].Name && all[len(all)-1].Cell.State == Ready {
				break
			}
		}
		read <- all
	}()
	e.Load(cells) // the slow reader reads nothing until the end
	wait(t, e)
	all := <-read
	got := slow.Next()
	if len(got) != len(all) || len(got) != 3*n {
		t.Fatalf("slow reader got %d events, fast one %d, want %d", len(got), len(all), 3*n)
	}
	for i := range got {
		if got[i].Seq != all[i].Seq || got[i].Kind != all[i].Kind || got[i].Cell.Name != all[i].Cell.Name {
			t.Fatalf("event %d: slow reader got %d %s %s, fast one %d %s %s", i,
				got[i].Seq, got[i].Kind, got[i].Cell.Name, all[i].Seq, all[i].Kind, all[i].Cell.Name)
		}
	}
	if v := got[len(got)-1].Cell; v.Name != "c1999" || summary(v) != "ready 2000" {
		t.Errorf("last event: %s %s", v.Name, summary(v))
	}
}

func TestCloseInFlight(t *testing.T) {
	// In a bubble, a goroutine left behind fails the test.
	synctest.Test(t, func(t *testing.T) {
		local, remote := newFake("local"), newFake("srv")
		hl, hr := local.hold("a", false), remote.hold("r", false)
		e := New(Config{Local: local, Remote: remote})
		sub := e.Subscribe()
		e.Load([]*lang.Cell{cell("a", "1"), remoteCell("r", "1"), cell("b", "a + r"), cell("x", "7")})
		ca, cr := <-hl.calls, <-hr.calls
		synctest.Wait()
		e.Close()
		<-ca.returned
		<-cr.returned
		if ca.err == nil || cr.err == nil {
			t.Error("evaluations not cancelled by Close")
		}
		want := map[string]string{"a": "cancelled", "r": "cancelled", "b": "cancelled", "x": "ready 7"}
		if diff := diffMaps(summaries(e), want); diff != "" {
			t.Errorf("cells:\n%s", diff)
		}
		var last []string
		for _, ev := range sub.Next() {
			if ev.Cell.State == Cancelled {
				last = append(last, ev.Cell.Name)
			}
		}
		if got := strings.Join(last, " "); got != "a r b" {
			t.Errorf("cancelled events for %q, want a r b", got)
		}
		if _, ok := <-sub.C(); ok {
			<-sub.C()
		}
		if _, ok := <-sub.C(); ok {
			t.Error("C not closed by Engine.Close")
		}
		// Closed: nothing changes, nothing runs.
		e.Close()
		e.Define(cell("x", "8"))
		if e.Rerun("x") || e.Cancel("x") || e.Delete("x") {
			t.Error("a change of a closed engine reported success")
		}
		if got := summary(state(t, e, "x")); got != "ready 7" {
			t.Errorf("x is %s after Close, want ready 7", got)
		}
		if err := e.Wait(t.Context()); err != nil {
			t.Errorf("Wait after Close: %v", err)
		}
		if s := e.Subscribe(); s.Next() != nil {
			t.Error("events on a subscription made after Close")
		} else if _, ok := <-s.C(); ok {
			t.Error("subscription made after Close is open")
		}
	})
}

func TestCloseIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := New(Config{Local: newFake("local")})
		e.Load(diamond())
		if err := e.Wait(t.Context()); err != nil {
			t.Fatal(err)
		}
		e.Close()
	})
}

func TestSubscriptionTake(t *testing.T) {
	e, _, _ := newEngine(t, 0)
	taken, copied := e.Subscribe(), e.Subscribe()
	defer taken.Close()
	defer copied.Close()
	// A chain of 100 cells: 300 events, several chunks.
	cells := make([]*lang.Cell, 100)
	cells[0] = cell("c0", "1")
	for i := 1; i < len(cells); i++ {
		cells[i] = cell(fmt.Sprintf("c%d", i), fmt.Sprintf("c%d + 1", i-1))
	}
	e.Load(cells)
	wait(t, e)

	var got []Event
	runs := 0
	taken.Take(func(evs []Event) {
		runs++
		got = append(got, evs...) // a copy: the run is the subscription's
	})
	want := copied.Next()
	if len(got) != 3*len(cells) || len(want) != len(got) || runs < 2 {
		t.Fatalf("Take gave %d events in %d runs, Next %d; want %d in several runs", len(got), runs, len(want), 3*len(cells))
	}
	for i := range got {
		if got[i].Seq != want[i].Seq || got[i].Kind != want[i].Kind || summary(got[i].Cell) != summary(want[i].Cell) {
			t.Fatalf("event %d: Take gave %d %s %s, Next %d %s %s", i,
				got[i].Seq, got[i].Kind, summary(got[i].Cell), want[i].Seq, want[i].Kind, summary(want[i].Cell))
		}
	}
	taken.Take(func(evs []Event) { t.Errorf("Take again: %d events, want none", len(evs)) })

	// The chunks read are filled again: the events stay in order.
	e.Define(cell("c0", "2"))
	wait(t, e)
	got = got[:0]
	taken.Take(func(evs []Event) { got = append(got, evs...) })
	want = copied.Next()
	if len(got) != len(want) || len(got) != 3*len(cells) {
		t.Fatalf("after a change, Take gave %d events and Next %d, want %d", len(got), len(want), 3*len(cells))
	}
	for i := range got {
		if got[i].Seq != want[i].Seq || summary(got[i].Cell) != summary(want[i].Cell) {
			t.Fatalf("after a change, event %d: Take gave %d %s, Next %d %s", i, got[i].Seq, summary(got[i].Cell), want[i].Seq, summary(want[i].Cell))
		}
	}
	if v := got[len(got)-1].Cell; v.Name != "c99" || summary(v) != "ready 101" {
		t.Errorf("last event: %s %s", v.Name, summary(v))
	}
}

// TestSubscriptionWhileBusy: a subscriber is woken while the engine is
// busy, sooner if it asks to be (SetWakeDelay), gets every event, and is
// woken once the engine is quiet.
func TestSubscriptionWhileBusy(t *testing.T) {
	for _, delay := range []time.Duration{0, time.Microsecond} { // 0: the default
		e, local, _ := newEngine(t, 0)
		h := local.hold("a", false)
		sub := e.Subscribe()
		defer sub.Close()
		if delay != 0 {
			sub.SetWakeDelay(delay)
		}
		e.Define(cell("a", "1"))
		call := next(t, h)
		// a runs: its events are there to take, and C says so soon.
		select {
		case <-sub.C():
		case <-time.After(10 * time.Second):
			t.Fatalf("wake delay %v: no wake-up while a runs", delay)
		}
		var got []string
		for _, ev := range sub.Next() {
			got = append(got, ev.Kind.String()+":"+summary(ev.Cell))
		}
		if s := strings.Join(got, " "); s != "defined:queued state:running" {
			t.Errorf("wake delay %v: events while a runs: %s", delay, s)
		}
		call.release()
		wait(t, e)
		// Quiet: the wake-up is there when Wait returns.
		select {
		case <-sub.C():
		default:
			t.Fatalf("wake delay %v: no wake-up once quiet", delay)
		}
		if evs := sub.Next(); len(evs) != 1 || summary(evs[0].Cell) != "ready 1" {
			t.Errorf("wake delay %v: events once quiet: %v", delay, evs)
		}
		if delay == 0 {
			continue
		}
		sub.SetWakeDelay(0)
		e.mu.Lock()
		reset := sub.delay
		e.mu.Unlock()
		if reset != wakeDelay {
			t.Errorf("SetWakeDelay(0) left the delay at %v, want %v", reset, wakeDelay)
		}
	}
}

func TestSubscriptionTakeWhilePublishing(t *testing.T) {
	e, _, _ := newEngine(t, 0)
	sub := e.Subscribe()
	defer sub.Close()
	const n = 2000
	cells := make([]*lang.Cell, n)
	cells[0] = cell("c0", "1")
	for i := 1; i < n; i++ {
		cells[i] = cell(fmt.Sprintf("c%d", i), fmt.Sprintf("c%d + 1", i-1))
	}
	done := make(chan []uint64)
	go func() {
		var seqs []uint64
		for range sub.C() {
			sub.Take(func(evs []Event) {
				for _, ev := range evs {
					seqs = append(seqs, ev.Seq)
				}
			})
			if len(seqs) == 3*n {
				break
			}
		}
		done <- seqs
	}()
	e.Load(cells)
	wait(t, e)
	seqs := <-done
	for i, s := range seqs {
		if s != seqs[0]+uint64(i) {
			t.Fatalf("event %d has seq %d after %d", i, s, seqs[0]+uint64(i)-1)
		}
	}
}

// TestEventViews: an event's view is the cell as it was when the event was
// published (the events of a cell share what its definition and graph hold
// until they change), and a cell's last event shows what Engine.Cell shows
// once the engine is quiet, but for Dependents (see CellView).
func TestEventViews(t *testing.T) {
	e, _, _ := newEngine(t, 0)
	sub := e.Subscribe()
	defer sub.Close()
	late := e.Subscribe() // subscribes again later: its events are numbered as sub's
	e.Load([]*lang.Cell{cell("z", "1"), cell("a", "z + 1"), cell("b", "a + q")})
	wait(t, e)
	e.Define(cell("c", "a + 2")) // a gets a dependent, and no event
	wait(t, e)
	late.Close()
	late = e.Subscribe()
	defer late.Close()
	e.Define(cell("z", "2")) // a runs again, as it is: with its new dependent
	wait(t, e)
	e.Define(cell("q", "10")) // b runs again, as it is: with its new input
	wait(t, e)
	e.Define(cell("c", "7")) // c no longer uses a, and a gets no event
	wait(t, e)
	e.Define(cell("z", "3"))
	wait(t, e)
	e.Define(cell("a", "5")) // a new version, no longer using z
	wait(t, e)
	e.Load([]*lang.Cell{cell("x", "1"), cell("x", "2")}) // x is defined twice
	wait(t, e)

	evs := sub.Next()
	var got []string
	last := map[string]CellView{}
	for _, ev := range evs {
		v := ev.Cell
		switch v.Name {
		case "a", "b":
			got = append(got, fmt.Sprintf("%s %s v%d %q deps %v dependents %v: %s", v.Name, ev.Kind, v.Version, v.Cell.Source, v.Deps, v.Dependents, summary(v)))
		case "x":
			if len(v.Dups) != 1 || v.Dups[0].Source != "2" || v.Cell.Source != "1" {
				t.Errorf("x: %s event with Cell %q and Dups %v, want the first definition and the second", ev.Kind, v.Cell.Source, v.Dups)
			}
		}
		last[v.Name] = v
	}
	want := []string{
		`a defined v1 "z + 1" deps [z] dependents [b]: queued`,
		`b defined v1 "a + q" deps [a] dependents []: queued`,
		`a state v1 "z + 1" deps [z] dependents [b]: running`,
		`a value v1 "z + 1" deps [z] dependents [b]: ready 2`,
		`b state v1 "a + q" deps [a] dependents []: running`,
		`b state v1 "a + q" deps [a] dependents []: error: t.sp:1:1: undefined: q`,
		// z = 2
		`a state v1 "z + 1" deps [z] dependents [b c]: queued`,
		`b state v1 "a + q" deps [a] dependents []: queued`,
		`a state v1 "z + 1" deps [z] dependents [b c]: running`,
		`a value v1 "z + 1" deps [z] dependents [b c]: ready 3`,
		`b state v1 "a + q" deps [a] dependents []: running`,
		`b state v1 "a + q" deps [a] dependents []: error: t.sp:1:1: undefined: q`,
		// q = 10
		`b state v1 "a + q" deps [a q] dependents []: queued`,
		`b state v1 "a + q" deps [a q] dependents []: running`,
		`b value v1 "a + q" deps [a q] dependents []: ready 13`,
		// c = 7, then z = 3
		`a state v1 "z + 1" deps [z] dependents [b]: queued`,
		`b state v1 "a + q" deps [a q] dependents []: queued`,
		`a state v1 "z + 1" deps [z] dependents [b]: running`,
		`a value v1 "z + 1" deps [z] dependents [b]: ready 4`,
		`b state v1 "a + q" deps [a q] dependents []: running`,
		`b value v1 "a + q" deps [a q] dependents []: ready 14`,
		// a = 5
		`a defined v2 "5" deps [] dependents [b]: queued`,
		`b state v1 "a + q" deps [a q] dependents []: queued`,
		`a state v2 "5" deps [] dependents [b]: running`,
		`a value v2 "5" deps [] dependents [b]: ready 5`,
		`b state v1 "a + q" deps [a q] dependents []: running`,
		`b value v1 "a + q" deps [a q] dependents []: ready 15`,
	}
	if diff := diffLines(got, want); diff != "" {
		t.Errorf("events of a and b:\n%s", diff)
	}
	for name, v := range last {
		// Dependents may be out of date: z got no event when a stopped
		// using it.
		now := state(t, e, name)
		v.Dependents, now.Dependents = nil, nil
		if !reflect.DeepEqual(v, now) {
			t.Errorf("%s: last event's view\n%+v\nEngine.Cell\n%+v", name, v, now)
		}
	}

	// A subscription made later numbers its events as the first does.
	lates := late.Next()
	if len(lates) == 0 || len(lates) >= len(evs) {
		t.Fatalf("the later subscription has %d events of %d", len(lates), len(evs))
	}
	for i, ev := range lates {
		if want := evs[len(evs)-len(lates)+i]; ev.Seq != want.Seq || !reflect.DeepEqual(ev, want) {
			t.Fatalf("the later subscription's event %d is %d %s %s, the first's %d %s %s", i, ev.Seq, ev.Kind, ev.Cell.Name, want.Seq, want.Kind, want.Cell.Name)
		}
	}
}

// diffLines returns got and want side by side where they differ, or "".
func diffLines(got, want []string) string {
	var b strings.Builder
	for i := range max(len(got), len(want)) {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			fmt.Fprintf(&b, "%d:\n   got %s\n  want %s\n", i, g, w)
		}
	}
	return b.String()
}

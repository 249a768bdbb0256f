package tui

import (
	"context"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/reactive"
)

// harness runs a Model the way a tea.Program does, on the test's
// goroutine: commands run on goroutines of their own and their messages
// come back through a channel to Update.
type harness struct {
	t      *testing.T
	m      *Model  // a live workspace; nil for a replay
	r      *Replay // a replay; nil for a live workspace
	model  tea.Model
	render func() (string, *tea.Cursor)
	engine *reactive.Engine
	msgs   chan tea.Msg
	done   chan struct{}
	wg     sync.WaitGroup
	quit   bool
	once   sync.Once

	// seen, if set, is called with every message the model is given.
	seen func(tea.Msg)
}

// newEngine returns an engine with the local interpreter and the in-process
// remote evaluator, closed when the test ends.
func newEngine(t testing.TB) *reactive.Engine {
	interp := lang.NewInterp("local")
	e := reactive.New(reactive.Config{
		Local:  reactive.Local{Interp: interp},
		Remote: &shipped{name: "inprocess", client: interp},
	})
	t.Cleanup(e.Close)
	return e
}

// shipped evaluates remote cells in this process the way a server would:
// code and scope encoded, decoded in a fresh interpreter, evaluated, and the
// result sent back through the codec. The TUI's tests need no network.
type shipped struct {
	name   string       // what where() returns in its cells
	client *lang.Interp // where results are decoded
}

func (s *shipped) Eval(ctx context.Context, req lang.Request) lang.Result {
	start := time.Now()
	v, err := s.eval(ctx, req)
	return lang.Result{Value: v, Err: err, Where: s.name, Took: time.Since(start), Attempts: 1}
}

func (s *shipped) eval(ctx context.Context, req lang.Request) (lang.Value, error) {
	job, err := lang.EncodeJob(req.Cell, req.Scope)
	if err != nil {
		return nil, err
	}
	server := lang.NewInterp(s.name)
	cell, scope, err := server.DecodeJob(job)
	if err != nil {
		return nil, err
	}
	v, err := server.Eval(ctx, cell, scope)
	if err != nil {
		return nil, err
	}
	data, err := lang.Encode(v)
	if err != nil {
		return nil, err
	}
	return s.client.Decode(data)
}

// newHarness starts a model of opts (with a new engine if opts has none)
// at the given size.
func newHarness(t *testing.T, opts Options, w, h int) *harness {
	t.Helper()
	if opts.Engine == nil {
		opts.Engine = newEngine(t)
	}
	hs := &harness{t: t, engine: opts.Engine}
	hs.m = New(opts)
	hs.start(hs.m, hs.m.render, w, h)
	return hs
}

// newReplayHarness starts a replay of opts at the given size.
func newReplayHarness(t *testing.T, opts ReplayOptions, w, h int) *harness {
	t.Helper()
	hs := &harness{t: t}
	hs.r = NewReplay(opts)
	hs.start(hs.r, hs.r.render, w, h)
	return hs
}

func (h *harness) start(m tea.Model, render func() (string, *tea.Cursor), w, ht int) {
	h.model, h.render = m, render
	h.msgs, h.done = make(chan tea.Msg, 1024), make(chan struct{})
	h.t.Cleanup(h.stop)
	h.exec(m.Init())
	h.send(tea.WindowSizeMsg{Width: w, Height: ht})
}

func (h *harness) stop() { h.once.Do(h.stopOnce) }

func (h *harness) stopOnce() {
	if h.engine != nil {
		h.engine.Close()
	}
	if h.m != nil {
		if err := h.m.Close(); err != nil {
			h.t.Errorf("Close: %v", err)
		}
	}
	close(h.done)
	h.wg.Wait()
}

var cmdType = reflect.TypeFor[tea.Cmd]()

// exec runs cmd as a program would: batches at once, sequences in order.
func (h *harness) exec(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		h.deliver(cmd())
	}()
}

func (h *harness) deliver(msg tea.Msg) {
	switch msg := msg.(type) {
	case nil:
		return
	case tea.BatchMsg:
		for _, c := range msg {
			h.exec(c)
		}
		return
	}
	if v := reflect.ValueOf(msg); v.Kind() == reflect.Slice && v.Type().Elem() == cmdType {
		for i := range v.Len() {
			if c := v.Index(i).Interface().(tea.Cmd); c != nil {
				h.deliver(c()) // a sequence: each message before the next command
			}
		}
		return
	}
	select {
	case h.msgs <- msg:
	case <-h.done:
	}
}

// send updates the model with msg and runs its command.
func (h *harness) send(msg tea.Msg) {
	if h.seen != nil {
		h.seen(msg)
	}
	if _, ok := msg.(tea.QuitMsg); ok {
		h.quit = true
		return
	}
	_, cmd := h.model.Update(msg)
	h.exec(cmd)
}

// until processes messages until cond holds, failing after a while.
func (h *harness) until(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case msg := <-h.msgs:
			h.send(msg)
		case <-deadline:
			h.t.Fatalf("timed out waiting for %s; screen:\n%s", what, h.screen())
		}
	}
}

// settle waits until the engine is quiet and the model has every event.
func (h *harness) settle() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.engine.Wait(ctx); err != nil {
		h.t.Fatalf("engine not quiet: %v", err)
	}
	h.until("the model to have every cell", func() bool {
		for _, v := range h.engine.Cells() {
			it := h.m.cells.get(v.Name)
			if it == nil || it.view.State != v.State || it.view.Version != v.Version || it.view.Runs != v.Runs {
				return false
			}
		}
		return h.m.cells.len() == len(h.engine.Cells())
	})
}

// pump processes the messages waiting now.
func (h *harness) pump() {
	for {
		select {
		case msg := <-h.msgs:
			h.send(msg)
		case <-time.After(20 * time.Millisecond):
			return
		}
	}
}

// press sends key presses, named as tea prints them ("enter", "ctrl+c").
func (h *harness) press(keys ...string) {
	for _, k := range keys {
		h.send(keyPress(k))
	}
}

// typeText types text, one key a rune.
func (h *harness) typeText(s string) {
	for _, r := range s {
		h.send(tea.KeyPressMsg{Code: r, Text: string(r)})
	}
}

// enter types a line and presses enter.
func (h *harness) enter(s string) {
	h.typeText(s)
	h.press("enter")
}

// screen returns the screen as plain text.
func (h *harness) screen() string {
	content, _ := h.render()
	return ansi.Strip(content)
}

func keyPress(k string) tea.KeyPressMsg {
	var msg tea.KeyPressMsg
	for {
		switch {
		case strings.HasPrefix(k, "ctrl+"):
			msg.Mod |= tea.ModCtrl
			k = k[5:]
			continue
		case strings.HasPrefix(k, "alt+"):
			msg.Mod |= tea.ModAlt
			k = k[4:]
			continue
		case strings.HasPrefix(k, "shift+"):
			msg.Mod |= tea.ModShift
			k = k[6:]
			continue
		}
		break
	}
	codes := map[string]rune{
		"enter": tea.KeyEnter, "tab": tea.KeyTab, "esc": tea.KeyEscape, "backspace": tea.KeyBackspace,
		"up": tea.KeyUp, "down": tea.KeyDown, "left": tea.KeyLeft, "right": tea.KeyRight,
		"home": tea.KeyHome, "end": tea.KeyEnd, "pgup": tea.KeyPgUp, "pgdown": tea.KeyPgDown,
		"delete": tea.KeyDelete, "space": tea.KeySpace, "f1": tea.KeyF1,
	}
	if c, ok := codes[k]; ok {
		msg.Code = c
		return msg
	}
	r := []rune(k)[0]
	msg.Code = r
	if msg.Mod == 0 {
		msg.Text = k
	}
	return msg
}

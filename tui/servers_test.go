package tui

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sperse/sperse/remote"
)

// fakeServers is a remote client that connects to anything but "bad:1".
type fakeServers struct {
	mu    sync.Mutex
	infos []remote.ServerInfo
}

func (f *fakeServers) Servers() []remote.ServerInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.infos)
}

func (f *fakeServers) Connect(ctx context.Context, addr string) error {
	if addr == "bad:1" {
		return errors.New("server bad:1: connection refused")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.infos = append(f.infos, remote.ServerInfo{Name: "srv-" + addr, Addr: addr, Tags: []string{"gpu", "eu"}, Connected: true, RTT: 1500 * time.Microsecond, InFlight: 3, ClientInFlight: 1})
	return nil
}

func (f *fakeServers) Disconnect(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.infos)
	f.infos = slices.DeleteFunc(f.infos, func(s remote.ServerInfo) bool { return s.Name == name || s.Addr == name })
	return len(f.infos) < n
}

func TestServersPane(t *testing.T) {
	fake := &fakeServers{infos: []remote.ServerInfo{
		{Name: "embedded-1", Addr: "127.0.0.1:4001", Tags: []string{"embedded"}, Connected: true, RTT: 200 * time.Microsecond},
		{Name: "far", Addr: "10.0.0.9:4000", LastError: errors.New("timeout: no recent network activity")},
	}}
	h := newHarness(t, Options{Servers: fake}, 120, 30)
	h.until("servers", func() bool { return len(h.m.srv.infos) == 2 })
	if s := h.screen(); !strings.Contains(s, "1/2 servers") {
		t.Errorf("header:\n%s", s)
	}
	h.enter(":servers")
	s := h.screen()
	for _, want := range []string{"servers · 1/2 connected", "embedded-1", "127.0.0.1:4001", "connected", "tags embedded", "rtt 200µs", "in flight 0/0", "far", "disconnected", "no recent network activity"} {
		if !strings.Contains(s, want) {
			t.Errorf("the servers pane shows no %q:\n%s", want, s)
		}
	}

	h.enter(":connect gpu:7000")
	h.until("connected", func() bool { return len(h.m.srv.infos) == 3 })
	if !strings.Contains(h.m.status, "connected to gpu:7000") {
		t.Errorf("status %q", h.m.status)
	}
	if s := h.screen(); !strings.Contains(s, "srv-gpu:7000") || !strings.Contains(s, "tags gpu,eu") || !strings.Contains(s, "in flight 1/3") {
		t.Errorf("the new server:\n%s", s)
	}
	h.enter(":connect bad:1")
	h.until("refused", func() bool { return h.m.statusBad })
	if !strings.Contains(h.m.status, "connection refused") {
		t.Errorf("status %q", h.m.status)
	}

	// Tab completes server names for :disconnect.
	h.typeText(":disconnect srv")
	h.press("tab")
	if got := h.m.input.Value(); got != ":disconnect srv-gpu:7000 " {
		t.Errorf("completion: %q", got)
	}
	h.press("enter")
	h.until("disconnected", func() bool { return len(h.m.srv.infos) == 2 })

	// In the pane: d disconnects the selected server.
	h.enter(":servers")
	h.press("j", "d")
	h.until("far disconnected", func() bool { return len(h.m.srv.infos) == 1 })
	if !strings.Contains(h.m.status, "disconnected far") {
		t.Errorf("status %q", h.m.status)
	}
	h.press("c")
	if h.m.focus != focusInput || h.m.input.Value() != ":connect " {
		t.Errorf("c: focus %d input %q", h.m.focus, h.m.input.Value())
	}
}

func TestLogPane(t *testing.T) {
	h := newHarness(t, Options{}, 120, 30)
	h.enter("a = 1")
	h.enter("b = a / 0")
	h.settle()
	h.enter(":log")
	s := h.screen()
	for _, want := range []string{"a defined", "a ready · local", "b error", "division by zero", "defined b"} {
		if !strings.Contains(s, want) {
			t.Errorf("the log shows no %q:\n%s", want, s)
		}
	}
	h.press("esc", "esc") // to the grid, to the input
	for i := range 40 {
		h.enter("c = " + itoa(i))
	}
	h.settle()
	h.press("tab", "tab", "tab", "tab") // input → grid → inspector → servers → log
	if h.m.focus != focusLog {
		t.Fatalf("focus %d", h.m.focus)
	}
	h.press("g")
	if s := h.screen(); !strings.Contains(s, "log · scrolled") || !strings.Contains(s, "a defined") {
		t.Errorf("g in the log:\n%s", s)
	}
	h.press("G")
	if s := h.screen(); strings.Contains(s, "scrolled") || !strings.Contains(s, "c ready") {
		t.Errorf("G in the log:\n%s", s)
	}
}

package tui

import (
	"context"
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/sperse/sperse/reactive"
	"github.com/sperse/sperse/remote"
)

// Servers is what the user interface needs of the remote client: the
// servers to show, and :connect and :disconnect. remote.Client satisfies
// it. The methods are called from commands, off the update loop, so they
// may block, and must be safe for concurrent use.
type Servers interface {
	Servers() []remote.ServerInfo
	Connect(ctx context.Context, addr string) error
	Disconnect(name string) bool
}

// serversEvery is how often the servers pane asks for the servers' state.
const serversEvery = time.Second

// connectTimeout bounds a :connect.
const connectTimeout = 20 * time.Second

// serversPane shows the servers, refreshed every serversEvery.
type serversPane struct {
	keys          serverKeys
	infos         []remote.ServerInfo
	sel           int
	width, height int
	none          string // what to show with no remote client
	recorded      bool   // the servers of a recording: no live figures (round trip, load)
}

func newServersPane(none string) serversPane {
	return serversPane{keys: newServerKeys(), none: none}
}

func (p *serversPane) SetSize(w, h int) { p.width, p.height = max(w, 1), max(h, 1) }

// serversMsg carries a snapshot of the servers.
type serversMsg struct{ infos []remote.ServerInfo }

// serversTickMsg asks for the next snapshot.
type serversTickMsg struct{}

func serversTick() tea.Cmd {
	return tea.Tick(serversEvery, func(time.Time) tea.Msg { return serversTickMsg{} })
}

// pollServers takes a snapshot of the servers off the update loop.
func pollServers(s Servers) tea.Cmd {
	return func() tea.Msg { return serversMsg{infos: s.Servers()} }
}

// connectedMsg is the end of a :connect.
type connectedMsg struct {
	addr string
	err  error
}

func connectCmd(s Servers, addr string) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
		defer cancel()
		return connectedMsg{addr: addr, err: s.Connect(ctx, addr)}
	}
}

// disconnectedMsg is the end of a :disconnect.
type disconnectedMsg struct {
	name  string
	found bool
}

func disconnectCmd(s Servers, name string) tea.Cmd {
	return func() tea.Msg { return disconnectedMsg{name: name, found: s.Disconnect(name)} }
}

// serverAction is what a key in the servers pane asks of the root model.
type serverAction int

const (
	serverNone serverAction = iota
	serverConnect
	serverDisconnect
	serverLeave
)

func (p *serversPane) Update(msg tea.KeyPressMsg) (serverAction, bool) {
	switch {
	case key.Matches(msg, p.keys.Up):
		p.sel = max(p.sel-1, 0)
	case key.Matches(msg, p.keys.Down):
		p.sel = min(p.sel+1, max(len(p.infos)-1, 0))
	case key.Matches(msg, p.keys.Connect):
		return serverConnect, true
	case key.Matches(msg, p.keys.Disconnect):
		return serverDisconnect, true
	case key.Matches(msg, p.keys.Leave):
		return serverLeave, true
	default:
		return serverNone, false
	}
	return serverNone, true
}

// selected returns the name of the selected server, or "".
func (p *serversPane) selected() string {
	if p.sel < len(p.infos) {
		return p.infos[p.sel].Name
	}
	return ""
}

// Title returns the pane's title.
func (p *serversPane) Title() string {
	if p.none != "" {
		return "servers"
	}
	up := 0
	for _, s := range p.infos {
		if s.Connected {
			up++
		}
	}
	return "servers · " + strconv.Itoa(up) + "/" + strconv.Itoa(len(p.infos)) + " connected"
}

// View returns exactly height lines of width columns: two lines a server.
func (p *serversPane) View(st *Styles, focused bool) []string {
	var lines []string
	switch {
	case p.none != "":
		lines = append(lines, st.Text.Render(p.none), st.Muted.Render("(no remote servers: :connect needs a remote client)"))
	case len(p.infos) == 0:
		lines = append(lines, st.Muted.Render("No servers. :connect HOST:PORT adds one."))
	}
	p.sel = min(p.sel, max(len(p.infos)-1, 0))
	start := 0 // the first line of the selected server
	for i, s := range p.infos {
		if i == p.sel {
			start = len(lines)
		}
		glyph, gs := "●", st.State[reactive.Ready]
		status := "connected"
		switch {
		case s.GoingAway:
			glyph, gs, status = "◷", st.State[reactive.Stale], "going away"
		case !s.Connected && s.GaveUp:
			glyph, gs, status = "✗", st.State[reactive.Error], "gave up"
		case !s.Connected:
			glyph, gs, status = "○", st.State[reactive.Unavailable], "disconnected"
		}
		line1 := gs.Render(glyph) + " " + st.Bold.Render(s.Name) + "  " + st.Muted.Render(s.Addr) + "  " + gs.Render(status)
		var parts []string
		if s.Via != "" {
			parts = append(parts, "via "+s.Via) // a cluster member learned from s.Via
		}
		if len(s.Tags) > 0 {
			parts = append(parts, "tags "+strings.Join(s.Tags, ","))
		}
		if len(s.Provides) > 0 {
			parts = append(parts, "provides "+strings.Join(s.Provides, ","))
		}
		if !p.recorded {
			if s.RTT > 0 {
				parts = append(parts, "rtt "+formatDuration(s.RTT))
			}
			parts = append(parts, "in flight "+strconv.Itoa(s.ClientInFlight)+"/"+strconv.Itoa(s.InFlight))
			if s.Queued > 0 {
				parts = append(parts, "queued "+strconv.Itoa(s.Queued))
			}
		}
		if focused && i == p.sel {
			line1 = st.Selected.Render(ansi.Strip(line1))
		}
		lines = append(lines, line1, "  "+st.Muted.Render(strings.Join(parts, " · ")))
		if s.LastError != nil && !s.Connected {
			lines = append(lines, "  "+st.ErrorText.Render(oneLine(s.LastError.Error())))
		}
	}
	// Keep the selected server in view.
	if start+3 > p.height {
		lines = lines[min(start+3-p.height, len(lines)):]
	}
	out := make([]string, p.height)
	for i := range out {
		if i < len(lines) {
			out[i] = pad(lines[i], p.width)
		} else {
			out[i] = strings.Repeat(" ", p.width)
		}
	}
	return out
}

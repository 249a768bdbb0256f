package tui

import (
	"context"
	"fmt"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/sperse/sperse/lang"
)

// publishTimeout bounds a :publish.
const publishTimeout = 20 * time.Second

// publishedMsg is the end of a :publish.
type publishedMsg struct {
	name    string
	version int
	err     error
}

// cmdPublish publishes the function of a cell (the selected one) under its
// name, through the servers' client: publish(f) from the prompt.
func (m *Model) cmdPublish(args []string) tea.Cmd {
	name, ok := m.cellArg(args)
	if !ok {
		return nil
	}
	p, ok := m.opts.Servers.(lang.Publisher)
	if !ok {
		m.fail("publish needs servers: this workspace evaluates remote cells in process")
		return nil
	}
	v, ok := m.readyValue(name)
	if !ok {
		return nil
	}
	if v == nil || v.Type() != "function" {
		m.fail(fmt.Sprintf("publish %s: it is %s, want a function (a def cell)", name, describeValue(v)))
		return nil
	}
	m.inform("publishing " + name + "…")
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
		defer cancel()
		version, err := p.Publish(ctx, name, v)
		return publishedMsg{name: name, version: version, err: err}
	}
}

// published reports the end of a :publish.
func (m *Model) published(msg publishedMsg) tea.Cmd {
	if msg.err != nil {
		m.fail("publish " + msg.name + ": " + msg.err.Error())
		return nil
	}
	m.inform(fmt.Sprintf("published %s version %d: remote cells on any server of the cluster can call it", msg.name, msg.version))
	return pollServers(m.opts.Servers)
}

package tui

import (
	"fmt"

	tea "charm.land/bubbletea/v2"

	"github.com/sperse/sperse/lang"
)

// maxClipboard bounds what :copy puts on the clipboard, in bytes: the
// text travels to the terminal in one escape sequence (OSC 52, base64, a
// third longer), and many terminals and multiplexers refuse or cut long
// ones. A longer repr is refused, not cut: :export writes it whole.
const maxClipboard = 100_000

// copiedMsg is the end of :copy: the repr to put on the clipboard.
type copiedMsg struct {
	name string
	text string
	err  error
}

// copyCmd makes the repr of v off the update loop, stopping as soon as it
// is over maxClipboard.
func copyCmd(name string, v lang.Value) tea.Cmd {
	return func() tea.Msg {
		w := reprWriter{max: maxClipboard + 1}
		w.value(v, 0)
		if w.cut || w.b.Len() > maxClipboard {
			return copiedMsg{name: name, err: fmt.Errorf("its repr is over %s, more than the terminal's clipboard takes: :export %s FILE writes it whole", fmtBytes(maxClipboard), name)}
		}
		return copiedMsg{name: name, text: w.b.String()}
	}
}

// cmdCopy is :copy [NAME].
func (m *Model) cmdCopy(args []string) tea.Cmd {
	name, ok := m.cellArg(args)
	if !ok {
		return nil
	}
	v, ok := m.readyValue(name)
	if !ok {
		return nil
	}
	return copyCmd(name, v)
}

// copied puts the repr on the clipboard through the terminal, with OSC 52.
func (m *Model) copied(msg copiedMsg) tea.Cmd {
	if msg.err != nil {
		m.fail("copy " + msg.name + ": " + msg.err.Error())
		return nil
	}
	m.inform(fmt.Sprintf("copied the repr of %s to the clipboard (%s)", msg.name, fmtBytes(int64(len(msg.text)))))
	return tea.SetClipboard(msg.text)
}

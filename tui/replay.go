package tui

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/reactive"
	"github.com/sperse/sperse/reactive/record"
	"github.com/sperse/sperse/remote"
	"github.com/sperse/sperse/themes"
)

// Limits of playback.
const (
	MinSpeed float64 = 1.0 / 8 // the slowest speed: an eighth of the recorded pace
	MaxSpeed float64 = 64      // the fastest
	// MaxGap is the longest pause between two events that playback keeps,
	// in the recording's time: a longer one (the user thinking) plays as
	// MaxGap, divided by the speed.
	MaxGap = 2 * time.Second
)

// ReplayOptions configure a Replay.
type ReplayOptions struct {
	// Recording is what to play (record.Open reads one). Its Notes, such
	// as a torn last line left out, are shown.
	Recording *record.Recording
	// Err is why reading the recording stopped before its end (a line in
	// the middle that does not parse), or nil. What was read plays, and
	// Err is shown.
	Err error

	Speed float64 // 1 plays at the recorded pace, 2 twice as fast; 0 means 1 (see MinSpeed, MaxSpeed)
	Theme themes.Theme

	// Now is the clock of playback (for tests); nil means time.Now.
	Now func() time.Time
}

// Replay is the program of sperse-tui --replay: a recording played back on
// the screen of a workspace (the same grid, inspector, servers and log),
// drawn from the recorded workspace (record.Workspace) at each point of
// the recording. Nothing is evaluated and no server is needed: the values
// are the recorded ones, decoded.
//
// Playback starts at once and follows the recorded time offsets divided by
// the speed, a pause longer than MaxGap playing as MaxGap. Space pauses and
// resumes (at the end, it plays again from the start); + and - double and
// halve the speed; . and , step one event forward and back, ] and [ jump to
// the next and previous marker (these pause); q quits. At the end it stays
// on the final screen, paused. Make it with NewReplay and run it with
// tea.NewProgram.
type Replay struct {
	screen
	opts   ReplayOptions
	events []record.Event
	keys   replayKeys

	ws     *record.Workspace // the workspace after the first pos events
	pos    int
	interp *lang.Interp      // decodes the recorded values
	shown  map[string]uint64 // the Seq of each cell's view in the store
	follow bool              // the selection goes to each cell defined; false once the user moves it

	speed   float64
	paused  bool
	clock   time.Duration // where in the recording playback was at since
	since   time.Time
	tick    int    // the number of the tick on its way: older ones are dropped
	problem string // what reading the recording let pass or stopped at
}

// replayPanes are the panes of a replay, in the order Tab goes through
// them: there is no input.
var replayPanes = []focus{focusGrid, focusInspector, focusServers, focusLog}

// NewReplay returns the replay of opts.Recording, at its start.
func NewReplay(opts ReplayOptions) *Replay {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Theme.Name == "" && !opts.Theme.Mono {
		opts.Theme = themes.Dark()
	}
	r := &Replay{
		screen: newScreen("sperse replay", opts.Theme, replayPanes),
		opts:   opts,
		events: opts.Recording.Events,
		keys:   newReplayKeys(),
		interp: lang.NewInterp("replay"),
		shown:  make(map[string]uint64),
		follow: true,
		speed:  clampSpeed(opts.Speed),
	}
	r.srv.recorded = true
	r.grid.empty = emptyReplay
	var problems []string
	if err := opts.Err; err != nil {
		var le *record.LineError
		if errors.As(err, &le) {
			err = le // the line, without the file the user named
		}
		problems = append(problems, "the recording breaks at "+err.Error())
	}
	for _, n := range opts.Recording.Notes {
		problems = append(problems, "note: "+n)
	}
	r.problem = strings.Join(problems, "; ")
	r.restart()
	r.show()
	r.resize(80, 24)
	return r
}

func clampSpeed(s float64) float64 {
	if s == 0 {
		return 1
	}
	return min(max(s, MinSpeed), MaxSpeed)
}

// Init starts playing.
func (r *Replay) Init() tea.Cmd {
	r.since = r.opts.Now()
	return r.schedule()
}

// replayTickMsg says the next event's time has come.
type replayTickMsg struct{ n int }

// Update routes a message.
func (r *Replay) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	var cmd tea.Cmd
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		r.resize(msg.Width, msg.Height)
	case tea.KeyPressMsg:
		cmd = r.handleKey(msg)
	case replayTickMsg:
		if msg.n == r.tick && !r.paused {
			cmd = r.play()
		}
	case inspectedMsg:
		r.insp.Inspected(msg, r.cells, r.st)
	}
	r.layout()
	return r, cmd
}

// View draws the screen.
func (r *Replay) View() tea.View { return r.teaView(r.render()) }

func (r *Replay) render() (string, *tea.Cursor) {
	return r.draw(chrome{inputName: "typed", status: r.timeline(), keys: r.helpLine(), help: r.helpBlocks, helpTitle: "keys of the replay"})
}

func (r *Replay) handleKey(msg tea.KeyPressMsg) tea.Cmd {
	r.status, r.statusBad = "", false
	if r.showHelp && r.helpKey(msg, r.insp.keys.scrollKeys) {
		return nil
	}
	k := &r.keys
	switch {
	case key.Matches(msg, k.Quit):
		return tea.Quit
	case key.Matches(msg, k.Pause):
		return r.togglePause()
	case key.Matches(msg, k.Faster):
		return r.setSpeed(r.speed * 2)
	case key.Matches(msg, k.Slower):
		return r.setSpeed(r.speed / 2)
	case key.Matches(msg, k.Step):
		return r.step(1)
	case key.Matches(msg, k.Back):
		return r.step(-1)
	case key.Matches(msg, k.NextMarker):
		return r.nextMarker()
	case key.Matches(msg, k.PrevMarker):
		return r.prevMarker()
	case key.Matches(msg, k.Next):
		r.cycleFocus(1)
		return nil
	case key.Matches(msg, k.Prev):
		r.cycleFocus(-1)
		return nil
	case key.Matches(msg, k.Help):
		r.showHelp = true
		return nil
	}
	switch r.focus {
	case focusGrid:
		switch action, _ := r.grid.Update(msg, r.cells); action {
		case gridMoved:
			r.follow = false
			return r.gridMovedTo()
		case gridInspect:
			r.setFocus(focusInspector)
		}
	case focusInspector:
		took, cmd := r.insp.Update(msg)
		if !took && key.Matches(msg, r.insp.keys.Leave) {
			r.setFocus(focusGrid)
		}
		return cmd
	case focusServers:
		if action, _ := r.srv.Update(msg); action == serverLeave {
			r.setFocus(focusGrid)
		}
	case focusLog:
		if !r.logp.Update(msg) && key.Matches(msg, r.logp.keys.Leave) {
			r.setFocus(focusGrid)
		}
	}
	return nil
}

// position is where in the recording playback is now.
func (r *Replay) position() time.Duration {
	if r.paused {
		return r.clock
	}
	return r.clock + time.Duration(float64(r.opts.Now().Sub(r.since))*r.speed)
}

// schedule waits for the time of the next event, if playing; a tick on
// its way is dropped.
func (r *Replay) schedule() tea.Cmd {
	r.tick++
	if r.paused || r.pos >= len(r.events) {
		return nil
	}
	gap := r.events[r.pos].Offset - r.position()
	if gap > MaxGap {
		r.clock += gap - MaxGap // skip the rest of a long pause
		gap = MaxGap
	}
	n := r.tick
	return tea.Tick(max(time.Duration(float64(gap)/r.speed), 0), func(time.Time) tea.Msg { return replayTickMsg{n} })
}

// play applies the event waited for and those whose time has come too,
// then waits for the next; at the end it pauses.
func (r *Replay) play() tea.Cmd {
	if r.pos == len(r.events) {
		return nil
	}
	at := r.position()
	n := r.pos + 1
	for n < len(r.events) && r.events[n].Offset <= at {
		n++
	}
	clock := max(at, r.events[n-1].Offset)
	cmd := r.seek(n)
	r.clock, r.since = clock, r.opts.Now()
	if r.pos == len(r.events) {
		r.paused = true
	}
	return tea.Batch(cmd, r.schedule())
}

// togglePause pauses, or plays: from the start when at the end.
func (r *Replay) togglePause() tea.Cmd {
	if !r.paused {
		r.pause()
		return nil
	}
	var cmd tea.Cmd
	if r.pos == len(r.events) {
		cmd = r.seek(0)
	}
	r.paused = false
	r.since = r.opts.Now()
	return tea.Batch(cmd, r.schedule())
}

func (r *Replay) pause() {
	if !r.paused {
		r.clock = r.position()
		r.paused = true
		r.tick++ // the tick on its way is dropped
	}
}

// setSpeed sets the speed, within bounds, going on from where playback is.
func (r *Replay) setSpeed(s float64) tea.Cmd {
	s = clampSpeed(s)
	if s == r.speed {
		bound := "slowest"
		if s == MaxSpeed {
			bound = "fastest"
		}
		r.status = "×" + formatSpeed(s) + " is the " + bound
		return nil
	}
	r.clock, r.since = r.position(), r.opts.Now()
	r.speed = s
	return r.schedule()
}

// step pauses and moves one event forward (d = 1) or back (d = -1).
func (r *Replay) step(d int) tea.Cmd {
	r.pause()
	switch n := r.pos + d; {
	case n < 0:
		r.status = "at the start of the recording"
	case n > len(r.events):
		r.status = "at the end of the recording"
	default:
		return r.seek(n)
	}
	return nil
}

// nextMarker pauses just after the next marker.
func (r *Replay) nextMarker() tea.Cmd {
	r.pause()
	for i := r.pos; i < len(r.events); i++ {
		if r.events[i].Kind == record.Marker {
			return r.seek(i + 1)
		}
	}
	r.status = "no marker after this point"
	return nil
}

// prevMarker pauses just after the marker before the last event shown.
func (r *Replay) prevMarker() tea.Cmd {
	r.pause()
	for i := r.pos - 2; i >= 0; i-- {
		if r.events[i].Kind == record.Marker {
			return r.seek(i + 1)
		}
	}
	r.status = "no marker before this point"
	return nil
}

// seek shows the workspace after the first n events: it applies the
// events from where it is, or from the start to go back.
func (r *Replay) seek(n int) tea.Cmd {
	n = min(max(n, 0), len(r.events))
	if n < r.pos {
		r.restart() // a workspace is not applied backwards
	}
	started := r.opts.Recording.Header.Started
	from := r.pos
	for ; r.pos < n; r.pos++ {
		ev := &r.events[r.pos]
		r.ws.Apply(ev)
		r.logp.add(entryOf(ev, started))
		switch {
		case ev.Kind == record.Typed:
			r.input.SetValue(ev.Text)
		case ev.Kind == record.Defined && r.follow:
			r.wantSel = ev.Cell
		}
	}
	if from < r.pos && r.pos == len(r.events) && r.problem != "" {
		r.logp.note(started.Add(r.ws.Offset), r.problem, true)
	}
	r.clock = r.ws.Offset
	return r.show()
}

// restart goes back to the start of the recording: no events applied.
func (r *Replay) restart() {
	r.ws = record.NewWorkspace(r.opts.Recording.Header)
	r.pos = 0
	r.logp.reset()
	r.input.SetValue("")
}

// show puts the workspace on the screen: the cells that changed since they
// were last shown, in the workspace's order, the servers, and the time.
func (r *Replay) show() tea.Cmd {
	for name := range r.shown {
		if r.ws.Cell(name) == nil {
			r.cells.apply(reactive.Event{Kind: reactive.Deleted, Cell: reactive.CellView{Name: name}})
			delete(r.shown, name)
		}
	}
	for _, c := range r.ws.Cells {
		if seq, ok := r.shown[c.Name]; !ok || seq != c.Seq {
			r.cells.set(r.ws.View(c, r.interp))
			r.shown[c.Name] = c.Seq
		}
	}
	r.cells.settle()
	if !slices.EqualFunc(r.cells.items, r.ws.Cells, func(it *item, c *record.Cell) bool { return it.view.Name == c.Name }) {
		names := make([]string, len(r.ws.Cells))
		for i, c := range r.ws.Cells {
			names[i] = c.Name
		}
		r.cells.reorder(names)
	}
	r.srv.infos = r.srv.infos[:0]
	for _, s := range r.ws.Servers {
		info := remote.ServerInfo{Name: s.Name, Addr: s.Addr, Tags: s.Tags, Provides: s.Provides, Connected: s.Connected}
		if s.Error != "" {
			info.LastError = errors.New(s.Error)
		}
		r.srv.infos = append(r.srv.infos, info)
	}
	r.now = r.opts.Recording.Header.Started.Add(r.ws.Offset)
	r.syncSelection()
	return r.showSelected()
}

// entryOf is the log's line of a recorded event.
func entryOf(ev *record.Event, started time.Time) logEntry {
	t := started.Add(ev.Offset)
	switch ev.Kind {
	case record.Typed:
		return logEntry{time: t, note: "typed " + ev.Text}
	case record.Marker:
		return logEntry{time: t, note: "◆ " + ev.Text}
	case record.ServerJoined:
		return logEntry{time: t, note: "server " + ev.Server.Name + " joined"}
	case record.ServerLeft:
		note := "server " + ev.Server.Name + " left"
		if ev.Server.Error != "" {
			note += ": " + ev.Server.Error
		}
		return logEntry{time: t, note: note, bad: true}
	}
	e := logEntry{time: t, event: true, kind: reactive.StateChanged, state: ev.State, name: ev.Cell, where: ev.Where, took: ev.Took}
	switch ev.Kind {
	case record.Defined:
		e.kind = reactive.Defined
	case record.Deleted:
		e.kind = reactive.Deleted
	}
	if ev.Error != "" {
		e.err = errors.New(ev.Error)
	}
	return e
}

// timeline is the status line of a replay: playing or paused, the events
// shown of all, the recording's time, the speed and the last marker, then
// a message.
func (r *Replay) timeline() string {
	st := r.st
	state := st.Accent.Render("▶ playing")
	switch {
	case r.pos == len(r.events):
		state = st.Title.Render("■ end")
	case r.paused:
		state = st.Title.Render("⏸ paused")
	}
	var total time.Duration
	if len(r.events) > 0 {
		total = r.events[len(r.events)-1].Offset
	}
	sep := st.Muted.Render(" · ")
	s := state + sep + st.Text.Render(strconv.Itoa(r.pos)+"/"+strconv.Itoa(len(r.events))) +
		sep + st.Text.Render(formatDuration(r.ws.Offset)+" of "+formatDuration(total)) +
		sep + st.Text.Render("×"+formatSpeed(r.speed))
	if r.ws.Marker != "" {
		s += sep + st.Accent.Render("◆ "+oneLine(r.ws.Marker))
	}
	switch {
	case r.status != "":
		s += sep + st.Muted.Render(oneLine(r.status))
	case r.problem != "":
		s += sep + st.ErrorText.Render(oneLine(r.problem))
	case r.pos == len(r.events):
		s += sep + st.Muted.Render("space plays it again")
	}
	return pad(s, r.width)
}

// emptyReplay is what the grid of a replay shows with no cells.
func emptyReplay(st *Styles, width int) []string {
	return []string{
		"",
		"  " + st.Bold.Render("No cells at this point of the recording."),
		"",
		"  " + st.Text.Render("space plays, . steps one event, ] jumps to the next marker;"),
		"  " + st.Muted.Render("? shows every key."),
	}
}

func formatSpeed(s float64) string { return strconv.FormatFloat(s, 'g', -1, 64) }

// helpLine shows the keys of playback.
func (r *Replay) helpLine() string {
	return pad(r.help.ShortHelpView(r.keys.ShortHelp()), r.width)
}

// helpBlocks are the sections of the full help of a replay.
func (r *Replay) helpBlocks() [][]string {
	play := r.helpSection("replay", r.keys.FullHelp())
	play = append(play[:len(play)-1],
		r.st.Muted.Render("  Events play at the recorded pace, divided by the speed;"),
		r.st.Muted.Render("  a pause over "+formatDuration(MaxGap)+" in the recording plays as "+formatDuration(MaxGap)+"."),
		r.st.Muted.Render("  Stepping and markers pause; at the end, space plays again."),
		"")
	g, s := &r.grid.keys, &r.srv.keys
	return [][]string{
		play,
		r.helpSection("cells", [][]key.Binding{{g.Up, g.PageUp, g.First, g.Inspect}}),
		r.helpSection("inspector", r.insp.keys.FullHelp()),
		r.helpSection("log", r.logp.keys.FullHelp()),
		r.helpSection("servers", [][]key.Binding{{s.Up, s.Leave}}),
	}
}

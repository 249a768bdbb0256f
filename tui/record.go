package tui

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/sperse/sperse/reactive"
	"github.com/sperse/sperse/reactive/record"
	"github.com/sperse/sperse/remote"
)

// recording writes a session to a recording file (reactive/record's
// format): the engine's events, what was typed, the markers, and the
// servers joining and leaving. One goroutine of its own writes everything,
// in the order it happened, so that the update loop never waits for the
// disk: typed and mark queue their event and return. The recording ends
// when close is called, when a write fails, or when the engine is closed;
// done is closed then, and err says why if it failed.
type recording struct {
	path    string
	rec     *record.Recorder
	sub     *reactive.Subscription
	servers func() []remote.ServerInfo // the client's servers; nil without a remote client
	// connected are the servers connected at the last look, by address.
	// Only the goroutine uses it, once started.
	connected map[string]remote.ServerInfo

	mu      sync.Mutex
	pending []queued // in order

	held []reactive.Event // the engine's events after the last flush's cut; the goroutine's

	wake      chan struct{} // holds one wake-up
	stop      chan struct{} // closed by close
	closeOnce sync.Once
	done      chan struct{} // closed when the goroutine has ended
	err       error         // set before done is closed
}

// startRecording creates the file path and records in it the session of
// engine, with the servers of servers (nil for none) and the terminal's
// size in its header. The recording begins with the cells the engine has,
// as defined events with their state; then every event follows. Its error
// names the file.
func startRecording(path string, engine *reactive.Engine, servers Servers, width, height int) (*recording, error) {
	r := &recording{
		path:      path,
		connected: make(map[string]remote.ServerInfo),
		wake:      make(chan struct{}, 1),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	h := record.Header{Title: "sperse-tui", Width: width, Height: height}
	if servers != nil {
		r.servers = servers.Servers
		for _, s := range r.servers() {
			h.Servers = append(h.Servers, serverOf(s))
			if s.Connected {
				r.connected[s.Addr] = s
			}
		}
	}
	rec, err := record.Create(path, h)
	if err != nil {
		return nil, recordError(path, err)
	}
	r.rec = rec
	// Subscribe first, then take the cells: nothing happens unseen.
	r.sub = engine.Subscribe()
	r.sub.SetWakeDelay(record.WakeDelay) // it works per event, not per frame
	if cells := engine.Cells(); len(cells) > 0 {
		if err := rec.RecordCells(cells); err != nil {
			r.sub.Close()
			rec.Close()
			return nil, recordError(path, err)
		}
	}
	go r.run()
	return r, nil
}

// recordError says that recording to path failed with err.
func recordError(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err // the path is said once
	}
	return fmt.Errorf("cannot record to %s: %w", path, err)
}

// serverOf is a server as a recording keeps it.
func serverOf(s remote.ServerInfo) record.Server {
	rs := record.Server{Name: s.Name, Addr: s.Addr, Tags: s.Tags, Provides: s.Provides, Connected: s.Connected}
	if !s.Connected && s.LastError != nil {
		rs.Error = s.LastError.Error()
	}
	return rs
}

// queued is something to record that happened outside the engine: a line
// typed, a marker, or a change of the servers to look at.
type queued struct {
	at   time.Duration // its offset
	kind record.Kind   // typed or marker; "" to look at the servers
	text string
}

// typed queues what the user typed at the prompt, now.
func (r *recording) typed(text string) { r.add(record.Typed, text) }

// mark queues a marker with text, now.
func (r *recording) mark(text string) { r.add(record.Marker, text) }

// serversChanged queues a look at the servers, now, to record those that
// joined or left. It is safe to call from any goroutine.
func (r *recording) serversChanged() { r.add("", "") }

// add queues what happened now, timed under mu (see flush). Looks at the
// servers in a row are one.
func (r *recording) add(kind record.Kind, text string) {
	r.mu.Lock()
	if n := len(r.pending); kind != "" || n == 0 || r.pending[n-1].kind != "" {
		r.pending = append(r.pending, queued{at: r.rec.Offset(time.Now()), kind: kind, text: text})
	}
	r.mu.Unlock()
	r.poke()
}

func (r *recording) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// close ends the recording: what is queued is written, and the file is
// closed. It does not wait: done is closed when it is over.
func (r *recording) close() { r.closeOnce.Do(func() { close(r.stop) }) }

func (r *recording) run() {
	defer close(r.done)
	err := r.follow()
	r.sub.Close()
	if cerr := r.rec.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		r.err = recordError(r.path, err)
	}
}

// follow writes everything as it comes until close, a write error, or the
// end of the engine.
func (r *recording) follow() error {
	events := r.sub.C()
	for {
		select {
		case <-r.stop:
			r.serversChanged() // take a last look
			return r.flush(true)
		case <-r.wake:
		case _, ok := <-events:
			if !ok {
				return r.flush(true) // the engine is closed: nothing more happens
			}
		}
		if err := r.flush(false); err != nil {
			return err
		}
	}
}

// flush writes what is waiting, in the order it happened.
//
// What is queued is timed under mu, and taking the queue is a cut, under mu
// too: what is queued later is later than the cut. So the engine's events
// from before the cut are written now, merged by time with the queue, and
// those from after it wait for the next flush (which comes at once), where
// a line typed meanwhile goes before the cells it defines. The last flush
// writes everything.
func (r *recording) flush(last bool) error {
	r.mu.Lock()
	user := r.pending
	r.pending = nil
	cut := r.rec.Offset(time.Now())
	r.mu.Unlock()
	started := r.rec.Header().Started
	evs := append(r.held, r.sub.Next()...)
	n := len(evs)
	if !last {
		n = slices.IndexFunc(evs, func(ev reactive.Event) bool { return ev.Time.Sub(started) >= cut })
		if n < 0 {
			n = len(evs)
		}
	}
	evs, r.held = evs[:n], evs[n:]
	for _, q := range user {
		i := slices.IndexFunc(evs, func(ev reactive.Event) bool { return ev.Time.Sub(started) >= q.at })
		if i < 0 {
			i = len(evs)
		}
		if err := r.rec.RecordEngine(evs[:i]...); err != nil {
			return err
		}
		evs = evs[i:]
		var err error
		if q.kind == "" {
			err = r.recordServers(q.at)
		} else {
			err = r.rec.Record(record.Event{Kind: q.kind, Offset: q.at, Text: q.text})
		}
		if err != nil {
			return err
		}
	}
	if len(r.held) > 0 {
		r.poke()
	}
	return r.rec.RecordEngine(evs...)
}

// recordServers records, at offset at, the servers that are connected now
// and were not at the last look (joined), and those that were and are not
// (left).
func (r *recording) recordServers(at time.Duration) error {
	if r.servers == nil {
		return nil
	}
	infos := r.servers()
	now := make(map[string]remote.ServerInfo, len(infos))
	for _, s := range infos {
		if s.Connected {
			now[s.Addr] = s
		}
	}
	for _, s := range infos { // joined, in the client's order
		if _, was := r.connected[s.Addr]; s.Connected && !was {
			joined := serverOf(s)
			if err := r.rec.Record(record.Event{Kind: record.ServerJoined, Offset: at, Server: &joined}); err != nil {
				return err
			}
		}
	}
	for _, addr := range slices.Sorted(maps.Keys(r.connected)) {
		if _, is := now[addr]; is {
			continue
		}
		left := serverOf(r.connected[addr])
		left.Connected, left.Error = false, "removed"
		for _, s := range infos {
			if s.Addr == addr && s.LastError != nil {
				left.Error = s.LastError.Error()
			}
		}
		if err := r.rec.Record(record.Event{Kind: record.ServerLeft, Offset: at, Server: &left}); err != nil {
			return err
		}
	}
	r.connected = now
	return nil
}

// recorder is a Model's recording of its session: at most one runs.
type recorder struct {
	cur      *recording // the recording running; nil if none
	starting string     // the file of a recording being started by :record, "" if none
	// live is cur, for ServersChanged, which any goroutine calls.
	live atomic.Pointer[recording]
}

func (rc *recorder) set(r *recording) {
	rc.cur = r
	rc.live.Store(r)
}

// Record starts recording the session to the file path, as :record FILE
// does at the prompt (sperse-tui --record FILE). width and height are the
// terminal's size, kept in the recording's header (0 if unknown). Call it
// before the program runs: it creates the file at once, and its error
// says why it cannot. Close ends the recording.
func (m *Model) Record(path string, width, height int) error {
	r, err := startRecording(path, m.engine, m.opts.Servers, width, height)
	if err != nil {
		return err
	}
	m.rec.set(r)
	return nil
}

// ServersChanged tells the model that its servers may have changed (one
// connected, disconnected or went away): a recording that runs records the
// servers that joined or left. It is safe to call from any goroutine, at
// any time; cmd/sperse-tui calls it when the remote client says so.
func (m *Model) ServersChanged() {
	if r := m.rec.live.Load(); r != nil {
		r.serversChanged()
	}
}

// recordStartedMsg is the end of starting a recording for :record FILE.
type recordStartedMsg struct {
	r   *recording
	err error
}

// recordEndedMsg says a recording ended: stopped, or a write failed.
type recordEndedMsg struct{ r *recording }

// waitRecording waits for the end of r.
func waitRecording(r *recording) tea.Cmd {
	return func() tea.Msg {
		<-r.done
		return recordEndedMsg{r}
	}
}

// cmdRecord is :record FILE, :record stop, and :record (which says what
// is being recorded).
func (m *Model) cmdRecord(args []string) tea.Cmd {
	rc := &m.rec
	switch {
	case len(args) == 0 && rc.cur != nil:
		m.inform("recording to " + rc.cur.path + " (:record stop ends it)")
	case len(args) == 0:
		m.inform("not recording (:record FILE starts)")
	case args[0] == "stop" && rc.cur == nil:
		m.fail("not recording: nothing to stop")
	case args[0] == "stop":
		rc.cur.close()
		m.inform("stopping the recording to " + rc.cur.path + "…")
		rc.set(nil)
	case rc.starting != "":
		m.fail("already starting a recording to " + rc.starting)
	case rc.cur != nil:
		m.fail("already recording to " + rc.cur.path + ": :record stop first")
	default:
		path := expandHome(args[0])
		rc.starting = path
		engine, servers, w, h := m.engine, m.opts.Servers, m.width, m.height
		return func() tea.Msg {
			r, err := startRecording(path, engine, servers, w, h)
			return recordStartedMsg{r: r, err: err}
		}
	}
	return nil
}

// cmdMark is :mark TEXT.
func (m *Model) cmdMark(args []string) tea.Cmd {
	if m.rec.cur == nil {
		m.fail("not recording: :record FILE starts a recording, then :mark marks it")
		return nil
	}
	m.rec.cur.mark(args[0])
	m.inform("marked " + args[0])
	return nil
}

// recordResult handles the messages of recordings.
func (m *Model) recordResult(msg tea.Msg) tea.Cmd {
	rc := &m.rec
	switch msg := msg.(type) {
	case recordStartedMsg:
		rc.starting = ""
		if msg.err != nil {
			m.fail(msg.err.Error())
			return nil
		}
		rc.set(msg.r)
		m.inform("recording to " + msg.r.path + " (:mark TEXT marks a moment, :record stop ends it)")
		return waitRecording(msg.r)
	case recordEndedMsg:
		r := msg.r
		switch {
		case r.err != nil:
			m.fail(r.err.Error() + "; the recording stopped (what came before is in the file)")
		case r == rc.cur:
			m.inform("the recording to " + r.path + " ended with the workspace")
		default:
			m.inform("recorded to " + r.path)
		}
		if r == rc.cur {
			rc.set(nil)
		}
	}
	return nil
}

// stop ends the recording that runs, if one does, and waits for it.
func (rc *recorder) stop() error {
	r := rc.cur
	if r == nil {
		return nil
	}
	rc.set(nil)
	r.close()
	<-r.done
	return r.err
}

// indicator is what the status line shows while recording: "● rec FILE".
func (rc *recorder) indicator(st *Styles) string {
	if rc.cur == nil {
		return ""
	}
	return st.State[reactive.Error].Render("●") + st.Muted.Render(" rec "+filepath.Base(rc.cur.path))
}

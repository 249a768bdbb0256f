package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"sync"

	"github.com/sperse/sperse/cmd/internal/workspace"
	"github.com/sperse/sperse/reactive/record"
	"github.com/sperse/sperse/remote"
)

// recording is "sperse run --record FILE": a recorder following the
// workspace's engine, and the servers joining and leaving.
//
// Servers are recorded by diffing snapshots of the client's servers: the
// header holds those known at the start, and each time the client says
// they changed (workspace.Options.OnServers), a server that is connected now
// and was not is server-joined, one that was and is not (or is gone) is
// server-left. The snapshot is taken under mu, so that one taken for the
// header and one taken for a change are never diffed out of order.
type recording struct {
	mu        sync.Mutex
	rec       *record.Recorder             // nil before start and after stop
	servers   func() []remote.ServerInfo   // the client's Servers
	connected map[string]remote.ServerInfo // by address
	err       error                        // the first error recording servers

	follow chan error // Follow's result
}

// start creates the recording at path, with the servers of ws, and follows
// ws's engine into it.
func (r *recording) start(path, title string, ws *workspace.Workspace) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.servers = ws.Client.Servers
	infos := r.servers()
	h := record.Header{Title: title}
	r.connected = make(map[string]remote.ServerInfo)
	for _, s := range infos {
		h.Servers = append(h.Servers, serverOf(s))
		if s.Connected {
			r.connected[s.Addr] = s
		}
	}
	rec, err := record.Create(path, h)
	if err != nil {
		return err
	}
	r.rec = rec
	sub := ws.Engine.Subscribe()
	r.follow = make(chan error, 1)
	go func() { r.follow <- rec.Follow(context.Background(), sub) }()
	return nil
}

// serversChanged records the servers that joined or left since the last
// snapshot. It is workspace.Options.OnServers; its argument is not used:
// it may be older than the header's snapshot.
func (r *recording) serversChanged([]remote.ServerInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rec != nil {
		r.diffLocked()
	}
}

// diffLocked records what changed since the last snapshot.
func (r *recording) diffLocked() {
	infos := r.servers()
	now := make(map[string]remote.ServerInfo, len(infos))
	for _, s := range infos {
		if s.Connected {
			now[s.Addr] = s
		}
	}
	for _, s := range infos { // joined, in the client's order
		if _, was := r.connected[s.Addr]; s.Connected && !was {
			r.note(r.rec.ServerJoined(serverOf(s)))
		}
	}
	for _, addr := range slices.Sorted(maps.Keys(r.connected)) {
		if _, is := now[addr]; !is {
			left := serverOf(r.connected[addr])
			for _, x := range infos {
				if x.Addr == addr && x.LastError != nil {
					left.Error = x.LastError.Error()
				}
			}
			if left.Error == "" {
				left.Error = "removed"
			}
			r.note(r.rec.ServerLeft(left))
		}
	}
	r.connected = now
}

func (r *recording) note(err error) {
	if err != nil && r.err == nil {
		r.err = err
	}
}

// stop waits for the recorder to write every event of the engine, which
// must be closed, records the servers' last changes (the client may not
// have told them yet: a run ends as soon as its cells are done, a lost
// server's among them), and closes the recording.
func (r *recording) stop() error {
	err := <-r.follow
	r.mu.Lock()
	r.diffLocked()
	rec := r.rec
	r.rec = nil
	if err == nil {
		err = r.err
	}
	r.mu.Unlock()
	if cerr := rec.Close(); err == nil {
		err = cerr
	}
	return err
}

// serverOf is a server as a recording keeps it.
func serverOf(s remote.ServerInfo) record.Server {
	rs := record.Server{Name: s.Name, Addr: s.Addr, Tags: s.Tags, Provides: s.Provides, Connected: s.Connected}
	if !s.Connected && s.LastError != nil {
		rs.Error = s.LastError.Error()
	}
	return rs
}

// describeRecordError says what went wrong recording to path.
func describeRecordError(path string, err error) string {
	return fmt.Sprintf("recording %s: %v", path, err)
}

// sameFile reports whether the paths a and b name one existing file.
func sameFile(a, b string) bool {
	ia, err := os.Stat(a)
	if err != nil {
		return false
	}
	ib, err := os.Stat(b)
	return err == nil && os.SameFile(ia, ib)
}

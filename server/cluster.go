package server

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/hashicorp/memberlist"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/remote"
)

// A cluster is servers that know each other through gossip (hashicorp's
// memberlist, SWIM): each member gossips its name, the QUIC address clients
// and members dial, and its certificate's fingerprint; what it offers (tags,
// provided names, load) the others learn from its Welcome and Status, over
// a QUIC connection each member keeps to every other (its peer client).
// Gossip is encrypted, and members authenticate to each other over QUIC,
// with keys derived from the cluster's secret: who lacks the secret can
// neither join nor read the gossip nor use the peer connections.
//
// Through the peer connections a member forwards work it cannot run to one
// that can (for clients that reach only one member), runs on(sel, f, ...)
// and pinned functions on the member they name, and spreads published
// functions. Clients learn the members from Members messages.

// Cluster makes a server a member of a cluster (Config.Cluster).
type Cluster struct {
	// Secret is the cluster's secret, the same on every member: at least
	// 16 bytes (a file of random bytes, say). Gossip is encrypted with a
	// key derived from it, and members present a token derived from it to
	// each other; it is never sent.
	Secret []byte

	// Gossip is the HOST:PORT to gossip on, over UDP and TCP; port 0
	// picks a free port (see Server.GossipAddr). Default "127.0.0.1:0".
	Gossip string

	// Join lists gossip addresses of members to join (any one that
	// answers will do); none starts a new cluster.
	Join []string

	// Advertise is the QUIC HOST:PORT that members and clients dial to
	// reach this server. Default: the address Serve listens on, with the
	// gossip host if that address is unspecified (0.0.0.0).
	Advertise string

	// JoinTimeout bounds how long JoinCluster waits for an answer from
	// the members of Join. Default 10s.
	JoinTimeout time.Duration
}

// minSecret is the shortest cluster secret accepted, in bytes.
const minSecret = 16

// Timings of the gossip: a member that stops answering is suspected after a
// probe or two and declared dead some seconds later (memberlist's suspicion
// timeout grows with the log of the cluster's size).
const (
	probeInterval    = 500 * time.Millisecond
	probeTimeout     = 400 * time.Millisecond
	gossipInterval   = 100 * time.Millisecond
	suspicionMult    = 3
	suspicionMaxMult = 2
	pushPull         = 3 * time.Second // full state exchange with a random member, this often
)

// derive returns a key for purpose derived from the cluster's secret.
func derive(secret []byte, purpose string) []byte {
	h := sha256.New()
	h.Write([]byte("sperse cluster " + purpose + "\x00"))
	h.Write(secret)
	return h.Sum(nil)
}

// peerToken is the token members present to each other.
func peerToken(secret []byte) string { return hex.EncodeToString(derive(secret, "peer token")) }

// memberMeta is what a member gossips about itself (memberlist's node meta,
// at most 512 bytes).
type memberMeta struct {
	Addr        string `cbor:"1,keyasint"` // QUIC HOST:PORT
	Fingerprint string `cbor:"2,keyasint"`
}

// cluster is a server's membership: memberlist and the peer client.
type cluster struct {
	s          *Server
	cfg        Cluster
	meta       []byte // this member's memberMeta, encoded
	ml         *memberlist.Memberlist
	peers      *remote.Client
	gossipAddr string

	wg      sync.WaitGroup
	stop    chan struct{}
	changed chan struct{} // memberlist or the peer client changed (capacity 1)

	// nodes are the other members alive, by name: copies of memberlist's
	// nodes, made by its events, which it calls under its lock (the nodes
	// its Members returns may change as they are read).
	nodesMu sync.Mutex
	nodes   map[string]memberlist.Node

	mu      sync.Mutex
	members []remote.Member   // the list clients get, this member first
	encoded []byte            // members as a Members body, for the conns
	peerOf  map[string]string // member name → the QUIC address its peer connection uses
}

// JoinCluster makes s a member of the cluster of its Config.Cluster: it
// starts gossiping and joins the members of Cluster.Join, returning an error
// if none of them answers within Cluster.JoinTimeout (a wrong secret reads as
// no answer: the members cannot decrypt what it sends, and log that they
// could not). Call it once s is serving (its QUIC address is advertised).
// Shutdown and Close leave the cluster.
func (s *Server) JoinCluster(ctx context.Context) error {
	cc := s.cfg.Cluster
	if cc == nil {
		return errors.New("join cluster: the server has no Config.Cluster")
	}
	advertise := cc.Advertise
	if advertise == "" {
		a, ok := s.Addr().(*net.UDPAddr)
		if !ok {
			return errors.New("join cluster: the server is not serving yet, and Cluster.Advertise is not set")
		}
		host := a.IP.String()
		if a.IP.IsUnspecified() {
			host, _, _ = net.SplitHostPort(cc.Gossip)
		}
		advertise = net.JoinHostPort(host, strconv.Itoa(a.Port))
	}
	meta, err := cbor.Marshal(memberMeta{Addr: advertise, Fingerprint: s.fingerprint})
	if err != nil {
		return err
	}
	c := &cluster{s: s, cfg: *cc, meta: meta, stop: make(chan struct{}), changed: make(chan struct{}, 1), peerOf: map[string]string{}, nodes: map[string]memberlist.Node{}}
	c.peers = remote.NewClient(remote.ClientConfig{
		Token:    peerToken(cc.Secret),
		Interp:   &lang.Interp{Where: s.cfg.Name, MaxSteps: s.cfg.MaxSteps},
		Name:     "sperse-server " + s.cfg.Name + " (cluster peer)",
		Logger:   s.log.With("peer", true),
		OnChange: c.signal,
	})
	host, port, err := splitHostPort(cc.Gossip)
	if err != nil {
		c.peers.Close()
		return fmt.Errorf("gossip address %q: %w", cc.Gossip, err)
	}
	mc := memberlist.DefaultLANConfig()
	mc.Name = s.cfg.Name
	mc.BindAddr, mc.BindPort = host, port
	mc.SecretKey = derive(cc.Secret, "gossip key")
	mc.Delegate = (*gossip)(c)
	mc.Events = (*gossip)(c)
	mc.Logger = log.New(&gossipLog{log: s.log}, "", 0)
	mc.ProbeInterval, mc.ProbeTimeout = probeInterval, probeTimeout
	mc.GossipInterval, mc.SuspicionMult = gossipInterval, suspicionMult
	// Suspicion lasts SuspicionMult probe intervals (for small clusters),
	// or up to suspicionMaxMult times that when no other member confirms
	// it, as in a cluster of two or three.
	mc.SuspicionMaxTimeoutMult = suspicionMaxMult
	mc.PushPullInterval = pushPull
	mc.TCPTimeout = cc.JoinTimeout
	ml, err := memberlist.Create(mc)
	if err != nil {
		c.peers.Close()
		return fmt.Errorf("gossip on %s: %w", cc.Gossip, err)
	}
	c.ml = ml
	local := ml.LocalNode()
	c.gossipAddr = net.JoinHostPort(local.Addr.String(), strconv.Itoa(int(local.Port)))
	if len(cc.Join) > 0 {
		if err := c.join(ctx); err != nil {
			ml.Shutdown()
			c.peers.Close()
			return err
		}
	}
	s.mu.Lock()
	if s.shuttingDown || s.cluster != nil {
		closing := s.shuttingDown
		s.mu.Unlock()
		ml.Shutdown()
		c.peers.Close()
		if closing {
			return ErrServerClosed
		}
		return errors.New("join cluster: already a member")
	}
	s.cluster = c
	s.onPublish = c.spread
	s.mu.Unlock()
	c.wg.Go(c.loop)
	c.signal()
	s.log.Info("cluster member", "gossip", c.gossipAddr, "advertise", advertise, "members", ml.NumMembers())
	return nil
}

// join joins the members of c.cfg.Join, within JoinTimeout and ctx.
func (c *cluster) join(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.JoinTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := c.ml.Join(c.cfg.Join)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("join cluster at %s: no member answered: %v (check the addresses: they are members' gossip addresses; and that the cluster secret is the same)",
				strings.Join(c.cfg.Join, ", "), err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("join cluster at %s: no member answered within %s (check the addresses: they are members' gossip addresses)",
			strings.Join(c.cfg.Join, ", "), c.cfg.JoinTimeout)
	}
}

// GossipAddr returns the address s gossips on, or "" if it is in no cluster.
func (s *Server) GossipAddr() string {
	if c := s.clusterOf(); c != nil {
		return c.gossipAddr
	}
	return ""
}

// Members returns the members of s's cluster that it knows and is connected
// to, itself first; nil if it is in no cluster.
func (s *Server) Members() []remote.Member {
	c := s.clusterOf()
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.members)
}

func (s *Server) clusterOf() *cluster {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cluster
}

// leave leaves the cluster and closes the peer client.
func (c *cluster) leave() {
	c.s.mu.Lock()
	c.s.onPublish = nil
	c.s.mu.Unlock()
	close(c.stop)
	c.ml.Leave(time.Second)
	c.ml.Shutdown()
	c.peers.Close()
	c.wg.Wait()
}

// signal asks the loop to look at the members again.
func (c *cluster) signal() {
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// loop keeps the peer connections in step with the membership, and the
// Members that clients get in step with both.
func (c *cluster) loop() {
	for {
		select {
		case <-c.stop:
			return
		case <-c.changed:
		}
		c.reconcile()
	}
}

// reconcile connects to new members, forgets those that left, and sends
// clients the new list if it changed.
func (c *cluster) reconcile() {
	alive := map[string]memberMeta{}
	for _, n := range c.others() {
		var m memberMeta
		if err := cbor.Unmarshal(n.Meta, &m); err != nil || m.Addr == "" {
			continue
		}
		alive[n.Name] = m
	}
	c.mu.Lock()
	var gone []string
	for name, addr := range c.peerOf {
		if m, ok := alive[name]; !ok || m.Addr != addr {
			gone = append(gone, addr)
			delete(c.peerOf, name)
		}
	}
	var join []string
	for name, m := range alive {
		if _, ok := c.peerOf[name]; !ok {
			c.peerOf[name] = m.Addr
			join = append(join, m.Addr+"#"+m.Fingerprint)
		}
	}
	c.mu.Unlock()
	for _, addr := range gone {
		c.peers.Disconnect(addr)
	}
	for _, address := range join {
		c.wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), c.cfg.JoinTimeout)
			defer cancel()
			if err := c.peers.Connect(ctx, address); err != nil {
				c.s.log.Warn("cluster member unreachable over QUIC", "addr", address, "error", err)
			}
		})
	}

	self := remote.Member{Name: c.s.cfg.Name, Address: c.address(), Tags: c.s.cfg.Tags, Provides: c.s.Provides()}
	list := []remote.Member{self}
	for _, info := range c.peers.Servers() {
		if !info.Connected {
			continue
		}
		if _, ok := alive[info.Name]; !ok {
			continue
		}
		list = append(list, remote.Member{Name: info.Name, Address: info.Addr + "#" + info.Fingerprint, Tags: info.Tags, Provides: info.Provides})
	}
	slices.SortFunc(list[1:], func(a, b remote.Member) int { return strings.Compare(a.Name, b.Name) })
	body, err := cbor.Marshal(remote.Members{List: list})
	if err != nil {
		return
	}
	c.mu.Lock()
	same := bytes.Equal(body, c.encoded)
	c.members, c.encoded = list, body
	c.mu.Unlock()
	if !same {
		c.s.membersChanged()
	}
}

// address is this member's address for clients: HOST:PORT#FINGERPRINT.
func (c *cluster) address() string {
	var m memberMeta
	cbor.Unmarshal(c.meta, &m)
	return m.Addr + "#" + m.Fingerprint
}

// membersBody returns the Members to send a client whose token allows g,
// encoded; nil if s is in no cluster (or knows no members yet). A client
// with a scoped token sees only what its token may use (grant.members);
// the others share one encoding.
func (s *Server) membersBody(g *grant) []byte {
	c := s.clusterOf()
	if c == nil {
		return nil
	}
	c.mu.Lock()
	list, body := c.members, c.encoded // replaced, never changed, by reconcile
	c.mu.Unlock()
	if g == nil || g.scope == "" || list == nil {
		return body
	}
	body, err := cbor.Marshal(remote.Members{List: g.members(list)})
	if err != nil {
		return nil
	}
	return body
}

// membersChanged tells every client connection to send the new Members.
func (s *Server) membersChanged() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.signalMembers()
	}
}

// gossip is a cluster seen as memberlist's delegates.
type gossip cluster

func (g *gossip) NodeMeta(limit int) []byte                  { return g.meta }
func (g *gossip) NotifyMsg(msg []byte)                       { g.merge(msg) }
func (g *gossip) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (g *gossip) MergeRemoteState(buf []byte, join bool)     { g.merge(buf) }

// LocalState is what a member sends in a full exchange of state (when one
// joins, and every pushPull): the published functions.
func (g *gossip) LocalState(join bool) []byte {
	return append([]byte{msgPublished}, g.s.publishedState()...)
}

// merge takes a message from another member.
func (g *gossip) merge(msg []byte) {
	if len(msg) == 0 || msg[0] != msgPublished {
		return
	}
	if err := g.s.mergePublished(msg[1:]); err != nil {
		g.s.log.Warn("bad published functions from a cluster member", "error", err)
	}
}

// msgPublished marks the messages between members that carry published
// functions: documents for mergePublished.
const msgPublished = 'P'

// spread sends doc, the document of a function published, rolled back or
// unpublished here, to every other member, over TCP (a document can be
// bigger than a gossip packet). A member that misses it gets it in the next
// full exchange of state.
func (c *cluster) spread(doc []byte) {
	msg := append([]byte{msgPublished}, doc...)
	for _, n := range c.others() {
		c.wg.Go(func() {
			if err := c.ml.SendReliable(&n, msg); err != nil {
				c.s.log.Warn("published function not sent to a member; it gets it at the next exchange", "member", n.Name, "error", err)
			}
		})
	}
}
func (g *gossip) NotifyJoin(n *memberlist.Node)   { g.alive(n, true) }
func (g *gossip) NotifyLeave(n *memberlist.Node)  { g.alive(n, false) }
func (g *gossip) NotifyUpdate(n *memberlist.Node) { g.alive(n, true) }

// alive records that n, another member, is alive (as it is now) or not,
// and asks the loop to look at the members again. memberlist calls it
// under its lock: n is read only here.
func (g *gossip) alive(n *memberlist.Node, alive bool) {
	if n.Name != g.s.cfg.Name {
		g.nodesMu.Lock()
		if alive {
			node := *n
			node.Addr, node.Meta = slices.Clone(n.Addr), bytes.Clone(n.Meta)
			g.nodes[n.Name] = node
		} else {
			delete(g.nodes, n.Name)
		}
		g.nodesMu.Unlock()
	}
	(*cluster)(g).signal()
}

// others returns the other members alive, as the last events told them.
func (c *cluster) others() []memberlist.Node {
	c.nodesMu.Lock()
	defer c.nodesMu.Unlock()
	return slices.Collect(maps.Values(c.nodes))
}

// gossipLog passes memberlist's log lines ("[LEVEL] memberlist: ...") to
// the server's logger: errors and warnings as warnings, the rest as debug.
type gossipLog struct{ log *slog.Logger }

func (l *gossipLog) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	level := slog.LevelDebug
	if strings.HasPrefix(line, "[ERR]") || strings.HasPrefix(line, "[WARN]") {
		level = slog.LevelWarn
	}
	if i := strings.Index(line, "memberlist: "); i >= 0 {
		line = line[i+len("memberlist: "):]
	}
	l.log.Log(context.Background(), level, "gossip", "message", line)
	return len(p), nil
}

var _ io.Writer = (*gossipLog)(nil)

// splitHostPort splits a gossip address; "" is 127.0.0.1:0.
func splitHostPort(addr string) (string, int, error) {
	if addr == "" {
		return "127.0.0.1", 0, nil
	}
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", p)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	return host, port, nil
}

// hopper runs calls of on(sel, f) and of pinned functions for code running
// on a server in a cluster (lang.RemoteCaller and lang.Placer): in place if
// the server matches sel, and otherwise on a member that does, through the
// peer connections.
type hopper Server

// RunsHere reports whether the server matches every item of sel.
func (h *hopper) RunsHere(sel []string) bool {
	s := (*Server)(h)
	for _, item := range sel {
		if item != s.cfg.Name && !slices.Contains(s.cfg.Tags, item) {
			return false
		}
	}
	return true
}

// CallRemote runs fn(*args, **kwargs) on a member that matches sel.
func (h *hopper) CallRemote(ctx context.Context, sel []string, fn, args, kwargs lang.Value) (lang.Value, error) {
	s := (*Server)(h)
	c := s.clusterOf()
	if c == nil {
		return nil, fmt.Errorf("server %s has not joined its cluster", s.cfg.Name)
	}
	return c.peers.CallRemote(ctx, sel, fn, args, kwargs)
}

// runsHere reports whether t, a cell, can run on s: s matches its selector
// and provides the names it uses (in t's interpreter: what its client's
// token allows).
func (s *Server) runsHere(t *task) bool {
	if t.kind != remote.EvalCell {
		return true
	}
	if !(*hopper)(s).RunsHere(t.cell.Selector) {
		return false
	}
	for _, name := range t.cell.Free {
		if _, ok := t.scope[name]; !ok && name != t.cell.Name && !t.in.IsBuiltin(name) {
			return false
		}
	}
	return true
}

// forwards reports whether s forwards t, from a client whose token allows
// g, to another member: t is a cell that s cannot run and a member may
// (a scoped token is served only where it is presented, and work from a
// member is never forwarded again).
func (s *Server) forwards(g *grant, t *task) bool {
	return g != nil && g.scope == "" && !g.peer && s.clusterOf() != nil && !s.runsHere(t)
}

// forward runs t, a cell, on another member of the cluster, chosen as a
// client would choose (its selector, the names it needs, load), and
// returns its Result, and the member's name.
func (s *Server) forward(ctx context.Context, t *task) (remote.Result, lang.Value, string) {
	res := s.clusterOf().peers.Eval(ctx, lang.Request{Cell: t.cell, Scope: t.scope})
	where := cmp.Or(res.Where, "none")
	if res.Err != nil {
		var serr *remote.ServerError
		if errors.As(res.Err, &serr) {
			return remote.Result{Took: res.Took, Error: &remote.Error{Code: serr.Code,
				Message: truncate(fmt.Sprintf("forwarded by %s: %s", s.cfg.Name, serr.Message), maxErrorText)}}, nil, where
		}
		return remote.Result{Took: res.Took, Error: s.failure(ctx, ctx, res.Err)}, nil, where
	}
	data, err := lang.Encode(res.Value)
	if err != nil {
		return remote.Result{Took: res.Took, Error: s.failure(ctx, ctx, err)}, nil, where
	}
	return remote.Result{Value: data, Took: res.Took}, res.Value, where
}

package main

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.starlark.net/starlark"

	"github.com/sperse/sperse/cmd/internal/workspace"
	"github.com/sperse/sperse/internal/benchpeers"
	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/reactive"
	"github.com/sperse/sperse/server"
)

// servers is how many evaluation servers (and peer workers) every remote
// workload uses.
const servers = 2

// inFlight is how many calls the gRPC contender of workload 2 keeps in
// flight.
const inFlight = 64

// graphCells is the size of workload 4's graphs.
const graphCells = 10_000

// sperseRig is the sperse side: two evaluation servers on loopback, each
// reached over QUIC by the workspace's remote.Client, as sperse run
// reaches its embedded servers.
type sperseRig struct {
	ws      *workspace.Workspace
	servers []*server.Server
	pcs     []net.PacketConn
	done    []chan error
	dir     string
}

// startSperse starts the servers and connects a workspace to them. The
// servers are those of sperse run (server.Server on 127.0.0.1), with a step
// limit and a timeout large enough for workload 5.
func startSperse(ctx context.Context) (*sperseRig, error) {
	token, err := server.NewToken()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "sperse-bench-")
	if err != nil {
		return nil, err
	}
	r := &sperseRig{dir: dir}
	var addrs []string
	for i := 1; i <= servers; i++ {
		srv, err := server.New(server.Config{
			Name:     fmt.Sprintf("bench-%d", i),
			Tokens:   []string{token},
			MaxSteps: 1 << 40,
			Timeout:  time.Hour,
			Logger:   slog.New(slog.DiscardHandler),
		})
		if err != nil {
			r.Close()
			return nil, err
		}
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			r.Close()
			return nil, err
		}
		done := make(chan error, 1)
		go func() { done <- srv.Serve(pc) }()
		r.servers, r.pcs, r.done = append(r.servers, srv), append(r.pcs, pc), append(r.done, done)
		addrs = append(addrs, pc.LocalAddr().String()+"#"+srv.Fingerprint())
	}
	r.ws, err = workspace.Start(ctx, workspace.Options{
		Servers:      addrs,
		Token:        token,
		KnownServers: filepath.Join(dir, "known_servers"),
	})
	if err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// Close closes the workspace and the servers, and removes the temporary
// folder.
func (r *sperseRig) Close() {
	if r.ws != nil {
		r.ws.Close()
	}
	for i, srv := range r.servers {
		srv.Close()
		<-r.done[i]
		r.pcs[i].Close()
	}
	os.RemoveAll(r.dir)
}

// engine returns a new engine that evaluates remote cells on the rig's
// servers and local cells with its interpreter. The caller closes it.
func (r *sperseRig) engine() *reactive.Engine {
	return reactive.New(reactive.Config{Local: reactive.Local{Interp: r.ws.Interp}, Remote: r.ws.Client})
}

// results are the samples of one side, by measure key.
type results map[string]Sample

// add appends v to the sample of key.
func (rs results) add(key string, v float64) {
	s := rs[key]
	s.Values = append(s.Values, v)
	rs[key] = s
}

// roundTrips is workload 1 on sperse, the raw QUIC floor and gRPC: n calls
// of each, one at a time, the three taking turns in blocks of
// benchpeers.Block calls (see there why) so that a change in the machine's
// load touches all three. It adds the p50 and p99 of each to the results of
// sperse, quic and grpc.
func roundTrips(ctx context.Context, r *sperseRig, p *benchpeers.Payload, n int, out map[string]results) error {
	floor, err := benchpeers.StartQUICFloor(ctx, p, false)
	if err != nil {
		return fmt.Errorf("quic floor: %w", err)
	}
	defer floor.Close()
	g, err := benchpeers.StartGRPCUnary(p)
	if err != nil {
		return fmt.Errorf("grpc: %w", err)
	}
	defer g.Close()
	sperseCall := func(ctx context.Context) error {
		return p.Check(r.ws.Client.Eval(ctx, lang.Request{Cell: p.Cell, Scope: p.Scope}))
	}
	sides := []string{"sperse", "quic", "grpc"}
	calls := []func(context.Context) error{sperseCall, floor.Call, g.Call}
	// A tenth more first, to warm up.
	if _, err := benchpeers.Alternate(ctx, calls, n/10); err != nil {
		return err
	}
	lat, err := benchpeers.Alternate(ctx, calls, n)
	if err != nil {
		return err
	}
	for k, side := range sides {
		out[side].add("1.p50", percentile(lat[k], 50))
		out[side].add("1.p99", percentile(lat[k], 99))
	}
	return nil
}

// manyCells is workload 2 on sperse: cells independent tiny remote cells
// (t0 = remote 0 + 1, ...) loaded into a new engine, from Load until every
// one is ready; it returns the cells per second.
func manyCells(ctx context.Context, r *sperseRig, cells int, rep int) (float64, error) {
	cs := make([]*lang.Cell, cells)
	for i := range cs {
		cs[i] = lang.ParseCell("many.sp", i+1, fmt.Sprintf("t%d = remote %d + %d", i, i, rep))
	}
	e := r.engine()
	defer e.Close()
	start := time.Now()
	e.Load(cs)
	if err := e.Wait(ctx); err != nil {
		return 0, err
	}
	took := time.Since(start)
	for i := range cells {
		if err := wantCell(e, fmt.Sprintf("t%d", i), strconv.Itoa(i+rep)); err != nil {
			return 0, err
		}
	}
	return float64(cells) / took.Seconds(), nil
}

// inFlightRate makes n calls, inFlight at a time, call(ctx, i) for i from
// 1 to n, and returns the calls per second and the first error.
func inFlightRate(ctx context.Context, n int, call func(context.Context, int64) error) (float64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	start := time.Now()
	for range min(inFlight, n) {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				if err := call(ctx, i); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
			}
		})
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds(), first
}

// grpcMany is workload 2 on gRPC: cells unary calls to two gRPC servers,
// inFlight at a time, alternating between the servers; it returns the
// calls per second.
func grpcMany(ctx context.Context, gs []*benchpeers.GRPCUnary, cells int) (float64, error) {
	return inFlightRate(ctx, cells, func(ctx context.Context, i int64) error {
		return gs[i%int64(len(gs))].Call(ctx)
	})
}

// clientMany is workload 2 through remote.Client.Eval without the engine:
// cells evaluations of the tiny cell, inFlight at a time, routed by the
// client to the two servers; it returns the evaluations per second.
func clientMany(ctx context.Context, r *sperseRig, p *benchpeers.Payload, cells int) (float64, error) {
	return inFlightRate(ctx, cells, func(ctx context.Context, _ int64) error {
		return p.Check(r.ws.Client.Eval(ctx, lang.Request{Cell: p.Cell, Scope: p.Scope}))
	})
}

// chainCells returns a chain of n dependent remote cells, c0 = remote
// root, c1 = remote c0 + 1, ...
func chainCells(n int) []*lang.Cell {
	cs := make([]*lang.Cell, n)
	cs[0] = lang.ParseCell("chain.sp", 1, "c0 = remote 0")
	for i := 1; i < n; i++ {
		cs[i] = lang.ParseCell("chain.sp", i+1, fmt.Sprintf("c%d = remote c%d + 1", i, i-1))
	}
	return cs
}

// wantCell checks that the cell name of e is ready with the value whose
// repr is want.
func wantCell(e *reactive.Engine, name, want string) error {
	v, _ := e.Cell(name)
	if v.State != reactive.Ready || v.Value == nil || v.Value.String() != want {
		return fmt.Errorf("%s is %s %v (%v), want %s", name, v.State, v.Value, v.Err, want)
	}
	return nil
}

// graph is one of workload 4's graphs: the inputs of each cell, by index;
// cell 0 is the root and every other cell is downstream of it.
type graph struct {
	Name string  `json:"name"`
	Deps [][]int `json:"deps"`
}

// graphs returns workload 4's graphs of n cells: a chain, a fan-out (every
// cell uses the root) and a random diamond graph (each cell uses 1 to 3
// earlier cells, with a fixed seed).
func graphs(n int) []graph {
	chain, fan, diamond := make([][]int, n), make([][]int, n), make([][]int, n)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 1; i < n; i++ {
		chain[i] = []int{i - 1}
		fan[i] = []int{0}
		seen := map[int]bool{}
		for range 1 + rng.IntN(3) {
			d := rng.IntN(i)
			if !seen[d] {
				seen[d] = true
				diamond[i] = append(diamond[i], d)
			}
		}
	}
	return []graph{{"chain", chain}, {"fanout", fan}, {"diamond", diamond}}
}

// localCells returns the cells of g as local sperse cells: the root is
// c0 = root; a cell of the chain is its input plus 1, of the fan-out the
// root plus its index, and of the diamond graph the sum of its inputs plus
// 1, modulo 1,000,003 (as observable_bench.mjs computes them).
func (g graph) localCells(root int) []*lang.Cell {
	cs := make([]*lang.Cell, len(g.Deps))
	cs[0] = lang.ParseCell(g.Name+".sp", 1, fmt.Sprintf("c0 = %d", root))
	for i := 1; i < len(g.Deps); i++ {
		var src string
		switch g.Name {
		case "chain":
			src = fmt.Sprintf("c%d = c%d + 1", i, g.Deps[i][0])
		case "fanout":
			src = fmt.Sprintf("c%d = c0 + %d", i, i)
		default:
			src = fmt.Sprintf("c%d = (", i)
			for k, d := range g.Deps[i] {
				if k > 0 {
					src += " + "
				}
				src += fmt.Sprintf("c%d", d)
			}
			src += " + 1) % 1000003"
		}
		cs[i] = lang.ParseCell(g.Name+".sp", i+1, src)
	}
	return cs
}

// last returns what the last cell of g is with the root's value root.
func (g graph) last(root int) int {
	vals := make([]int, len(g.Deps))
	vals[0] = root
	for i := 1; i < len(vals); i++ {
		switch g.Name {
		case "chain":
			vals[i] = vals[i-1] + 1
		case "fanout":
			vals[i] = root + i
		default:
			s := 1
			for _, d := range g.Deps[i] {
				s += vals[d]
			}
			vals[i] = s % 1000003
		}
	}
	return vals[len(vals)-1]
}

// propagate is workload 4 on sperse for g: the initial evaluation of its
// cells in a new engine with the local interpreter (Load until all are
// ready), then the propagation after redefining the root (Define until all
// are ready again). It returns both times in seconds.
func propagate(ctx context.Context, g graph, rep int) (initial, change float64, err error) {
	cs := g.localCells(rep)
	e := reactive.New(reactive.Config{Local: reactive.Local{Interp: lang.NewInterp("local")}})
	defer e.Close()
	last := fmt.Sprintf("c%d", len(cs)-1)
	start := time.Now()
	e.Load(cs)
	if err := e.Wait(ctx); err != nil {
		return 0, 0, err
	}
	initial = time.Since(start).Seconds()
	if err := wantCell(e, last, strconv.Itoa(g.last(rep))); err != nil {
		return 0, 0, fmt.Errorf("%s, initial: %w", g.Name, err)
	}
	root := lang.ParseCell(g.Name+".sp", 1, fmt.Sprintf("c0 = %d", rep+1))
	start = time.Now()
	e.Define(root)
	if err := e.Wait(ctx); err != nil {
		return 0, 0, err
	}
	change = time.Since(start).Seconds()
	if err := wantCell(e, last, strconv.Itoa(g.last(rep+1))); err != nil {
		return 0, 0, fmt.Errorf("%s, after the change: %w", g.Name, err)
	}
	return initial, change, nil
}

// evalLocal evaluates src as a local cell of the rig's workspace (whose
// pmap and mapreduce split their work across the servers) and checks that
// check accepts its value; it returns the time it took in seconds.
func evalLocal(ctx context.Context, r *sperseRig, src string, check func(lang.Value) error) (float64, error) {
	c := lang.ParseCell("split.sp", 1, src)
	if c == nil || c.Err != nil {
		return 0, fmt.Errorf("%s: %v", src, c.Err)
	}
	start := time.Now()
	v, err := r.ws.Interp.Eval(ctx, c, nil)
	took := time.Since(start).Seconds()
	if err != nil {
		return 0, err
	}
	if err := check(v); err != nil {
		return 0, fmt.Errorf("%s: %w", src, err)
	}
	return took, nil
}

// wantRepr returns a check that a value's repr is want.
func wantRepr(want string) func(lang.Value) error {
	return func(v lang.Value) error {
		if got := v.String(); got != want {
			return fmt.Errorf("got %s, want %s", got, want)
		}
		return nil
	}
}

// wantSeq returns a check that a value is a sequence of n elements whose
// last is last.
func wantSeq(n int, last string) func(lang.Value) error {
	return func(v lang.Value) error {
		s, ok := v.(starlark.Indexable)
		if !ok || s.Len() != n {
			return fmt.Errorf("got %s, want %d elements", v.Type(), n)
		}
		if got := s.Index(n - 1).String(); got != last {
			return fmt.Errorf("last element %s, want %s", got, last)
		}
		return nil
	}
}

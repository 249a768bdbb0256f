//go:build unix

package remote_test

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/sperse/sperse/internal/benchpeers"
	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/remote"
	"github.com/sperse/sperse/server"
)

// The transport benchmarks' harness (issue 3): ways to carry one tiny
// remote cell, x = remote n + 1 with n = 41, over loopback.
//
//   - quic, the floor, quicstream, a second floor with streams reused, and
//     grpc: see internal/benchpeers;
//   - sperse: a real server.Server and a remote.Client, through Client.Eval
//     (encoding the job, evaluating it on the server, decoding the result:
//     what a user pays).
//
// Every call checks its answer: a wrong one is an error.

const benchToken = "bench-token-5d0e2a9c"

// newBenchPayload encodes the tiny cell's request and response.
func newBenchPayload(tb testing.TB) *benchpeers.Payload {
	tb.Helper()
	p, err := benchpeers.NewPayload()
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// benchContender is one way to carry the tiny cell.
type benchContender struct {
	name string
	// call sends the request and waits for the response, which it checks.
	// It is safe to call from any goroutine.
	call func(ctx context.Context) error
}

// newBenchContenders starts the contenders on loopback, each server with
// its client connected. They are closed when tb ends.
func newBenchContenders(tb testing.TB, p *benchpeers.Payload) []*benchContender {
	tb.Helper()
	return []*benchContender{
		{name: "quic", call: newQUICFloor(tb, p, false)},
		{name: "quicstream", call: newQUICFloor(tb, p, true)},
		{name: "grpc", call: newGRPCUnary(tb, p)},
		{name: "sperse", call: newSperse(tb, p)},
	}
}

// newQUICFloor starts a floor, closed when tb ends, and returns its call.
func newQUICFloor(tb testing.TB, p *benchpeers.Payload, reuse bool) func(context.Context) error {
	tb.Helper()
	f, err := benchpeers.StartQUICFloor(tb.Context(), p, reuse)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(f.Close)
	return f.Call
}

// newGRPCUnary starts the gRPC contender, closed when tb ends, and returns
// its call.
func newGRPCUnary(tb testing.TB, p *benchpeers.Payload) func(context.Context) error {
	tb.Helper()
	g, err := benchpeers.StartGRPCUnary(p)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(g.Close)
	return g.Call
}

// newSperse starts a server.Server on 127.0.0.1:0 and connects a
// remote.Client to it with its fingerprint pinned; it returns a call that
// evaluates the tiny cell through Client.Eval.
func newSperse(tb testing.TB, p *benchpeers.Payload) func(context.Context) error {
	tb.Helper()
	cert, fp, _, err := benchpeers.PinnedTLS()
	if err != nil {
		tb.Fatal(err)
	}
	srv, err := server.New(server.Config{Name: "bench", Tokens: []string{benchToken}, Certificate: cert})
	if err != nil {
		tb.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(pc) }()
	client := remote.NewClient(remote.ClientConfig{
		Token:        benchToken,
		KnownServers: filepath.Join(tb.TempDir(), "known_servers"), // unused: the fingerprint is pinned
		Interp:       lang.NewInterp("local"),
		Name:         "sperse benchmarks",
	})
	tb.Cleanup(func() {
		client.Close()
		srv.Close()
		<-served
		pc.Close()
	})
	ctx, cancel := context.WithTimeout(tb.Context(), 10*time.Second)
	defer cancel()
	if err := client.Connect(ctx, pc.LocalAddr().String()+"#"+fp); err != nil {
		tb.Fatal(err)
	}
	return func(ctx context.Context) error {
		res := client.Eval(ctx, lang.Request{Cell: p.Cell, Scope: p.Scope})
		if err := p.Check(res); err != nil {
			return err
		}
		if res.Where != "bench" {
			return fmt.Errorf("sperse: ran on %q, want %q", res.Where, "bench")
		}
		return nil
	}
}

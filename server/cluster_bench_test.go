package server

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/remote"
)

// benchSecret is the cluster secret of the benchmarks.
var benchSecret = []byte("the cluster secret of the benchmarks")

// startMember starts a server called name with token in the cluster of
// benchSecret, joining the gossip address join ("" starts the cluster),
// providing provide. It returns the server and its client address.
func startMember(tb testing.TB, name, token, join string, provide map[string]any) (*Server, string) {
	tb.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	cc := &Cluster{Secret: benchSecret, Gossip: "127.0.0.1:0", Advertise: pc.LocalAddr().String()}
	if join != "" {
		cc.Join = []string{join}
	}
	s, err := New(Config{Name: name, Tags: []string{"tag-" + name}, Tokens: []string{token}, Provide: provide, Cluster: cc})
	if err != nil {
		tb.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(pc) }()
	if err := s.JoinCluster(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		s.Close()
		<-served
		pc.Close()
	})
	return s, pc.LocalAddr().String() + "#" + s.Fingerprint()
}

// benchClient returns a client with token connected to address.
func benchClient(tb testing.TB, token, address string) *remote.Client {
	tb.Helper()
	c := remote.NewClient(remote.ClientConfig{Token: token, KnownServers: filepath.Join(tb.TempDir(), "known")})
	tb.Cleanup(func() { c.Close() })
	if err := c.Connect(context.Background(), address); err != nil {
		tb.Fatal(err)
	}
	return c
}

// waitFor polls until ok holds, for at most a minute.
func waitFor(tb testing.TB, what string, ok func() bool) {
	tb.Helper()
	deadline := time.Now().Add(time.Minute)
	for !ok() {
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not within a minute", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// knows reports whether c has a connected server called name with tag and
// providing fn.
func knows(c *remote.Client, name, tag, fn string) bool {
	for _, s := range c.Servers() {
		if s.Name == name && s.Connected && slices.Contains(s.Tags, tag) && slices.Contains(s.Provides, fn) {
			return true
		}
	}
	return false
}

// BenchmarkClusterNewMember measures how long a new member's tags and
// provided names take to reach a client that knows another member, in a
// cluster of 5: from the start of the new server until the client has it,
// connected, with its tags and provided names.
func BenchmarkClusterNewMember(b *testing.B) {
	const token = "bench"
	first, addr := startMember(b, "m0", token, "", nil)
	for i := 1; i < 4; i++ {
		startMember(b, fmt.Sprintf("m%d", i), token, first.GossipAddr(), nil)
	}
	c := benchClient(b, token, addr)
	waitFor(b, "4 members", func() bool { return len(c.Servers()) == 4 })
	var total time.Duration
	for i := 0; b.Loop(); i++ {
		name, fn := fmt.Sprintf("new%d", i), fmt.Sprintf("f%d", i)
		start := time.Now()
		s, _ := startMember(b, name, token, first.GossipAddr(), map[string]any{fn: 1})
		waitFor(b, "the new member", func() bool { return knows(c, name, "tag-"+name, fn) })
		total += time.Since(start)
		b.StopTimer()
		s.Close()
		waitFor(b, "the member gone", func() bool { return len(c.Servers()) == 4 })
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/member")
}

// BenchmarkClusterForwarded compares the round trip of a tiny remote cell
// sent straight to the member that runs it with one sent to another member,
// which forwards it.
func BenchmarkClusterForwarded(b *testing.B) {
	fb := func(x int) int { return x + 1 }
	a, addrA := startMember(b, "a", "token-a", "", nil)
	_, addrB := startMember(b, "b", "token-b", a.GossipAddr(), map[string]any{"fb": fb})
	cell := lang.ParseCell("bench.sp", 1, "x = remote fb(1)")
	run := func(b *testing.B, c *remote.Client) {
		for b.Loop() {
			res := c.Eval(context.Background(), lang.Request{Cell: cell, Scope: map[string]lang.Value{}})
			if res.Err != nil || res.Value.String() != "2" {
				b.Fatalf("remote fb(1) = %v, %v", res.Value, res.Err)
			}
		}
	}
	b.Run("direct", func(b *testing.B) {
		run(b, benchClient(b, "token-b", addrB))
	})
	b.Run("forwarded", func(b *testing.B) {
		c := benchClient(b, "token-a", addrA) // a's token only: b refuses it
		waitFor(b, "a to list b", func() bool {
			for _, s := range c.Servers() {
				if s.Name == "a" && len(s.Members) == 2 {
					return true
				}
			}
			return false
		})
		run(b, c)
	})
}

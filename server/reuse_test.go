package server

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/sperse/sperse/remote"
)

// send1 writes an Eval of the cell src on str without closing it.
func (c *testClient) send1(str *quic.Stream, src string) {
	c.t.Helper()
	if err := remote.WriteFrame(str, remote.MsgEval, remote.Eval{Kind: remote.EvalCell, Job: cellJob(c.t, src, nil)}); err != nil {
		c.t.Fatal(err)
	}
}

// wantEnd checks that the server has closed its side of str.
func wantEnd(t *testing.T, str *quic.Stream) {
	t.Helper()
	str.SetReadDeadline(time.Now().Add(testTimeout))
	var b [1]byte
	if n, err := str.Read(b[:]); n != 0 || err != io.EOF {
		t.Errorf("read %d bytes, %v; want the end of the stream", n, err)
	}
}

func TestStreamReuse(t *testing.T) {
	ts := startServer(t, Config{}, nil)
	c := connect(t, ts)
	str := c.open()
	// One evaluation after another on the same stream; the code's own error
	// keeps the stream too.
	c.send1(str, "x = 1")
	if got := value(t, c.result(str)); got != "1" {
		t.Errorf("x = %s", got)
	}
	c.send1(str, "y = 1 // 0")
	wantError(t, c.result(str), remote.CodeFailed, "division by zero")
	c.send1(str, "z = 3")
	if got := value(t, c.result(str)); got != "3" {
		t.Errorf("z = %s", got)
	}
	// A bad request is answered, and the server closes the stream.
	if _, err := str.Write(mustFrame(t, remote.MsgPing, remote.Ping{Seq: 1})); err != nil {
		t.Fatal(err)
	}
	wantError(t, c.result(str), remote.CodeBadRequest, "got ping, want eval")
	wantEnd(t, str)

	// A client that closes an idle stream has the server close its side.
	idle := c.open()
	c.send1(idle, "x = 1")
	value(t, c.result(idle))
	idle.Close()
	wantEnd(t, idle)
}

func TestStreamReuseGoAway(t *testing.T) {
	g := newGate()
	ts := startServer(t, Config{}, func(s *Server) { s.testHookRun = g.hook })
	c := connect(t, ts)
	idle := c.open()
	c.send1(idle, "x = 1")
	value(t, c.result(idle))
	busy := c.open()
	c.send1(busy, "slow = 2")
	g.wait(t)

	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		shut <- ts.Shutdown(ctx)
	}()
	c.waitControl(remote.MsgGoAway, nil)
	// After GoAway an idle stream is closed, and the one with an evaluation
	// in flight is closed after its Result.
	wantEnd(t, idle)
	close(g.open)
	if got := value(t, c.result(busy)); got != "2" {
		t.Errorf("slow = %s", got)
	}
	wantEnd(t, busy)
	c.conn.CloseWithError(remote.ConnClosed, "")
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

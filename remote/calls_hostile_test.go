package remote_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/sperse/sperse/internal/benchpeers"
	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/remote"
)

// hostileServer speaks the protocol's handshake and pings, holds the
// evaluation streams it is sent without answering, and answers each call
// stream with onCalls: a server that misbehaves on call streams.
type hostileServer struct {
	addr string // with the certificate's fingerprint
	wg   sync.WaitGroup
}

func startHostileServer(t *testing.T, onCalls func(qc *quic.Conn, str *quic.Stream, br *bufio.Reader)) *hostileServer {
	t.Helper()
	cert, fp, _, err := benchpeers.PinnedTLS()
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr := &quic.Transport{Conn: pc}
	ln, err := tr.Listen(&tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{remote.ALPN}, MinVersion: tls.VersionTLS13},
		&quic.Config{MaxIncomingStreams: 100, MaxIdleTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	h := &hostileServer{addr: pc.LocalAddr().String() + "#" + fp}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		ln.Close()
		tr.Close()
		h.wg.Wait()
		pc.Close()
	})
	h.wg.Go(func() {
		for {
			qc, err := ln.Accept(ctx)
			if err != nil {
				return
			}
			h.wg.Go(func() { h.serve(ctx, qc, onCalls) })
		}
	})
	return h
}

func (h *hostileServer) serve(ctx context.Context, qc *quic.Conn, onCalls func(*quic.Conn, *quic.Stream, *bufio.Reader)) {
	defer qc.CloseWithError(0, "")
	ctrl, err := qc.AcceptStream(ctx)
	if err != nil {
		return
	}
	cr := bufio.NewReader(ctrl)
	if _, _, err := remote.ReadFrame(cr, 1<<20); err != nil { // Hello
		return
	}
	welcome := remote.Welcome{Version: remote.ProtocolVersion, Name: "evil",
		Limits: remote.Limits{MaxConcurrency: 4, MaxSteps: 1 << 20, Timeout: time.Minute, MaxMessage: 1 << 20}}
	if err := remote.WriteFrame(ctrl, remote.MsgWelcome, welcome); err != nil {
		return
	}
	h.wg.Go(func() { // Pongs for the client's Pings
		for {
			t, body, err := remote.ReadFrame(cr, 1<<20)
			if err != nil {
				return
			}
			var p remote.Ping
			if t == remote.MsgPing && remote.DecodeBody(t, body, &p) == nil {
				remote.WriteFrame(ctrl, remote.MsgPong, remote.Pong(p))
			}
		}
	})
	for {
		str, err := qc.AcceptStream(ctx)
		if err != nil {
			return
		}
		h.wg.Go(func() {
			br := bufio.NewReader(str)
			if t, _, err := remote.ReadFrame(br, 1<<20); err == nil && t == remote.MsgCall {
				onCalls(qc, str, br)
			}
			<-ctx.Done() // an evaluation stream is held, unanswered
		})
	}
}

// TestCallsHostileServer checks that a client survives a server that
// misbehaves on its call stream: the Calls fail with an error that names
// the server, or end when cancelled; nothing hangs, and the client closes
// leaving nothing behind.
func TestCallsHostileServer(t *testing.T) {
	for _, tc := range []struct {
		name    string
		onCalls func(qc *quic.Conn, str *quic.Stream, br *bufio.Reader)
		want    string // the Call's error; "" for one that never ends but by its context
	}{
		{"garbage", func(_ *quic.Conn, str *quic.Stream, _ *bufio.Reader) {
			str.Write([]byte("\x05this is no frame"))
		}, "server evil sent a bad result for cell c: decode frame: not the array [type, body]"},
		{"another message", func(_ *quic.Conn, str *quic.Stream, _ *bufio.Reader) {
			remote.WriteFrame(str, remote.MsgPong, remote.Pong{Seq: 1})
		}, "server evil sent a bad result for cell c: bad reply: got pong, want reply"},
		{"a reply without a tag", func(_ *quic.Conn, str *quic.Stream, _ *bufio.Reader) {
			remote.WriteFrame(str, remote.MsgReply, remote.Result{Value: []byte{0x01}})
		}, "a reply without a tag"},
		{"a reply to a call never made", func(_ *quic.Conn, str *quic.Stream, _ *bufio.Reader) {
			remote.WriteFrame(str, remote.MsgReply, remote.Result{Value: []byte{0x01}, Tag: 1 << 50})
		}, ""},
		{"the stream reset", func(_ *quic.Conn, str *quic.Stream, _ *bufio.Reader) {
			str.CancelWrite(remote.StreamBadRequest)
		}, "server evil could not understand the evaluation of cell c"},
		{"a reply stream cut short", func(qc *quic.Conn, _ *quic.Stream, _ *bufio.Reader) {
			if u, err := qc.OpenUniStream(); err == nil {
				u.Write([]byte("\x40\x10not a reply"))
				u.Close()
			}
		}, "server evil ended the evaluation without a result"},
		{"a reply stream without a reply", func(qc *quic.Conn, _ *quic.Stream, _ *bufio.Reader) {
			if u, err := qc.OpenUniStream(); err == nil {
				remote.WriteFrame(u, remote.MsgPong, remote.Pong{Seq: 1})
				u.Close()
			}
		}, "server evil sent a bad result for cell c: reply stream: bad reply: got pong, want reply"},
		{"silence", func(*quic.Conn, *quic.Stream, *bufio.Reader) {}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startHostileServer(t, tc.onCalls)
			c := newClient(t, remote.ClientConfig{})
			c.connect(t, h.addr)
			// The first evaluation is alone in flight: it goes on an
			// evaluation stream, which the server holds; the next is a Call.
			held, cancelHeld := context.WithCancel(t.Context())
			defer cancelHeld()
			heldDone := make(chan lang.Result, 1)
			go func() { heldDone <- c.Eval(held, lang.Request{Cell: cell(t, "h = remote 1")}) }()
			c.waitFor(t, "the first evaluation is in flight", func(s []remote.ServerInfo) bool { return s[0].ClientInFlight == 1 })

			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			start := time.Now()
			res := c.Eval(ctx, lang.Request{Cell: cell(t, "c = remote 2")})
			switch {
			case tc.want == "" && !errors.Is(res.Err, context.DeadlineExceeded):
				t.Errorf("got %v, %v; want the context's end", res.Value, res.Err)
			case tc.want != "" && (res.Err == nil || !strings.Contains(res.Err.Error(), tc.want)):
				t.Errorf("got %v, %v; want an error containing %q", res.Value, res.Err, tc.want)
			case tc.want != "" && time.Since(start) > 900*time.Millisecond:
				t.Errorf("the error came after %v, not at once", time.Since(start))
			}
			if c.CallsSent("evil") == 0 {
				t.Fatal("the second evaluation did not go as a Call")
			}
			cancelHeld()
			if res := <-heldDone; !errors.Is(res.Err, context.Canceled) {
				t.Errorf("the held evaluation: %v, want context.Canceled", res.Err)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			waitNoClientGoroutines(t)
		})
	}
}

//go:build unix

package remote_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/quicvarint"
	"go.starlark.net/starlark"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/remote"
	"github.com/sperse/sperse/server"
)

// The transport benchmarks' harness (issue 3): three ways to carry one tiny
// remote cell, x = remote n + 1 with n = 41, over loopback.
//
//   - quic, the floor: a bare quic-go request and response with the bytes
//     sperse puts on the wire, a stream per request, and no work on either
//     side but checking the bytes;
//   - quicstream, a second floor: the same, but each request and response
//     on a stream kept open and reused, one request at a time per stream
//     (DESIGN.md leaves "a stream per evaluation, or reused streams" to
//     measurement);
//   - grpc: a gRPC unary call carrying the same CBOR item as []byte (the
//     transport of the original Sperse prototype), without protoc;
//   - sperse: a real server.Server and a remote.Client, through Client.Eval
//     (encoding the job, evaluating it on the server, decoding the result:
//     what a user pays).
//
// Every call checks its answer: a wrong one is an error.

const (
	benchToken = "bench-token-5d0e2a9c"
	benchCell  = "x = remote n + 1"
	benchWant  = 42
	// benchTook is the evaluation time written into the precomputed Result
	// of the floors and of gRPC: a typical one of the tiny cell on a server
	// (some µs, a 3-byte CBOR integer), so the response is as long as
	// sperse's.
	benchTook = 10 * time.Microsecond
	// benchMaxMessage bounds what the harness's own servers read.
	benchMaxMessage = 1 << 20
)

// benchPayload is the tiny cell and the bytes that carry it.
type benchPayload struct {
	cell  *lang.Cell
	scope map[string]lang.Value

	reqFrame  []byte // the Eval frame as sperse sends it: a varint length, then reqItem
	reqItem   []byte // the CBOR item [eval, {kind, job}], job being lang.EncodeJob's bytes
	respFrame []byte // the Result frame as sperse answers: a varint length, then respItem
	respItem  []byte // the CBOR item [result, {value: lang.Encode(42), took}]

	// What the clients check the answers against: respItem and 42, but for
	// the test that a wrong answer is caught.
	wantItem  []byte
	wantValue lang.Value
}

// newBenchPayload encodes the tiny cell's request and response.
func newBenchPayload(tb testing.TB) *benchPayload {
	tb.Helper()
	c := lang.ParseCell("bench.sp", 1, benchCell)
	if c == nil || c.Err != nil {
		tb.Fatalf("cell %q: %v", benchCell, c.Err)
	}
	scope := map[string]lang.Value{"n": starlark.MakeInt(benchWant - 1)}
	job, err := lang.EncodeJob(c, scope)
	if err != nil {
		tb.Fatal(err)
	}
	reqFrame, err := remote.AppendFrame(nil, remote.MsgEval, remote.Eval{Kind: remote.EvalCell, Job: job})
	if err != nil {
		tb.Fatal(err)
	}
	value, err := lang.Encode(starlark.MakeInt(benchWant))
	if err != nil {
		tb.Fatal(err)
	}
	respFrame, err := remote.AppendFrame(nil, remote.MsgResult, remote.Result{Value: value, Took: benchTook})
	if err != nil {
		tb.Fatal(err)
	}
	return &benchPayload{
		cell:      c,
		scope:     scope,
		reqFrame:  reqFrame,
		reqItem:   frameItem(tb, reqFrame),
		respFrame: respFrame,
		respItem:  frameItem(tb, respFrame),
		wantItem:  frameItem(tb, respFrame),
		wantValue: starlark.MakeInt(benchWant),
	}
}

// frameItem returns the CBOR item of a frame, after its length.
func frameItem(tb testing.TB, frame []byte) []byte {
	tb.Helper()
	n, l, err := quicvarint.Parse(frame)
	if err != nil || int(n) != len(frame)-l {
		tb.Fatalf("bad frame %x", frame)
	}
	return frame[l:]
}

// benchContender is one way to carry the tiny cell.
type benchContender struct {
	name string
	// call sends the request and waits for the response, which it checks.
	// It is safe to call from any goroutine.
	call func(ctx context.Context) error
}

// newBenchContenders starts the three contenders on loopback, each server
// with its client connected. They are closed when tb ends.
func newBenchContenders(tb testing.TB, p *benchPayload) []*benchContender {
	tb.Helper()
	return []*benchContender{
		{name: "quic", call: newQUICFloor(tb, p, false)},
		{name: "quicstream", call: newQUICFloor(tb, p, true)},
		{name: "grpc", call: newGRPCUnary(tb, p)},
		{name: "sperse", call: newSperse(tb, p)},
	}
}

// benchCertificate returns a server certificate and the TLS configuration of
// a client that pins it, as sperse's client does (TLS 1.3, ALPN sperse/1,
// verified by fingerprint).
func benchCertificate(tb testing.TB) (tls.Certificate, string, *tls.Config) {
	tb.Helper()
	cert, err := server.GenerateCertificate()
	if err != nil {
		tb.Fatal(err)
	}
	fp := remote.Fingerprint(cert.Certificate[0])
	client := &tls.Config{
		MinVersion:         tls.VersionTLS13,
		NextProtos:         []string{remote.ALPN},
		InsecureSkipVerify: true, // verified by VerifyConnection, as sperse's client does
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 || remote.Fingerprint(cs.PeerCertificates[0].Raw) != fp {
				return errors.New("certificate does not match the pinned fingerprint")
			}
			return nil
		},
	}
	return cert, fp, client
}

// quicFloor is the floor: a minimal request/response server on raw quic-go
// with sperse's TLS and QUIC settings, a stream per request or, if reuse,
// streams kept open for further requests.
type quicFloor struct {
	p    *benchPayload
	conn *quic.Conn // the client's
	wg   sync.WaitGroup

	idle chan *benchStream // with reuse: the client's streams not in use
}

// benchStream is a reused stream of the client, and its reader.
type benchStream struct {
	str *quic.Stream
	br  *bufio.Reader
}

// newQUICFloor starts the floor's server on 127.0.0.1:0 and connects a
// client to it; it returns the client's call.
func newQUICFloor(tb testing.TB, p *benchPayload, reuse bool) func(context.Context) error {
	tb.Helper()
	cert, _, clientTLS := benchCertificate(tb)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tr := &quic.Transport{Conn: pc}
	// The server's settings are server.Server's; the client's, remote.Client's.
	ln, err := tr.Listen(&tls.Config{
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{remote.ALPN},
		MinVersion:   tls.VersionTLS13,
	}, &quic.Config{
		KeepAlivePeriod:       2 * time.Second,
		MaxIdleTimeout:        10 * time.Second,
		MaxIncomingStreams:    10000,
		MaxIncomingUniStreams: -1,
	})
	if err != nil {
		tb.Fatal(err)
	}
	f := &quicFloor{p: p}
	serveStream := f.serveStream
	if reuse {
		f.idle = make(chan *benchStream, 2*benchInFlight)
		serveStream = f.serveReused
	}
	f.wg.Go(func() { f.serve(ln, serveStream) })
	ctx, cancel := context.WithTimeout(tb.Context(), 10*time.Second)
	defer cancel()
	conn, err := quic.DialAddr(ctx, pc.LocalAddr().String(), clientTLS, &quic.Config{
		MaxIdleTimeout:        10 * time.Second,
		KeepAlivePeriod:       2 * time.Second,
		MaxIncomingStreams:    -1,
		MaxIncomingUniStreams: -1,
	})
	tb.Cleanup(func() {
		if conn != nil {
			conn.CloseWithError(0, "done")
		}
		ln.Close()
		tr.Close() // closes the server's connections too
		f.wg.Wait()
		pc.Close()
	})
	if err != nil {
		tb.Fatal(err)
	}
	f.conn = conn
	if reuse {
		return f.callReused
	}
	return f.call
}

// serve accepts connections until ln closes, and serves each stream with
// serveStream.
func (f *quicFloor) serve(ln *quic.Listener, serveStream func(*quic.Stream)) {
	for {
		qc, err := ln.Accept(context.Background())
		if err != nil {
			return
		}
		f.wg.Go(func() {
			for {
				str, err := qc.AcceptStream(context.Background())
				if err != nil {
					return
				}
				f.wg.Go(func() { serveStream(str) })
			}
		})
	}
}

// serveStream reads the request on str, checks it, and answers at once with
// the precomputed response.
func (f *quicFloor) serveStream(str *quic.Stream) {
	req, err := readBenchFrame(str)
	if err != nil || !bytes.Equal(req, f.p.reqItem) {
		str.CancelRead(remote.StreamBadRequest)
		str.CancelWrite(remote.StreamBadRequest)
		return
	}
	if _, err := str.Write(f.p.respFrame); err != nil {
		str.CancelRead(remote.StreamBadRequest)
		return
	}
	str.Close()
	io.Copy(io.Discard, str) // the client's FIN: the stream is then done on both sides
}

// call opens a stream, sends the request, closes its side, and reads the
// response to the end of the stream.
func (f *quicFloor) call(ctx context.Context) error {
	str, err := f.conn.OpenStreamSync(ctx)
	if err != nil {
		return err
	}
	if _, err := str.Write(f.p.reqFrame); err != nil {
		return err
	}
	str.Close()
	resp, err := readBenchFrame(str)
	if err != nil {
		str.CancelRead(remote.StreamBadRequest)
		return fmt.Errorf("quic: %w", err)
	}
	if !bytes.Equal(resp, f.p.wantItem) {
		str.CancelRead(remote.StreamBadRequest)
		return fmt.Errorf("quic: got response %x, want %x", resp, f.p.wantItem)
	}
	var end [1]byte
	if n, err := str.Read(end[:]); n != 0 || err != io.EOF {
		str.CancelRead(remote.StreamBadRequest)
		return fmt.Errorf("quic: %d bytes and %v after the response, want the end of the stream", n, err)
	}
	return nil
}

// serveReused answers each request on str with the precomputed response,
// until the client closes str.
func (f *quicFloor) serveReused(str *quic.Stream) {
	br := bufio.NewReader(str)
	for {
		req, err := readBenchFrame(br)
		if err == io.EOF {
			str.Close()
			return
		}
		if err != nil || !bytes.Equal(req, f.p.reqItem) {
			str.CancelRead(remote.StreamBadRequest)
			str.CancelWrite(remote.StreamBadRequest)
			return
		}
		if _, err := str.Write(f.p.respFrame); err != nil {
			str.CancelRead(remote.StreamBadRequest)
			return
		}
	}
}

// callReused sends the request on an idle stream, or a new one, and reads
// the response; the stream is then idle again. A stream that fails is
// dropped.
func (f *quicFloor) callReused(ctx context.Context) error {
	var s *benchStream
	select {
	case s = <-f.idle:
	default:
		str, err := f.conn.OpenStreamSync(ctx)
		if err != nil {
			return err
		}
		s = &benchStream{str: str, br: bufio.NewReader(str)}
	}
	fail := func(err error) error {
		s.str.CancelRead(remote.StreamBadRequest)
		s.str.CancelWrite(remote.StreamBadRequest)
		return fmt.Errorf("quicstream: %w", err)
	}
	if _, err := s.str.Write(f.p.reqFrame); err != nil {
		return fail(err)
	}
	resp, err := readBenchFrame(s.br)
	if err != nil {
		return fail(err)
	}
	if !bytes.Equal(resp, f.p.wantItem) {
		return fail(fmt.Errorf("got response %x, want %x", resp, f.p.wantItem))
	}
	select {
	case f.idle <- s:
	default:
		s.str.Close()
	}
	return nil
}

// readBenchFrame reads one length-prefixed message from r.
func readBenchFrame(r io.Reader) ([]byte, error) {
	n, err := quicvarint.Read(quicvarint.NewReader(r))
	if err != nil {
		return nil, err
	}
	if n > benchMaxMessage {
		return nil, fmt.Errorf("message of %d bytes", n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// grpcMethod is the full name of the harness's one gRPC method.
const grpcMethod = "/sperse.bench.Transport/Eval"

// grpcBytesCodec is a gRPC codec that passes []byte through untouched, so
// that gRPC carries the CBOR item as it is (no protobuf).
type grpcBytesCodec struct{}

func (grpcBytesCodec) Name() string { return "sperse-bench-bytes" }

func (grpcBytesCodec) Marshal(v any) (mem.BufferSlice, error) {
	switch b := v.(type) {
	case []byte:
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	case *[]byte:
		return mem.BufferSlice{mem.SliceBuffer(*b)}, nil
	}
	return nil, fmt.Errorf("grpc bytes codec: cannot marshal %T", v)
}

func (grpcBytesCodec) Unmarshal(data mem.BufferSlice, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("grpc bytes codec: cannot unmarshal into %T", v)
	}
	*b = data.Materialize() // a copy: data is freed when Unmarshal returns
	return nil
}

// newGRPCUnary starts a gRPC server with one unary method on loopback TCP
// and connects a client to it; it returns the client's call.
//
// The connection is plain TCP with insecure credentials: sperse pays for TLS
// 1.3 on every packet and gRPC here does not, which favours gRPC.
func newGRPCUnary(tb testing.TB, p *benchPayload) func(context.Context) error {
	tb.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := grpc.NewServer(grpc.ForceServerCodecV2(grpcBytesCodec{}))
	srv.RegisterService(&grpc.ServiceDesc{
		ServiceName: "sperse.bench.Transport",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: "Eval",
			Handler: func(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				var req []byte
				if err := dec(&req); err != nil {
					return nil, err
				}
				if !bytes.Equal(req, p.reqItem) {
					return nil, fmt.Errorf("got request %x, want %x", req, p.reqItem)
				}
				return p.respItem, nil
			},
		}},
	}, struct{}{})
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(lis)
	}()
	cc, err := grpc.NewClient("passthrough:///"+lis.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(grpcBytesCodec{})))
	tb.Cleanup(func() {
		if cc != nil {
			cc.Close()
		}
		srv.Stop()
		<-served
	})
	if err != nil {
		tb.Fatal(err)
	}
	return func(ctx context.Context) error {
		var resp []byte
		if err := cc.Invoke(ctx, grpcMethod, p.reqItem, &resp); err != nil {
			return fmt.Errorf("grpc: %w", err)
		}
		if !bytes.Equal(resp, p.wantItem) {
			return fmt.Errorf("grpc: got response %x, want %x", resp, p.wantItem)
		}
		return nil
	}
}

// newSperse starts a server.Server on 127.0.0.1:0 and connects a
// remote.Client to it with its fingerprint pinned; it returns a call that
// evaluates the tiny cell through Client.Eval.
func newSperse(tb testing.TB, p *benchPayload) func(context.Context) error {
	tb.Helper()
	cert, fp, _ := benchCertificate(tb)
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
		res := client.Eval(ctx, lang.Request{Cell: p.cell, Scope: p.scope})
		if res.Err != nil {
			return fmt.Errorf("sperse: %w", res.Err)
		}
		if eq, err := starlark.Equal(res.Value, p.wantValue); err != nil || !eq || res.Where != "bench" {
			return fmt.Errorf("sperse: got %v from %q, want %v from %q", res.Value, res.Where, p.wantValue, "bench")
		}
		return nil
	}
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
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

// The raw-QUIC floor and the gRPC contender, copied from the transport
// benchmarks' harness (remote/benchharness_test.go) as code that runs
// outside tests. Both carry the bytes sperse puts on the wire for the tiny
// cell x = remote n + 1 with n = 41, and do no work but checking them.

const (
	tinyCell  = "x = remote n + 1"
	tinyWant  = 42
	tinyTook  = 10 * time.Microsecond // the evaluation time written into the floors' precomputed Result
	maxFrame  = 1 << 20               // what the harness's own servers read
	grpcRoute = "/sperse.bench.Transport/Eval"
)

// payload is the tiny cell and the bytes that carry it.
type payload struct {
	cell  *lang.Cell
	scope map[string]lang.Value

	reqFrame  []byte // the Eval frame as sperse sends it: a varint length, then reqItem
	reqItem   []byte // the CBOR item [eval, {kind, job}]
	respFrame []byte // the Result frame as sperse answers: a varint length, then respItem
	respItem  []byte // the CBOR item [result, {value: 42, took}]
	wantValue lang.Value
}

// newPayload encodes the tiny cell's request and response.
func newPayload() (*payload, error) {
	c := lang.ParseCell("bench.sp", 1, tinyCell)
	if c == nil || c.Err != nil {
		return nil, fmt.Errorf("cell %q: %v", tinyCell, c.Err)
	}
	scope := map[string]lang.Value{"n": starlark.MakeInt(tinyWant - 1)}
	job, err := lang.EncodeJob(c, scope)
	if err != nil {
		return nil, err
	}
	reqFrame, err := remote.AppendFrame(nil, remote.MsgEval, remote.Eval{Kind: remote.EvalCell, Job: job})
	if err != nil {
		return nil, err
	}
	value, err := lang.Encode(starlark.MakeInt(tinyWant))
	if err != nil {
		return nil, err
	}
	respFrame, err := remote.AppendFrame(nil, remote.MsgResult, remote.Result{Value: value, Took: tinyTook})
	if err != nil {
		return nil, err
	}
	p := &payload{cell: c, scope: scope, reqFrame: reqFrame, respFrame: respFrame, wantValue: starlark.MakeInt(tinyWant)}
	if p.reqItem, err = frameItem(reqFrame); err != nil {
		return nil, err
	}
	if p.respItem, err = frameItem(respFrame); err != nil {
		return nil, err
	}
	return p, nil
}

// frameItem returns the CBOR item of a frame, after its length.
func frameItem(frame []byte) ([]byte, error) {
	n, l, err := quicvarint.Parse(frame)
	if err != nil || int(n) != len(frame)-l {
		return nil, fmt.Errorf("bad frame %x", frame)
	}
	return frame[l:], nil
}

// pinnedTLS returns a server certificate and the TLS configuration of a
// client that pins it, as sperse's client does (TLS 1.3, ALPN sperse/1,
// verified by fingerprint).
func pinnedTLS() (tls.Certificate, *tls.Config, error) {
	cert, err := server.GenerateCertificate()
	if err != nil {
		return tls.Certificate{}, nil, err
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
	return cert, client, nil
}

// quicFloor is the floor: a minimal request/response server on raw quic-go
// with sperse's TLS and QUIC settings, a stream per request.
type quicFloor struct {
	p    *payload
	pc   net.PacketConn
	tr   *quic.Transport
	ln   *quic.Listener
	conn *quic.Conn // the client's
	wg   sync.WaitGroup
}

// startQUICFloor starts the floor's server on 127.0.0.1:0 and connects a
// client to it. Close stops both.
func startQUICFloor(ctx context.Context, p *payload) (*quicFloor, error) {
	cert, clientTLS, err := pinnedTLS()
	if err != nil {
		return nil, err
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &quicFloor{p: p, pc: pc, tr: &quic.Transport{Conn: pc}}
	// The server's settings are server.Server's; the client's, remote.Client's.
	f.ln, err = f.tr.Listen(&tls.Config{
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
		pc.Close()
		return nil, err
	}
	f.wg.Go(f.serve)
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	f.conn, err = quic.DialAddr(dctx, pc.LocalAddr().String(), clientTLS, &quic.Config{
		MaxIdleTimeout:        10 * time.Second,
		KeepAlivePeriod:       2 * time.Second,
		MaxIncomingStreams:    -1,
		MaxIncomingUniStreams: -1,
	})
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Close closes the client's connection and the server, and waits for the
// server's goroutines.
func (f *quicFloor) Close() {
	if f.conn != nil {
		f.conn.CloseWithError(0, "done")
	}
	f.ln.Close()
	f.tr.Close()
	f.wg.Wait()
	f.pc.Close()
}

// serve accepts connections until the listener closes, and serves each
// stream.
func (f *quicFloor) serve() {
	for {
		qc, err := f.ln.Accept(context.Background())
		if err != nil {
			return
		}
		f.wg.Go(func() {
			for {
				str, err := qc.AcceptStream(context.Background())
				if err != nil {
					return
				}
				f.wg.Go(func() { f.serveStream(str) })
			}
		})
	}
}

// serveStream reads the request on str, checks it, and answers at once with
// the precomputed response.
func (f *quicFloor) serveStream(str *quic.Stream) {
	req, err := readFrame(bufio.NewReader(str))
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
// response to the end of the stream. It is safe to call from any goroutine.
func (f *quicFloor) call(ctx context.Context) error {
	str, err := f.conn.OpenStreamSync(ctx)
	if err != nil {
		return err
	}
	if _, err := str.Write(f.p.reqFrame); err != nil {
		return err
	}
	str.Close()
	resp, err := readFrame(str)
	if err != nil {
		str.CancelRead(remote.StreamBadRequest)
		return fmt.Errorf("quic: %w", err)
	}
	if !bytes.Equal(resp, f.p.respItem) {
		str.CancelRead(remote.StreamBadRequest)
		return fmt.Errorf("quic: got response %x, want %x", resp, f.p.respItem)
	}
	var end [1]byte
	if n, err := str.Read(end[:]); n != 0 || err != io.EOF {
		str.CancelRead(remote.StreamBadRequest)
		return fmt.Errorf("quic: %d bytes and %v after the response, want the end of the stream", n, err)
	}
	return nil
}

// readFrame reads one length-prefixed message from r.
func readFrame(r io.Reader) ([]byte, error) {
	n, err := quicvarint.Read(quicvarint.NewReader(r))
	if err != nil {
		return nil, err
	}
	if n > maxFrame {
		return nil, fmt.Errorf("message of %d bytes", n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// bytesCodec is a gRPC codec that passes []byte through untouched, so that
// gRPC carries the CBOR item as it is (no protobuf).
type bytesCodec struct{}

func (bytesCodec) Name() string { return "sperse-bench-bytes" }

func (bytesCodec) Marshal(v any) (mem.BufferSlice, error) {
	switch b := v.(type) {
	case []byte:
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	case *[]byte:
		return mem.BufferSlice{mem.SliceBuffer(*b)}, nil
	}
	return nil, fmt.Errorf("grpc bytes codec: cannot marshal %T", v)
}

func (bytesCodec) Unmarshal(data mem.BufferSlice, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("grpc bytes codec: cannot unmarshal into %T", v)
	}
	*b = data.Materialize() // a copy: data is freed when Unmarshal returns
	return nil
}

// grpcUnary is a gRPC server with one unary method on loopback TCP, and a
// client connected to it.
//
// The connection is plain TCP with insecure credentials: sperse pays for TLS
// 1.3 on every packet and gRPC here does not, which favours gRPC.
type grpcUnary struct {
	p      *payload
	srv    *grpc.Server
	cc     *grpc.ClientConn
	served chan struct{}
}

// startGRPCUnary starts the server and connects its client. Close stops
// both.
func startGRPCUnary(p *payload) (*grpcUnary, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	g := &grpcUnary{p: p, srv: grpc.NewServer(grpc.ForceServerCodecV2(bytesCodec{})), served: make(chan struct{})}
	g.srv.RegisterService(&grpc.ServiceDesc{
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
	go func() {
		defer close(g.served)
		g.srv.Serve(lis)
	}()
	g.cc, err = grpc.NewClient("passthrough:///"+lis.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(bytesCodec{})))
	if err != nil {
		g.Close()
		return nil, err
	}
	return g, nil
}

// Close closes the client and stops the server.
func (g *grpcUnary) Close() {
	if g.cc != nil {
		g.cc.Close()
	}
	g.srv.Stop()
	<-g.served
}

// call makes one unary call and checks its answer. It is safe to call from
// any goroutine.
func (g *grpcUnary) call(ctx context.Context) error {
	var resp []byte
	if err := g.cc.Invoke(ctx, grpcRoute, g.p.reqItem, &resp); err != nil {
		return fmt.Errorf("grpc: %w", err)
	}
	if !bytes.Equal(resp, g.p.respItem) {
		return fmt.Errorf("grpc: got response %x, want %x", resp, g.p.respItem)
	}
	return nil
}

// Package benchpeers holds what sperse's transport is measured against:
// two floors on raw quic-go and a gRPC unary call, each carrying the bytes
// sperse puts on the wire for one tiny remote cell, x = remote n + 1 with
// n = 41, and doing no work but checking them. The transport benchmarks
// (remote's tests) and sperse-bench both use it.
//
//   - the QUIC floor: a bare quic-go request and response with sperse's TLS
//     and QUIC settings, a stream per request or (reuse) streams kept open
//     for the next request, one request at a time per stream;
//   - gRPC: a unary call carrying the same CBOR item as []byte (the
//     transport of the original Sperse prototype), without protoc, over
//     plain TCP.
//
// Every call checks its answer: a wrong one is an error.
package benchpeers

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

const (
	// Cell is the tiny cell, and Want its value.
	Cell = "x = remote n + 1"
	Want = 42
	// took is the evaluation time written into the precomputed Result: a
	// typical one of the tiny cell on a server (some µs, a 3-byte CBOR
	// integer), so the response is as long as sperse's.
	took = 10 * time.Microsecond
	// maxMessage bounds what the floors' own servers read.
	maxMessage = 1 << 20
	// maxIdle is how many streams a reusing floor's client keeps open.
	maxIdle = 128
	// grpcMethod is the full name of the one gRPC method.
	grpcMethod = "/sperse.bench.Transport/Eval"
)

// Payload is the tiny cell and the bytes that carry it.
type Payload struct {
	Cell  *lang.Cell
	Scope map[string]lang.Value

	ReqFrame  []byte // the Eval frame as sperse sends it: a varint length, then ReqItem
	ReqItem   []byte // the CBOR item [eval, {kind, job}], job being lang.EncodeJob's bytes
	RespFrame []byte // the Result frame as sperse answers: a varint length, then RespItem
	RespItem  []byte // the CBOR item [result, {value: lang.Encode(42), took}]

	// What the clients check the answers against: RespItem and 42, but for
	// a test that a wrong answer is caught.
	WantItem  []byte
	WantValue lang.Value
}

// NewPayload encodes the tiny cell's request and response.
func NewPayload() (*Payload, error) {
	c := lang.ParseCell("bench.sp", 1, Cell)
	if c == nil || c.Err != nil {
		return nil, fmt.Errorf("cell %q: %v", Cell, c.Err)
	}
	scope := map[string]lang.Value{"n": starlark.MakeInt(Want - 1)}
	job, err := lang.EncodeJob(c, scope)
	if err != nil {
		return nil, err
	}
	reqFrame, err := remote.AppendFrame(nil, remote.MsgEval, remote.Eval{Kind: remote.EvalCell, Job: job})
	if err != nil {
		return nil, err
	}
	value, err := lang.Encode(starlark.MakeInt(Want))
	if err != nil {
		return nil, err
	}
	respFrame, err := remote.AppendFrame(nil, remote.MsgResult, remote.Result{Value: value, Took: took})
	if err != nil {
		return nil, err
	}
	p := &Payload{Cell: c, Scope: scope, ReqFrame: reqFrame, RespFrame: respFrame, WantValue: starlark.MakeInt(Want)}
	if p.ReqItem, err = frameItem(reqFrame); err != nil {
		return nil, err
	}
	if p.RespItem, err = frameItem(respFrame); err != nil {
		return nil, err
	}
	p.WantItem = p.RespItem
	return p, nil
}

// Check returns an error unless res, sperse's evaluation of the tiny cell,
// has the value wanted.
func (p *Payload) Check(res lang.Result) error {
	if res.Err != nil {
		return fmt.Errorf("sperse: %w", res.Err)
	}
	if eq, err := starlark.Equal(res.Value, p.WantValue); err != nil || !eq {
		return fmt.Errorf("sperse: got %v from %q, want %v", res.Value, res.Where, p.WantValue)
	}
	return nil
}

// frameItem returns the CBOR item of a frame, after its length.
func frameItem(frame []byte) ([]byte, error) {
	n, l, err := quicvarint.Parse(frame)
	if err != nil || int(n) != len(frame)-l {
		return nil, fmt.Errorf("bad frame %x", frame)
	}
	return frame[l:], nil
}

// PinnedTLS returns a server certificate, its fingerprint, and the TLS
// configuration of a client that pins it, as sperse's client does (TLS
// 1.3, ALPN sperse/1, verified by fingerprint).
func PinnedTLS() (tls.Certificate, string, *tls.Config, error) {
	cert, err := server.GenerateCertificate()
	if err != nil {
		return tls.Certificate{}, "", nil, err
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
	return cert, fp, client, nil
}

// QUICFloor is a floor: a minimal request/response server on raw quic-go
// with sperse's TLS and QUIC settings, and a client connected to it.
type QUICFloor struct {
	p     *Payload
	reuse bool
	pc    net.PacketConn
	tr    *quic.Transport
	ln    *quic.Listener
	conn  *quic.Conn // the client's
	wg    sync.WaitGroup
	idle  chan *stream // with reuse: the client's streams not in use
}

// stream is a reused stream of the client, and its reader.
type stream struct {
	str *quic.Stream
	br  *bufio.Reader
}

// StartQUICFloor starts a floor's server on 127.0.0.1:0 and connects a
// client to it: with a stream per request, or if reuse, streams kept open
// for further requests. Close stops both.
func StartQUICFloor(ctx context.Context, p *Payload, reuse bool) (*QUICFloor, error) {
	cert, _, clientTLS, err := PinnedTLS()
	if err != nil {
		return nil, err
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &QUICFloor{p: p, reuse: reuse, pc: pc, tr: &quic.Transport{Conn: pc}, idle: make(chan *stream, maxIdle)}
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
func (f *QUICFloor) Close() {
	if f.conn != nil {
		f.conn.CloseWithError(0, "done")
	}
	f.ln.Close()
	f.tr.Close() // closes the server's connections too
	f.wg.Wait()
	f.pc.Close()
}

// serve accepts connections until the listener closes, and serves each
// stream.
func (f *QUICFloor) serve() {
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
				if f.reuse {
					f.wg.Go(func() { f.serveReused(str) })
				} else {
					f.wg.Go(func() { f.serveStream(str) })
				}
			}
		})
	}
}

// serveStream reads the request on str, checks it, and answers at once with
// the precomputed response.
func (f *QUICFloor) serveStream(str *quic.Stream) {
	req, err := readFrame(str)
	if err != nil || !bytes.Equal(req, f.p.ReqItem) {
		str.CancelRead(remote.StreamBadRequest)
		str.CancelWrite(remote.StreamBadRequest)
		return
	}
	if _, err := str.Write(f.p.RespFrame); err != nil {
		str.CancelRead(remote.StreamBadRequest)
		return
	}
	str.Close()
	io.Copy(io.Discard, str) // the client's FIN: the stream is then done on both sides
}

// serveReused answers each request on str with the precomputed response,
// until the client closes str.
func (f *QUICFloor) serveReused(str *quic.Stream) {
	br := bufio.NewReader(str)
	for {
		req, err := readFrame(br)
		if err == io.EOF {
			str.Close()
			return
		}
		if err != nil || !bytes.Equal(req, f.p.ReqItem) {
			str.CancelRead(remote.StreamBadRequest)
			str.CancelWrite(remote.StreamBadRequest)
			return
		}
		if _, err := str.Write(f.p.RespFrame); err != nil {
			str.CancelRead(remote.StreamBadRequest)
			return
		}
	}
}

// Call sends the request and reads the response, which it checks. It is
// safe to call from any goroutine.
func (f *QUICFloor) Call(ctx context.Context) error {
	if f.reuse {
		return f.callReused(ctx)
	}
	str, err := f.conn.OpenStreamSync(ctx)
	if err != nil {
		return err
	}
	if _, err := str.Write(f.p.ReqFrame); err != nil {
		return err
	}
	str.Close()
	resp, err := readFrame(str)
	if err != nil {
		str.CancelRead(remote.StreamBadRequest)
		return fmt.Errorf("quic: %w", err)
	}
	if !bytes.Equal(resp, f.p.WantItem) {
		str.CancelRead(remote.StreamBadRequest)
		return fmt.Errorf("quic: got response %x, want %x", resp, f.p.WantItem)
	}
	var end [1]byte
	if n, err := str.Read(end[:]); n != 0 || err != io.EOF {
		str.CancelRead(remote.StreamBadRequest)
		return fmt.Errorf("quic: %d bytes and %v after the response, want the end of the stream", n, err)
	}
	return nil
}

// callReused sends the request on an idle stream, or a new one, and reads
// the response; the stream is then idle again. A stream that fails is
// dropped.
func (f *QUICFloor) callReused(ctx context.Context) error {
	var s *stream
	select {
	case s = <-f.idle:
	default:
		str, err := f.conn.OpenStreamSync(ctx)
		if err != nil {
			return err
		}
		s = &stream{str: str, br: bufio.NewReader(str)}
	}
	fail := func(err error) error {
		s.str.CancelRead(remote.StreamBadRequest)
		s.str.CancelWrite(remote.StreamBadRequest)
		return fmt.Errorf("quicstream: %w", err)
	}
	if _, err := s.str.Write(f.p.ReqFrame); err != nil {
		return fail(err)
	}
	resp, err := readFrame(s.br)
	if err != nil {
		return fail(err)
	}
	if !bytes.Equal(resp, f.p.WantItem) {
		return fail(fmt.Errorf("got response %x, want %x", resp, f.p.WantItem))
	}
	select {
	case f.idle <- s:
	default:
		s.str.Close()
	}
	return nil
}

// readFrame reads one length-prefixed message from r.
func readFrame(r io.Reader) ([]byte, error) {
	n, err := quicvarint.Read(quicvarint.NewReader(r))
	if err != nil {
		return nil, err
	}
	if n > maxMessage {
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

// GRPCUnary is a gRPC server with one unary method on loopback TCP, and a
// client connected to it.
//
// The connection is plain TCP with insecure credentials: sperse pays for TLS
// 1.3 on every packet and gRPC here does not, which favours gRPC.
type GRPCUnary struct {
	p      *Payload
	srv    *grpc.Server
	cc     *grpc.ClientConn
	served chan struct{}
}

// StartGRPCUnary starts the server and connects its client. Close stops
// both.
func StartGRPCUnary(p *Payload) (*GRPCUnary, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	g := &GRPCUnary{p: p, srv: grpc.NewServer(grpc.ForceServerCodecV2(bytesCodec{})), served: make(chan struct{})}
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
				if !bytes.Equal(req, p.ReqItem) {
					return nil, fmt.Errorf("got request %x, want %x", req, p.ReqItem)
				}
				return p.RespItem, nil
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
func (g *GRPCUnary) Close() {
	if g.cc != nil {
		g.cc.Close()
	}
	g.srv.Stop()
	<-g.served
}

// Call makes one unary call and checks its answer. It is safe to call from
// any goroutine.
func (g *GRPCUnary) Call(ctx context.Context) error {
	var resp []byte
	if err := g.cc.Invoke(ctx, grpcMethod, g.p.ReqItem, &resp); err != nil {
		return fmt.Errorf("grpc: %w", err)
	}
	if !bytes.Equal(resp, g.p.WantItem) {
		return fmt.Errorf("grpc: got response %x, want %x", resp, g.p.WantItem)
	}
	return nil
}

// Block is how many calls of one contender the round-trip measures make,
// one at a time, before the next contender takes its turn. Taking turns
// makes a change in the machine's load touch every contender; taking them
// in blocks measures each as it runs when it is the one in use, with its
// code and data in the caches. Alternating call by call would have every
// call start where another system left the caches and the scheduler: a
// cost that weighs most on the longest path, sperse's, the only one that
// evaluates the cell.
const Block = 100

// Alternate makes n calls of each of calls, one at a time, in blocks of
// Block calls of one before the next, each going first in turn, and returns
// the round-trip times of each. It stops at the first error.
func Alternate(ctx context.Context, calls []func(context.Context) error, n int) ([][]time.Duration, error) {
	lat := make([][]time.Duration, len(calls))
	for i := range lat {
		lat[i] = make([]time.Duration, 0, n)
	}
	for round, done := 0, 0; done < n; round++ {
		m := min(Block, n-done)
		for j := range calls {
			k := (round + j) % len(calls)
			for range m {
				start := time.Now()
				if err := calls[k](ctx); err != nil {
					return nil, err
				}
				lat[k] = append(lat[k], time.Since(start))
			}
		}
		done += m
	}
	return lat, nil
}

package server

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/quic-go/quic-go/quicvarint"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/remote"
)

func TestHandshake(t *testing.T) {
	ts := startServer(t, Config{
		Name:           "alpha",
		Tags:           []string{"gpu", "eu-west"},
		MaxConcurrency: 3,
		MaxSteps:       12345,
		Timeout:        7 * time.Second,
		MaxMessage:     1 << 20,
	}, nil)
	c := connect(t, ts)
	want := remote.Welcome{
		Version: remote.ProtocolVersion,
		Name:    "alpha",
		Tags:    []string{"gpu", "eu-west"},
		Limits:  remote.Limits{MaxConcurrency: 3, MaxSteps: 12345, Timeout: 7 * time.Second, MaxMessage: 1 << 20, ValueCache: DefaultValueCache},
	}
	got := c.welcome
	if got.Version != want.Version || got.Name != want.Name || strings.Join(got.Tags, ",") != strings.Join(want.Tags, ",") ||
		len(got.Provides) != 0 || got.Limits != want.Limits {
		t.Errorf("welcome = %+v, want %+v", got, want)
	}
	state := c.conn.ConnectionState().TLS
	if state.NegotiatedProtocol != remote.ALPN || state.Version != 0x0304 {
		t.Errorf("ALPN %q, TLS version %#x; want %q and TLS 1.3", state.NegotiatedProtocol, state.Version, remote.ALPN)
	}
	if !strings.HasPrefix(ts.Fingerprint(), "sha256:") || ts.Addr() == nil {
		t.Errorf("Fingerprint() = %q, Addr() = %v", ts.Fingerprint(), ts.Addr())
	}

	// Ping is answered with a Pong of the same Seq.
	if err := remote.WriteFrame(c.ctrl, remote.MsgPing, remote.Ping{Seq: 42}); err != nil {
		t.Fatal(err)
	}
	c.waitControl(remote.MsgPong, func(body cbor.RawMessage) bool {
		var p remote.Pong
		return remote.DecodeBody(remote.MsgPong, body, &p) == nil && p.Seq == 42
	})
}

func TestEval(t *testing.T) {
	ts := startServer(t, Config{Name: "beta"}, nil)
	c := connect(t, ts)

	sq := localValue(t, "def sq(n):\n    return n * n", nil)
	makeAdder := localValue(t, "def make_adder(n):\n    return lambda x: x + n", nil)
	add5 := localValue(t, "add5 = make_adder(5)", map[string]lang.Value{"make_adder": makeAdder})
	fib := localValue(t, "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)", nil)

	for _, tc := range []struct {
		name  string
		src   string
		scope map[string]lang.Value
		want  string
	}{
		{"captured scope", "y = x * 2 + len(s)", map[string]lang.Value{"x": localValue(t, "x = 20", nil), "s": localValue(t, "s = 'ab'", nil)}, "42"},
		{"function", "z = sq(7)", map[string]lang.Value{"sq": sq}, "49"},
		{"closure", "r = add5(10)", map[string]lang.Value{"add5": add5}, "15"},
		{"recursion", "f = fib(15)", map[string]lang.Value{"fib": fib}, "610"},
		{"where", "w = where()", nil, `"beta"`},
		{"anonymous", "1 + 2", nil, "3"},
		{"remote cell", "v = remote@beta [where()] * 2", nil, `["beta", "beta"]`},
		{"pmap on the server", "p = pmap(lambda x: x * x, range(6))", nil, "[0, 1, 4, 9, 16, 25]"},
		{"big int", "b = 1 << 100", nil, "1267650600228229401496703205376"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := c.eval(remote.EvalCell, cellJob(t, tc.src, tc.scope))
			if got := value(t, res); got != tc.want {
				t.Errorf("%s = %s, want %s", tc.src, got, tc.want)
			}
		})
	}

	t.Run("function result", func(t *testing.T) {
		res := c.eval(remote.EvalCell, cellJob(t, "g = lambda x: x + 100", nil))
		in := lang.NewInterp("local")
		g, err := in.Decode(res.Value)
		if err != nil {
			t.Fatal(err)
		}
		v, err := in.Call(context.Background(), g, localValue(t, "one = 1", nil))
		if err != nil || v.String() != "101" {
			t.Errorf("g(1) = %v, %v; want 101", v, err)
		}
	})

	t.Run("code error", func(t *testing.T) {
		res := c.eval(remote.EvalCell, cellJob(t, "e = 1 + (2 // 0)", nil))
		wantError(t, res, remote.CodeFailed, "division by zero")
		if e := res.Error; e.File != "test.sp" || e.Line != 1 || e.Col == 0 || e.Backtrace == "" {
			t.Errorf("error at %s:%d:%d, backtrace %q; want test.sp:1:col and a backtrace", e.File, e.Line, e.Col, e.Backtrace)
		}
	})

	t.Run("syntax error", func(t *testing.T) {
		res := c.eval(remote.EvalCell, cellJob(t, "e = (1 +", nil))
		wantError(t, res, remote.CodeFailed, "")
		if res.Error.File != "test.sp" || res.Error.Line != 1 {
			t.Errorf("error at %s:%d, want test.sp:1", res.Error.File, res.Error.Line)
		}
	})

	t.Run("undefined", func(t *testing.T) {
		wantError(t, c.eval(remote.EvalCell, cellJob(t, "u = nope + 1", nil)), remote.CodeFailed, "nope")
	})

	t.Run("result that cannot travel", func(t *testing.T) {
		wantError(t, c.eval(remote.EvalCell, cellJob(t, "m = [1].append", nil)), remote.CodeFailed, "cannot encode")
	})

	for _, tc := range []struct {
		name, job, want string
	}{
		{"mapreduce chunk", "job = (lambda x: x * x, lambda xs: sum(xs), range(10))", "285"},
		{"pmap chunk", "job = (lambda x: [x, where()], None, [1, 2])", `[[1, "beta"], [2, "beta"]]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := c.eval(remote.EvalChunk, encode(t, localValue(t, tc.job, nil)))
			if got := value(t, res); got != tc.want {
				t.Errorf("chunk %s = %s, want %s", tc.job, got, tc.want)
			}
		})
	}

	t.Run("chunk error", func(t *testing.T) {
		job := encode(t, localValue(t, "job = (lambda x: 1 // x, None, [1, 0])", nil))
		wantError(t, c.eval(remote.EvalChunk, job), remote.CodeFailed, "division by zero")
	})
}

func TestRefused(t *testing.T) {
	ts := startServer(t, Config{Name: "gamma"}, nil)
	const badToken = "not-the-token-7c1d"

	t.Run("hello", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			hello any
			code  remote.ErrorCode
			want  string
		}{
			{"wrong token", remote.Hello{Version: remote.ProtocolVersion, Token: badToken}, remote.CodeUnauthorized, "bad token: "},
			{"no token", remote.Hello{Version: remote.ProtocolVersion}, remote.CodeUnauthorized, "bad token: none given"},
			{"older client", remote.Hello{Version: remote.ProtocolVersion - 1, Token: testToken}, remote.CodeVersion,
				fmt.Sprintf("server speaks sperse protocol %d, client speaks %d: upgrade the client", remote.ProtocolVersion, remote.ProtocolVersion-1)},
			{"newer client", map[int]any{1: remote.ProtocolVersion + 1, 2: testToken, 9: "a field of a later version"}, remote.CodeVersion,
				fmt.Sprintf("server speaks sperse protocol %d, client speaks %d: upgrade the server", remote.ProtocolVersion, remote.ProtocolVersion+1)},
			{"bad hello", map[int]any{1: remote.ProtocolVersion, 2: testToken, 9: "unknown"}, remote.CodeBadRequest, "bad hello"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel() // each waits for the server to close the connection
				c, typ, body := hello(t, ts, tc.hello)
				// An evaluation stream opened anyway is never accepted.
				str := c.open()
				remote.WriteFrame(str, remote.MsgEval, remote.Eval{Kind: remote.EvalCell, Job: cellJob(t, "x = 1", nil)})
				str.Close()

				if typ != remote.MsgRefused {
					t.Fatalf("answer to hello: %s, want refused", typ)
				}
				var r remote.Refused
				if err := remote.DecodeBody(typ, body, &r); err != nil {
					t.Fatal(err)
				}
				if r.Code != tc.code || !strings.Contains(r.Message, tc.want) {
					t.Errorf("refused %s %q, want %s containing %q", r.Code, r.Message, tc.code, tc.want)
				}
				if strings.Contains(r.Message, badToken) {
					t.Errorf("refusal %q shows the token", r.Message)
				}
				// The server closes the connection with ConnRefused and the same message.
				if e := closeCause(t, c.conn); e.ErrorCode != remote.ConnRefused || !e.Remote || e.ErrorMessage != r.Message {
					t.Errorf("closed with %v, want code %#x and the refusal", e, remote.ConnRefused)
				}
				if _, err := readResult(str); err == nil {
					t.Errorf("an evaluation stream of a refused client got a result")
				}
			})
		}
	})
	if n := ts.streams.Load(); n != 0 {
		t.Errorf("%d evaluation streams accepted from refused clients, want 0", n)
	}
	logs := ts.logs.String()
	if strings.Contains(logs, "msg=evaluation") || !strings.Contains(logs, "msg=refused") {
		t.Errorf("log shows evaluations or no refusals:\n%s", logs)
	}
	if strings.Contains(logs, badToken) || strings.Contains(logs, testToken) {
		t.Errorf("log shows a token:\n%s", logs)
	}

	t.Run("eval before hello", func(t *testing.T) {
		_, typ, body := helloTo(t, ts.addr, ts.Fingerprint(), remote.MsgEval, remote.Eval{Kind: remote.EvalCell})
		var r remote.Refused
		if typ != remote.MsgRefused || remote.DecodeBody(typ, body, &r) != nil || r.Code != remote.CodeBadRequest ||
			r.Message != "got eval, want hello first on the control stream" {
			t.Errorf("answer to eval on the control stream: %s %+v, want refused (bad request)", typ, r)
		}
	})
}

// frame returns the bytes of a frame holding item.
func frame(item []byte) []byte {
	return append(quicvarint.Append(nil, uint64(len(item))), item...)
}

// evalFrame returns the bytes of an Eval frame.
func evalFrame(t *testing.T, kind remote.EvalKind, job []byte) []byte {
	t.Helper()
	b, err := remote.AppendFrame(nil, remote.MsgEval, remote.Eval{Kind: kind, Job: job})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// nested returns n nested one-element CBOR arrays around 0.
func nested(n int) []byte {
	return append(bytes.Repeat([]byte{0x81}, n), 0x00)
}

func TestBadInput(t *testing.T) {
	ts := startServer(t, Config{MaxMessage: 1 << 20}, nil)
	bad := connect(t, ts)

	// Another client evaluates all along: bad input elsewhere never stops it.
	good := connect(t, ts)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			res, err := readResult(good.start(remote.EvalCell, cellJob(t, "n = 6 * 7", nil)))
			if err != nil || res.Error != nil {
				t.Errorf("good client, evaluation %d: %+v, %v", i, res.Error, err)
				return
			}
		}
	})
	defer func() {
		close(stop)
		wg.Wait()
	}()

	for _, tc := range []struct {
		name string
		raw  []byte
		code remote.ErrorCode
		want string
	}{
		{"garbage", []byte("this is not a frame at all \x00\xff\xfe"), remote.CodeBadRequest, "bad eval message"},
		{"nothing", nil, remote.CodeBadRequest, "no eval message"},
		{"truncated frame", evalFrame(t, remote.EvalCell, cellJob(t, "x = 1", nil))[:10], remote.CodeBadRequest, "unexpected EOF"},
		{"oversized frame", quicvarint.Append(nil, 1<<40), remote.CodeTooLarge, "eval message too large"},
		{"frame just over the limit", quicvarint.Append(nil, 1<<20+1), remote.CodeTooLarge, "limit 1048576"},
		{"not CBOR", frame([]byte{0xff, 0xff}), remote.CodeBadRequest, "decode frame"},
		{"deeply nested frame", frame(append([]byte{0x82, 0x08}, nested(100000)...)), remote.CodeBadRequest, "nested"},
		{"unknown message type", frame([]byte{0x82, 0x18, 99, 0xa0}), remote.CodeBadRequest, "unknown message type 99"},
		{"wrong message type", mustFrame(t, remote.MsgPing, remote.Ping{Seq: 1}), remote.CodeBadRequest, "got ping, want eval"},
		{"bad eval body", frame([]byte{0x82, 0x08, 0x01}), remote.CodeBadRequest, "decode eval"},
		{"unknown eval field", mustFrame(t, remote.MsgEval, map[int]any{1: 1, 2: []byte{0xf6}, 7: 0}), remote.CodeBadRequest, "decode eval"},
		{"unknown kind", evalFrame(t, 9, cellJob(t, "x = 1", nil)), remote.CodeBadRequest, "unknown kind 9"},
		{"job not CBOR", evalFrame(t, remote.EvalCell, []byte{0xff}), remote.CodeBadRequest, "bad cell job"},
		{"job not a job", evalFrame(t, remote.EvalCell, encode(t, localValue(t, "x = [1, 2]", nil))), remote.CodeBadRequest, "want a 5-tuple"},
		{"deeply nested job", evalFrame(t, remote.EvalCell, nested(100000)), remote.CodeBadRequest, "bad cell job"},
		{"deeply nested chunk", evalFrame(t, remote.EvalChunk, nested(100000)), remote.CodeBadRequest, "bad chunk job"},
		{"chunk not a tuple", evalFrame(t, remote.EvalChunk, encode(t, localValue(t, "x = [1, 2, 3]", nil))), remote.CodeBadRequest, "got a list of 3, want the tuple"},
		{"chunk of 2", evalFrame(t, remote.EvalChunk, encode(t, localValue(t, "x = (1, 2)", nil))), remote.CodeBadRequest, "got a tuple of 2"},
		{"job with trailing bytes", evalFrame(t, remote.EvalCell, append(cellJob(t, "x = 1", nil), 0)), remote.CodeBadRequest, "trailing"},
		{"bytes after the eval", append(evalFrame(t, remote.EvalCell, cellJob(t, spinCell, nil)), "more"...), remote.CodeBadRequest, "unexpected bytes after the eval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, bad.send(tc.raw), tc.code, tc.want)
		})
	}

	// A value nested deeply, but within the codec's limits, is fine.
	deepen := localValue(t, "def deepen(n):\n    x = 0\n    for i in range(n):\n        x = [x]\n    return x", nil)
	deep := localValue(t, "d = deepen(200)", map[string]lang.Value{"deepen": deepen})
	if got := value(t, bad.eval(remote.EvalCell, cellJob(t, "n = len(d)", map[string]lang.Value{"d": deep}))); got != "1" {
		t.Errorf("len of a deep list = %s, want 1", got)
	}
	// The connection that sent all that still evaluates.
	if got := value(t, bad.eval(remote.EvalCell, cellJob(t, "x = 1 + 1", nil))); got != "2" {
		t.Errorf("after bad input: %s, want 2", got)
	}
}

func mustFrame(t *testing.T, typ remote.MsgType, body any) []byte {
	t.Helper()
	b, err := remote.AppendFrame(nil, typ, body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLimits(t *testing.T) {
	t.Run("step limit", func(t *testing.T) {
		ts := startServer(t, Config{MaxSteps: 100000}, nil)
		res := connect(t, ts).eval(remote.EvalCell, cellJob(t, spinCell, nil))
		wantError(t, res, remote.CodeFailed, "stopped after 100000 steps")
		if res.Error.File != "test.sp" || res.Error.Line != 1 {
			t.Errorf("error at %s:%d, want test.sp:1", res.Error.File, res.Error.Line)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		ts := startServer(t, Config{MaxSteps: 1 << 62, Timeout: 300 * time.Millisecond}, nil)
		res := connect(t, ts).eval(remote.EvalCell, cellJob(t, spinCell, nil))
		wantError(t, res, remote.CodeFailed, "stopped after 300ms: the server's time limit per evaluation")
		if res.Error.File != "test.sp" {
			t.Errorf("error in %q, want test.sp", res.Error.File)
		}
	})
	t.Run("result too large", func(t *testing.T) {
		ts := startServer(t, Config{MaxMessage: 1 << 20}, nil)
		res := connect(t, ts).eval(remote.EvalCell, cellJob(t, "x = 'a' * 2000000", nil))
		wantError(t, res, remote.CodeTooLarge, "result is 2000005 bytes; the server's limit is 1048576")
	})
	t.Run("result just fits", func(t *testing.T) {
		ts := startServer(t, Config{MaxMessage: 1 << 20}, nil)
		res := connect(t, ts).eval(remote.EvalCell, cellJob(t, "x = 'a' * 1000000", nil))
		if len(res.Value) != 1000005 || res.Error != nil {
			t.Errorf("got %d bytes, error %v; want 1000005 bytes", len(res.Value), res.Error)
		}
	})
	t.Run("huge error message", func(t *testing.T) {
		ts := startServer(t, Config{MaxMessage: MinMaxMessage}, nil)
		res := connect(t, ts).eval(remote.EvalCell, cellJob(t, "x = fail('x' * 1000000)", nil))
		wantError(t, res, remote.CodeFailed, "(truncated)")
		if len(res.Error.Message) > maxErrorText {
			t.Errorf("message of %d bytes, want at most %d", len(res.Error.Message), maxErrorText)
		}
	})
}

package remote_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"go.starlark.net/starlark"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/remote"
	"github.com/sperse/sperse/server"
)

// The certificates of the mutual TLS tests (see ../server/testdata/mtls/gen.go).
const mtlsDir = "../server/testdata/mtls/"

// clientCert loads a client certificate of the tests: "client" (alice,
// signed by the CA of ca.pem) or "other-client" (mallory, another CA's).
func clientCert(t *testing.T, name string) *tls.Certificate {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(mtlsDir+name+".pem", mtlsDir+name+"-key.pem")
	if err != nil {
		t.Fatal(err)
	}
	return &cert
}

// connectErr connects c to address and returns the error.
func (c *testClient) connectErr(t *testing.T, address string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	return c.Connect(ctx, address)
}

func TestClientCertificate(t *testing.T) {
	cas, err := server.LoadClientCAs(mtlsDir + "ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, "127.0.0.1:0", server.Config{Name: "mutual", ClientCAs: cas})
	address := srv.addr + "#" + srv.Fingerprint()

	t.Run("signed by the CA", func(t *testing.T) {
		c := newClient(t, remote.ClientConfig{Certificate: clientCert(t, "client")})
		c.connect(t, address)
		if got := c.mustEval(t, "x = remote where()", nil); got != `"mutual"` {
			t.Errorf("x = %s", got)
		}
		if !strings.Contains(srv.logs.String(), `msg="client accepted"`) || !strings.Contains(srv.logs.String(), `certificate="CN=alice"`) {
			t.Errorf("the server's log does not show whose certificate it accepted:\n%s", srv.logs)
		}
	})

	for _, tc := range []struct {
		name      string
		cert      *tls.Certificate
		client    string // in the client's error
		serverLog string // in the server's log
	}{
		{"none", nil,
			"server " + srv.addr + " requires a client certificate (mutual TLS) and refused the connection without one: give one with --client-cert and --client-key",
			`reason="no client certificate: the server requires one signed by its client CA"`},
		{"another CA's", clientCert(t, "other-client"),
			"server " + srv.addr + ` refused the client certificate "CN=mallory": it accepts one signed by its client CA, current, and for client authentication`,
			`reason="client certificate \"CN=mallory\" refused: x509: certificate signed by unknown authority`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t, remote.ClientConfig{Certificate: tc.cert})
			err := c.connectErr(t, address)
			var serr *remote.ServerError
			if !errors.As(err, &serr) || serr.Code != remote.CodeUnauthorized || serr.ServerLost() {
				t.Fatalf("Connect: %v, want a *ServerError with CodeUnauthorized", err)
			}
			if err.Error() != tc.client {
				t.Errorf("Connect: %q, want %q", err, tc.client)
			}
			if s := c.Servers(); len(s) != 0 {
				t.Errorf("a server that refused the certificate is kept: %+v", s)
			}
			if !strings.Contains(srv.logs.String(), tc.serverLog) {
				t.Errorf("the server's log does not say %s:\n%s", tc.serverLog, srv.logs)
			}
		})
	}

	t.Run("a server that asks for none", func(t *testing.T) {
		plain := startServer(t, "127.0.0.1:0", server.Config{Name: "plain"})
		c := newClient(t, remote.ClientConfig{Certificate: clientCert(t, "other-client")})
		c.connect(t, plain.addr+"#"+plain.Fingerprint())
		if got := c.mustEval(t, "x = remote 1", nil); got != "1" {
			t.Errorf("x = %s", got)
		}
	})
	if n := strings.Count(srv.logs.String(), "msg=evaluation"); n != 1 {
		t.Errorf("the server made %d evaluations, want 1 (for the client it accepted):\n%s", n, srv.logs)
	}
}

func TestClientScopedToken(t *testing.T) {
	double := func(n int) int { return 2 * n }
	// a has tags db and gpu and provides double, but this client's token
	// may select it only by db and use none of its provided names.
	a := startServer(t, "127.0.0.1:0", server.Config{Name: "a", Tags: []string{"db", "gpu"},
		Provide:      map[string]any{"double": double},
		Tokens:       []string{}, // only the scoped one
		ScopedTokens: []server.Token{{Secret: testToken, Tags: []string{"db"}, Provides: []string{}}}})
	b := startServer(t, "127.0.0.1:0", server.Config{Name: "b", Provide: map[string]any{"double": double}})

	c := newClient(t, remote.ClientConfig{})
	c.connect(t, a.addr+"#"+a.Fingerprint())
	c.connect(t, b.addr+"#"+b.Fingerprint())

	info := c.Servers()[0]
	if info.Name != "a" || strings.Join(info.Tags, ",") != "db" || len(info.Provides) != 0 {
		t.Errorf("server a as the client sees it: tags %q, provides %q; want tags db and no provided names", info.Tags, info.Provides)
	}
	for _, tc := range []struct{ src, want string }{
		{"x = remote@db where()", `"a"`},
		{"x = remote@a where()", `"a"`},
		{"x = remote double(21)", "42"}, // only b may be used for double
	} {
		res := c.eval(t, tc.src, nil)
		if res.Err != nil {
			t.Errorf("%s: %v", tc.src, res.Err)
			continue
		}
		if res.Value.String() != tc.want || tc.src == "x = remote double(21)" && res.Where != "b" {
			t.Errorf("%s = %s on %s, want %s", tc.src, res.Value, res.Where, tc.want)
		}
	}

	res := c.eval(t, "x = remote@gpu 1", nil)
	var u interface{ Unavailable() bool }
	if !errors.As(res.Err, &u) || !u.Unavailable() || !strings.Contains(res.Err.Error(), "your token is scoped on a, which shows only what it is permitted to use") {
		t.Errorf("remote@gpu: %v, want unavailable, saying it may not be permitted: the token may not select a by gpu", res.Err)
	}

	// A function that uses double reaches a anyway (a client sees the names
	// a cell uses, not those of the functions in its scope): a says no.
	doubleFn, err := lang.GoFunc("double", double)
	if err != nil {
		t.Fatal(err)
	}
	maker := &lang.Interp{Where: "local", Provided: starlark.StringDict{"double": doubleFn}}
	f, err := maker.Eval(t.Context(), cell(t, "def f(x):\n    return double(x)"), nil)
	if err != nil {
		t.Fatal(err)
	}
	res = c.eval(t, "y = remote@a f(2)", map[string]lang.Value{"f": f})
	var serr *remote.ServerError
	if !errors.As(res.Err, &serr) || serr.Code != remote.CodeNotPermitted || serr.ServerLost() || serr.Unavailable() {
		t.Fatalf("y: %v, want a *ServerError with CodeNotPermitted", res.Err)
	}
	want := "server a could not run cell y: not permitted: cell y uses double, which this client's token may not use on server a (it may use no provided names)"
	if res.Err.Error() != want {
		t.Errorf("y: %q, want %q", res.Err, want)
	}
	if got := c.mustEval(t, "y = remote@b f(2)", map[string]lang.Value{"f": f}); got != "4" {
		t.Errorf("y on b = %s", got)
	}
}

// TestTokenNeverShown makes good and bad handshakes, evaluations and
// errors, and checks that no log, error or server list shows a token.
func TestTokenNeverShown(t *testing.T) {
	const (
		good   = "good-secret-token-5e8a"
		scoped = "scoped-secret-token-91c3"
		bad    = "bad-secret-token-0d27"
	)
	srv := startServer(t, "127.0.0.1:0", server.Config{Name: "s", Tags: []string{"db"}, Tokens: []string{good},
		ScopedTokens: []server.Token{{Secret: scoped, Tags: []string{"elsewhere"}}}})
	address := srv.addr + "#" + srv.Fingerprint()
	clientLogs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(clientLogs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var shown []string // every error and server list seen

	for _, tok := range []string{good, bad, scoped, "", good + " ", strings.Repeat("x", 2000)} {
		c := newClient(t, remote.ClientConfig{Token: tok, Logger: logger})
		err := c.connectErr(t, address)
		shown = append(shown, fmt.Sprint(err), fmt.Sprintf("%+v %#v", c.Servers(), c.Servers()))
		if tok != good {
			if err == nil {
				t.Errorf("a bad token was accepted")
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, src := range []string{"x = remote 1", "x = remote 1 // 0", "x = remote@nowhere 1", "x = remote undefined_name"} {
			res := c.eval(t, src, nil)
			shown = append(shown, fmt.Sprint(res.Value, res.Err))
		}
		c.Close()
		shown = append(shown, fmt.Sprintf("%+v", c.Servers()))
	}
	for _, tok := range []string{good, scoped, bad} {
		if strings.Contains(srv.logs.String(), tok) {
			t.Errorf("the server's log shows a token:\n%s", srv.logs)
		}
		if strings.Contains(clientLogs.String(), tok) {
			t.Errorf("the client's log shows a token:\n%s", clientLogs)
		}
		for _, s := range shown {
			if strings.Contains(s, tok) {
				t.Errorf("an error or a server list shows a token: %s", s)
			}
		}
	}
	if !strings.Contains(srv.logs.String(), "failures=") || !strings.Contains(srv.logs.String(), "remote=127.0.0.1:") {
		t.Errorf("the server's log does not show the failures and their address:\n%s", srv.logs)
	}
}

// TestResultRunsNoCodeOnServers checks that a result cannot make the client
// reach a server: decoding a function evaluates its default values, here a
// pmap on server b, which must run in the client's process instead.
func TestResultRunsNoCodeOnServers(t *testing.T) {
	a := startServer(t, "127.0.0.1:0", server.Config{Name: "a"})
	b := startServer(t, "127.0.0.1:0", server.Config{Name: "b"})
	in := lang.NewInterp("local")
	c := newClient(t, remote.ClientConfig{Interp: in})
	in.Splitter, in.Remote = c.Client, c.Client // as a workspace wires them
	c.connect(t, a.addr+"#"+a.Fingerprint())
	c.connect(t, b.addr+"#"+b.Fingerprint())

	res := c.eval(t, `g = remote@a lambda x=pmap(lambda y: where(), [1], on="b"): x`, nil)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if strings.Contains(b.logs.String(), "msg=evaluation") {
		t.Errorf("decoding a's result ran code on b:\n%s", b.logs)
	}
	v, err := in.Call(t.Context(), res.Value)
	if err != nil {
		t.Fatal(err)
	}
	if got := v.String(); got != `["local"]` {
		t.Errorf("the default value is %s, want [\"local\"] (computed in process when decoded)", got)
	}
	// Called from a cell, the function's own pmap does use the servers.
	got := c.local(t, `r = g(pmap(lambda y: where(), [1], on="b"))`, map[string]lang.Value{"g": res.Value})
	if got.String() != `["b"]` {
		t.Errorf("a cell's pmap ran on %s, want b", got)
	}
}

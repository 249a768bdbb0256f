package server

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/remote"
)

func TestParseTokens(t *testing.T) {
	const file = `# operators
full-token-1

scoped-token-2   tags=db,eu   provides=sql,echo   # the analysts
  tags-token-3 tags=gpu
none-token-4 provides=
dup-tags-5 tags=db,db provides=echo,echo
`
	got, err := ParseTokens("tokens", []byte(file))
	if err != nil {
		t.Fatal(err)
	}
	want := []Token{
		{Secret: "full-token-1"},
		{Secret: "scoped-token-2", Tags: []string{"db", "eu"}, Provides: []string{"sql", "echo"}},
		{Secret: "tags-token-3", Tags: []string{"gpu"}},
		{Secret: "none-token-4", Provides: []string{}},
		{Secret: "dup-tags-5", Tags: []string{"db"}, Provides: []string{"echo"}},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d tokens, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Secret != w.Secret || !slices.Equal(g.Tags, w.Tags) || !slices.Equal(g.Provides, w.Provides) ||
			(g.Tags == nil) != (w.Tags == nil) || (g.Provides == nil) != (w.Provides == nil) {
			t.Errorf("token %d = %s %q %q, want %s %q %q", i+1, g.Secret, g.Tags, g.Provides, w.Secret, w.Tags, w.Provides)
		}
	}

	const secret = "s3cret-value"
	for _, tc := range []struct{ name, content, want string }{
		{"unknown field", "ok-token\n" + secret + " colour=red\n", ":2: field 2 is not tags=... or provides=..."},
		{"a space in the token", secret + " more-of-it\n", ":1: field 2 is not tags="},
		{"token missing", "tags=db\n", ""}, // a token that looks like an option is a token
		{"tags twice", secret + " tags=a tags=b\n", ":1: tags= given twice"},
		{"provides twice", secret + " provides=a provides=b\n", ":1: provides= given twice"},
		{"empty tags", secret + " tags=\n", ":1: tags= lists no server name or tag"},
		{"bad tag", secret + " tags=a,b/c\n", `:1: tags=: "b/c" is not a server name or tag`},
		{"empty tag", secret + " tags=a,,b\n", `:1: tags=: "" is not a server name or tag`},
		{"bad provided name", secret + " provides=sql,1x\n", `:1: provides=: "1x" is not a provided name`},
		{"duplicate", "# x\n" + secret + "\nother-token\n" + secret + " tags=db\n", ":4: the same token as line 2"},
		{"control character", "ok-token\n\x01" + secret + "\n", ":2: token has a space, control or non-ASCII character"},
		{"too long", strings.Repeat("s", 2000) + "\n", ":1: token is 2000 bytes"},
		{"line too long", "ok-token " + strings.Repeat("#", 70<<10) + "\n", ":1: line too long"},
		{"no tokens", "# nothing\n\n   \n", "no tokens"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseTokens("tokens.txt", []byte(tc.content))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("ParseTokens: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseTokens: %v, want an error with %q", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "tokens.txt:") {
				t.Errorf("error %q does not name the file", err)
			}
			if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "more-of-it") {
				t.Errorf("error %q shows the token", err)
			}
		})
	}
}

func TestTokenNeverPrinted(t *testing.T) {
	tok := Token{Secret: "hidden-secret-1", Tags: []string{"db"}, Provides: []string{}}
	for _, s := range []string{tok.String(), fmt.Sprint(tok), fmt.Sprintf("%v %+v %#v %s", tok, tok, tok, tok), tok.LogValue().String(),
		fmt.Sprint([]Token{tok})} {
		if strings.Contains(s, "hidden-secret") {
			t.Errorf("%q shows the secret", s)
		}
	}
	if got, want := tok.String(), "token tags=db provides="; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestTokenSetLookup(t *testing.T) {
	set := newTokenSet([]string{"a-token", "b-token", "c-token"})
	for tok, want := range map[string]int{"a-token": 0, "b-token": 1, "c-token": 2, "d-token": -1, "": -1, "a-toke": -1} {
		i, ok := set.lookup(tok)
		if !ok {
			i = -1
		}
		if i != want {
			t.Errorf("lookup(%q) = %d, want %d", tok, i, want)
		}
	}
}

// scopedConfig is the configuration of a server with tags and provided
// names, and tokens of several scopes.
func scopedConfig(t *testing.T) Config {
	t.Helper()
	return Config{
		Name: "shared",
		Tags: []string{"db", "eu", "gpu"},
		Provide: map[string]any{
			"echo":  func(x any) any { return x },
			"twice": func(n int) int { return 2 * n },
		},
		Databases: []Database{{Name: "sales", Path: makeDB(t)}, {Name: "hr", Path: makeDB(t)}},
		ScopedTokens: []Token{
			{Secret: "tok-dbeu", Tags: []string{"db", "eu", "us"}, Provides: []string{"echo", "sales"}},
			{Secret: "tok-byname", Tags: []string{"shared"}},
			{Secret: "tok-pure", Provides: []string{}},
			{Secret: "tok-sql", Provides: []string{"sql", "nosuchname"}},
			{Secret: "tok-us", Tags: []string{"us"}},
			{Secret: "tok-full"},
		},
	}
}

func TestScopedWelcome(t *testing.T) {
	ts := startServer(t, scopedConfig(t), nil)
	for _, tc := range []struct {
		name, token, tags, provides string
	}{
		{"Config.Tokens", testToken, "db,eu,gpu", "echo,hr,sales,sql,twice"},
		{"no scope", "tok-full", "db,eu,gpu", "echo,hr,sales,sql,twice"},
		{"tags and provides", "tok-dbeu", "db,eu", "echo,sales,sql"},
		{"the server's name", "tok-byname", "", "echo,hr,sales,sql,twice"},
		{"no provided names", "tok-pure", "db,eu,gpu", ""},
		{"sql", "tok-sql", "db,eu,gpu", "hr,sales,sql"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := connectTo(t, ts.addr, ts.Fingerprint(), tc.token)
			w := c.welcome
			if w.Name != "shared" || strings.Join(w.Tags, ",") != tc.tags || strings.Join(w.Provides, ",") != tc.provides {
				t.Errorf("welcome: name %s, tags %q, provides %q; want tags %q, provides %q", w.Name, w.Tags, w.Provides, tc.tags, tc.provides)
			}
			if scoped := tc.token != testToken && tc.token != "tok-full"; w.Scoped != scoped {
				t.Errorf("welcome: Scoped %v, want %v", w.Scoped, scoped)
			}
		})
	}
	t.Run("a token limited to other servers", func(t *testing.T) {
		c, typ, body := hello(t, ts, remote.Hello{Version: remote.ProtocolVersion, Token: "tok-us"})
		var r remote.Refused
		if typ != remote.MsgRefused || remote.DecodeBody(typ, body, &r) != nil {
			t.Fatalf("answer: %s, want refused", typ)
		}
		want := "this token is not permitted on server shared: it is limited to servers named or tagged us"
		if r.Code != remote.CodeUnauthorized || r.Message != want {
			t.Errorf("refused %s %q, want unauthorized %q", r.Code, r.Message, want)
		}
		closeCause(t, c.conn)
	})
	logs := ts.logs.String()
	if !strings.Contains(logs, `msg="client accepted"`) || !strings.Contains(logs, `scope="tags=db,eu,us provides=echo,sales"`) {
		t.Errorf("the log does not show the scope of accepted clients:\n%s", logs)
	}
	if strings.Contains(logs, "tok-") || strings.Contains(logs, testToken) {
		t.Errorf("the log shows a token:\n%s", logs)
	}
}

func TestNotPermitted(t *testing.T) {
	ts := startServer(t, scopedConfig(t), nil)
	dbeu := connectTo(t, ts.addr, ts.Fingerprint(), "tok-dbeu")
	pure := connectTo(t, ts.addr, ts.Fingerprint(), "tok-pure")
	sqlAll := connectTo(t, ts.addr, ts.Fingerprint(), "tok-sql")
	full := connect(t, ts)

	// twiceFn is a function that uses a provided name, as a client sends it
	// (decoded with every name provided, as a client that has them would).
	prov, err := New(Config{Name: "maker", Tokens: []string{testToken}, Provide: map[string]any{"twice": func(n int) int { return 2 * n }}})
	if err != nil {
		t.Fatal(err)
	}
	defer prov.Close()
	twiceFn, err := prov.interp.Eval(t.Context(), lang.ParseCell("f.sp", 1, "def f(x):\n    return twice(x)"), nil)
	if err != nil {
		t.Fatal(err)
	}
	chunkJob := func(t *testing.T) []byte {
		job, err := lang.EncodeChunk(lang.Chunk{Map: twiceFn, Reduce: localValue(t, "n = None", nil), Items: localValue(t, "r = range(3)", nil)})
		if err != nil {
			t.Fatal(err)
		}
		return job
	}

	for _, tc := range []struct {
		name string
		c    *testClient
		kind remote.EvalKind
		job  func(t *testing.T) []byte
		want string // the value's repr, or "!code: message" for an error
	}{
		{"no selector", dbeu, remote.EvalCell, job("x = remote 6 * 7", nil), "42"},
		{"a permitted tag", dbeu, remote.EvalCell, job("x = remote@db,eu where()", nil), `"shared"`},
		{"the server's name", dbeu, remote.EvalCell, job("x = remote@shared where()", nil), `"shared"`},
		{"a tag out of scope", dbeu, remote.EvalCell, job("x = remote@db,gpu 1", nil),
			"!not permitted: not permitted: cell x selects gpu, which this client's token may not use on server shared (it may select it by db, eu, shared)"},
		{"a tag of no server here", dbeu, remote.EvalCell, job("x = remote@us 1", nil), "!not permitted: cell x selects us"},
		{"a tag, for a full token", full, remote.EvalCell, job("x = remote@gpu 1", nil), "1"},
		{"a permitted name", dbeu, remote.EvalCell, job("x = echo([1])", nil), "[1]"},
		{"a name out of scope", dbeu, remote.EvalCell, job("x = twice(echo(2))", nil),
			"!not permitted: not permitted: cell x uses twice, which this client's token may not use on server shared (it may use echo, sales, sql)"},
		{"a scope value shadows a provided name", dbeu, remote.EvalCell, job("x = twice", map[string]lang.Value{"twice": localValue(t, "n = 3", nil)}), "3"},
		{"no provided names", pure, remote.EvalCell, job("x = echo(1)", nil), "!not permitted: cell x uses echo, which this client's token may not use on server shared (it may use no provided names)"},
		{"the builtins", pure, remote.EvalCell, job("x = sum([1, 2]) + len(json.encode([]))", nil), "5"},
		{"a function in scope", dbeu, remote.EvalCell, job("y = f(2)", map[string]lang.Value{"f": twiceFn}),
			"!not permitted: cell y uses twice, which this client's token may not use on server shared"},
		{"a function in scope, for a full token", full, remote.EvalCell, job("y = f(2)", map[string]lang.Value{"f": twiceFn}), "4"},
		{"a chunk's function", dbeu, remote.EvalChunk, chunkJob, "!not permitted: chunk uses twice"},
		{"a chunk's function, for a full token", full, remote.EvalChunk, chunkJob, "[0, 2, 4]"},
		{"a permitted database", dbeu, remote.EvalCell, job(`x = sql(sales, "select count(*) as n from t")`, nil), `[{"n": 3}]`},
		{"another database, quoted", dbeu, remote.EvalCell, job(`x = sql("hr", "select count(*) as n from t")`, nil),
			"!failed: sql: not permitted: database hr: this client's token may use only sales on server shared"},
		{"another database, by its name", dbeu, remote.EvalCell, job(`x = sql(hr, "select 1")`, nil), "!not permitted: cell x uses hr"},
		{"no such database, for a limited token", dbeu, remote.EvalCell, job(`x = sql("nope", "select 1")`, nil),
			`!failed: server shared has no database "nope" (it has sales)`},
		{"sql allows every database", sqlAll, remote.EvalCell, job(`x = len(sql(hr, "select * from t")) + len(sql("sales", "select * from t"))`, nil), "6"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := tc.c.eval(tc.kind, tc.job(t))
			if msg, ok := strings.CutPrefix(tc.want, "!"); ok {
				code, text, _ := strings.Cut(msg, ": ")
				if res.Error == nil || res.Error.Code.String() != code || !strings.Contains(res.Error.Message, text) {
					t.Fatalf("got %+v, want a %s error with %q", res.Error, code, text)
				}
				return
			}
			if got := value(t, res); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
	// The connections outlive their refusals.
	if got := value(t, dbeu.eval(remote.EvalCell, cellJob(t, "x = 1", nil))); got != "1" {
		t.Errorf("after the refusals: %s", got)
	}
}

// job returns a function that makes the job of cell src with scope.
func job(src string, scope map[string]lang.Value) func(t *testing.T) []byte {
	return func(t *testing.T) []byte { return cellJob(t, src, scope) }
}

func TestScopedTokenErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"a token twice", Config{Tokens: []string{"same-token"}, ScopedTokens: []Token{{Secret: "same-token", Tags: []string{"x"}}}},
			"a token is given twice (tokens 1 and 2"},
		{"a bad secret", Config{ScopedTokens: []Token{{Secret: "a b"}}}, "scoped token 1: token has a space"},
		{"a bad tag", Config{ScopedTokens: []Token{{Secret: "ok-token", Tags: []string{"a,b"}}}}, `scoped token 1: tag "a,b"`},
		{"empty tags", Config{ScopedTokens: []Token{{Secret: "ok-token", Tags: []string{}}}}, "Tags is empty but not nil"},
		{"a bad provided name", Config{ScopedTokens: []Token{{Secret: "ok-token", Provides: []string{"a-b"}}}}, `provided name "a-b"`},
		{"no token at all", Config{}, "has no token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Name = "a"
			_, err := New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an error with %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "same-token") || strings.Contains(err.Error(), "ok-token") {
				t.Errorf("error %q shows a token", err)
			}
		})
	}
}

func TestFailedAuthenticationSlowed(t *testing.T) {
	ts := startServer(t, Config{Name: "guarded"}, nil)
	const badToken = "guess-7f3e"
	refuse := func(t *testing.T) time.Duration {
		t.Helper()
		start := time.Now()
		c, typ, body := hello(t, ts, remote.Hello{Version: remote.ProtocolVersion, Token: badToken})
		took := time.Since(start)
		var r remote.Refused
		if typ != remote.MsgRefused || remote.DecodeBody(typ, body, &r) != nil || r.Code != remote.CodeUnauthorized {
			t.Fatalf("answer %s %+v, want refused, unauthorized", typ, r)
		}
		c.conn.CloseWithError(remote.ConnClosed, "")
		return took
	}
	var took []time.Duration
	for range 4 {
		took = append(took, refuse(t))
	}
	// The 4th failure in a row waits failDelay(4) before its answer; the
	// 1st waits nothing (but a loaded machine may take its time anyway).
	if want := failDelay(4); took[3] < want {
		t.Errorf("4th refusal after %s, want at least %s (all: %v)", took[3], want, took)
	}
	if failDelay(1) != 0 || failDelay(2) != failDelayBase || failDelay(4) != 4*failDelayBase || failDelay(100) != failDelayMax {
		t.Errorf("failDelay: 1 %s, 2 %s, 4 %s, 100 %s", failDelay(1), failDelay(2), failDelay(4), failDelay(100))
	}
	logs := ts.logs.String()
	re := regexp.MustCompile(`msg=refused server=guarded remote=127\.0\.0\.1:\d+ client="" code=unauthorized reason="bad token: [^"]*" failures=4 delay=1s`)
	if !re.MatchString(logs) {
		t.Errorf("the log does not show the 4th failure with its address and delay:\n%s", logs)
	}

	// A good token is never slowed, and clears the count.
	start := time.Now()
	connect(t, ts)
	if d := time.Since(start); d > failDelay(4) {
		t.Logf("a good token took %s (a loaded machine?)", d)
	}
	refuse(t)
	if n := ts.access.failures.count(keyOf(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})); n != 1 {
		t.Errorf("after a good token and a bad one: %d failures, want 1", n)
	}
	if strings.Contains(ts.logs.String(), badToken) || strings.Contains(ts.logs.String(), testToken) {
		t.Errorf("the log shows a token")
	}
}

func TestFailureLog(t *testing.T) {
	l := failureLog{addrs: map[failureKey]*failures{}}
	now := time.Now()
	a := keyOf(&net.UDPAddr{IP: net.ParseIP("192.0.2.1"), Port: 1})
	if b := keyOf(&net.UDPAddr{IP: net.ParseIP("::ffff:192.0.2.1"), Port: 2}); b != a {
		t.Errorf("an IPv4-mapped address is %s, want %s", b, a)
	}
	v6a := keyOf(&net.UDPAddr{IP: net.ParseIP("2001:db8:1:2::5")})
	v6b := keyOf(&net.UDPAddr{IP: net.ParseIP("2001:db8:1:2:ffff::9")})
	v6c := keyOf(&net.UDPAddr{IP: net.ParseIP("2001:db8:1:3::5")})
	if v6a != v6b || v6a == v6c {
		t.Errorf("IPv6 keys %s, %s, %s: want one per /64", v6a, v6b, v6c)
	}

	for i := 1; i <= maxPendingFails; i++ {
		if l.crowded(a) {
			t.Fatalf("crowded after %d pending", i-1)
		}
		if n, d := l.fail(a, now); n != i || d != failDelay(i) {
			t.Errorf("fail %d: %d, %s", i, n, d)
		}
	}
	if !l.crowded(a) {
		t.Errorf("not crowded with %d refusals pending", maxPendingFails)
	}
	for range maxPendingFails {
		l.done(a)
	}
	if l.crowded(a) {
		t.Errorf("crowded with no refusal pending")
	}
	if n, _ := l.fail(a, now.Add(failForget+time.Second)); n != 1 {
		t.Errorf("after failForget: failure %d, want 1", n)
	}
	l.done(a)
	l.forget(a)
	if n := l.count(a); n != 0 {
		t.Errorf("after forget: %d failures", n)
	}

	// Memory is bounded: the oldest address goes first, pending ones stay.
	l.fail(a, now) // pending
	for i := range maxFailAddrs + 100 {
		k := keyOf(&net.UDPAddr{IP: net.IPv4(10, byte(i>>16), byte(i>>8), byte(i))})
		l.fail(k, now.Add(time.Duration(i)*time.Millisecond))
		l.done(k)
	}
	if len(l.addrs) > maxFailAddrs {
		t.Errorf("%d addresses remembered, want at most %d", len(l.addrs), maxFailAddrs)
	}
	if l.count(a) != 1 {
		t.Errorf("an address with a refusal pending was forgotten")
	}
	if l.count(keyOf(&net.UDPAddr{IP: net.IPv4(10, 0, 0, 0)})) != 0 {
		t.Errorf("the oldest address is still remembered")
	}
}

func TestLoadClientCAs(t *testing.T) {
	dir := t.TempDir()
	cert, err := GenerateCertificate()
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, blocks ...*pem.Block) string {
		var data []byte
		for _, b := range blocks {
			data = append(data, pem.EncodeToMemory(b)...)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	certBlock := &pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}
	pool, err := LoadClientCAs(write("good.pem", certBlock))
	if err != nil || pool == nil {
		t.Fatalf("LoadClientCAs: %v", err)
	}
	if !pool.Equal(func() *x509.CertPool { p := x509.NewCertPool(); p.AddCert(cert.Leaf); return p }()) {
		t.Errorf("the pool does not hold the certificate")
	}
	for _, tc := range []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "missing.pem"), "no such file"},
		{"empty", write("empty.pem"), "no PEM certificate"},
		{"a key", write("key.pem", certBlock, &pem.Block{Type: "PRIVATE KEY", Bytes: []byte("secret")}), "holds a PRIVATE KEY"},
		{"garbage", write("bad.pem", &pem.Block{Type: "CERTIFICATE", Bytes: []byte("nope")}), "certificate 1:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadClientCAs(tc.path)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "client CA") {
				t.Errorf("LoadClientCAs: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// TestDecodeStepLimit checks that the default values of a function in a job,
// evaluated when the server decodes it (before the evaluation has a slot
// or a time limit), are cut short.
func TestDecodeStepLimit(t *testing.T) {
	ts := startServer(t, Config{}, nil)
	c := connect(t, ts)
	heavy := localValue(t, "f = lambda x=len([1 for i in range(300000)]): x", nil)
	start := time.Now()
	res := c.eval(remote.EvalCell, cellJob(t, "y = f()", map[string]lang.Value{"f": heavy}))
	wantError(t, res, remote.CodeBadRequest, fmt.Sprintf("stopped after %d steps", decodeMaxSteps))
	t.Logf("refused in %s: %s", time.Since(start), res.Error.Message)
	light := localValue(t, "f = lambda x=len([1 for i in range(1000)]): x", nil)
	if got := value(t, c.eval(remote.EvalCell, cellJob(t, "y = f()", map[string]lang.Value{"f": light}))); got != "1000" {
		t.Errorf("y = %s", got)
	}
}

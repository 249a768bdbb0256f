package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// mtlsDir holds the certificates of the mutual TLS tests (see
// ../../server/testdata/mtls/gen.go).
const mtlsDir = "../../server/testdata/mtls/"

// TestAccess runs sperse against a sperse-server process that takes scoped
// tokens from a token file and requires client certificates (--client-ca),
// and checks that no output, log or recording shows a token.
func TestAccess(t *testing.T) {
	const (
		full   = "full-token-4b1f09c2e7"
		scoped = "scoped-token-8d3a61f05c"
		bad    = "bad-token-2e7c94a1d8"
	)
	tokens := writeFile(t, "tokens", "# who may use server a\n"+full+"\n"+scoped+" tags=db  # the database team\n")
	srv := startServer(t, "--listen", "127.0.0.1:0", "--name", "a", "--tag", "db", "--tag", "gpu",
		"--token-file", tokens, "--client-ca", mtlsDir+"ca.pem", "--state-dir", t.TempDir())
	cert := []string{"--client-cert", mtlsDir + "client.pem", "--client-key", mtlsDir + "client-key.pem"}
	ws := writeFile(t, "w.sp", "on = remote@gpu where()\nn = remote@db 6 * 7\n")
	var shown []string // every output and recording
	run := func(args ...string) (int, string, string) {
		t.Helper()
		code, out, errOut := sperse(t, "", append(append([]string{"run"}, args...), ws)...)
		shown = append(shown, out, errOut)
		return code, out, errOut
	}

	t.Run("a full token and a certificate", func(t *testing.T) {
		rec := filepath.Join(t.TempDir(), "run.jsonl")
		code, out, errOut := run(append([]string{"--record", rec, "--server", srv.pinned, "--token", full}, cert...)...)
		if want := "on = \"a\"\nn = 42\n"; code != exitOK || out != want {
			t.Errorf("exit %d, output\n%s(stderr %q), want 0\n%s", code, out, errOut, want)
		}
		data, err := os.ReadFile(rec)
		if err != nil {
			t.Fatal(err)
		}
		shown = append(shown, string(data))
	})
	t.Run("a token limited to tag db", func(t *testing.T) {
		code, out, errOut := run(append([]string{"--server", srv.pinned, "--token", scoped}, cert...)...)
		if code != exitFailed || !strings.Contains(out, "on ! no connected server matches remote@gpu (servers: a [tags: db])") ||
			!strings.Contains(out, "n = 42\n") {
			t.Errorf("exit %d, output\n%s(stderr %q), want 1, on unavailable and n = 42", code, out, errOut)
		}
	})
	t.Run("the token from SPERSE_TOKEN", func(t *testing.T) {
		t.Setenv("SPERSE_TOKEN", full)
		if code, out, errOut := run(append([]string{"--server", srv.pinned}, cert...)...); code != exitOK {
			t.Errorf("exit %d, output\n%s(stderr %q), want 0", code, out, errOut)
		}
		code, out, errOut := sperse(t, "", "run", "-h")
		shown = append(shown, out, errOut)
		if code != exitUsage || !strings.Contains(errOut, "(default $SPERSE_TOKEN)") {
			t.Errorf("run -h: exit %d, stderr\n%s", code, errOut)
		}
	})
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"a bad token", append([]string{"--token", bad}, cert...), "refused the connection: bad token: server a does not accept it"},
		{"no certificate", []string{"--token", full}, "requires a client certificate (mutual TLS) and refused the connection without one: give one with --client-cert and --client-key"},
		{"another CA's certificate", []string{"--token", full, "--client-cert", mtlsDir + "other-client.pem", "--client-key", mtlsDir + "other-client-key.pem"},
			`refused the client certificate "CN=mallory"`},
		{"a key without its certificate", []string{"--token", full, "--client-key", mtlsDir + "client-key.pem"}, "--client-key needs --client-cert"},
		{"a certificate that does not load", []string{"--token", full, "--client-cert", mtlsDir + "client.pem", "--client-key", mtlsDir + "other-client-key.pem"},
			"client certificate " + mtlsDir + "client.pem (key " + mtlsDir + "other-client-key.pem): tls: private key does not match public key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := run(append([]string{"--server", srv.pinned}, tc.args...)...)
			if code != exitUsage || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q (output %q), want %d and %q", code, errOut, out, exitUsage, tc.want)
			}
		})
	}

	logs := srv.logs.String()
	for _, want := range []string{`scope="tags=db"`, `certificate="CN=alice"`, `reason="no client certificate`, "failures=1"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the server's log does not show %s:\n%s", want, logs)
		}
	}
	shown = append(shown, logs)
	for _, tok := range []string{full, scoped, bad} {
		for _, s := range shown {
			if strings.Contains(s, tok) {
				t.Errorf("a token shows in:\n%s", s)
			}
		}
	}
}

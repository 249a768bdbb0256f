package server

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// FuzzParseTokens feeds arbitrary text, as a token file, to ParseTokens, and
// checks that it never panics; that an error names the file and a line and
// does not quote the token of that line; and that the tokens it returns are
// valid for a Config, distinct, and read back the same when written out
// again. Run it with
//
//	go test -run XXX -fuzz FuzzParseTokens -fuzztime 60s -fuzzminimizetime 3s ./server/
//
// (This package's test binary is large, so minimizing an input takes long:
// -fuzzminimizetime keeps the fuzzer fuzzing.) Seeds are the files in
// testdata/fuzz/FuzzParseTokens.
func FuzzParseTokens(f *testing.F) {
	f.Add([]byte("# comment\n\nplain-token-0123456789\nscoped-token-0123456789 tags=db,eu provides=sql,echo # note\n"))
	lineOf := regexp.MustCompile(`^tokens:(\d+): `)
	secretLike := regexp.MustCompile(`^[A-Za-z0-9]{20,}$`)
	f.Fuzz(func(t *testing.T, data []byte) {
		tokens, err := ParseTokens("tokens", data)
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "tokens:") {
				t.Fatalf("error %q does not name the file", msg)
			}
			m := lineOf.FindStringSubmatch(msg)
			if m == nil {
				return // about the whole file
			}
			n, _ := strconv.Atoi(m[1])
			lines := strings.Split(string(data), "\n")
			if n < 1 || n > len(lines) {
				t.Fatalf("error %q names line %d of %d", msg, n, len(lines))
			}
			fields := strings.Fields(lines[n-1])
			if len(fields) == 0 {
				return // a line too long to read
			}
			tok, rest := fields[0], strings.Join(fields[1:], " ")
			if secretLike.MatchString(tok) && !strings.Contains(rest, tok) && strings.Contains(msg, tok) {
				t.Fatalf("error %q quotes the token of line %d", msg, n)
			}
			return
		}
		if len(tokens) == 0 {
			t.Fatal("no tokens and no error")
		}
		cfg := Config{Name: "fuzz", ScopedTokens: tokens}
		if err := cfg.checkTokens(); err != nil {
			t.Fatalf("tokens that ParseTokens accepted are not valid: %v", err)
		}
		var out strings.Builder
		seen := map[string]bool{}
		for _, tok := range tokens {
			if seen[tok.Secret] {
				t.Fatal("a token twice")
			}
			seen[tok.Secret] = true
			out.WriteString(tok.Secret + strings.TrimPrefix(tok.String(), "token") + "\n")
		}
		again, err := ParseTokens("again", []byte(out.String()))
		if err != nil {
			t.Fatalf("the tokens written out do not read back: %v", err)
		}
		if !slices.EqualFunc(tokens, again, func(a, b Token) bool {
			return a.Secret == b.Secret && slices.Equal(a.Tags, b.Tags) && slices.Equal(a.Provides, b.Provides) &&
				(a.Tags == nil) == (b.Tags == nil) && (a.Provides == nil) == (b.Provides == nil)
		}) {
			t.Fatal("the tokens written out read back differently")
		}
	})
}

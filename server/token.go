package server

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// maxTokenLen bounds a token.
const maxTokenLen = 1024

// checkToken reports whether tok can be a token: 1 to 1024 printable ASCII
// characters, no spaces. The error does not quote the token.
func checkToken(tok string) error {
	if tok == "" {
		return errors.New("empty token")
	}
	if len(tok) > maxTokenLen {
		return fmt.Errorf("token is %d bytes; at most %d", len(tok), maxTokenLen)
	}
	for i := 0; i < len(tok); i++ {
		if c := tok[i]; c <= ' ' || c > '~' {
			return fmt.Errorf("token has a space, control or non-ASCII character at byte %d", i+1)
		}
	}
	return nil
}

// NewToken returns a new random token: 32 bytes from crypto/rand, base64url
// without padding.
func NewToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// LoadOrCreateToken returns the token kept in dir (the file TokenFile),
// generating one (NewToken) and saving it on first use; created reports
// whether it did. The file is written atomically and readable by its owner
// only; one that others can read is refused.
func LoadOrCreateToken(dir string) (token string, created bool, err error) {
	path := filepath.Join(dir, TokenFile)
	token, err = loadToken(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return token, false, err
	}
	if err := makeStateDir(dir); err != nil {
		return "", false, err
	}
	if token, err = NewToken(); err != nil {
		return "", false, err
	}
	if err := createFile(path, []byte(token+"\n"), 0o600); err != nil {
		if errors.Is(err, fs.ErrExist) {
			token, err = loadToken(path)
			return token, false, err
		}
		return "", false, fmt.Errorf("save token: %w", err)
	}
	return token, true, nil
}

func loadToken(path string) (string, error) {
	data, err := readPrivateFile(path)
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(string(data))
	if err := checkToken(tok); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return tok, nil
}

// ReadTokenFile reads the tokens in the file at path: one a line; blank
// lines and lines starting with '#' are ignored, and so are spaces around a
// token. A bad line is an error naming the file and line (never quoting the
// line, which may hold a secret); so is a file with no token.
func ReadTokenFile(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var tokens []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 64<<10)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		if err := checkToken(text); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		tokens = append(tokens, text)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%s:%d: line too long", path, line+1)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(tokens) == 0 {
		return nil, fmt.Errorf("%s: no tokens (one a line; # starts a comment)", path)
	}
	return tokens, nil
}

// tokenSet checks tokens in constant time: it keeps their SHA-256 digests,
// so comparing takes the same time whatever the length or content of the
// token presented, and compares against every token without stopping early.
type tokenSet [][sha256.Size]byte

func newTokenSet(tokens []string) tokenSet {
	set := make(tokenSet, len(tokens))
	for i, tok := range tokens {
		set[i] = sha256.Sum256([]byte(tok))
	}
	return set
}

// has reports whether tok is one of the tokens.
func (s tokenSet) has(tok string) bool {
	sum := sha256.Sum256([]byte(tok))
	match := 0
	for i := range s {
		match |= subtle.ConstantTimeCompare(sum[:], s[i][:])
	}
	return match == 1
}

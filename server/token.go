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

	"github.com/sperse/sperse/lang"
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

// ReadTokenFile reads the tokens in the file at path (see ParseTokens).
// Its errors name the file and line, and never quote a token.
func ReadTokenFile(path string) ([]Token, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseTokens(path, data)
}

// maxTokenLine bounds a line of a token file.
const maxTokenLine = 64 << 10

// ParseTokens parses the text of a token file, whose name (for errors) is
// name: one token a line, each optionally followed by its scope,
//
//	# comment
//	TOKEN
//	TOKEN tags=db,eu provides=sql,echo
//
// Blank lines and lines that start with '#' are ignored, and so are spaces
// around the fields and a '#' field and what follows it after the token.
// tags= is a list of server names and tags, provides= a list of provided
// names, each separated by commas, each given at most once (see Token; an
// empty provides= allows no provided names). A bad line is an error
// "name:line: ..." that never quotes the token (it may be a secret mistyped
// into two fields); so is a token given twice, and a file with no token.
func ParseTokens(name string, data []byte) ([]Token, error) {
	var tokens []Token
	first := map[[sha256.Size]byte]int{} // the line of each token seen
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, maxTokenLine)
	line := 0
	for sc.Scan() {
		line++
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		tok, err := parseTokenLine(fields)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		sum := sha256.Sum256([]byte(tok.Secret))
		if l, dup := first[sum]; dup {
			return nil, fmt.Errorf("%s:%d: the same token as line %d", name, line, l)
		}
		first[sum] = line
		tokens = append(tokens, tok)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%s:%d: line too long (at most %d bytes)", name, line+1, maxTokenLine)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(tokens) == 0 {
		return nil, fmt.Errorf("%s: no tokens (one a line, then optionally tags=A,B provides=X,Y; # starts a comment)", name)
	}
	return tokens, nil
}

// parseTokenLine parses the fields of one line of a token file.
func parseTokenLine(fields []string) (Token, error) {
	tok := Token{Secret: fields[0]}
	if err := checkToken(tok.Secret); err != nil {
		return Token{}, err
	}
	for i, f := range fields[1:] {
		if strings.HasPrefix(f, "#") {
			break
		}
		key, val, ok := strings.Cut(f, "=")
		switch {
		case ok && key == "tags" && tok.Tags == nil:
			tags, err := scopeList(val, "tags", "a server name or tag", validName)
			if err != nil {
				return Token{}, err
			}
			if len(tags) == 0 {
				return Token{}, errors.New("tags= lists no server name or tag (leave it out to allow every one)")
			}
			tok.Tags = tags
		case ok && key == "provides" && tok.Provides == nil:
			names, err := scopeList(val, "provides", "a provided name", lang.IsIdentifier)
			if err != nil {
				return Token{}, err
			}
			tok.Provides = names
		case ok && (key == "tags" || key == "provides"):
			return Token{}, fmt.Errorf("%s= given twice", key)
		default:
			// Not quoted: a token with a space in it would show here.
			return Token{}, fmt.Errorf("field %d is not tags=... or provides=... (a token has no spaces; a line is TOKEN [tags=A,B] [provides=X,Y])", i+2)
		}
	}
	return tok, nil
}

// scopeList splits the value of a scope field, a list separated by commas,
// and checks each item. It returns a non-nil slice.
func scopeList(val, key, what string, valid func(string) bool) ([]string, error) {
	items := []string{}
	if val == "" {
		return items, nil
	}
	seen := map[string]bool{}
	for item := range strings.SplitSeq(val, ",") {
		if !valid(item) {
			return nil, fmt.Errorf("%s=: %q is not %s", key, item, what)
		}
		if !seen[item] {
			seen[item] = true
			items = append(items, item)
		}
	}
	return items, nil
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
	_, ok := s.lookup(tok)
	return ok
}

// lookup returns the index of tok among the tokens, comparing it with every
// one of them in constant time: which one matches, if any, shows in neither
// the time taken nor the memory touched.
func (s tokenSet) lookup(tok string) (int, bool) {
	sum := sha256.Sum256([]byte(tok))
	found, index := 0, 0
	for i := range s {
		eq := subtle.ConstantTimeCompare(sum[:], s[i][:])
		index = subtle.ConstantTimeSelect(eq, i, index)
		found |= eq
	}
	return index, found == 1
}

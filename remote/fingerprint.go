package remote

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
)

// Fingerprint returns the fingerprint of a certificate given in DER form:
// "sha256:" and the unpadded URL-safe base64 of its SHA-256 digest.
func Fingerprint(certDER []byte) string {
	sum := sha256.Sum256(certDER)
	return "sha256:" + base64.RawURLEncoding.EncodeToString(sum[:])
}

// SplitAddress splits a server address "host:port" or "host:port#sha256:..."
// into the network address and the pinned fingerprint ("" if none).
func SplitAddress(s string) (addr, fingerprint string, err error) {
	addr, fingerprint, _ = strings.Cut(s, "#")
	if addr == "" {
		return "", "", fmt.Errorf("server address %q: want HOST:PORT or HOST:PORT#sha256:FINGERPRINT", s)
	}
	if fingerprint != "" && !validFingerprint(fingerprint) {
		return "", "", fmt.Errorf("server address %q: bad fingerprint %q: want sha256: and 43 base64url characters", s, fingerprint)
	}
	return addr, fingerprint, nil
}

func validFingerprint(fp string) bool {
	b64, ok := strings.CutPrefix(fp, "sha256:")
	if !ok {
		return false
	}
	sum, err := base64.RawURLEncoding.DecodeString(b64)
	return err == nil && len(sum) == sha256.Size
}

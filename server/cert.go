package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"path/filepath"
	"time"

	"github.com/sperse/sperse/remote"
)

// certValidity is how long a generated certificate is valid. Clients pin
// its fingerprint rather than checking a chain, so it only needs to outlive
// the server.
const certValidity = 20 * 365 * 24 * time.Hour

// GenerateCertificate returns a new self-signed certificate with an ECDSA
// P-256 key, kept in memory only: for an embedded server, or the first start
// of a server that keeps it (LoadOrCreateCertificate).
func GenerateCertificate() (tls.Certificate, error) {
	cert, _, err := generateCertificate()
	return cert, err
}

// generateCertificate returns a new certificate and its PEM encoding (the
// certificate, then the private key).
func generateCertificate() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("generate serial number: %w", err)
	}
	now := time.Now()
	template := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "sperse-server"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(certValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("create certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("encode key: %w", err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	data = append(data, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})...)
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("parse certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, data, nil
}

// LoadOrCreateCertificate returns the certificate kept in dir (the file
// IdentityFile, which holds the certificate and its private key), creating
// dir and generating the certificate on first use. The file is written
// atomically and readable by its owner only; one that others can read is
// refused. So a server keeps its fingerprint across restarts.
func LoadOrCreateCertificate(dir string) (tls.Certificate, error) {
	path := filepath.Join(dir, IdentityFile)
	cert, err := loadCertificate(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return cert, err
	}
	if err := makeStateDir(dir); err != nil {
		return tls.Certificate{}, err
	}
	cert, data, err := generateCertificate()
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := createFile(path, data, 0o600); err != nil {
		if errors.Is(err, fs.ErrExist) {
			// Another process created it first: use that one.
			return loadCertificate(path)
		}
		return tls.Certificate{}, fmt.Errorf("save certificate: %w", err)
	}
	return cert, nil
}

// loadCertificate loads a certificate and key from one PEM file.
func loadCertificate(path string) (tls.Certificate, error) {
	data, err := readPrivateFile(path)
	if err != nil {
		return tls.Certificate{}, err
	}
	cert, err := tls.X509KeyPair(data, data)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%s: %w (remove it to generate a new certificate; clients will see a new fingerprint)", path, err)
	}
	return cert, nil
}

// fingerprint returns the fingerprint of cert's leaf.
func fingerprint(cert tls.Certificate) (string, error) {
	if len(cert.Certificate) == 0 {
		return "", errors.New("certificate is empty")
	}
	return remote.Fingerprint(cert.Certificate[0]), nil
}

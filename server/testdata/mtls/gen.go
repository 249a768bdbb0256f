//go:build ignore

// gen writes the certificates of the mutual TLS tests: a client CA
// (ca.pem), a client certificate it signed (client.pem, client-key.pem,
// CN=alice), and one signed by another CA (other-client.pem,
// other-client-key.pem, CN=mallory). They are valid for a hundred years,
// and for tests only. Run it here with
//
//	go run gen.go
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"time"
)

func main() {
	ca, caKey := issue("sperse test client CA", nil, nil, true)
	write("ca.pem", "CERTIFICATE", ca.Raw)
	other, otherKey := issue("another CA", nil, nil, true)
	alice, aliceKey := issue("alice", ca, caKey, false)
	write("client.pem", "CERTIFICATE", alice.Raw)
	writeKey("client-key.pem", aliceKey)
	mallory, malloryKey := issue("mallory", other, otherKey, false)
	write("other-client.pem", "CERTIFICATE", mallory.Raw)
	writeKey("other-client-key.pem", malloryKey)
}

// issue makes a certificate for name, signed by parent (self-signed if nil).
func issue(name string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, isCA bool) (*x509.Certificate, *ecdsa.PrivateKey) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	check(err)
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	check(err)
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(100, 0, 0),
	}
	if isCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	check(err)
	cert, err := x509.ParseCertificate(der)
	check(err)
	return cert, key
}

func writeKey(name string, key *ecdsa.PrivateKey) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	check(err)
	write(name, "PRIVATE KEY", der)
}

func write(name, typ string, der []byte) {
	check(os.WriteFile(name, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
}

func check(err error) {
	if err != nil {
		panic(err)
	}
}

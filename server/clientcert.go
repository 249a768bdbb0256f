package server

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
)

// Mutual TLS: with Config.ClientCAs, a client must present a certificate
// signed by one of them, in addition to its token. The server checks it
// itself during the TLS handshake (rather than crypto/tls), so that it can
// log who was refused and why; the client sees the handshake fail with a
// "bad certificate" alert, and says so (see remote's dial).

// LoadClientCAs reads the certificate authorities whose client
// certificates a server accepts (Config.ClientCAs) from the PEM file at
// path. A file with no certificate, or with something else than
// certificates, is an error naming it.
func LoadClientCAs(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("client CA: %w", err)
	}
	pool := x509.NewCertPool()
	n := 0
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("client CA %s: holds a %s; want only CERTIFICATE blocks (never a private key)", path, block.Type)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("client CA %s: certificate %d: %w", path, n+1, err)
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("client CA %s: no PEM certificate in it", path)
	}
	return pool, nil
}

// requireClientCertificates makes the server ask every client for a
// certificate and check it against Config.ClientCAs.
func (s *Server) requireClientCertificates() {
	base := s.tlsConf.Clone()
	base.ClientAuth = tls.RequestClientCert // checked by verifyClient
	s.tlsConf.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		conf := base.Clone()
		var remote net.Addr
		if hello.Conn != nil {
			remote = hello.Conn.RemoteAddr()
		}
		conf.VerifyConnection = func(cs tls.ConnectionState) error {
			return s.verifyClient(remote, cs)
		}
		return conf, nil
	}
}

// errNoClientCertificate is the handshake's error for a client that
// presented no certificate.
var errNoClientCertificate = errors.New("no client certificate: the server requires one signed by its client CA")

// verifyClient checks the certificate of the client at addr, and logs a
// refusal.
func (s *Server) verifyClient(addr net.Addr, cs tls.ConnectionState) error {
	remote := "unknown"
	if addr != nil {
		remote = addr.String()
	}
	if len(cs.PeerCertificates) == 0 {
		s.log.Warn("refused", "remote", remote, "reason", errNoClientCertificate.Error())
		return errNoClientCertificate
	}
	leaf := cs.PeerCertificates[0]
	opts := x509.VerifyOptions{
		Roots:         s.cfg.ClientCAs,
		Intermediates: x509.NewCertPool(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := leaf.Verify(opts); err != nil {
		err = fmt.Errorf("client certificate %q refused: %w", leaf.Subject.String(), err)
		s.log.Warn("refused", "remote", remote, "reason", err.Error())
		return err
	}
	return nil
}

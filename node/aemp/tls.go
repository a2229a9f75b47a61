package aemp

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"time"
)

// NewTLSConfig returns a TLS configuration for [Config].TLS in the way
// AnyEvent::MP sets TLS up: both ends present a certificate (certs) and
// require one from the peer, and a peer's certificate is good if it chains
// to roots — typically one self-signed certificate that every node shares
// (what `aemp gencert` makes), with roots holding just that certificate.
// Host names are not checked: nodes are known by node ID, and the handshake
// authenticates the node ID separately. The same config serves the client
// and the server role.
//
// The verification happens in VerifyConnection, which rejects a connection
// whose peer sent no certificate or one that does not chain to roots.
func NewTLSConfig(certs []tls.Certificate, roots *x509.CertPool) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: certs,
		ClientAuth:   tls.RequireAnyClientCert,
		// The chain is verified in VerifyConnection, without a host name.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("aemp: the peer sent no certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
				Roots:         roots,
				Intermediates: inter,
				KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
			})
			return err
		},
	}
}

// GenerateCert makes what `aemp gencert` makes: a self-signed certificate,
// with a fresh P-256 key, to be shared by every node of a network, and the
// pool that holds it as the one root — the two arguments of
// [NewTLSConfig]. commonName is informational. The certificate is valid
// from 2000 to 2999: nodes do not depend on their clocks to link.
func GenerateCert(commonName string) (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2999, 1, 1, 0, 0, 0, 0, time.UTC),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool, nil
}

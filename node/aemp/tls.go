package aemp

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
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

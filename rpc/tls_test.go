package rpc_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/tetherkit/tether/rpc"
)

// selfSigned returns a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "tether test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}

func TestTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	addr, _ := serve(t, rpc.Config{Handlers: echoHandlers(nil), TLS: &tls.Config{Certificates: []tls.Certificate{cert}}})
	c := dial(t, addr, rpc.Config{TLS: &tls.Config{RootCAs: pool}})
	if r, err := echo.Call(patient(t), c, Echo{N: 3}); err != nil || r.N != 3 {
		t.Fatalf("call over TLS = %+v, %v", r, err)
	}
	// Without TLS the client cannot make sense of the server.
	if _, err := rpc.Dial(patient(t), nil, "tcp", addr, rpc.Config{}); !errors.Is(err, rpc.ErrHandshake) {
		t.Fatalf("plain Dial to a TLS server = %v, want ErrHandshake", err)
	}
	// Nor with TLS that does not trust the server.
	if _, err := rpc.Dial(patient(t), nil, "tcp", addr, rpc.Config{TLS: &tls.Config{}}); !errors.Is(err, rpc.ErrHandshake) {
		t.Fatalf("Dial that does not trust the certificate = %v, want ErrHandshake", err)
	}
}

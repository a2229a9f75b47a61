package profile

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/tetherkit/tether/node/aemp"
)

// isPEM reports whether a cert value is inline PEM rather than a file
// name.
func isPEM(s string) bool { return strings.Contains(s, "-----BEGIN ") }

// loadCert reads a cert value — inline PEM, or the name of a file that
// holds it — as AnyEvent::MP's cert: a private key and its certificate,
// then any further certificates to trust. Every certificate in it is a
// root that peers' certificates must chain to (AnyEvent::MP sets ca_cert
// to the same PEM), so a network shares one self-signed certificate.
func loadCert(v string) (*tls.Config, error) {
	data := []byte(v)
	where := "the inline cert"
	if !isPEM(v) {
		var err error
		if data, err = os.ReadFile(v); err != nil {
			return nil, fmt.Errorf("cert: %w", err)
		}
		where = v
	}
	pair, err := tls.X509KeyPair(data, data)
	if err != nil {
		return nil, fmt.Errorf("cert: %s: want a private key and a certificate in PEM: %w", where, err)
	}
	roots := x509.NewCertPool()
	rest := data
	for {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("cert: %s: %w", where, err)
		}
		roots.AddCert(c)
	}
	return aemp.NewTLSConfig([]tls.Certificate{pair}, roots), nil
}

// GenerateCert returns what `tether gencert` stores: a new private key and
// a self-signed certificate (aemp.GenerateCert), in PEM, key first — the
// shape AnyEvent::MP's `aemp setcert` takes too.
func GenerateCert() (string, error) {
	cert, _, err := aemp.GenerateCert("tether")
	if err != nil {
		return "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := errors.Join(
		pem.Encode(&b, &pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}),
	); err != nil {
		return "", err
	}
	return b.String(), nil
}

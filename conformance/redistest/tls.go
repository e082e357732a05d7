package redistest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// WithTLS makes Start serve TLS only: redis-server listens on a TLS port
// (its plain port is closed) with a server certificate for 127.0.0.1 signed
// by a certificate authority made for this server alone, and URL is
// rediss://. Clients trust that authority through Server.TLSConfig or
// Server.CAFile; clients are not asked for certificates. The files live in
// the server's directory, so Restart serves the same certificate. WithTLS
// implies RequireProcess, because a container would need the files mounted.
func WithTLS() Option {
	return func(c *config) {
		c.tls = true
		c.requireProcess = true
	}
}

// tlsValidity is how long the throwaway certificates are valid: longer than
// any test run, short enough that a leaked file is worthless soon.
const tlsValidity = 24 * time.Hour

// serverTLS is the certificate material of one TLS server, written to its
// directory, and the client configuration that trusts it.
type serverTLS struct {
	caFile, certFile, keyFile string
	client                    *tls.Config
}

// newServerTLS makes a certificate authority and a server certificate for
// 127.0.0.1 and localhost that it signs, and writes them as PEM files to dir.
func newServerTLS(dir string) (*serverTLS, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, errorf("TLS key: %v", err)
	}
	// Backdated, so a server clock a little behind ours still accepts it.
	notBefore := time.Now().Add(-time.Hour)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "redistest throwaway CA"},
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(tlsValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, errorf("TLS CA certificate: %v", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, errorf("TLS CA certificate: %v", err)
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, errorf("TLS key: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    notBefore,
		NotAfter:     notBefore.Add(tlsValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, errorf("TLS server certificate: %v", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, errorf("TLS server key: %v", err)
	}

	st := &serverTLS{
		caFile:   filepath.Join(dir, "ca.crt"),
		certFile: filepath.Join(dir, "server.crt"),
		keyFile:  filepath.Join(dir, "server.key"),
	}
	for _, f := range []struct {
		path, kind string
		der        []byte
		perm       os.FileMode
	}{
		{st.caFile, "CERTIFICATE", caDER, 0o644},
		{st.certFile, "CERTIFICATE", der, 0o644},
		{st.keyFile, "PRIVATE KEY", keyDER, 0o600},
	} {
		data := pem.EncodeToMemory(&pem.Block{Type: f.kind, Bytes: f.der})
		if err := os.WriteFile(f.path, data, f.perm); err != nil {
			return nil, errorf("write %s: %v", f.path, err)
		}
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	st.client = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	return st, nil
}

// listenArgs are the redis-server arguments that serve TLS on port and
// nothing in plain text.
func (st *serverTLS) listenArgs(port int) []string {
	return []string{
		"--port", "0",
		"--tls-port", strconv.Itoa(port),
		"--tls-cert-file", st.certFile,
		"--tls-key-file", st.keyFile,
		"--tls-ca-cert-file", st.caFile,
		"--tls-auth-clients", "no",
	}
}

// clientConfig returns the client side of st, or nil for a plain server;
// the nil check lets callers pass it for either kind.
func (st *serverTLS) clientConfig() *tls.Config {
	if st == nil {
		return nil
	}
	return st.client
}

// TLSConfig returns a client configuration that trusts the certificate of a
// server started WithTLS, or nil for a server without it. Each call returns a
// new copy, which the caller may change; both client libraries take it
// as it is (go-redis Options.TLSConfig, rueidis ClientOption.TLSConfig).
func (s *Server) TLSConfig() *tls.Config {
	if s.proc == nil || s.proc.tls == nil {
		return nil
	}
	return s.proc.tls.client.Clone()
}

// CAFile returns the PEM file of the certificate authority that signed the
// certificate of a server started WithTLS, for programs that read one from a
// path, or "" for a server without it.
func (s *Server) CAFile() string {
	if s.proc == nil || s.proc.tls == nil {
		return ""
	}
	return s.proc.tls.caFile
}

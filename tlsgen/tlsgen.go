// Package tlsgen makes the certificates a Korum cluster needs to run with
// TLS: a cluster CA and, signed by it, node certificates (usable for the API
// port and the cluster port) and server-only certificates (a load balancer's
// HTTPS, which must not be able to join the cluster). It backs
// `bin/korum tls init` and the tests that need certificates.
//
// Keys are ECDSA P-256; serials are random 128-bit numbers, so re-issuing a
// certificate for the same name always yields another serial.
package tlsgen

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/korumdb/korum/internal/durable"
)

// Default validities: long enough for a test or a small deployment, short
// enough that a leaked node key does not stay good for a decade.
const (
	DefaultCAValidity   = 10 * 365 * 24 * time.Hour
	DefaultCertValidity = 365 * 24 * time.Hour
	// backdate covers clocks slightly behind the one that issued.
	backdate = time.Hour
)

// Usage says what a certificate may do.
type Usage int

const (
	// Node certificates allow server and client authentication: a node
	// serves connections and dials its peers with the same certificate.
	// Korum's cluster port accepts only certificates that allow both.
	Node Usage = iota
	// Server certificates allow server authentication only: they can
	// serve HTTPS but are refused on the cluster port.
	Server
)

// CA is a certificate authority.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// NewCA makes a self-signed CA.
func NewCA(name string, validity time.Duration) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("tlsgen: CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"Korum"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		// It signs leaf certificates only.
		MaxPathLenZero: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("tlsgen: CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key}, nil
}

// LoadCA reads a CA written by WriteCA (or any PEM certificate and its
// ECDSA key).
func LoadCA(certFile, keyFile string) (*CA, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("tlsgen: loading the CA: %w", err)
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("tlsgen: %s: the CA key is not an ECDSA key", keyFile)
	}
	if !pair.Leaf.IsCA {
		return nil, fmt.Errorf("tlsgen: %s is not a CA certificate", certFile)
	}
	return &CA{Cert: pair.Leaf, Key: key}, nil
}

// CertPEM is the CA certificate in PEM.
func (ca *CA) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
}

// KeyPEM is the CA key in PEM.
func (ca *CA) KeyPEM() ([]byte, error) { return keyPEM(ca.Key) }

// Issue signs a certificate for name with the given subject alternative
// names (IP addresses or DNS names; name itself is added as one).
func (ca *CA) Issue(name string, hosts []string, usage Usage, validity time.Duration) (certPEM, keyOut []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsgen: key for %s: %w", name, err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	notAfter := now.Add(validity)
	if notAfter.After(ca.Cert.NotAfter) {
		// A certificate outliving its CA would fail verification anyway.
		notAfter = ca.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name, Organization: []string{"Korum"}},
		NotBefore:    now.Add(-backdate),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if usage == Node {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	seen := map[string]bool{}
	for _, h := range append([]string{name}, hosts...) {
		if h == "" || seen[h] {
			continue
		}
		seen[h] = true
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsgen: certificate for %s: %w", name, err)
	}
	kp, err := keyPEM(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), kp, nil
}

func keyPEM(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("tlsgen: encoding a key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func newSerial() (*big.Int, error) {
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("tlsgen: serial: %w", err)
	}
	// Zero is not a valid serial.
	return s.Add(s, big.NewInt(1)), nil
}

// WriteFile writes data to path through a temporary file and a rename, so a
// node reloading its certificate meanwhile (SIGHUP) reads the old file or
// the new one, never half of one.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	if err := durable.ReplaceFile(path, bytes.NewReader(data), perm); err != nil {
		return fmt.Errorf("tlsgen: writing %s: %w", path, err)
	}
	return nil
}

// Files names the files Init writes in a directory.
func Files(dir, name string) (cert, key string) {
	return filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
}

// CAName is the file name (without .pem) of the CA in an Init directory.
const CAName = "ca"

// InitOptions are `korum tls init`'s.
type InitOptions struct {
	Dir      string
	Nodes    []string // node certificates (cluster and API)
	Servers  []string // server-only certificates (a load balancer's)
	Hosts    []string // extra SANs of every certificate
	Validity time.Duration
}

// Init writes DIR/ca.pem and ca-key.pem (or reuses them when both exist, so
// that more certificates can be issued later by the same CA) and a
// certificate and key per name. Existing certificates of those names are
// replaced: running it again renews them. It returns the files written.
func Init(o InitOptions) ([]string, error) {
	if o.Dir == "" {
		return nil, errors.New("tlsgen: a directory is required")
	}
	if len(o.Nodes)+len(o.Servers) == 0 {
		return nil, errors.New("tlsgen: no certificate to issue (nodes or servers)")
	}
	for _, n := range append(append([]string{}, o.Nodes...), o.Servers...) {
		if !validName(n) || n == CAName {
			return nil, fmt.Errorf("tlsgen: %q is not a usable certificate name (letters, digits, '.', '-', '_'; not %q)", n, CAName)
		}
	}
	if o.Validity <= 0 {
		o.Validity = DefaultCertValidity
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("tlsgen: %w", err)
	}
	var written []string
	caCert, caKey := Files(o.Dir, CAName)
	_, certErr := os.Stat(caCert)
	_, keyErr := os.Stat(caKey)
	if errors.Is(certErr, os.ErrNotExist) != errors.Is(keyErr, os.ErrNotExist) {
		// Never replace a CA certificate that may be deployed already.
		return nil, fmt.Errorf("tlsgen: %s holds only one of %s and %s: restore the other or remove both", o.Dir, filepath.Base(caCert), filepath.Base(caKey))
	}
	ca, err := LoadCA(caCert, caKey)
	if errors.Is(certErr, os.ErrNotExist) {
		if ca, err = NewCA("Korum cluster CA", DefaultCAValidity); err != nil {
			return nil, err
		}
		kp, err := ca.KeyPEM()
		if err != nil {
			return nil, err
		}
		if err := WriteFile(caKey, kp, 0o600); err != nil {
			return nil, err
		}
		if err := WriteFile(caCert, ca.CertPEM(), 0o644); err != nil {
			return nil, err
		}
		written = append(written, caCert, caKey)
	} else if err != nil {
		return nil, err
	}
	issue := func(name string, usage Usage) error {
		c, k, err := ca.Issue(name, o.Hosts, usage, o.Validity)
		if err != nil {
			return err
		}
		cf, kf := Files(o.Dir, name)
		// The key first: a node reloading between the two writes then
		// sees a new key with the old certificate, which fails and keeps
		// the old pair, rather than a pair that silently mismatches.
		if err := WriteFile(kf, k, 0o600); err != nil {
			return err
		}
		if err := WriteFile(cf, c, 0o644); err != nil {
			return err
		}
		written = append(written, cf, kf)
		return nil
	}
	for _, n := range o.Nodes {
		if err := issue(n, Node); err != nil {
			return written, err
		}
	}
	for _, n := range o.Servers {
		if err := issue(n, Server); err != nil {
			return written, err
		}
	}
	return written, nil
}

func validName(s string) bool {
	if s == "" || len(s) > 253 || s[0] == '.' {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
		default:
			return false
		}
	}
	return true
}

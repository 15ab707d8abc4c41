package node

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/korumdb/korum/raftnet"
)

// keyPair is a certificate and key read from files, swapped atomically when
// they are read again (SIGHUP): handshakes from then on present the new
// one, connections open meanwhile keep theirs.
type keyPair struct {
	what              string // "api" or "cluster", for the logs
	certFile, keyFile string
	cur               atomic.Pointer[tls.Certificate]
}

func loadKeyPair(what, certFile, keyFile string) (*keyPair, error) {
	k := &keyPair{what: what, certFile: certFile, keyFile: keyFile}
	c, err := k.read()
	if err != nil {
		return nil, err
	}
	k.cur.Store(c)
	return k, nil
}

func (k *keyPair) read() (*tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(k.certFile, k.keyFile)
	if err != nil {
		return nil, fmt.Errorf("%s TLS certificate %s / key %s: %w", k.what, k.certFile, k.keyFile, err)
	}
	return &c, nil
}

func (k *keyPair) get() *tls.Certificate { return k.cur.Load() }

// reload reads the files again; on any error the current pair stays.
func (k *keyPair) reload(log *slog.Logger) error {
	c, err := k.read()
	if err != nil {
		log.Error("TLS certificate reload failed; keeping the current one", "port", k.what, "err", err)
		return err
	}
	old := k.cur.Swap(c)
	log.Info("TLS certificate reloaded", "port", k.what, "serial", fmt.Sprintf("%x", c.Leaf.SerialNumber),
		"previousSerial", fmt.Sprintf("%x", old.Leaf.SerialNumber), "notAfter", c.Leaf.NotAfter)
	warnExpiry(log, k.what, c.Leaf)
	return nil
}

func warnExpiry(log *slog.Logger, what string, leaf *x509.Certificate) {
	if left := time.Until(leaf.NotAfter); left < 14*24*time.Hour {
		log.Warn("TLS certificate expires soon", "port", what, "notAfter", leaf.NotAfter, "left", left.Round(time.Minute))
	}
}

// apiTLSConfig serves HTTPS and WSS with k's current certificate. HTTP/1.1
// only: WebSocket upgrades and the connection hijacking they need are
// HTTP/1.1's.
func apiTLSConfig(k *keyPair) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"http/1.1"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return k.get(), nil },
	}
}

// caPool is the cluster CA file's certificates, swapped atomically when
// the file is read again (SIGHUP).
type caPool struct {
	file string
	cur  atomic.Pointer[x509.CertPool]
}

func (p *caPool) read() (*x509.CertPool, error) {
	pem, err := os.ReadFile(p.file)
	if err != nil {
		return nil, fmt.Errorf("cluster TLS CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("cluster TLS CA %s: no PEM certificate in it", p.file)
	}
	return pool, nil
}

func (p *caPool) reload(log *slog.Logger) error {
	pool, err := p.read()
	if err != nil {
		log.Error("cluster CA reload failed; keeping the current one", "err", err)
		return err
	}
	p.cur.Store(pool)
	log.Info("cluster CA reloaded", "file", p.file)
	return nil
}

// clusterTLS reads cluster.tls.*: all nil when it is off.
func clusterTLS(c ClusterConfig) (*raftnet.TLSConfig, *keyPair, *caPool, error) {
	if c.TLSCA == "" {
		return nil, nil, nil, nil
	}
	ca := &caPool{file: c.TLSCA}
	pool, err := ca.read()
	if err != nil {
		return nil, nil, nil, err
	}
	ca.cur.Store(pool)
	k, err := loadKeyPair("cluster", c.TLSCert, c.TLSKey)
	if err != nil {
		return nil, nil, nil, err
	}
	return &raftnet.TLSConfig{CAs: ca.cur.Load, Certificate: func() (*tls.Certificate, error) { return k.get(), nil }}, k, ca, nil
}

// ReloadTLS reads the API's and the cluster port's certificates and keys,
// and the cluster CA file, again (SIGHUP). What fails to load is logged and
// what is in use kept; the error says which failed.
func (n *Node) ReloadTLS() error {
	if n.apiCert == nil && n.clusterCert == nil {
		n.log.Info("SIGHUP: no TLS certificate to reload")
		return nil
	}
	var errs []error
	for _, k := range []*keyPair{n.apiCert, n.clusterCert} {
		if k != nil {
			errs = append(errs, k.reload(n.log))
		}
	}
	if n.clusterCA != nil {
		errs = append(errs, n.clusterCA.reload(n.log))
	}
	return errors.Join(errs...)
}

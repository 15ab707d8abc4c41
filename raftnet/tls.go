package raftnet

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
)

// TLSConfig turns on mutual TLS on the cluster port. Every connection, Raft's
// and the RPCs', is then a TLS 1.3 session in which both sides present a
// certificate that chains to the CAs and allows both server and client
// authentication (a node certificate); the secret handshake (auth.go) runs
// inside it. Peers are not checked against host names: membership in the
// cluster is having a node certificate from the cluster's own CA, whatever
// address the node advertises (addresses Docker picks are not known when
// certificates are issued). Use a CA dedicated to the cluster.
type TLSConfig struct {
	// CAs returns the pool that verifies peers' certificates, and
	// Certificate this node's certificate. Both are called at every
	// handshake, so a caller that swaps what they return (a reload) changes
	// new connections without touching open ones: with both the old and the
	// new CA in the pool for a while, a cluster moves to a new CA without a
	// restart.
	CAs         func() *x509.CertPool
	Certificate func() (*tls.Certificate, error)
}

func (c *TLSConfig) validate() error {
	if c.CAs == nil || c.Certificate == nil || c.CAs() == nil {
		return errors.New("raftnet: Config.TLS needs CAs and Certificate")
	}
	if _, err := c.Certificate(); err != nil {
		return fmt.Errorf("raftnet: Config.TLS: this node's certificate: %w", err)
	}
	return nil
}

// peerAuth is how this node authenticates connections on the cluster port:
// the shared secret, inside TLS when it is configured.
type peerAuth struct {
	secret []byte
	server *tls.Config // nil: plaintext
	client *tls.Config
}

func newPeerAuth(secret string, t *TLSConfig) *peerAuth {
	a := &peerAuth{secret: []byte(secret)}
	if t == nil {
		return a
	}
	verify := func(cs tls.ConnectionState) error { return verifyPeer(t.CAs(), cs) }
	a.server = &tls.Config{
		MinVersion: tls.VersionTLS13,
		// Verified by verifyPeer, which also asks for both usages.
		ClientAuth:       tls.RequireAnyClientCert,
		GetCertificate:   func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return t.Certificate() },
		VerifyConnection: verify,
	}
	a.client = &tls.Config{
		MinVersion: tls.VersionTLS13,
		// No host name check (see TLSConfig): VerifyConnection verifies the
		// chain against the cluster CA instead of crypto/tls.
		InsecureSkipVerify:   true,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return t.Certificate() },
		VerifyConnection:     verify,
	}
	return a
}

// verifyPeer accepts a peer whose certificate chains to cas and allows both
// server and client authentication: a certificate issued for a load
// balancer's HTTPS by the same CA cannot pose as a node.
func verifyPeer(cas *x509.CertPool, cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return fmt.Errorf("%w: the peer presented no certificate", ErrAuth)
	}
	leaf := cs.PeerCertificates[0]
	opts := x509.VerifyOptions{Roots: cas, Intermediates: x509.NewCertPool()}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	for _, u := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		opts.KeyUsages = []x509.ExtKeyUsage{u}
		if _, err := leaf.Verify(opts); err != nil {
			return fmt.Errorf("%w: peer certificate %q (serial %x): %w", ErrAuth, leaf.Subject.CommonName, leaf.SerialNumber, err)
		}
	}
	return nil
}

// tlsAuthError marks a failed TLS handshake as ErrAuth when it is about
// credentials (ours or the peer's) rather than the network, so that a node
// with a bad certificate fails like one with a bad secret instead of
// retrying as if the peer were down. In TLS 1.3 the dialer learns that the
// listener refused its certificate only at its first read, as an alert.
func tlsAuthError(err error) error {
	if err == nil || errors.Is(err, ErrAuth) {
		return err
	}
	var op *net.OpError
	var cv *tls.CertificateVerificationError
	var rec tls.RecordHeaderError
	if (errors.As(err, &op) && op.Op == "remote error") || errors.As(err, &cv) || errors.As(err, &rec) {
		return fmt.Errorf("%w: %w", ErrAuth, err)
	}
	return err
}
